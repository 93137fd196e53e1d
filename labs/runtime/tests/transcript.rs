//! The reference transcript of the book's "What is OCI?" chapter: one bundle taken through the
//! runtime spec's lifecycle with lcrun, each command's output as read, volatile values (pids,
//! inodes, times, temp paths) redacted. The chapter includes the snapshot file, so the book
//! shows what the tool really prints.

use labkit::testing::{kernel_lock, require_root};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const LCRUN: &str = env!("CARGO_BIN_EXE_lcrun");

struct Tour {
    bundle: tempfile::TempDir,
    text: String,
}

impl Tour {
    fn lcrun(&mut self, args: &[&str]) -> String {
        let root = self.bundle.path().join("state");
        let out_path = self.bundle.path().join("out");
        let status = Command::new(LCRUN)
            .arg("--root")
            .arg(&root)
            .args(args)
            .current_dir(self.bundle.path())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::process::Stdio::inherit())
            .status()
            .unwrap();
        assert!(status.success(), "lcrun {args:?}");
        let out = std::fs::read_to_string(&out_path).unwrap();
        let quoted: Vec<String> =
            args.iter().map(|a| if a.contains([' ', ';']) { format!("'{a}'") } else { a.to_string() }).collect();
        writeln!(self.text, "$ lcrun {}", quoted.join(" ")).unwrap();
        out
    }

    fn show(&mut self, lines: &str) {
        for line in lines.lines() {
            writeln!(self.text, "  {line}").unwrap();
        }
    }

    fn note(&mut self, line: &str) {
        writeln!(self.text, "\n# {line}").unwrap();
    }
}

fn make_rootfs(rootfs: &Path) {
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists()).expect("busybox");
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep", "ps", "cat", "hostname", "ls"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
}

#[test]
fn oci_tour() {
    if !require_root("oci_tour") {
        return;
    }
    let _lock = kernel_lock();
    let bundle = tempfile::Builder::new().prefix("lcrun-tour").tempdir().unwrap();
    make_rootfs(&bundle.path().join("rootfs"));
    let mut t = Tour { bundle, text: String::new() };

    t.note("A bundle is a directory: config.json plus the root filesystem it names.");
    t.lcrun(&["spec"]);
    let config_path = t.bundle.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["sleep", "300"]);
    config["hostname"] = "oci-demo".into();
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let summary = format!(
        "ociVersion        {}\nroot.path         {}\nprocess.args      {}\nhostname          {}\nlinux.namespaces  {}\nmounts            {}\nmaskedPaths       {} paths\nreadonlyPaths     {} paths\ncapabilities      {} in the bounding set",
        config["ociVersion"].as_str().unwrap(),
        config["root"]["path"].as_str().unwrap(),
        config["process"]["args"],
        config["hostname"].as_str().unwrap(),
        config["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect::<Vec<_>>().join(" "),
        config["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect::<Vec<_>>().join(" "),
        config["linux"]["maskedPaths"].as_array().unwrap().len(),
        config["linux"]["readonlyPaths"].as_array().unwrap().len(),
        config["process"]["capabilities"]["bounding"].as_array().unwrap().len(),
    );
    t.show(&summary);

    t.note("create: every namespace, mount and the cgroup exist; the init waits on exec.fifo.");
    t.lcrun(&["create", "oci-demo"]);
    let state: serde_json::Value = serde_json::from_str(&t.lcrun(&["state", "oci-demo"])).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    t.show(&format!("status {}, pid [pid], bundle [bundle]", state["status"].as_str().unwrap()));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    writeln!(t.text, "$ cat /proc/[pid]/comm").unwrap();
    t.show(&format!("{} (still lcrun's own code: sleep has not been exec'd)", comm.trim()));
    writeln!(t.text, "$ readlink /proc/self/ns/pid /proc/[pid]/ns/pid").unwrap();
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    t.show(&format!(
        "pid:[inode] and pid:[inode] — {}",
        if ours == theirs { "the same" } else { "two different namespaces" }
    ));
    writeln!(t.text, "$ grep lcrun /proc/[pid]/cgroup").unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = cgroup.lines().find(|l| l.contains("/lcrun/")).unwrap();
    t.show(&format!("…:{}", line.rsplit(':').next().unwrap()));

    t.note("start: lcrun opens exec.fifo for reading; the init's open returns and it execs sleep.");
    t.lcrun(&["start", "oci-demo"]);
    for _ in 0..200 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let state: serde_json::Value = serde_json::from_str(&t.lcrun(&["state", "oci-demo"])).unwrap();
    t.show(&format!("status {}", state["status"].as_str().unwrap()));

    t.note("exec: a second process joins the init's namespaces and cgroup.");
    let out = t.lcrun(&["exec", "oci-demo", "sh", "-c", "hostname; ps -o pid,comm"]);
    t.show(&out);

    t.note("kill and delete: the init gets SIGKILL; delete removes the cgroup and the state.");
    t.lcrun(&["kill", "oci-demo", "KILL"]);
    for _ in 0..200 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if s.is_empty() || s.contains(") Z ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let state: serde_json::Value = serde_json::from_str(&t.lcrun(&["state", "oci-demo"])).unwrap();
    t.show(&format!("status {}", state["status"].as_str().unwrap()));
    t.lcrun(&["delete", "oci-demo"]);
    let listed = t.lcrun(&["list", "--quiet"]);
    t.show(if listed.trim().is_empty() { "(no containers)" } else { &listed });

    insta::assert_snapshot!("oci-tour", t.text);
}
