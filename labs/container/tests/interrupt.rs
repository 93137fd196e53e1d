//! SIGINT, SIGTERM or SIGKILL (then its journal undone, as `labctl clean` does) in the middle of
//! container-lifecycle leaves nothing behind: no container process or supervisor, no mount, no
//! cgroup of its containers, no state directory. Uses the labctl binary of this workspace (or
//! $LABCTL_BIN).

use labkit::testing::{interrupt_run, kernel_lock, require_root};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn base() -> PathBuf {
    labkit::paths::run_dir().join("container-lifecycle")
}

/// The lab's container ids so far (directories of its engine's state dir).
fn container_ids() -> Vec<String> {
    std::fs::read_dir(base().join("lib/containers"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The processes the run's journal names (the supervisors and inits it registered).
fn journaled_children(run: i32) -> Vec<i32> {
    labkit::cleanup::read_journals()
        .into_iter()
        .filter(|(_, j)| j.pid == run)
        .flat_map(|(_, j)| j.undo)
        .filter_map(|u| match u {
            labkit::Undo::Kill { pid, .. } => Some(pid),
            _ => None,
        })
        .collect()
}

/// The init of the lab's first container, once its record names one.
fn first_init() -> Option<i32> {
    let id = container_ids().into_iter().next()?;
    let path = base().join("lib/containers").join(id).join("config.v2.json");
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    record["State"]["Pid"].as_i64().map(|p| p as i32).filter(|p| *p > 0)
}

/// Undoes the journal of run `pid` (dead by now) as `labctl clean` would, and removes it.
fn undo_journal_of(pid: i32) {
    let journals: Vec<_> = labkit::cleanup::read_journals().into_iter().filter(|(_, j)| j.pid == pid).collect();
    assert!(!journals.is_empty(), "no journal of run {pid}");
    for (path, journal) in journals {
        assert!(!journal.owner_alive(), "the run {pid} still counts as alive");
        for undo in journal.undo.iter().rev() {
            undo.run().unwrap_or_else(|e| panic!("undo {}: {e}", undo.describe()));
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// Starts the lab slowed down between steps and returns once its journal names the first
/// container's processes. Importing the image and `run -d` take a while under QEMU's TCG (the
/// course VM), hence a minute, not labkit's 10 s; on a timeout the run is killed and undone.
fn start() -> (std::process::Child, Vec<i32>, Vec<String>) {
    let bin = labkit::testing::workspace_labctl().expect("the labctl binary");
    let mut run = Command::new(&bin)
        .args(["run", "container-lifecycle", "--yes", "--format", "plain"])
        .env("LABCTL_STEP_DELAY_MS", "300")
        .env("LABCTL_LEARNER_DIR", labkit::testing::scratch_learner_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn labctl");
    let pid = run.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    // The engine's clients are journaled while they run: wait for the first container's init.
    let children = loop {
        let children = journaled_children(pid);
        if first_init().is_some_and(|init| children.contains(&init)) {
            break children;
        }
        if Instant::now() > deadline || run.try_wait().unwrap().is_some() {
            let _ = run.kill();
            let _ = run.wait();
            undo_journal_of(pid);
            panic!("the run never registered a container's processes in its journal");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(150));
    let ids = container_ids();
    assert!(!ids.is_empty(), "the run registered a process but made no container");
    (run, children, ids)
}

/// Nothing of the lab's containers is left: processes, mounts, cgroups, the lab's directory.
fn assert_nothing_of(ids: &[String], children: &[i32], after: &str) {
    for pid in children {
        assert!(labkit::testing::process_gone(*pid), "{after}: process {pid} survived");
    }
    let base = base();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(base.to_str().unwrap())).collect();
    assert!(left.is_empty(), "{after}: mounts left: {left:#?}");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ids {
            for dir in [
                hierarchy.path().join("labctl/containers").join(id),
                PathBuf::from("/sys/fs/cgroup/labctl/containers").join(id),
            ] {
                assert!(!dir.exists(), "{after}: {} is left", dir.display());
            }
        }
    }
    let inside: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            std::fs::read_link(e.path().join("root")).is_ok_and(|r| r.starts_with(&base))
                || String::from_utf8_lossy(&cmdline).contains("lclife-")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(inside.is_empty(), "{after}: processes of the lab's containers left: {inside:?}");
    assert!(!base.exists(), "{after}: {} is left", base.display());
}

fn interrupt(signal: Signal) {
    let (run, children, ids) = start();
    interrupt_run(run, &children, signal, "container-lifecycle");
    assert_nothing_of(&ids, &children, &format!("after {signal}"));
}

#[test]
fn sigint_mid_lab_leaves_nothing() {
    if !require_root("SIGINT in container-lifecycle") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGINT);
}

#[test]
fn sigterm_mid_lab_leaves_nothing() {
    if !require_root("SIGTERM in container-lifecycle") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGTERM);
}

/// After a SIGKILL the containers run on (their supervisors are not the run's children in the
/// kernel's eyes); the run's journal names what to undo. The test undoes exactly that journal,
/// as `labctl clean` would, without touching other runs' journals on a shared machine.
#[test]
fn sigkill_then_the_journal_undone_leaves_nothing() {
    if !require_root("SIGKILL + clean in container-lifecycle") {
        return;
    }
    let _guard = kernel_lock();
    let (mut run, children, ids) = start();
    let pid = run.id() as i32;
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(
        children.iter().any(|p| !labkit::testing::process_gone(*p)),
        "SIGKILL cannot clean up: a container remains"
    );
    let bin = labkit::testing::workspace_labctl().unwrap();
    let check = Command::new(&bin).args(["clean", "--check"]).output().unwrap();
    let listed = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        listed.contains("lclife-web") || listed.contains("container-lifecycle"),
        "clean --check must list the run's objects:\n{listed}"
    );
    undo_journal_of(pid);
    assert_nothing_of(&ids, &children, "after SIGKILL and the journal's undo");
}
