//! The front door's behaviour: bad input, formats, cleanup on signals, clean after SIGKILL.

mod common;

use common::*;

#[test]
fn an_unknown_lab_gets_did_you_mean() {
    let out = labctl(&["run", "ns-nte"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(err_text(&out).contains("did you mean ns-net?"), "{}", err_text(&out));
}

#[test]
fn an_unknown_step_lists_the_steps() {
    let out = labctl(&["run", "ns-net", "--step", "nope", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = err_text(&out);
    assert!(err.contains("no step \"nope\"") && err.contains("host-netns, new-netns"), "{err}");
    let out = labctl(&["run", "ns-net", "--step", "9", "--yes"]).output().unwrap();
    assert!(err_text(&out).contains("steps 1 to 6; there is no step 9"), "{}", err_text(&out));
}

#[test]
fn an_unknown_language_names_the_choices() {
    let out = labctl(&["run", "ns-net", "--lang", "xx", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = err_text(&out);
    assert!(
        err.contains("invalid value 'xx' for '--lang <LANG>'") && err.contains("[possible values: en, zh]"),
        "{err}"
    );
}

#[test]
fn pause_without_a_terminal_says_so_instead_of_hanging() {
    let out = labctl(&["run", "ns-net", "--pause"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(err_text(&out).contains("--pause needs a terminal"), "{}", err_text(&out));
}

#[test]
fn not_root_gets_a_sudo_hint() {
    // As root, drop to nobody through setpriv (util-linux); without root, we are already not root.
    let mut cmd = if labkit::sys::is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(labctl_bin());
        c
    } else {
        std::process::Command::new(labctl_bin())
    };
    let out = cmd.args(["run", "ns-net", "--yes"]).env("LABCTL_RUN_DIR", "/tmp/labctl-nobody-run").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err_text(&out).contains("labctl run ns-net needs root (it creates namespaces): try sudo labctl run ns-net"),
        "{}",
        err_text(&out)
    );
}

#[test]
fn an_unwritable_run_dir_is_reported_before_anything_is_created() {
    if !require_root("unwritable run dir") {
        return;
    }
    let _guard = kernel_lock();
    let file = tempfile::NamedTempFile::new().unwrap();
    // A regular file where the run directory should be: nothing can be created under it.
    let out = labctl(&["run", "ns-net", "--yes"]).env("LABCTL_RUN_DIR", file.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(err_text(&out).contains("cannot create"), "{}", err_text(&out));
    assert!(text(&out).is_empty(), "no step ran: {}", text(&out));
}

#[test]
fn the_same_lab_twice_at_once_refuses_the_second() {
    if !require_root("lab lock") {
        return;
    }
    let _guard = kernel_lock();
    let lock_dir = labkit::paths::lock_dir();
    std::fs::create_dir_all(&lock_dir).unwrap();
    let file =
        std::fs::File::options().create(true).truncate(false).write(true).open(lock_dir.join("ns-net.lock")).unwrap();
    let held = labkit::sys::try_lock(file).unwrap().expect("lock is free");
    let out = labctl(&["run", "ns-net", "--yes"]).output().unwrap();
    drop(held);
    assert_eq!(out.status.code(), Some(1));
    assert!(err_text(&out).contains("already running"), "{}", err_text(&out));
}

#[test]
fn json_output_parses_and_holds_the_observations() {
    if !require_root("json output") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out = host.labctl(&["run", "ns-net", "--yes", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["lab"], "ns-net");
    assert_eq!(doc["passed"], true);
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let enter = &steps[2];
    assert_eq!(enter["id"], "enter");
    let interfaces = enter["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "interfaces")
        .expect("an interfaces observation");
    assert_eq!(interfaces["interfaces"][0]["name"], "lo");
    assert_eq!(interfaces["interfaces"][0]["state"], "DOWN");
    let link = &steps[1]["observations"][0];
    assert_eq!(link["type"], "ns_link");
    assert_eq!(link["inode"]["kind"], "inode");
    assert!(link["inode"]["value"].as_u64().unwrap() > 0);
    drop(host);
    assert_nothing_left("after the json run");
}

#[test]
fn redacted_json_hides_pids_and_inodes() {
    if !require_root("redacted json") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out = host.labctl(&["run", "ns-net", "--yes", "--format", "json", "--redact"]).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["steps"][1]["observations"][0]["inode"]["value"], 0);
    assert_eq!(doc["steps"][1]["observations"][0]["owner"]["value"], 0);
}

#[test]
fn markdown_output_has_headings_and_code_blocks() {
    if !require_root("markdown output") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out = host.labctl(&["run", "ns-net", "--yes", "--format", "markdown", "--redact"]).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    let md = text(&out);
    assert!(md.starts_with("# ns-net · "), "{md}");
    assert!(md.contains("## Step 3/6 · "));
    assert!(md.contains("```console\n$ nsenter -t PID -n ip addr\n```"));
}

#[test]
fn step_shows_only_the_chosen_step() {
    if !require_root("--step") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out = host.labctl(&["run", "ns-net", "--yes", "--step", "enter", "--format", "plain"]).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    let t = text(&out);
    assert!(t.contains("Step 3/6"), "{t}");
    assert!(!t.contains("Step 2/6") && !t.contains("Step 4/6"), "{t}");
    drop(host);
    assert_nothing_left("after --step");
}

/// `labctl run ns-net` in the test host, slowed down, once it has started its child.
fn start_lab_and_wait_for_child(host: &TestHost) -> (std::process::Child, i32) {
    let (run, children) =
        labkit::testing::start_run_and_wait_for_children(host.labctl(&["run", "ns-net", "--yes", "--format", "plain"]));
    (run, children[0])
}

#[test]
fn sigint_mid_lab_leaves_nothing() {
    if !require_root("SIGINT cleanup") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let (lab, sleeper) = start_lab_and_wait_for_child(&host);
    labkit::testing::interrupt_run(lab, &[sleeper], nix::sys::signal::Signal::SIGINT, "ns-net");
    drop(host);
    assert_nothing_left("after SIGINT");
}

#[test]
fn sigterm_mid_lab_leaves_nothing() {
    if !require_root("SIGTERM cleanup") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let (lab, sleeper) = start_lab_and_wait_for_child(&host);
    labkit::testing::interrupt_run(lab, &[sleeper], nix::sys::signal::Signal::SIGTERM, "ns-net");
    drop(host);
    assert_nothing_left("after SIGTERM");
}

#[test]
fn a_reader_that_goes_away_mid_lab_leaves_nothing() {
    if !require_root("broken pipe cleanup") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let (lab, sleeper) = start_lab_and_wait_for_child_piped(&host);
    let out = lab.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "the reader left; the steps so far passed: {}", err_text(&out));
    assert!(err_text(&out).is_empty(), "a reader going away is no error: {}", err_text(&out));
    assert!(process_gone(sleeper), "the lab's child survived the broken pipe");
    drop(host);
    assert_nothing_left("after a broken pipe");
}

/// Like [`start_lab_and_wait_for_child`], with stdout a pipe that is closed once the child exists.
#[allow(clippy::zombie_processes)] // the caller waits for the returned child
fn start_lab_and_wait_for_child_piped(host: &TestHost) -> (std::process::Child, i32) {
    let mut child = host
        .labctl(&["run", "ns-net", "--yes", "--format", "plain"])
        .env("LABCTL_STEP_DELAY_MS", "300")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = labkit::testing::wait_for_children(&mut child)[0];
    drop(child.stdout.take());
    (child, pid)
}

#[test]
fn keep_leaves_the_namespace_for_exploring_and_clean_removes_it() {
    if !require_root("--keep") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out =
        host.labctl(&["run", "ns-net", "--yes", "--step", "enter", "--keep", "--format", "plain"]).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(text(&out).contains("Kept (--keep); remove later with: sudo labctl clean"), "{}", text(&out));
    drop(host);
    let check = labctl(&["clean", "--check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "the kept child is listed: {}", text(&check));
    let clean = labctl(&["clean"]).output().unwrap();
    assert!(clean.status.success(), "{}", text(&clean));
    assert_nothing_left("after --keep and clean");
}

#[test]
fn sigkill_then_clean_removes_everything() {
    if !require_root("SIGKILL + clean") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let (mut lab, sleeper) = start_lab_and_wait_for_child(&host);
    lab.kill().unwrap();
    lab.wait().unwrap();
    assert!(!process_gone(sleeper), "SIGKILL cannot clean up: the child remains");
    drop(host);
    let check = labctl(&["clean", "--check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1), "clean --check must report the orphan: {}", text(&check));
    assert!(text(&check).contains("process"), "{}", text(&check));
    let clean = labctl(&["clean"]).output().unwrap();
    assert!(clean.status.success(), "{}{}", text(&clean), err_text(&clean));
    assert!(process_gone(sleeper), "clean did not end the orphan");
    assert_nothing_left("after clean");
}

#[test]
fn a_sigkilled_run_nobody_reaped_yet_is_cleaned() {
    if !require_root("SIGKILL, zombie owner + clean") {
        return;
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let (mut lab, sleeper) = start_lab_and_wait_for_child(&host);
    let pid = lab.id() as i32;
    lab.kill().unwrap();
    // We are its parent and do not reap it yet: a real zombie, as under an init that reaps late.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !labkit::sys::is_zombie(pid) {
        assert!(std::time::Instant::now() < deadline, "the killed run never became a zombie");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let clean = labctl(&["clean"]).output().unwrap();
    let cleaned = process_gone(sleeper);
    lab.wait().unwrap();
    drop(host);
    assert!(clean.status.success(), "{}{}", text(&clean), err_text(&clean));
    assert!(cleaned, "clean took the zombie run for a live one and left its child: {}", text(&clean));
    assert_nothing_left("after clean with a zombie owner");
}

#[test]
fn challenge_check_reports_exactly_what_is_missing() {
    if !require_root("ns-net challenge") {
        return;
    }
    let _guard = kernel_lock();
    let _ = std::process::Command::new("ip").args(["netns", "del", "labctl-blue"]).output();
    let missing = labctl(&["check", "ns-net", "--format", "plain"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("ip netns add labctl-blue"), "{}", text(&missing));

    run_ok("ip", &["netns", "add", "labctl-blue"]);
    let down = labctl(&["check", "ns-net", "--format", "plain"]).output().unwrap();
    let lo_down = text(&down);
    run_ok("ip", &["-n", "labctl-blue", "link", "set", "lo", "up"]);
    let up = labctl(&["check", "ns-net", "--format", "plain"]).output().unwrap();
    run_ok("ip", &["netns", "del", "labctl-blue"]);

    assert_eq!(down.status.code(), Some(1));
    assert!(lo_down.contains("✗ lo in labctl-blue is UP: expected UP, found DOWN"), "{lo_down}");
    assert!(up.status.success(), "{}", text(&up));
    assert!(text(&up).contains("✓ lo in labctl-blue is UP"));
    assert!(text(&up).contains("Challenge passed: ns-net is done."), "{}", text(&up));
    assert!(!text(&up).contains("Hint 1/"), "no hints after a pass unless asked: {}", text(&up));
    assert!(lo_down.contains("Hint 1/") && lo_down.contains("--hint 2"), "a nudge, and how to get more: {lo_down}");
    assert!(!lo_down.contains("Hint 2/"), "{lo_down}");
}

#[test]
fn quiz_answers_are_scored_without_a_terminal() {
    let state = tempfile::tempdir().unwrap();
    let out =
        labctl(&["quiz", "ns-net", "--answers", "b,a,b"]).env("LABCTL_LEARNER_DIR", state.path()).output().unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(text(&out).contains("score: 3/3"));
    let wrong =
        labctl(&["quiz", "ns-net", "--answers", "a,a,a"]).env("LABCTL_LEARNER_DIR", state.path()).output().unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains("score: 1/3"));
    assert!(text(&wrong).contains("✗ 1. ") && text(&wrong).contains("answer: b)"), "{}", text(&wrong));
    assert!(text(&wrong).contains("try again: labctl quiz ns-net"), "{}", text(&wrong));
    assert!(!text(&out).contains("try again"), "no retry hint at 3/3: {}", text(&out));
    assert!(!text(&wrong).contains('\u{1b}'), "NO_COLOR and a pipe: no colour");
    let progress = labctl(&["progress"]).env("LABCTL_LEARNER_DIR", state.path()).output().unwrap();
    assert!(text(&progress).contains("3/3"), "the best score is kept: {}", text(&progress));
    let bad = labctl(&["quiz", "ns-net", "--answers", "b,z,b"]).output().unwrap();
    assert!(err_text(&bad).contains("answer 2 is \"z\""), "{}", err_text(&bad));
    let none = labctl(&["quiz", "ns-net"]).output().unwrap();
    assert!(err_text(&none).contains("--answers"), "{}", err_text(&none));
}

#[test]
fn list_shows_every_lab_and_ids_prints_only_ids() {
    let out = labctl(&["list"]).output().unwrap();
    assert!(out.status.success());
    assert!(text(&out).contains("ns-net"));
    let ids = labctl(&["list", "--ids"]).output().unwrap();
    assert!(text(&ids).lines().any(|l| l == "ns-net"));
}

#[test]
fn no_arguments_without_a_terminal_prints_help() {
    let out = labctl(&[]).output().unwrap();
    assert!(out.status.success());
    assert!(text(&out).contains("Usage: labctl"), "{}", text(&out));
}

#[test]
fn completions_are_generated() {
    let out = labctl(&["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(text(&out).contains("labctl"));
}

#[test]
fn the_maintainer_check_passes_on_this_tree() {
    let out = labctl(&["dev", "check", "--root", env!("CARGO_MANIFEST_DIR")]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_stray_file_among_a_topics_labs_is_caught() {
    let repo = tempfile::tempdir().unwrap();
    let labs = repo.path().join("labs/namespaces/src/labs");
    std::fs::create_dir_all(&labs).unwrap();
    std::fs::write(labs.join("network.rs"), "").unwrap();
    let out = labctl(&["dev", "check", "--root"]).arg(repo.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out);
    assert!(
        report.contains("✗ labs/namespaces/src/labs/network.rs: not the file of a lab of labs/namespaces/lab.yaml"),
        "{report}"
    );
}

#[test]
fn a_malformed_manifest_is_caught_with_file_and_line() {
    let repo = tempfile::tempdir().unwrap();
    let lab_dir = repo.path().join("labs/broken");
    std::fs::create_dir_all(&lab_dir).unwrap();
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/namespaces/lab.yaml")).unwrap();
    let broken = good.replacen("    seed_section:", "    seed_sektion:", 1);
    std::fs::write(lab_dir.join("lab.yaml"), broken).unwrap();
    let out = labctl(&["dev", "check", "--root"]).arg(repo.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out);
    let line = report.lines().find(|l| l.contains("labs/broken/lab.yaml:")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("unknown field `seed_sektion`"), "{line}");
    let line_no: usize = line.split(':').nth(1).unwrap().parse().expect("a line number");
    assert!(line_no > 1);
}

#[test]
fn doctor_finds_every_lab_ready_and_its_report_matches_this_cgroup_world() {
    if !require_root("doctor") {
        return;
    }
    let _guard = kernel_lock();
    let out = labctl(&["doctor", "--format", "plain", "--redact"]).output().unwrap();
    let report = text(&out);
    assert!(out.status.success(), "doctor found a lab that cannot run here:\n{report}");
    let world = cgroup_world();
    if world == "v2" {
        assert!(report.contains("unified (cgroup v2 only)"), "{report}");
    }
    for controller in ["cpu", "memory", "pids"] {
        assert!(report.contains(&format!("ok  cgroup controller {controller}")), "{report}");
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(world);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("doctor", report));
}

#[test]
fn the_suite_never_writes_the_learners_own_progress() {
    if !require_root("a lab run's progress") {
        return;
    }
    let _guard = kernel_lock();
    let (home, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = labctl(&["run", "ns-uts", "--yes"])
        .env("HOME", home.path())
        .env_remove("SUDO_USER")
        .env_remove("XDG_STATE_HOME")
        .env("LABCTL_LEARNER_DIR", scratch.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", err_text(&out));
    assert!(!home.path().join(".local/state/labctl").exists(), "the run wrote into $HOME's progress");
    let progress = std::fs::read_to_string(scratch.path().join("progress.json")).unwrap();
    assert!(progress.contains("\"ns-uts\""), "{progress}");
    assert_nothing_left("ns-uts for progress");
}

#[test]
fn clean_check_into_a_closed_pipe_ends_quietly() {
    let mut child = labctl(&["clean", "--check"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!err_text(&out).contains("Broken pipe"), "{}", err_text(&out));
    assert!(err_text(&out).is_empty(), "{}", err_text(&out));
}
