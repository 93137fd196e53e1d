//! SIGINT or SIGTERM in the middle of container-security leaves nothing behind: no container
//! init, no lcrun cgroup, no bundle directory. Uses the labctl binary of this workspace (or
//! $LABCTL_BIN).

use labkit::testing::{interrupt_run, kernel_lock, leftovers, require_root, start_run_and_wait_for_children};
use nix::sys::signal::Signal;
use std::process::Command;

fn interrupt(signal: Signal) {
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let mut cmd = Command::new(&bin);
    cmd.args(["run", "container-security", "--yes", "--format", "plain"]);
    // Returns once the journal names the first container's init.
    let (run, children) = start_run_and_wait_for_children(cmd);
    std::thread::sleep(std::time::Duration::from_millis(150));
    interrupt_run(run, &children, signal, "container-security");
    // Other sessions' cgroups may sit under the shared labctl/ group: judge ours by name.
    let left: Vec<String> = leftovers(&bin)
        .into_iter()
        .filter(|l| !l.starts_with("left: cgroup ") || l.contains("lcsec") || l.contains("lcrun"))
        .collect();
    assert!(left.is_empty(), "left behind after {signal}: {left:?}");
    let base = labkit::paths::run_dir().join("container-security");
    assert!(!base.exists(), "{} is left after {signal}", base.display());
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ["lcsec-chroot", "lcsec-default"] {
            let dir = hierarchy.path().join("labctl/lcrun").join(id);
            assert!(!dir.exists(), "{} is left after {signal}", dir.display());
        }
    }
}

#[test]
fn sigint_mid_lab_leaves_nothing() {
    if !require_root("SIGINT in container-security") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGINT);
}

#[test]
fn sigterm_mid_lab_leaves_nothing() {
    if !require_root("SIGTERM in container-security") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGTERM);
}
