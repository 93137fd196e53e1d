//! Shared by the integration tests: the labctl binary, a throwaway network namespace that
//! plays "the host" (so no test touches the machine's own network), and the leak check.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use labkit::testing::{kernel_lock, process_gone, require_root};

/// The labctl binary under test (`LABCTL_BIN` overrides, e.g. a static build in the course VM).
pub fn labctl_bin() -> PathBuf {
    std::env::var_os("LABCTL_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_labctl")))
}

/// A named network namespace made for one test, with `lo` up and a veth pair (`lceth0` and its
/// peer `lceth1`, both up) standing in for the host's network card. Removed on drop.
pub struct TestHost {
    pub name: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestHost {
    pub fn new() -> TestHost {
        let name = format!("labctl-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        run_ok("ip", &["netns", "add", &name]);
        // Constructed before configuring, so a failure below still removes the namespace.
        let host = TestHost { name };
        host.ip(&["link", "set", "lo", "up"]);
        host.ip(&["link", "add", "lceth0", "type", "veth", "peer", "name", "lceth1"]);
        // No IPv6 link-local addresses: they appear asynchronously and would make transcripts racy.
        for link in ["lceth0", "lceth1"] {
            host.ip(&["link", "set", link, "addrgenmode", "none"]);
            host.ip(&["link", "set", link, "up"]);
        }
        host
    }

    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ok("ip", &full);
    }

    /// `labctl ARGS` inside this namespace, stdin closed, no colour. Joined with nsenter, not
    /// `ip netns exec`, which remounts /sys and so hides the cgroup filesystems.
    pub fn labctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name)).arg("--").arg(labctl_bin()).args(args);
        cmd.stdin(std::process::Stdio::null()).env("NO_COLOR", "1").env_remove("LANG").env_remove("LC_ALL");
        // Reference transcripts wrap at the fixed width: a COLUMNS from the caller must not change it.
        cmd.env_remove("COLUMNS");
        cmd.env("LABCTL_LEARNER_DIR", labkit::testing::scratch_learner_dir());
        cmd
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// `labctl ARGS` in our own namespace, stdin closed, no colour, English.
pub fn labctl(args: &[&str]) -> Command {
    let mut cmd = Command::new(labctl_bin());
    cmd.args(args).stdin(std::process::Stdio::null()).env("NO_COLOR", "1").env_remove("LANG").env_remove("LC_ALL");
    cmd.env_remove("COLUMNS");
    // Progress goes to a scratch dir: the suite must not mark the machine's learner as done.
    cmd.env("LABCTL_LEARNER_DIR", labkit::testing::scratch_learner_dir());
    cmd
}

pub fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn err_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that nothing labctl makes is left: `labctl clean --check` exits 0, and no process
/// runs the test's sleep children.
pub fn assert_nothing_left(context: &str) {
    let out = labctl(&["clean", "--check"]).output().expect("run labctl clean --check");
    let listed: Vec<String> = text(&out).lines().filter(|l| !l.contains("labctl-test-")).map(String::from).collect();
    let leaks: Vec<&String> = listed.iter().filter(|l| l.starts_with("left:")).collect();
    assert!(leaks.is_empty(), "{context}: labctl left objects behind:\n{}", listed.join("\n"));
}

/// `v2` where cgroup2 is mounted at /sys/fs/cgroup (course VMs), else `v1` (legacy or hybrid):
/// the suffix of transcripts that differ between the two worlds.
pub fn cgroup_world() -> &'static str {
    let unified = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    if unified {
        "v2"
    } else {
        "v1"
    }
}
