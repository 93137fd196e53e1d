//! Root integration tests of the engine, each in its own state dirs under a temp dir
//! (`LABCTL_RUN_DIR`, `LABCTL_STATE_DIR`), each ending with a leak check: no mount, cgroup,
//! process or state dir of its containers left. Network tests use a netns made for the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Lab {
    dir: tempfile::TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_labcontainer")
}

impl Lab {
    fn new() -> Lab {
        assert!(labkit::sys::is_root(), "the engine's tests need root (namespaces, mounts, cgroups): run with sudo");
        let dir = tempfile::Builder::new().prefix("labctl-engine-").tempdir().unwrap();
        let store = labimage::Store::open(dir.path().join("lib/images")).unwrap();
        labimage::import::import_busybox(&store, "busybox:latest").expect("busybox-static is installed");
        Lab { dir, ids: Default::default() }
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn lib_dir(&self) -> PathBuf {
        self.dir.path().join("lib")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args).env("LABCTL_RUN_DIR", self.run_dir()).env("LABCTL_STATE_DIR", self.lib_dir()).stdin(Stdio::null());
        c
    }

    fn lc(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        for id in self.container_ids() {
            if !self.ids.borrow().contains(&id) {
                self.ids.borrow_mut().push(id);
            }
        }
        out
    }

