//! ns-intro, ns-ipc and ns-user beyond their snapshots: ns-user run by an unprivileged user
//! (its manifest says `root: false`), and Ctrl-C in the middle of each leaving nothing behind.
//! Uses the labctl binary of this workspace (or $LABCTL_BIN).

use labkit::testing::{interrupt_run, kernel_lock, leftovers, require_root, start_run_and_wait_for_children};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn labctl_bin() -> Option<PathBuf> {
    labkit::testing::workspace_labctl()
}

fn nothing_left(bin: &Path, context: &str) {
    let left = leftovers(bin);
    assert!(left.is_empty(), "{context}: left behind: {left:?}");
    let queues = std::fs::read_to_string("/proc/sysvipc/msg").unwrap_or_default();
    let leaked = queues.lines().any(|l| l.split_whitespace().next() == Some("1279459329"));
    assert!(!leaked, "{context}: ns-ipc's queue key 0x4c430001 in the host namespace");
}

/// A directory nobody (65534) may write, for its run and state dirs.
fn nobody_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("labctl-nobody").tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn ns_user_runs_as_an_unprivileged_user_and_leaves_nothing() {
    if !require_root("ns-user as nobody") {
        return;
    }
    let Some(bin) = labctl_bin() else { return };
    let _guard = kernel_lock();
    let dir = nobody_dir();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["run", "ns-user", "--yes", "--format", "plain"])
        .env("LABCTL_RUN_DIR", dir.path().join("run"))
        .env("LABCTL_STATE_DIR", dir.path().join("state"))
        .env("NO_COLOR", "1")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(why) = labns::userns::UsernsPolicy::current().unprivileged_blocker() {
        assert!(!out.status.success(), "blocked ({why}) yet the lab passed");
        return;
    }
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("setgroups = deny"), "an unprivileged parent must deny setgroups:\n{stdout}");
    assert!(stdout.contains("uid_map   = 0 65534 1"), "{stdout}");
    assert!(stdout.contains("/etc/shadow  inside"), "without root the lab uses /etc/shadow:\n{stdout}");
    assert!(stdout.contains("All checks passed."), "{stdout}");
    let run = dir.path().join("run");
    assert!(!run.join("ns-user").exists(), "the demo directory is left");
    let journals: Vec<_> = std::fs::read_dir(run.join("journal")).unwrap().flatten().collect();
    assert!(journals.is_empty(), "a journal is left: {journals:?}");
}

fn interrupt(bin: &Path, lab: &str) {
    let mut cmd = Command::new(bin);
    cmd.args(["run", lab, "--yes", "--format", "plain"]);
    let (run, children) = start_run_and_wait_for_children(cmd);
    std::thread::sleep(Duration::from_millis(150));
    interrupt_run(run, &children, nix::sys::signal::Signal::SIGINT, lab);
    nothing_left(bin, &format!("{lab} after SIGINT"));
    assert!(!labkit::paths::run_dir().join("ns-user").exists(), "{lab}: the ns-user demo directory is left");
}

#[test]
fn sigint_mid_lab_leaves_nothing() {
    if !require_root("SIGINT in ns-intro, ns-ipc, ns-user") {
        return;
    }
    let Some(bin) = labctl_bin() else { return };
    let _guard = kernel_lock();
    for lab in ["ns-intro", "ns-ipc", "ns-user"] {
        interrupt(&bin, lab);
    }
}

#[test]
fn full_runs_leave_nothing() {
    if !require_root("ns-intro, ns-ipc, ns-user full runs") {
        return;
    }
    let Some(bin) = labctl_bin() else { return };
    let _guard = kernel_lock();
    for lab in ["ns-intro", "ns-ipc", "ns-user"] {
        let out =
            Command::new(&bin).args(["run", lab, "--yes", "--format", "plain"]).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{lab}: {}", String::from_utf8_lossy(&out.stdout));
        nothing_left(&bin, &format!("after {lab}"));
    }
}

#[test]
fn the_challenges_are_checked_against_what_the_learner_left() {
    if !require_root("ns-user and ns-ipc challenges") {
        return;
    }
    let Some(bin) = labctl_bin() else { return };
    let _guard = kernel_lock();
    // ns-user: an unprivileged `unshare -Ur sleep` satisfies it.
    let mut sleeper = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "--user", "--map-root-user"])
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let passed = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        Command::new(&bin).args(["check", "ns-user"]).output().unwrap().status.success()
    });
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(passed, "labctl check ns-user did not see the user namespace");
    // ns-ipc: a queue in the host namespace does not count, one inside a new IPC namespace does.
    let mut holder =
        Command::new("unshare").args(["--ipc", "sh", "-c", "ipcmk -Q >/dev/null; exec sleep 30"]).spawn().unwrap();
    let passed = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        Command::new(&bin).args(["check", "ns-ipc"]).output().unwrap().status.success()
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(passed, "labctl check ns-ipc did not see the queue");
}
