//! Ctrl-C in the middle of a namespace lab leaves nothing behind (processes, mounts, the demo
//! directory). Uses the labctl binary of this workspace (or $LABCTL_BIN).

use labkit::testing::{kernel_lock, require_root};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn labctl_bin() -> Option<PathBuf> {
    let path = std::env::var_os("LABCTL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/labctl")));
    path.exists().then_some(path)
}

fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rfind(')').is_some_and(|i| s[i + 2..].starts_with('Z')))
        .unwrap_or(true)
}

fn interrupt(lab: &str) {
    let Some(bin) = labctl_bin() else {
        eprintln!("skipping: no labctl binary (cargo build first, or set LABCTL_BIN)");
        return;
    };
    let mut run = Command::new(&bin)
        .args(["run", lab, "--yes", "--format", "plain"])
        .env("LABCTL_STEP_DELAY_MS", "300")
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let children: Vec<i32> = loop {
        let kills: Vec<i32> = labkit::cleanup::read_journals()
            .into_iter()
            .filter(|(_, j)| j.pid == run.id() as i32)
            .flat_map(|(_, j)| j.undo)
            .filter_map(|u| match u {
                labkit::Undo::Kill { pid, .. } => Some(pid),
                _ => None,
            })
            .collect();
        if !kills.is_empty() {
            break kills;
        }
        assert!(Instant::now() < deadline, "{lab} never registered a child");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(150));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{lab}: exit code after SIGINT");
    for pid in children {
        assert!(gone(pid), "{lab}: child {pid} survived SIGINT");
    }
    let check = Command::new(&bin).args(["clean", "--check"]).output().unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    let ours: Vec<&str> = text.lines().filter(|l| l.starts_with("left:") && !l.contains("labctl-test-")).collect();
    assert!(ours.is_empty(), "{lab}: left behind after SIGINT: {ours:?}");
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