    /// Runs and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.lc(args);
        assert!(out.status.success(), "{args:?} failed: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.lib_dir().join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("config.v2.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn record(&self, id: &str) -> serde_json::Value {
        let text = std::fs::read(self.lib_dir().join("containers").join(id).join("config.v2.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// Removes every container, then checks the kernel and the state dirs for anything left.
    fn finish(self) {
        for id in self.container_ids() {
            let out = self.lc(&["rm", "-f", &id]);
            assert!(out.status.success(), "rm -f {id}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let root = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(left.is_empty(), "mounts left: {left:#?}");
        for id in self.ids.borrow().iter() {
            for base in cgroup_bases() {
                let group = base.join("labctl/containers").join(id);
                assert!(!group.exists(), "cgroup left: {}", group.display());
            }
        }
        let procs: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
            .filter(|e| {
                std::fs::read_link(e.path().join("root")).is_ok_and(|r| r.starts_with(self.dir.path()))
                    || std::fs::read_link(e.path().join("cwd")).is_ok_and(|r| r.starts_with(self.dir.path()))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(procs.is_empty(), "processes left inside the test's containers: {procs:?}");
        let dirs = |p: PathBuf| -> Vec<String> {
            std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert!(dirs(self.lib_dir().join("containers")).is_empty(), "container dirs left");
        assert!(dirs(self.run_dir().join("containers")).is_empty(), "runtime state left");
    }
}

impl Drop for Lab {
    /// A failed test still removes its containers, so the next run starts clean.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for id in self.container_ids() {
                let _ = self.cmd(&["rm", "-f", &id]).output();
            }
        }
    }
}

fn cgroup_bases() -> Vec<PathBuf> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return vec![PathBuf::from("/sys/fs/cgroup")];
    }
    std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_gives_the_containers_output_and_exit_code() {
    let lab = Lab::new();
    let out = lab.lc(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(lab.ok(&["ps", "-aq"]), "", "--rm left the container");
    lab.finish();
}

#[test]
fn a_command_not_found_is_127_and_one_not_executable_is_126() {
    let lab = Lab::new();
    let out = lab.lc(&["run", "--rm", "busybox", "nope"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("\"nope\"") && text(&out.stderr).contains("not found"), "{}", text(&out.stderr));
    let out = lab.lc(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    let out = lab.lc(&["run", "--rm", "--entrypoint", "/nope", "busybox"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert_eq!(lab.ok(&["ps", "-aq"]), "");
    lab.finish();
}

#[test]
fn detached_container_lifecycle_ps_inspect_logs_exec_stop_start_rm() {
    let lab = Lab::new();
    let id = lab.ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo hello; exec sleep 1000"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = lab.ok(&["ps"]);
    assert!(ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("web"), "{ps}");
    let pid: i32 = lab.ok(&["inspect", "--format", "{{.State.Pid}}", "web"]).trim().parse().unwrap();
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    assert_ne!(ns(&pid.to_string()), ns("self"), "the init has a pid namespace of its own");
    let doc: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", "web"])).unwrap();
    assert_eq!(doc[0]["State"]["Status"], "running");
    assert_eq!(doc[0]["Name"], "/web");
    assert_eq!(doc[0]["GraphDriver"]["Name"], "overlay2");
    let bundle = doc[0]["BundlePath"].as_str().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(bundle).join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["sh", "-c", "echo hello; exec sleep 1000"]));
    wait_until("the log line", Duration::from_secs(5), || lab.ok(&["logs", "web"]) == "hello\n");
    let out = lab.lc(&["exec", "web", "sh", "-c", "echo in $(hostname); exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), format!("in {}\n", &id[..12]));
    let out = lab.lc(&["exec", "web", "nope"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    // sleep as PID 1 has no SIGTERM handler: the kernel ignores the signal, so stop kills it.
    let t = Instant::now();
    assert_eq!(lab.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert!(t.elapsed() >= Duration::from_secs(1), "SIGKILL came before the timeout");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the init is gone");
    let ps = lab.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Exited (137)"), "{ps}");
    assert_eq!(lab.ok(&["ps", "-q"]), "");
    assert_eq!(lab.ok(&["start", "web"]), "web\n");
    assert_eq!(lab.ok(&["inspect", "--format", "{{.State.Status}}", "web"]), "running\n");
    let out = lab.lc(&["rm", "web"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("rm -f web"), "{}", text(&out.stderr));
    assert_eq!(lab.ok(&["rm", "-f", "web"]), "web\n");
    assert_eq!(lab.ok(&["ps", "-aq"]), "");
    lab.finish();
}

#[test]
fn the_courses_nsenter_recipe_works_verbatim() {
    let lab = Lab::new();
    // `labctl container` on PATH: the same parser as labcontainer.
    let shim = lab.dir.path().join("bin");
    std::fs::create_dir(&shim).unwrap();
    std::fs::write(shim.join("labctl"), format!("#!/bin/sh\nshift\nexec {} \"$@\"\n", bin())).unwrap();
    std::fs::set_permissions(shim.join("labctl"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    lab.ok(&["run", "-d", "--name", "c1", "--hostname", "inside", "busybox", "sleep", "1000"]);
    let out = Command::new("sh")
        .arg("-c")
        .arg("nsenter --target $(labctl container inspect --format '{{.State.Pid}}' c1) --mount --uts --ipc --net --pid sh -c 'hostname; cat /proc/1/cmdline; echo; ls /sys/class/net'")
        .env("PATH", format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default()))
        .env("LABCTL_RUN_DIR", lab.run_dir())
        .env("LABCTL_STATE_DIR", lab.lib_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).replace('\0', " "), "inside\nsleep 1000 \nlo\n");
    lab.finish();
}

#[test]
fn dockers_defaults_hold_and_privileged_turns_them_off() {
    let lab = Lab::new();
    let script =
        "grep -E '^(CapBnd|Seccomp):' /proc/self/status; grep -cE ' /proc/(keys|timer_list) ' /proc/self/mountinfo; \
                  (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo sys-writable || echo sys-readonly; \
                  df -k /dev/shm | tail -1 | awk '{print $2}'";
    let out = lab.ok(&["run", "--rm", "busybox", "sh", "-c", script]);
    assert_eq!(out, "CapBnd:\t00000000a80425fb\nSeccomp:\t2\n2\nsys-readonly\n65536\n", "{out}");
    // --privileged: every capability we hold ourselves (a runtime cannot give more).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let all = status.lines().find_map(|l| l.strip_prefix("CapBnd:\t")).unwrap().to_string();
    let out =
        lab.ok(&["run", "--rm", "--privileged", "busybox", "grep", "-E", "^(CapBnd|Seccomp):", "/proc/self/status"]);
    assert_eq!(out, format!("CapBnd:\t{all}\nSeccomp:\t0\n"));
    let out = lab.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "chown",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "grep",
        "CapBnd",
        "/proc/self/status",
    ]);
    let mask = u64::from_str_radix(out.trim().trim_start_matches("CapBnd:\t"), 16).unwrap();
    assert_eq!(mask & 1, 0, "CAP_CHOWN dropped");
    assert_ne!(mask & (1 << 12), 0, "CAP_NET_ADMIN added");
    let out = lab.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]);
    assert_eq!(out, "Seccomp:\t0\n");
    lab.finish();
}

#[test]
fn env_user_workdir_hostname_and_entrypoint_reach_the_process() {
    let lab = Lab::new();
    let env_file = lab.dir.path().join("env");
    std::fs::write(&env_file, "# comment\nB=2\n\nA=overridden-later\n").unwrap();
    let out = lab.ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $A $B; pwd; id -u; id -g; hostname; cat /etc/hostname",
    ]);
    assert_eq!(out, "1 2\n/tmp\n65534\n65534\nbox\nbox\n");
    assert_eq!(lab.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "hi", "there"]), "hi there\n");
    let out = lab.lc(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Read-only file system"), "{}", text(&out.stderr));
    lab.finish();
}

#[test]
fn memory_cpu_and_pids_limits_land_in_the_containers_cgroup() {
    let lab = Lab::new();
    let id =
        lab.ok(&["run", "-d", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let read = |controller: &str, v1: &str, v2: &str| -> String {
        let v2path = PathBuf::from("/sys/fs/cgroup/labctl/containers").join(id).join(v2);
        let path = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            v2path
        } else {
            PathBuf::from("/sys/fs/cgroup").join(controller).join("labctl/containers").join(id).join(v1)
        };
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
    };
    let memory = read("memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(memory, (64u64 << 20).to_string());
    let cpu = read("cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(cpu == "50000" || cpu == "50000 100000", "{cpu}");
    assert_eq!(read("pids", "pids.max", "pids.max"), "20");
    let doc: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", id])).unwrap();
    assert_eq!(doc[0]["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(doc[0]["HostConfig"]["NanoCpus"], 500_000_000);
    lab.finish();
}

#[test]
fn network_none_has_only_lo_and_host_shares_the_callers_namespace() {
    let lab = Lab::new();
    assert_eq!(lab.ok(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]), "lo\n");
    // The "host" here is a network namespace made for the test.
    let o = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "readlink /proc/self/ns/net; \"$0\" run --rm --network host busybox readlink /proc/self/ns/net",
        ])
        .arg(bin())
        .env("LABCTL_RUN_DIR", lab.run_dir())
        .env("LABCTL_STATE_DIR", lab.lib_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lines: Vec<String> = text(&o.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], lines[1], "--network host shares the caller's network namespace");
    assert_ne!(lines[0], std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy());
    lab.finish();
}

#[test]
fn logs_follow_ends_with_the_container_and_wait_prints_the_exit_code() {
    let lab = Lab::new();
    let id = lab.ok(&["run", "-d", "busybox", "sh", "-c", "echo a; sleep 0.5; echo b >&2; exit 7"]);
    let id = id.trim();
    let out = lab.lc(&["logs", "-f", id]);
    assert_eq!(text(&out.stdout), "a\n");
    assert_eq!(text(&out.stderr), "b\n");
    assert_eq!(lab.ok(&["wait", id]), "7\n");
    assert_eq!(lab.ok(&["logs", "--tail", "1", id]), "");
    let log =
        std::fs::read_to_string(lab.lib_dir().join("containers").join(id).join(format!("{id}-json.log"))).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["log"], "a\n");
    assert_eq!(first["stream"], "stdout");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    let doc: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", id])).unwrap();
    assert_eq!(doc[0]["State"]["ExitCode"], 7);
    assert_ne!(doc[0]["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    lab.finish();
}

#[test]
fn a_sigkilled_supervisor_leaves_a_container_that_rm_f_removes_completely() {
    let lab = Lab::new();
    let id = lab.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let supervisor = lab.record(id)["State"]["SupervisorPid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until("the supervisor's end", Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{supervisor}")).exists()
            || std::fs::read_to_string(format!("/proc/{supervisor}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    assert!(lab.ok(&["ps"]).contains(&id[..12]), "the init still runs, so ps says Up");
    assert_eq!(lab.ok(&["rm", "-f", id]), format!("{id}\n"));
    lab.finish();
}

#[test]
fn after_a_simulated_reboot_ps_shows_exited_and_start_brings_it_back() {
    let lab = Lab::new();
    let id = lab.ok(&["run", "-d", "--name", "survivor", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let state = &lab.record(id)["State"];
    let (supervisor, pid) = (state["SupervisorPid"].as_i64().unwrap() as i32, state["Pid"].as_i64().unwrap() as i32);
    for p in [supervisor, pid] {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
    wait_until("the processes' end", Duration::from_secs(5), || {
        [supervisor, pid].iter().all(|p| {
            !Path::new(&format!("/proc/{p}")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| s.contains(") Z"))
        })
    });
    // What a reboot takes with it: the mount and /run.
    let merged = lab.lib_dir().join("containers").join(id).join("merged");
    nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH).unwrap();
    std::fs::remove_dir_all(lab.run_dir().join("containers")).unwrap();
    let ps = lab.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps, "survivor exited\n");
    assert_eq!(lab.ok(&["start", "survivor"]), "survivor\n");
    assert_eq!(lab.ok(&["ps", "--format", "{{.Names}} {{.State}}"]), "survivor running\n");
    lab.finish();
}

#[test]
fn bad_input_is_refused_with_125_and_a_message_naming_the_fix() {
    let lab = Lab::new();
    lab.ok(&["run", "-d", "--name", "taken", "busybox", "sleep", "1000"]);
    lab.ok(&["run", "--name", "stopped", "busybox", "true"]);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--rm", "nosuchimage"], "labctl image import"),
        (&["run", "--rm", "--memory", "1k", "busybox", "true"], "minimum memory limit is 6m"),
        (&["run", "--rm", "--cpus", "0", "busybox", "true"], "more than 0"),
        (&["run", "--rm", "--cpus", "-1", "busybox", "true"], "more than 0"),
        (&["run", "--rm", "--cpus", "100000", "busybox", "true"], "this machine has only"),
        (&["run", "--rm", "--name", "taken", "busybox", "true"], "already in use"),
        (&["run", "--rm", "--name", "a/b", "busybox", "true"], "invalid container name"),
        (&["run", "--rm", "-u", "ghost", "busybox", "true"], "unable to find user ghost"),
        (&["run", "--rm", "--cap-add", "NOPE", "busybox", "true"], "unknown capability"),
        (&["run", "--rm", "--network", "container:missing", "busybox", "true"], "--network container:missing"),
        (&["exec", "stopped", "true"], "start it first"),
        (&["rm", "taken"], "rm -f taken"),
        (&["ps", "--format", "{{.Nope"], "--format \"{{.Nope\""),
        (&["inspect", "--format", "{{.Nope", "taken"], "--format \"{{.Nope\""),
        (&["start", "gone"], "no such container: gone"),
        (&["kill", "stopped"], "is not running"),
    ];
    for (args, message) in cases {
        let out = lab.lc(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(message), "{args:?}: {:?} lacks {message:?}", text(&out.stderr));
    }
    let names = lab.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["stopped", "taken"], "bad input created or removed nothing");
    lab.finish();
}
