//! lcrun against the kernel (root): the OCI lifecycle, the init's view of its own container,
//! exec, and the bad-input list — each a run of the real binary on a busybox bundle, with its
//! own state root, and nothing left afterwards.

use labkit::testing::{kernel_lock, require_root};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LCRUN: &str = env!("CARGO_BIN_EXE_lcrun");

struct Bundle {
    dir: tempfile::TempDir,
    root: PathBuf,
}

fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox is needed for the test bundles (Debian: busybox-static, installed by scripts/test-all.sh)")
}

impl Bundle {
    /// A bundle whose rootfs is a static busybox with its applets, and `lcrun spec`'s config
    /// with `args`, no terminal, edited by `edit`.
    fn new(args: &[&str], edit: impl FnOnce(&mut Value)) -> Bundle {
        let dir = tempfile::Builder::new().prefix("lcrun-test").tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        for d in ["proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(rootfs.join("bin/busybox")).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
            .unwrap();
        let spec = Command::new(LCRUN).args(["spec", "--bundle"]).arg(dir.path()).output().unwrap();
        assert!(spec.status.success(), "lcrun spec: {}", String::from_utf8_lossy(&spec.stderr));
        let path = dir.path().join("config.json");
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        edit(&mut config);
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        let root = dir.path().join("state");
        Bundle { dir, root }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs lcrun with its stdout and stderr in files, not pipes: a container's init inherits
    /// them (as with runc), so waiting for the pipes' end would wait for the container.
    fn lcrun(&self, args: &[&str]) -> Output {
        let out_path = self.dir.path().join("lcrun.stdout");
        let err_path = self.dir.path().join("lcrun.stderr");
        let status = Command::new(LCRUN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.lcrun(args);
        assert!(out.status.success(), "lcrun {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.lcrun(args);
        assert!(!out.status.success(), "lcrun {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn create(&self, id: &str) {
        self.ok(&["create", "--bundle", self.path().to_str().unwrap(), id]);
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// `lcrun run` with the bundle; (exit code, stdout, stderr).
    fn run(&self, id: &str) -> (i32, String, String) {
        let out = self.lcrun(&["run", "--bundle", self.path().to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Whatever a failed assertion left: every container of this state root.
        for id in std::fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let id = id.file_name().to_string_lossy().trim_end_matches(".lock").to_string();
            let _ = Command::new(LCRUN).arg("--root").arg(&self.root).args(["delete", "--force", &id]).output();
        }
    }
}

fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if path.file_name().is_some_and(|n| n == name) {
                    found.push(path.clone());
                }
                if path.components().count() < 9 {
                    stack.push(path);
                }
            }
        }
    }
    found
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn run_returns_the_containers_exit_code_and_the_init_is_pid_1() {
    if !require_root("run_returns_the_containers_exit_code_and_the_init_is_pid_1") {
        return;
    }
    let _lock = kernel_lock();
    let b = Bundle::new(&["sh", "-c", "echo pid=$$ host=$(hostname); exit 7"], |_| {});
    let (code, out, err) = b.run("lc-exit");
    assert_eq!(code, 7, "stderr: {err}");
    assert_eq!(out.trim(), "pid=1 host=lcrun");
    assert!(!b.root.join("lc-exit").exists(), "run deletes the container after it exits");
}

#[test]
fn create_start_state_kill_delete_follow_the_spec() {
    if !require_root("create_start_state_kill_delete_follow_the_spec") {
        return;
    }
    let _lock = kernel_lock();
    let b = Bundle::new(&["sleep", "300"], |_| {});
    let pid_file = b.path().join("init.pid");
    b.ok(&["create", "--bundle", b.path().to_str().unwrap(), "--pid-file", pid_file.to_str().unwrap(), "lc-life"]);
    let state = b.state("lc-life");
    assert_eq!(state["status"], "created");
    assert_eq!(state["ociVersion"], "1.2.0");
    assert_eq!(state["bundle"], b.path().canonicalize().unwrap().to_str().unwrap());
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Created: every namespace exists, but the program has not run yet.
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(), ours);
    assert_ne!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "sleep");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroup.contains("/labctl/lcrun/lc-life"), "{cgroup}");

    b.ok(&["start", "lc-life"]);
    assert_eq!(b.state("lc-life")["status"], "running");
    for _ in 0..100 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() == "sleep" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "sleep");
    let err = b.fails(&["start", "lc-life"]);
    assert!(err.contains("is running") && err.contains("only a created container"), "{err}");
    let err = b.fails(&["delete", "lc-life"]);
    assert!(err.contains("--force"), "{err}");
    let err = b.fails(&["kill", "lc-life", "SIGNOPE"]);
    assert!(err.contains("unknown signal \"SIGNOPE\""), "{err}");

