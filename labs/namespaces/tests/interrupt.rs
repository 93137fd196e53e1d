//! Ctrl-C in the middle of a namespace lab leaves nothing behind (processes, mounts, the demo
//! directory). Uses the labctl binary of this workspace (or $LABCTL_BIN).

use labkit::testing::{interrupt_run, kernel_lock, leftovers, require_root, start_run_and_wait_for_children};
use nix::sys::signal::Signal;
use std::process::Command;

fn interrupt(lab: &str) {
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let mut cmd = Command::new(&bin);
    cmd.args(["run", lab, "--yes", "--format", "plain"]);
    let (run, children) = start_run_and_wait_for_children(cmd);
    std::thread::sleep(std::time::Duration::from_millis(150));
    interrupt_run(run, &children, Signal::SIGINT, lab);
    let left = leftovers(&bin);
    assert!(left.is_empty(), "{lab}: left behind after SIGINT: {left:?}");
    assert!(!labkit::paths::run_dir().join("ns-mnt").exists() || lab != "ns-mnt", "the demo dir is left");
}

#[test]
fn sigint_mid_lab_leaves_nothing() {
    if !require_root("SIGINT in namespace labs") {
        return;
    }
    let _guard = kernel_lock();
    for lab in ["ns-uts", "ns-pid", "ns-mnt", "ns-enter"] {
        interrupt(lab);
    }
}
