//! `labctl check mini-container`: fails while no engine container qualifies, names what is
//! missing, and passes for `container run -d -p 8080:80 --memory 64m`. Runs with its own state
//! directories, in a network namespace made for it (the engine's bridge and rules land there).
//! Uses the labctl binary of this workspace (or $LABCTL_BIN).

use labkit::testing::{kernel_lock, require_root};
use std::process::{Command, Output, Stdio};

struct Host {
    netns: String,
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
}

impl Host {
    fn labctl(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg(&self.bin)
            .args(args)
            .env("LABCTL_RUN_DIR", self.dir.path().join("run"))
            .env("LABCTL_STATE_DIR", self.dir.path().join("lib"))
            .env("LABCTL_LEARNER_DIR", self.dir.path().join("learner"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.labctl(&["container", "rm", "-f", "lcmini-check"]);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_challenge_passes_only_for_a_complete_container() {
    if !require_root("mini-container challenge") {
        return;
    }
    let _guard = kernel_lock();
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let netns = format!("labctl-minichk-{}", std::process::id());
    assert!(Command::new("ip").args(["netns", "add", &netns]).status().unwrap().success());
    let host = Host { netns, dir: tempfile::Builder::new().prefix("labctl-minichk-").tempdir().unwrap(), bin };
    let import = host.labctl(&["image", "import", "--busybox"]);
    assert!(import.status.success(), "{}", text(&import));

    let none = host.labctl(&["check", "mini-container", "--format", "plain"]);
    assert_eq!(none.status.code(), Some(1), "{}", text(&none));
    assert!(text(&none).contains("none of 0 running container(s)"), "{}", text(&none));

    // No port, no limit: still not it.
    let bare = host.labctl(&["container", "run", "-d", "--name", "lcmini-check", "busybox", "sleep", "60"]);
    assert!(bare.status.success(), "{}", text(&bare));
    let plain = host.labctl(&["check", "mini-container", "--format", "plain"]);
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain));
    assert!(text(&plain).contains("none of 1 running container(s)"), "{}", text(&plain));
    let rm = host.labctl(&["container", "rm", "-f", "lcmini-check"]);
    assert!(rm.status.success(), "{}", text(&rm));

    let args = ["container", "run", "-d", "--name", "lcmini-check", "-p", "8080:80", "--memory", "64m", "busybox"];
    let mut full = args.to_vec();
    full.extend(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    let good = host.labctl(&full);
    assert!(good.status.success(), "{}", text(&good));
    let pass = host.labctl(&["check", "mini-container", "--format", "plain"]);
    assert!(pass.status.success(), "{}", text(&pass));
    assert!(text(&pass).contains("lcmini-check"), "{}", text(&pass));
    let rm = host.labctl(&["container", "rm", "-f", "lcmini-check"]);
    assert!(rm.status.success(), "{}", text(&rm));
    let ps = host.labctl(&["container", "ps", "-aq"]);
    assert!(ps.status.success() && ps.stdout.is_empty(), "containers left: {}", text(&ps));
}