    b.ok(&["kill", "lc-life", "KILL"]);
    for _ in 0..200 {
        if b.state("lc-life")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(b.state("lc-life")["status"], "stopped");
    let err = b.fails(&["exec", "lc-life", "true"]);
    assert!(err.contains("is stopped"), "{err}");
    b.ok(&["delete", "lc-life"]);
    assert!(!b.root.join("lc-life").exists() && !b.root.join("lc-life.lock").exists());
    assert!(cgroup_dirs_named("lc-life").is_empty(), "{:?}", cgroup_dirs_named("lc-life"));
    let err = b.fails(&["state", "lc-life"]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup_of_the_init() {
    if !require_root("exec_joins_every_namespace_and_the_cgroup_of_the_init") {
        return;
    }
    let _lock = kernel_lock();
    let b = Bundle::new(&["sleep", "300"], |_| {});
    b.create("lc-exec");
    b.ok(&["start", "lc-exec"]);
    let pid = b.state("lc-exec")["pid"].as_i64().unwrap();
    let script = "for n in cgroup ipc mnt net pid uts; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup";
    let inside = b.ok(&["exec", "lc-exec", "sh", "-c", script]);
    let mut expected: Vec<String> = ["cgroup", "ipc", "mnt", "net", "pid", "uts"]
        .iter()
        .map(|n| std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap().display().to_string())
        .collect();
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[..6], expected.iter().map(String::as_str).collect::<Vec<_>>()[..], "{inside}");
    // Inside its cgroup namespace the init's group is the root, so both read "/".
    expected = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap().lines().map(str::to_string).collect();
    assert!(
        lines[6..].iter().all(|l| l.ends_with(":/")),
        "exec's cgroup inside: {:?}, init's outside: {expected:?}",
        &lines[6..]
    );
    let code = b.lcrun(&["exec", "lc-exec", "sh", "-c", "exit 3"]).status.code();
    assert_eq!(code, Some(3));
    b.ok(&["delete", "--force", "lc-exec"]);
    assert!(!alive(pid));
}

#[test]
fn the_config_becomes_kernel_state_inside() {
    if !require_root("the_config_becomes_kernel_state_inside") {
        return;
    }
    let _lock = kernel_lock();
    let script = "grep -E '^Cap(Eff|Bnd)|^NoNewPrivs' /proc/self/status; id -u; id -g; cat /proc/sys/net/ipv4/ip_forward; \
                  cat /proc/timer_list 2>&1 | wc -c; touch /ro-test 2>&1; grep -c ' /proc/sys ro,' /proc/self/mountinfo; hostname; \
                  ulimit -n; umask; pwd; ls /dev/fd >/dev/null && echo fd-link";
    let b = Bundle::new(&["sh", "-c", script], |c| {
        c["process"]["user"] = json!({"uid": 65534, "gid": 65534, "umask": 63});
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 256, "soft": 128}]);
        c["process"]["capabilities"] = json!({
            // A non-root user keeps capabilities across execve only through the ambient set.
            "bounding": ["CAP_KILL", "CAP_NET_RAW"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
        });
        c["root"]["readonly"] = json!(true);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["hostname"] = json!("lc-inside");
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    });
    let (code, out, err) = b.run("lc-inside");
    assert_eq!(code, 0, "stderr: {err}\nstdout: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "CapEff:\t0000000000000020", "{out}");
    assert_eq!(lines[1], "CapBnd:\t0000000000002020", "{out}");
    assert_eq!(lines[2], "NoNewPrivs:\t1", "{out}");
    assert_eq!(&lines[3..5], ["65534", "65534"], "{out}");
    assert_eq!(lines[5], "1", "the sysctl is set in the container's network namespace: {out}");
    assert_eq!(lines[6].trim(), "0", "/proc/timer_list is masked: {out}");
    assert!(lines[7].contains("Read-only file system"), "{out}");
    assert_eq!(lines[8], "1", "/proc/sys is mounted read-only: {out}");
    assert_eq!(&lines[9..], ["lc-inside", "128", "0077", "/tmp", "fd-link"], "{out}");
}

#[test]
fn a_user_namespace_maps_root_inside_to_an_unprivileged_uid_outside() {
    if !require_root("a_user_namespace_maps_root_inside_to_an_unprivileged_uid_outside") {
        return;
    }
    let _lock = kernel_lock();
    let b = Bundle::new(&["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 300"], |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    std::os::unix::fs::chown(b.path().join("rootfs"), Some(100000), Some(100000)).unwrap();
    let out_file = b.path().join("out");
    let out = std::fs::File::create(&out_file).unwrap();
    let status = Command::new(LCRUN)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "-d", "--bundle", b.path().to_str().unwrap(), "lc-user"])
        .stdout(out)
        .status()
        .unwrap();
    assert!(status.success());
    let pid = b.state("lc-user")["pid"].as_i64().unwrap();
    let host_uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(host_uid.contains("100000"), "{host_uid}");
    for _ in 0..100 {
        if std::fs::read_to_string(&out_file).unwrap().lines().count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "{text}");
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["0", "100000", "65536"]);
    b.ok(&["delete", "--force", "lc-user"]);
}

