//! `labctl check container-lifecycle` judges the learner's engine: it fails until a running
//! container's PID 1 handles SIGTERM and holds /tmp/hello.txt, then passes. The engine's state
//! dirs point into a temp dir (`LABCTL_RUN_DIR`, `LABCTL_STATE_DIR`), as the engine tests do.

use labkit::testing::{kernel_lock, require_root};
use std::process::{Command, Output, Stdio};

struct Learner {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
}

impl Learner {
    fn labctl(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("LABCTL_RUN_DIR", self.dir.path().join("run"))
            .env("LABCTL_STATE_DIR", self.dir.path().join("lib"))
            .env("LABCTL_LEARNER_DIR", labkit::testing::scratch_learner_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.labctl(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        let _ = self.labctl(&["container", "rm", "-f", "mybox", "plain"]);
    }
}

#[test]
fn check_passes_only_for_a_sigterm_handling_container_with_the_copied_file() {
    if !require_root("container-lifecycle challenge") {
        return;
    }
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let _guard = kernel_lock();
    let learner = Learner { dir: tempfile::Builder::new().prefix("labctl-lclife-check-").tempdir().unwrap(), bin };
    learner.ok(&["image", "import", "--busybox"]);
    let trap = "trap 'exit 0' TERM; while true; do sleep 1; done";
    learner.ok(&["container", "run", "-d", "--name", "mybox", "--network", "none", "busybox", "sh", "-c", trap]);
    learner.ok(&["container", "run", "-d", "--name", "plain", "--network", "none", "busybox", "sleep", "1000"]);
    let hello = learner.dir.path().join("hello.txt");
    std::fs::write(&hello, "hello\n").unwrap();
    // The file in the container without a handler does not count.
    learner.ok(&["container", "cp", hello.to_str().unwrap(), "plain:/tmp/hello.txt"]);
    let out = learner.labctl(&["check", "container-lifecycle"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("none of 2 running container(s)"), "{report}");
    learner.ok(&["container", "cp", hello.to_str().unwrap(), "mybox:/tmp/hello.txt"]);
    let report = learner.ok(&["check", "container-lifecycle"]);
    assert!(report.contains("mybox (pid "), "{report}");
    learner.ok(&["container", "rm", "-f", "mybox", "plain"]);
}
