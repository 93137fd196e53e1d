//! The namespace tools against util-linux and against bad input. Root tests take the kernel
//! lock and leave nothing behind.

use labkit::testing::{kernel_lock, require_root};
use std::collections::BTreeSet;
use std::process::{Command, Output};

fn labns(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labns")).args(args).output().expect("run labns")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (type, inode) pairs from `lsns -J`-shaped JSON.
fn pairs(json: &[u8]) -> BTreeSet<(String, u64)> {
    let doc: serde_json::Value = serde_json::from_slice(json).expect("JSON");
    doc["namespaces"]
        .as_array()
        .expect("namespaces array")
        .iter()
        .map(|n| (n["type"].as_str().unwrap().to_string(), n["ns"].as_u64().unwrap()))
        .collect()
}

#[test]
fn ls_agrees_with_lsns_on_types_and_inodes() {
    if !require_root("ls vs lsns") {
        return;
    }
    // Other tests start and stop processes meanwhile: retry until two back-to-back reads agree.
    let mut last = None;
    for _ in 0..20 {
        let ours = labns(&["ls", "--json"]);
        let theirs = Command::new("lsns").args(["-J", "-o", "NS,TYPE"]).output().expect("lsns (util-linux)");
        assert!(ours.status.success(), "{}", stderr(&ours));
        let (a, b) = (pairs(&ours.stdout), pairs(&theirs.stdout));
        if a == b {
            return;
        }
        last = Some((a, b));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (a, b) = last.unwrap();
    panic!(
        "labns ls and lsns disagree:\nonly labns: {:?}\nonly lsns: {:?}",
        a.difference(&b).collect::<Vec<_>>(),
        b.difference(&a).collect::<Vec<_>>()
    );
}

#[test]
fn ls_filters_by_type_like_lsns_t() {
    let out = labns(&["ls", "-t", "net", "--json"]);
    assert!(out.status.success());
    assert!(pairs(&out.stdout).iter().all(|(t, _)| t == "net"));
}

#[test]
fn enter_sees_the_same_namespace_links_as_nsenter() {
    if !require_root("enter vs nsenter") {
        return;
    }
    let _guard = kernel_lock();
    let flags = nix::sched::CloneFlags::CLONE_NEWNS
        | nix::sched::CloneFlags::CLONE_NEWUTS
        | nix::sched::CloneFlags::CLONE_NEWIPC
        | nix::sched::CloneFlags::CLONE_NEWNET
        | nix::sched::CloneFlags::CLONE_NEWPID;
    let child = labns::Spawner::new(flags)
        .mount_proc(true)
        .stdio(labns::Stdio::Null)
        .kill_with_parent(true)
        .spawn(&["sleep".into(), "30".into()])
        .unwrap();
    let pid = child.pid.to_string();
    let script = "for t in cgroup ipc mnt net pid uts; do readlink /proc/self/ns/$t; done";
    let ours = labns(&["enter", "-t", &pid, "--all", "--", "sh", "-c", script]);
    let theirs = Command::new("nsenter").args(["-t", &pid, "-a", "sh", "-c", script]).output().unwrap();
    let direct: Vec<String> = ["cgroup", "ipc", "mnt", "net", "pid", "uts"]
        .iter()
        .map(|t| std::fs::read_link(format!("/proc/{pid}/ns/{t}")).unwrap().display().to_string())
        .collect();
    child.kill().unwrap();
    assert!(ours.status.success(), "{}", stderr(&ours));
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert_eq!(stdout(&ours).lines().collect::<Vec<_>>(), direct);
}

#[test]
fn run_makes_pid_one_with_a_fresh_proc_and_leaves_the_host_proc_alone() {
    if !require_root("ns run --pid --mnt") {
        return;
    }
    let _guard = kernel_lock();
    let out = labns(&[
        "run",
        "--pid",
        "--mnt",
        "--uts",
        "--hostname",
        "labctl-t",
        "--",
        "sh",
        "-c",
        "echo $$; hostname; ls /proc | grep -c '^[0-9]'",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\nlabctl-t\n3\n");
    assert!(std::path::Path::new(&format!("/proc/{}", std::process::id())).exists(), "host /proc untouched");
    let exit = labns(&["run", "--net", "--", "sh", "-c", "exit 7"]);
    assert_eq!(exit.status.code(), Some(7), "the exit code is passed on");
}

#[test]
fn an_unprivileged_user_gets_root_in_a_user_namespace_with_the_map_written_by_the_parent() {
    if !require_root("ns run --user as nobody") {
        return;
    }
    // setpriv (util-linux) drops to nobody; the test binary tree must be readable by it.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_labns")])
        .args([
            "run",
            "--user",
            "--map-root",
            "--",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status",
        ])
        .output()
        .unwrap();
    if let Some(why) = labns::userns::UsernsPolicy::current().unprivileged_blocker() {
        assert!(stderr(&out).contains("cannot create a user namespace"), "{why}: {}", stderr(&out));
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "root inside");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "65534", "1"]);
    assert!(
        lines[2].ends_with("000001ffffffffff") || lines[2].contains("ffffffff"),
        "full CapEff inside: {}",
        lines[2]
    );
    let unprivileged = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_labns")])
        .args(["run", "--net", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(unprivileged.status.code(), Some(1));
    assert!(stderr(&unprivileged).contains("needs root (CAP_SYS_ADMIN)"), "{}", stderr(&unprivileged));
}

#[test]
fn disabled_user_namespaces_are_explained_with_the_sysctl_to_change() {
    if !require_root("userns disabled") {
        return;
    }
    // user.max_user_namespaces is per user namespace: set it to 0 inside a throwaway one
    // (never on the host) and try to create a user namespace from there.
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} run --user -- true",
        env!("CARGO_BIN_EXE_labns")
    );
    let out = Command::new("unshare").args(["--user", "--map-root-user", "sh", "-c", &script]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("user.max_user_namespaces is 0"), "{err}");
    assert!(err.contains("sudo sysctl -w user.max_user_namespaces=15000"), "{err}");
}

#[test]
fn entering_a_missing_pid_a_kernel_thread_or_a_zombie_is_refused_by_name() {
    let missing = labns(&["enter", "-t", "2147483647", "--net", "--", "true"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no process with PID 2147483647"), "{}", stderr(&missing));
    if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
        let kthread = labns(&["enter", "-t", "2", "--all", "--", "true"]);
        assert_eq!(kthread.status.code(), Some(1));
        assert!(stderr(&kthread).contains("kernel thread ([kthreadd])"), "{}", stderr(&kthread));
    }
    let zombie = Command::new("true").spawn().unwrap();
    let pid = zombie.id();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let exited = labns(&["enter", "-t", &pid.to_string(), "--net", "--", "true"]);
    assert_eq!(exited.status.code(), Some(1));
    assert!(stderr(&exited).contains(&format!("process {pid} has exited")), "{}", stderr(&exited));
    drop(zombie);
}

#[test]
fn conflicting_flags_are_refused() {
    let both = labns(&["enter", "-t", "1", "--all", "--net", "--", "true"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("'--all' cannot be used with"), "{}", stderr(&both));
    let hostname = labns(&["run", "--pid", "--hostname", "x", "--", "true"]);
    assert_eq!(hostname.status.code(), Some(1));
    assert!(stderr(&hostname).contains("--hostname needs --uts"), "{}", stderr(&hostname));
    let none = labns(&["enter", "-t", "1", "--", "true"]);
    assert!(stderr(&none).contains("no namespace chosen"), "{}", stderr(&none));
}