#[test]
fn hooks_get_the_state_on_stdin_and_a_killed_create_leaves_nothing_after_delete_force() {
    if !require_root("hooks_get_the_state_on_stdin_and_a_killed_create_leaves_nothing_after_delete_force") {
        return;
    }
    let _lock = kernel_lock();
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("prestart.json");
    let marker = dir.path().join("create-runtime-ran");
    let hook_sleep = |c: &mut Value| {
        c["hooks"] = json!({
            "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", seen.display())]}],
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; sleep 30", marker.display())]}]
        });
    };
    let b = Bundle::new(&["true"], hook_sleep);
    let mut create = Command::new(LCRUN)
        .arg("--root")
        .arg(&b.root)
        .args(["create", "--bundle", b.path().to_str().unwrap(), "lc-killed"])
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(marker.exists(), "the createRuntime hook ran");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(state["id"], "lc-killed");
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().unwrap();
    assert!(alive(pid), "the init exists while the hooks run");
    create.kill().unwrap();
    create.wait().unwrap();
    assert_eq!(b.state("lc-killed")["status"], "stopped", "a create whose lcrun died is stopped");
    b.ok(&["delete", "--force", "lc-killed"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!alive(pid), "the init was killed");
    assert!(!b.root.join("lc-killed").exists());
    assert!(cgroup_dirs_named("lc-killed").is_empty());
    // The hook's own sleep was lcrun's child, not the container's: end it by its marker.
    let _ = Command::new("pkill").args(["-f", &format!("touch {}; sleep 30", marker.display())]).status();
}

#[test]
fn bad_input_gets_a_specific_error_and_leaves_nothing() {
    if !require_root("bad_input_gets_a_specific_error_and_leaves_nothing") {
        return;
    }
    let _lock = kernel_lock();
    let b = Bundle::new(&["true"], |_| {});
    let bundle = b.path().to_str().unwrap().to_string();
    let create = |id: &str| b.fails(&["create", "--bundle", &bundle, id]);
    let edit = |f: &dyn Fn(&mut Value)| {
        let path = b.path().join("config.json");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&path, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    };
    let good = std::fs::read_to_string(b.path().join("config.json")).unwrap();
    let restore = || std::fs::write(b.path().join("config.json"), &good).unwrap();

    let err = b.fails(&["create", "--bundle", "/nonexistent-lcrun-bundle", "x"]);
    assert!(err.contains("bundle /nonexistent-lcrun-bundle: no such directory"), "{err}");
    for bad in ["a/b", "..", "../x"] {
        let err = create(bad);
        assert!(err.contains("invalid container id"), "{bad}: {err}");
    }
    std::fs::write(b.path().join("config.json"), "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": [}\n").unwrap();
    let err = create("x");
    assert!(err.contains("line 3 column"), "{err}");
    restore();
    edit(&|c| c["ociVersion"] = json!("2.0.0"));
    assert!(create("x").contains("\"2.0.0\" is not a 1.x runtime spec version"));
    restore();
    edit(&|c| c["root"]["path"] = json!("missing-rootfs"));
    assert!(create("x").contains("missing-rootfs is not a directory"));
    restore();
    edit(&|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_CHWON"]));
    let err = create("x");
    assert!(err.contains("CAP_CHWON") && err.contains("bounding"), "{err}");
    restore();
    edit(&|c| {
        c["linux"]["seccomp"] =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ERRNO"}]})
    });
    let err = create("x");
    assert!(err.contains("mkdri") && err.contains("mkdir"), "{err}");
    restore();
    edit(&|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "network", "path": "/etc/hostname"}))
    });
    let err = create("x");
    assert!(err.contains("listed twice") || err.contains("/etc/hostname is not a namespace file"), "{err}");
    restore();
    edit(&|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!("/etc/hostname");
            }
        }
    });
    assert!(create("x").contains("/etc/hostname is not a namespace file"));
    restore();
    edit(&|c| c["linux"]["resources"] = json!({"memory": {"limit": 4096}}));
    let err = create("x");
    assert!(err.contains("memory"), "{err}");
    restore();
    let err = b.fails(&["create", "--bundle", &bundle, "--pid-file", "/nonexistent-dir/pid", "x"]);
    assert!(err.contains("/nonexistent-dir does not exist"), "{err}");
    edit(&|c| c["process"]["terminal"] = json!(true));
    let err = b.fails(&["create", "--bundle", &bundle, "--console-socket", "/nonexistent.sock", "x"]);
    assert!(err.contains("--console-socket /nonexistent.sock"), "{err}");
    restore();
    edit(&|c| c["process"]["args"] = json!(["/no/such/program"]));
    assert!(create("x").contains("\"/no/such/program\": not found in the container"));
    restore();
    // A mount destination that climbs out through `..` or a symlink lands inside the rootfs.
    std::os::unix::fs::symlink("/etc", b.path().join("rootfs/hostetc")).unwrap();
    edit(&|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/../../../lcrun-escape", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/hostetc/lcrun-escape", "type": "tmpfs", "source": "tmpfs"}));
    });
    b.ok(&["run", "--bundle", &bundle, "lc-escape"]);
    assert!(!Path::new("/lcrun-escape").exists() && !Path::new("/etc/lcrun-escape").exists());
    assert!(b.path().join("rootfs/lcrun-escape").is_dir() && b.path().join("rootfs/etc/lcrun-escape").is_dir());
    restore();

    b.create("lc-twice");
    let err = create("lc-twice");
    assert!(err.contains("already exists"), "{err}");
    b.ok(&["delete", "--force", "lc-twice"]);
    let left: Vec<_> = std::fs::read_dir(&b.root).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the state root holds only what lives: {left:?}");
    assert!(cgroup_dirs_named("x").iter().all(|p| !p.to_string_lossy().contains("lcrun")));
}

#[test]
fn the_console_socket_receives_a_pty_whose_slave_is_the_containers_terminal() {
    if !require_root("the_console_socket_receives_a_pty_whose_slave_is_the_containers_terminal") {
        return;
    }
    let _lock = kernel_lock();
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let b = Bundle::new(&["sh", "-c", "tty; echo on-the-pty"], |c| c["process"]["terminal"] = json!(true));
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let bundle = b.path().to_str().unwrap().to_string();
    let creator = std::thread::spawn({
        let root = b.root.clone();
        let sock = sock.clone();
        move || {
            Command::new(LCRUN)
                .arg("--root")
                .arg(&root)
                .args(["create", "--bundle", &bundle, "--console-socket"])
                .arg(&sock)
                .arg("lc-tty")
                .output()
                .unwrap()
        }
    });
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("a pty master over SCM_RIGHTS");
    let out = creator.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The fd came to us over the socket; nothing else owns it.
    let mut master = std::fs::File::from(labkit::sys::owned_fd(fd));
    b.ok(&["start", "lc-tty"]);
    let mut text = String::new();
    let mut chunk = [0u8; 256];
    while !text.contains("on-the-pty") {
        match master.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("on-the-pty"), "{text:?}");
    b.ok(&["delete", "--force", "lc-tty"]);
}
