//! Root integration tests of the engine, each in its own state dirs under a temp dir
//! (`LABCTL_RUN_DIR`, `LABCTL_STATE_DIR`), each ending with a leak check: no mount, cgroup,
//! process or state dir of its containers left. Network tests use a netns made for the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Lab {
    dir: tempfile::TempDir,
    ids: std::sync::Mutex<Vec<String>>,
    /// The test's "host": a network namespace made for it, where every command runs (bridge
    /// mode's labctl0, veths and DNAT rules land there, never on the machine's).
    netns: String,
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
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let netns = format!("labctl-eng-{}-{n}", std::process::id());
        let out = Command::new("ip").args(["netns", "add", &netns]).output().unwrap();
        assert!(out.status.success(), "ip netns add {netns}: {}", text(&out.stderr));
        Command::new("ip").args(["netns", "exec", &netns, "ip", "link", "set", "lo", "up"]).status().unwrap();
        Lab { dir, ids: Default::default(), netns }
    }

    fn netns_path(&self) -> String {
        format!("/run/netns/{}", self.netns)
    }

    /// `argv` run in the test's "host" network namespace (only the network is switched).
    fn in_host(&self, argv: &[&str]) -> Output {
        Command::new("nsenter").arg(format!("--net={}", self.netns_path())).args(argv).output().unwrap()
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    fn lib_dir(&self) -> PathBuf {
        self.dir.path().join("lib")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns_path()))
            .arg(bin())
            .args(args)
            .env("LABCTL_RUN_DIR", self.run_dir())
            .env("LABCTL_STATE_DIR", self.lib_dir())
            .stdin(Stdio::null());
        c
    }

    fn lc(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        for id in self.container_ids() {
            if !self.ids.lock().unwrap().contains(&id) {
                self.ids.lock().unwrap().push(id);
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
        for id in self.ids.lock().unwrap().iter() {
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
        let links = text(&self.in_host(&["ip", "-o", "link"]).stdout);
        let veths: Vec<&str> = links.lines().filter(|l| l.contains(": lc")).collect();
        assert!(veths.is_empty(), "veths left on the test's host: {veths:#?}");
        let rules = text(&self.in_host(&["nft", "list", "table", "inet", "labctl"]).stdout);
        assert!(!rules.contains("dnat"), "port maps left:\n{rules}");
        let leased = leases(&self.run_dir());
        assert!(leased.is_empty(), "addresses still leased: {leased:?}");
    }
}

impl Drop for Lab {
    /// A failed test still removes its containers, so the next run starts clean; the test's
    /// network namespace goes with everything in it (bridge, veths, rules).
    fn drop(&mut self) {
        if std::thread::panicking() {
            for id in self.container_ids() {
                let _ = self.cmd(&["rm", "-f", &id]).output();
            }
        }
        let _ = Command::new("ip").args(["netns", "delete", &self.netns]).status();
    }
}

fn cgroup_bases() -> Vec<PathBuf> {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return vec![PathBuf::from("/sys/fs/cgroup")];
    }
    std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().map(|e| e.path()).collect()
}

/// The addresses labnet's allocator has leased, from its state files under `run`.
fn leases(run: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(run.join("net")).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            let state: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            for l in state["leases"].as_array().into_iter().flatten() {
                out.push(l["ip"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
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
    // The default network is bridge, as docker's: eth0 on labctl0 besides lo.
    assert_eq!(text(&out.stdout).replace('\0', " "), "inside\nsleep 1000 \neth0\nlo\n");
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
        (&["run", "--rm", "--network", "container:stopped", "busybox", "true"], "is not running"),
        (&["run", "--rm", "-p", "0:80", "busybox", "true"], "host port 0 is outside 1-65535"),
        (&["run", "--rm", "-p", "70000:80", "busybox", "true"], "70000 is outside 1-65535"),
        (&["run", "--rm", "-p", "abc", "busybox", "true"], "-p abc"),
        (&["run", "--rm", "-p", "8080:80", "-p", "8080:81", "busybox", "true"], "already published by -p"),
        (&["run", "--rm", "--network", "none", "-p", "8080:80", "busybox", "true"], "needs --network bridge"),
        (&["run", "--rm", "-v", "./data:/data", "busybox", "true"], "relative host path is ambiguous"),
        (&["run", "--rm", "-v", "/tmp:/data:rw,ro", "busybox", "true"], "ro and rw contradict"),
        (&["run", "--rm", "-v", "/tmp:data", "busybox", "true"], "is not absolute"),
        (&["run", "--rm", "--tmpfs", "/t:bogus", "busybox", "true"], "unknown option \"bogus\""),
        (&["volume", "rm", "nosuchvolume"], "no such volume: nosuchvolume"),
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

/// A child process killed and reaped when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn inspect(lab: &Lab, name: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(&lab.ok(&["inspect", name])).unwrap();
    doc[0].clone()
}

#[test]
fn bridge_mode_publishes_ports_shares_its_namespace_and_gives_everything_back() {
    let lab = Lab::new();
    let serve = "mkdir /www; echo hello from web > /www/index.html; exec httpd -f -p 80 -h /www";
    let id =
        lab.ok(&["run", "-d", "--name", "web", "-p", "8080:80", "-p", "5353:53/udp", "busybox", "sh", "-c", serve]);
    let id = id.trim();
    let doc = inspect(&lab, "web");
    let net = &doc["NetworkSettings"];
    let ip = net["IPAddress"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.213.0."), "{net}");
    assert_eq!(net["Gateway"], "10.213.0.1");
    assert_eq!(net["IPPrefixLen"], 24);
    assert_eq!(net["Ports"]["80/tcp"][0]["HostPort"], "8080", "{net}");
    assert_eq!(net["Ports"]["53/udp"][0]["HostPort"], "5353", "{net}");
    assert_eq!(doc["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(doc["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
    // What the kernel says inside matches what inspect says.
    let mac = lab.ok(&["exec", "web", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(mac.trim(), net["MacAddress"].as_str().unwrap());
    let addr = lab.ok(&["exec", "web", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
    let route = lab.ok(&["exec", "web", "ip", "route"]);
    assert!(route.contains("default via 10.213.0.1 dev eth0"), "{route}");
    // docker's three files, bind-mounted from the container's directory.
    assert!(lab.ok(&["exec", "web", "cat", "/etc/hosts"]).contains(&format!("{ip}\t{}", &id[..12])));
    assert_eq!(lab.ok(&["exec", "web", "cat", "/etc/hostname"]), format!("{}\n", &id[..12]));
    // resolv.conf: the host's nameservers less loopback ones (unreachable from another network
    // namespace), or docker's 8.8.8.8 and 8.8.4.4 when none is left (a host without the file too).
    let resolv = lab.ok(&["exec", "web", "cat", "/etc/resolv.conf"]);
    let servers = |t: &str| -> Vec<String> {
        t.lines().filter_map(|l| l.strip_prefix("nameserver ")).map(|a| a.trim().to_string()).collect()
    };
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut want: Vec<String> =
        servers(&host_resolv).into_iter().filter(|a| !a.starts_with("127.") && a != "::1").collect();
    if want.is_empty() && !servers(&host_resolv).iter().any(|a| a == "127.0.0.53") {
        want = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    if !want.is_empty() {
        assert_eq!(servers(&resolv), want, "{resolv}");
    } else {
        assert!(!servers(&resolv).iter().any(|a| a.starts_with("127.")), "{resolv}");
    }
    let mounts = lab.ok(&["exec", "web", "cat", "/proc/self/mountinfo"]);
    for file in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"] {
        assert!(mounts.lines().any(|l| l.split(' ').nth(4) == Some(file)), "{file} is not a mount:\n{mounts}");
    }
    assert_eq!(lab.ok(&["port", "web"]), "53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:8080\n");
    assert_eq!(lab.ok(&["port", "web", "80"]), "0.0.0.0:8080\n");
    // -p is reachable from the test's "host" namespace, through labnet's DNAT.
    let mut page = String::new();
    wait_until("httpd behind 8080", Duration::from_secs(5), || {
        page = text(&lab.in_host(&["timeout", "3", "busybox", "wget", "-qO-", "http://10.213.0.1:8080/"]).stdout);
        page == "hello from web\n"
    });
    // container:web joins web's network namespace: the same lo, the same eth0.
    let web_ns = std::fs::read_link(format!("/proc/{}/ns/net", doc["State"]["Pid"])).unwrap();
    let joined = lab.ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; wget -qO- http://127.0.0.1/; cat /etc/hostname",
    ]);
    assert_eq!(joined, format!("{}\nhello from web\n{}\n", web_ns.display(), &id[..12]));
    // A host port taken by another container, or by a listener on the host: 125, named.
    let out = lab.lc(&["run", "--rm", "-p", "8080:81", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("host port 8080/tcp is already mapped"), "{}", text(&out.stderr));
    let listener = Killed(
        Command::new("nsenter")
            .arg(format!("--net={}", lab.netns_path()))
            .args(["busybox", "nc", "-l", "-p", "9090"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // busybox nc listens on [::]:9090 (which holds 0.0.0.0:9090 too).
    wait_until("the listener", Duration::from_secs(5), || {
        text(&lab.in_host(&["cat", "/proc/net/tcp", "/proc/net/tcp6"]).stdout).contains(":2382 ")
    });
    let out = lab.lc(&["run", "--rm", "-p", "9090:80", "busybox", "true"]);
    drop(listener);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("9090/tcp is already in use"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("publish another host port"), "{}", text(&out.stderr));
    assert_eq!(lab.ok(&["ps", "-aq"]), format!("{}\n", &id[..12]), "the refused runs left nothing");
    // Stopped: the veth, the address and the DNAT rules are given back.
    lab.ok(&["stop", "-t", "0", "web"]);
    let doc = inspect(&lab, "web");
    assert_eq!(doc["NetworkSettings"]["IPAddress"], "");
    assert_eq!(doc["NetworkSettings"]["Ports"], serde_json::json!({}));
    assert!(!text(&lab.in_host(&["ip", "-o", "link"]).stdout).contains(": lc"));
    assert!(!text(&lab.in_host(&["nft", "list", "table", "inet", "labctl"]).stdout).contains("dnat"));
    assert!(leases(&lab.run_dir()).is_empty());
    assert_eq!(lab.ok(&["port", "web"]), "");
    // Started again, it gets an address and its ports back.
    lab.ok(&["start", "web"]);
    wait_until("httpd again", Duration::from_secs(5), || {
        text(&lab.in_host(&["timeout", "3", "busybox", "wget", "-qO-", "http://10.213.0.1:8080/"]).stdout)
            == "hello from web\n"
    });
    lab.finish();
}

#[test]
fn twenty_containers_started_in_parallel_get_distinct_addresses_and_all_clean_up() {
    let lab = Lab::new();
    let ids: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..20)
            .map(|_| s.spawn(|| lab.cmd(&["run", "-d", "busybox", "sleep", "1000"]).output().unwrap()))
            .collect();
        runs.into_iter()
            .map(|r| {
                let out = r.join().unwrap();
                assert!(out.status.success(), "{}", text(&out.stderr));
                text(&out.stdout).trim().to_string()
            })
            .collect()
    });
    for id in lab.container_ids() {
        lab.ids.lock().unwrap().push(id);
    }
    let mut ips: Vec<String> = ids
        .iter()
        .map(|id| lab.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", id]).trim().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 20, "{ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.213.0.")), "{ips:?}");
    let links = text(&lab.in_host(&["ip", "-o", "link"]).stdout);
    assert_eq!(links.lines().filter(|l| l.contains(": lc")).count(), 20, "{links}");
    std::thread::scope(|s| {
        for id in &ids {
            s.spawn(|| {
                let out = lab.cmd(&["rm", "-f", id]).output().unwrap();
                assert!(out.status.success(), "{}", text(&out.stderr));
            });
        }
    });
    lab.finish();
}

#[test]
fn binds_volumes_and_tmpfs_are_mounted_as_docker_mounts_them() {
    let lab = Lab::new();
    let shared = lab.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("in.txt"), "from host\n").unwrap();
    let missing = lab.dir.path().join("made/by/run");
    assert_eq!(lab.ok(&["volume", "create", "data"]), "data\n");
    let (rw, ro, made) = (
        format!("{}:/h", shared.display()),
        format!("{}:/r:ro", shared.display()),
        format!("{}:/m", missing.display()),
    );
    let script = "cat /h/in.txt; echo written > /h/out.txt; echo kept > /d/v.txt; touch /m/ok; \
                  touch /r/x 2>&1; echo rc=$?; grep ' /scratch ' /proc/self/mounts";
    let out = lab.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "-v",
        &ro,
        "-v",
        "data:/d",
        "-v",
        &made,
        "--tmpfs",
        "/scratch:size=1m",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from host", "{out}");
    assert!(lines[1].contains("Read-only file system"), ":ro is refused inside (EROFS): {out}");
    assert_eq!(lines[2], "rc=1", "{out}");
    assert!(
        lines[3].starts_with("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec") && lines[3].contains("size=1024k"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(shared.join("out.txt")).unwrap(), "written\n", "the write reached the host");
    assert!(!shared.join("x").exists());
    assert!(missing.join("ok").exists(), "a missing host path is created, as docker's -v does");
    let data = lab.lib_dir().join("volumes/data/_data");
    assert_eq!(std::fs::read_to_string(data.join("v.txt")).unwrap(), "kept\n");
    // The volume outlives the container; a new one sees its files.
    assert_eq!(lab.ok(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/v.txt"]), "kept\n");
    assert_eq!(lab.ok(&["volume", "ls", "-q"]), "data\n");
    lab.ok(&["run", "-d", "--name", "user", "-v", "data:/d:ro", "-v", &rw, "busybox", "sleep", "1000"]);
    let doc = inspect(&lab, "user");
    let mounts = doc["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!(mounts[0]["Destination"], "/d");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[1]["Type"], "bind");
    assert_eq!(mounts[1]["Source"], shared.to_string_lossy().as_ref());
    assert_eq!(mounts[1]["RW"], true);
    let out = lab.lc(&["volume", "rm", "data"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("volume data is in use by container user"), "{}", text(&out.stderr));
    assert!(data.join("v.txt").exists(), "the refused rm lost nothing");
    lab.ok(&["rm", "-f", "user"]);
    assert_eq!(lab.ok(&["volume", "rm", "data"]), "data\n");
    assert_eq!(lab.ok(&["volume", "ls", "-q"]), "");
    lab.finish();
}

/// A private tmux server (its own socket): a real pty for `run -it` and `attach`, killed when
/// the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Tmux { socket: format!("labctl-e2-{}-{n}", std::process::id()) }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap();
        text(&out.stdout)
    }

    /// A window running `argv` in the lab's "host" namespace; stays open after it exits.
    fn start(&self, lab: &Lab, session: &str, argv: &[&str]) {
        let cmd = format!(
            "env LABCTL_RUN_DIR={} LABCTL_STATE_DIR={} nsenter --net={} {} {}; echo exited=$?; sleep 600",
            lab.run_dir().display(),
            lab.lib_dir().display(),
            lab.netns_path(),
            bin(),
            argv.join(" ")
        );
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(["new-session", "-d", "-x", "80", "-y", "24", "-s", session, &cmd])
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
    }

    fn screen(&self, session: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", session])
    }

    fn wait_for(&self, session: &str, what: &str) {
        let until = Instant::now() + Duration::from_secs(10);
        while !self.screen(session).contains(what) {
            assert!(Instant::now() < until, "{what:?} never appeared; the screen:\n{}", self.screen(session));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

#[test]
fn run_it_is_a_real_pty_that_follows_the_window_detaches_and_attaches_again() {
    let lab = Lab::new();
    let tmux = Tmux::new();
    tmux.start(&lab, "run", &["run", "-it", "--name", "tty", "busybox", "sh"]);
    tmux.wait_for("run", "/ #");
    tmux.tmux(&["send-keys", "-t", "run", "tty; stty size; echo sum-$((40+2))", "Enter"]);
    tmux.wait_for("run", "sum-42");
    let screen = tmux.screen("run");
    assert!(screen.contains("/dev/pts/0"), "{screen}");
    assert!(screen.contains("24 80"), "the window size reached the pty: {screen}");
    // SIGWINCH: the new size is forwarded.
    tmux.tmux(&["resize-window", "-t", "run", "-x", "100", "-y", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.tmux(&["send-keys", "-t", "run", "clear; stty size", "Enter"]);
    tmux.wait_for("run", "30 100");
    // Ctrl-P Ctrl-Q detaches: run exits 0, the container goes on.
    tmux.tmux(&["send-keys", "-t", "run", "C-p", "C-q"]);
    tmux.wait_for("run", "exited=0");
    assert_eq!(lab.ok(&["ps", "--format", "{{.Names}} {{.State}}"]), "tty running\n");
    // The output went to the log too.
    assert!(lab.ok(&["logs", "tty"]).contains("sum-42"));
    tmux.start(&lab, "again", &["attach", "tty"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.tmux(&["send-keys", "-t", "again", "echo back-$((1+1))", "Enter"]);
    tmux.wait_for("again", "back-2");
    tmux.tmux(&["send-keys", "-t", "again", "exit 3", "Enter"]);
    tmux.wait_for("again", "exited=3");
    assert_eq!(lab.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]), "tty exited\n");
    let out = lab.lc(&["attach", "tty"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("start it first"), "{}", text(&out.stderr));
    lab.finish();
}

#[test]
fn cp_both_ways_stays_inside_the_root_and_top_stats_diff_pause_read_the_kernel() {
    let lab = Lab::new();
    lab.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "ln -sf /etc /hostetc; echo inside > /tmp/note; exec sleep 1000",
    ]);
    wait_until("the note", Duration::from_secs(5), || lab.lc(&["exec", "box", "cat", "/tmp/note"]).status.success());
    let host = lab.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in.txt"), "from host\n").unwrap();
    let src = host.join("in.txt").to_string_lossy().into_owned();
    lab.ok(&["cp", &src, "box:/tmp/"]);
    assert_eq!(lab.ok(&["exec", "box", "cat", "/tmp/in.txt"]), "from host\n");
    let out = host.join("out.txt").to_string_lossy().into_owned();
    lab.ok(&["cp", "box:/tmp/note", &out]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "inside\n");
    // A symlink to /etc inside the container leads to the container's /etc, not the host's.
    let escape = "labctl-cp-escape-test";
    lab.ok(&["cp", &src, &format!("box:/hostetc/{escape}")]);
    let on_host = Path::new("/etc").join(escape);
    let escaped = on_host.exists();
    let _ = std::fs::remove_file(&on_host);
    assert!(!escaped, "cp followed the container's symlink to the host's /etc");
    assert_eq!(lab.ok(&["exec", "box", "cat", &format!("/etc/{escape}")]), "from host\n");
    let hostname = host.join("hostname").to_string_lossy().into_owned();
    lab.ok(&["cp", "box:/hostetc/hostname", &hostname]);
    let id = lab.ok(&["inspect", "--format", "{{.Id}}", "box"]);
    assert_eq!(std::fs::read_to_string(&hostname).unwrap(), format!("{}\n", &id[..12]));
    let out = lab.lc(&["cp", &src, "box:../../etc"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("climbs above the container's /"), "{}", text(&out.stderr));
    // top and stats read the container's cgroup.
    let top = lab.ok(&["top", "box"]);
    assert!(top.lines().any(|l| l.starts_with("0 ") && l.ends_with("sleep 1000")), "{top}");
    let stats = lab.ok(&["stats", "--no-stream", "box"]);
    let row = stats.lines().nth(1).unwrap_or_default().to_string();
    assert!(row.starts_with(&id[..12]) && row.contains(" box ") && row.trim_end().ends_with(" 1"), "{stats}");
    // diff: laboverlay's reading of the upper dir.
    let diff = lab.ok(&["diff", "box"]);
    for line in ["A /tmp/in.txt", "A /tmp/note", "A /hostetc", &format!("A /etc/{escape}")] {
        assert!(diff.lines().any(|l| l == line), "{line:?} not in:\n{diff}");
    }
    // pause freezes (the runtime reads the freezer back), unpause thaws.
    assert_eq!(lab.ok(&["pause", "box"]), "box\n");
    assert_eq!(inspect(&lab, "box")["State"]["Status"], "paused");
    assert_eq!(inspect(&lab, "box")["State"]["Paused"], true);
    let out = lab.lc(&["pause", "box"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("already paused"), "{}", text(&out.stderr));
    assert_eq!(lab.ok(&["unpause", "box"]), "box\n");
    assert_eq!(inspect(&lab, "box")["State"]["Status"], "running");
    // Stopped: cp goes through the overlay, mounted for the copy.
    lab.ok(&["stop", "-t", "0", "box"]);
    let out2 = host.join("out2.txt").to_string_lossy().into_owned();
    lab.ok(&["cp", "box:/tmp/note", &out2]);
    assert_eq!(std::fs::read_to_string(&out2).unwrap(), "inside\n");
    lab.ok(&["cp", &src, "box:/tmp/after.txt"]);
    lab.ok(&["start", "box"]);
    assert_eq!(lab.ok(&["exec", "box", "cat", "/tmp/after.txt"]), "from host\n");
    lab.finish();
}

#[test]
fn clean_removes_every_engine_container_after_supervisors_are_sigkilled() {
    let lab = Lab::new();
    let kill = |pid: i64| {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    };
    let a = lab.ok(&["run", "-d", "--name", "ca", "-p", "8080:80", "busybox", "sleep", "1000"]).trim().to_string();
    let b = lab.ok(&["run", "-d", "--name", "cb", "-v", "data:/d", "busybox", "sleep", "1000"]).trim().to_string();
    lab.ok(&["run", "--name", "cc", "busybox", "true"]);
    // a: its supervisor killed, the init runs on. b: both killed (the lease's veth dies with it).
    kill(lab.record(&a)["State"]["SupervisorPid"].as_i64().unwrap());
    kill(lab.record(&b)["State"]["SupervisorPid"].as_i64().unwrap());
    kill(lab.record(&b)["State"]["Pid"].as_i64().unwrap());
    // A create killed before its record was written: a directory with a mounted rootfs.
    let half = "f".repeat(64);
    let merged = lab.lib_dir().join("containers").join(&half).join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    nix::mount::mount(Some("tmpfs"), &merged, Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = lab.ok(&["clean"]);
    for name in ["engine container ca", "engine container cb", "engine container cc", "without its record"] {
        assert!(out.lines().any(|l| l.starts_with("removed ") && l.contains(name)), "{name:?} not removed:\n{out}");
    }
    assert_eq!(lab.ok(&["ps", "-aq"]), "");
    assert_eq!(lab.ok(&["clean"]), "", "a second clean finds nothing");
    assert_eq!(lab.ok(&["volume", "ls", "-q"]), "data\n", "volumes are data, not leftovers");
    lab.ok(&["volume", "rm", "data"]);
    lab.finish();
}

#[test]
fn exec_takes_env_workdir_user_and_detach_and_restart_and_start_a_follow_docker() {
    let lab = Lab::new();
    lab.ok(&["run", "-d", "--name", "ex", "-e", "A=from-run", "busybox", "sleep", "1000"]);
    let out = lab.ok(&[
        "exec",
        "-e",
        "B=2",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "ex",
        "sh",
        "-c",
        "echo $A $B; pwd; id -u",
    ]);
    assert_eq!(out, "1 2\n/tmp\n65534\n");
    assert_eq!(lab.ok(&["exec", "ex", "sh", "-c", "echo $A"]), "from-run\n", "-e of one exec does not stay");
    // -d: exec returns at once, the process goes on in the container.
    let t = Instant::now();
    assert_eq!(lab.ok(&["exec", "-d", "ex", "sh", "-c", "sleep 1; echo late > /tmp/d"]), "");
    assert!(t.elapsed() < Duration::from_secs(1), "exec -d waited for the process");
    wait_until("the detached exec's file", Duration::from_secs(5), || {
        lab.lc(&["exec", "ex", "cat", "/tmp/d"]).stdout == b"late\n"
    });
    let out = lab.lc(&["exec", "-d", "-t", "ex", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("leave -t out"), "{}", text(&out.stderr));
    let out = lab.lc(&["exec", "-u", "nosuchuser", "ex", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("nosuchuser"), "{}", text(&out.stderr));

    // restart: a new init (stop, then start), RestartCount counted, the upper dir kept.
    lab.ok(&["exec", "ex", "touch", "/kept"]);
    let before = lab.ok(&["inspect", "--format", "{{.State.Pid}}", "ex"]);
    assert_eq!(lab.ok(&["restart", "-t", "1", "ex"]), "ex\n");
    let doc = inspect(&lab, "ex");
    assert_eq!(doc["State"]["Status"], "running");
    assert_ne!(doc["State"]["Pid"].to_string(), before.trim(), "the init is new");
    assert_eq!(doc["RestartCount"], 1);
    assert_eq!(lab.lc(&["exec", "ex", "ls", "/kept"]).status.code(), Some(0));
    lab.ok(&["stop", "-t", "0", "ex"]);
    assert_eq!(lab.ok(&["restart", "ex"]), "ex\n", "restart of a stopped container starts it");
    assert_eq!(lab.ok(&["inspect", "--format", "{{.State.Status}}", "ex"]), "running\n");

    // start -a: our stdout and stderr are the container's again, its exit code ours.
    assert_eq!(
        lab.lc(&["run", "--name", "once", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]).status.code(),
        Some(3)
    );
    let out = lab.lc(&["start", "-a", "once"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = lab.lc(&["start", "-a", "ex"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("already running"), "{}", text(&out.stderr));
    let out = lab.lc(&["start", "-a", "ex", "once"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("name only one"), "{}", text(&out.stderr));
    lab.finish();
}

#[test]
fn exec_t_gets_a_pty_of_its_own_that_follows_the_window() {
    let lab = Lab::new();
    lab.ok(&["run", "-d", "--name", "pt", "busybox", "sleep", "1000"]);
    let tmux = Tmux::new();
    tmux.start(&lab, "ex", &["exec", "-it", "pt", "sh"]);
    tmux.wait_for("ex", "/ #");
    tmux.tmux(&["send-keys", "-t", "ex", "tty; stty size; echo sum-$((40+2))", "Enter"]);
    tmux.wait_for("ex", "sum-42");
    let screen = tmux.screen("ex");
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert!(screen.contains("24 80"), "the window size reached the pty: {screen}");
    tmux.tmux(&["resize-window", "-t", "ex", "-x", "100", "-y", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.tmux(&["send-keys", "-t", "ex", "clear; stty size", "Enter"]);
    tmux.wait_for("ex", "30 100");
    tmux.tmux(&["send-keys", "-t", "ex", "exit 5", "Enter"]);
    tmux.wait_for("ex", "exited=5");
    assert_eq!(lab.ok(&["ps", "--format", "{{.Names}} {{.State}}"]), "pt running\n", "the container goes on");
    // Without a terminal -it is refused, as docker refuses it.
    let out = lab.lc(&["exec", "-it", "pt", "sh"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("not a TTY"), "{}", text(&out.stderr));
    lab.finish();
}

#[test]
fn volumes_get_the_images_content_image_volumes_are_anonymous_and_rm_v_removes_them() {
    let lab = Lab::new();
    // An image with a VOLUME: busybox's config with /etc declared one.
    let store = labimage::Store::open(lab.lib_dir().join("images")).unwrap();
    let base = store.resolve("busybox").unwrap();
    let mut config = base.config.clone();
    let mut inner = config.config().clone().unwrap_or_default();
    inner.set_volumes(Some(vec!["/etc".to_string()]));
    config.set_config(Some(inner));
    store.commit_image("withvol:latest", &config, base.manifest.layers().clone()).unwrap();
    let volumes = lab.lib_dir().join("volumes");
    let count = || std::fs::read_dir(&volumes).map(|d| d.count()).unwrap_or(0);

    // A new named volume over the image's /etc gets /etc's files (owners and modes kept).
    let out = lab.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "head -1 /etc/passwd"]);
    assert!(out.starts_with("root:"), "{out}");
    let data = volumes.join("etcvol/_data");
    let meta = std::fs::metadata(data.join("passwd")).unwrap();
    let image_meta = std::fs::metadata(Path::new(base_rootfs(&lab).as_str()).join("etc/passwd")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.mode(), meta.uid()), (image_meta.mode(), image_meta.uid()));
    // A volume with content is not filled again: what the container wrote stays.
    std::fs::write(data.join("passwd"), "mine\n").unwrap();
    assert_eq!(lab.ok(&["run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd"]), "mine\n");
    assert_eq!(count(), 1, "--rm keeps a named volume");

    // -v /ctr and the image's VOLUME: anonymous volumes, filled the same way; --rm removes them.
    assert!(lab
        .ok(&["run", "--rm", "-v", "/usr", "withvol", "sh", "-c", "ls /etc/passwd; grep -c ' /etc ' /proc/self/mounts"])
        .starts_with("/etc/passwd\n1"));
    assert_eq!(count(), 1, "--rm removed the anonymous volumes");
    lab.ok(&["run", "-d", "--name", "av", "withvol", "sleep", "1000"]);
    let doc = inspect(&lab, "av");
    let mounts = doc["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(mounts[0]["Destination"], "/etc");
    assert_eq!(mounts[0]["Type"], "volume");
    let name = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64, "{name}");
    assert_eq!(count(), 2);
    lab.ok(&["rm", "-f", "av"]);
    assert!(volumes.join(&name).exists(), "rm without -v keeps the volume, as docker does");
    lab.ok(&["run", "-d", "--name", "av2", "-v", "etcvol:/data", "withvol", "sleep", "1000"]);
    let anon = inspect(&lab, "av2")["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/etc").unwrap()
        ["Name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lab.ok(&["rm", "-f", "-v", "av2"]), "av2\n");
    assert!(!volumes.join(&anon).exists(), "rm -v removed the anonymous volume");
    assert!(data.exists(), "rm -v keeps a named volume");
    lab.ok(&["volume", "rm", &name]);
    lab.ok(&["volume", "rm", "etcvol"]);
    lab.finish();
}

/// The unpacked busybox layers (the lower dir of every container of the lab).
fn base_rootfs(lab: &Lab) -> String {
    lab.ok(&["run", "-d", "--name", "probe", "busybox", "true"]);
    let dir = inspect(lab, "probe")["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().to_string();
    lab.ok(&["rm", "-f", "probe"]);
    dir
}

#[test]
fn commit_makes_an_image_whose_containers_see_the_changes_and_the_deletions() {
    let lab = Lab::new();
    lab.ok(&["run", "-d", "--name", "src", "-w", "/srv", "-e", "GREETING=hi", "busybox", "sleep", "1000"]);
    lab.ok(&["exec", "src", "sh", "-c", "mkdir -p /srv && echo made > /srv/new.txt && rm /bin/vi && rm /etc/passwd"]);
    let id = lab.ok(&["commit", "-m", "add new.txt", "-a", "Lab <lab@example.com>", "src", "mine:v1"]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    // The committed layer is the upper dir with OCI whiteouts for the deletions.
    let store = labimage::Store::open(lab.lib_dir().join("images")).unwrap();
    let image = store.resolve("mine:v1").unwrap();
    let base = store.resolve("busybox").unwrap();
    assert_eq!(image.manifest.layers().len(), base.manifest.layers().len() + 1);
    let top = image.manifest.layers().last().unwrap();
    let listed = labimage::layer::list_tar(labimage::sandbox::layer_reader(&store, top).unwrap()).unwrap();
    let paths: Vec<String> = listed.iter().map(|l| l.path.clone()).collect();
    assert!(paths.iter().any(|p| p.ends_with("srv/new.txt")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("bin/.wh.vi")), "the deletion is a whiteout: {paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("etc/.wh.passwd")), "{paths:?}");
    let history = image.config.history();
    assert_eq!(history.last().unwrap().comment().as_deref(), Some("add new.txt"));
    assert_eq!(image.config.author().as_deref(), Some("Lab <lab@example.com>"));
    // A container of the new image sees the change, not the deleted files, and the config.
    let out = lab.ok(&[
        "run",
        "--rm",
        "mine:v1",
        "sh",
        "-c",
        "cat new.txt; pwd; echo $GREETING; ls /bin/vi /etc/passwd 2>&1 | wc -l",
    ]);
    assert_eq!(out, "made\n/srv\nhi\n2\n");
    assert_eq!(lab.ok(&["inspect", "--format", "{{.State.Status}}", "src"]), "running\n", "unpaused after the commit");
    let out = lab.lc(&["commit", "src", "Bad Name"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("not an image name"), "{}", text(&out.stderr));
    let out = lab.lc(&["commit", "nosuch", "x:1"]);
    assert_eq!(out.status.code(), Some(125));
    lab.finish();
}

#[test]
fn cpu_shares_cpuset_and_blkio_weight_land_in_the_cgroup_or_are_refused() {
    let lab = Lab::new();
    let id = lab.ok(&["run", "-d", "--cpu-shares", "512", "--cpuset-cpus", "0", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let read = |controller: &str, file: &str| -> String {
        let path = if v2 {
            PathBuf::from("/sys/fs/cgroup/labctl/containers").join(id).join(file)
        } else {
            PathBuf::from("/sys/fs/cgroup").join(controller).join("labctl/containers").join(id).join(file)
        };
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
    };
    // v2 has cpu.weight: runc's conversion of 512 shares is 20.
    let (file, want) = if v2 { ("cpu.weight", "20") } else { ("cpu.shares", "512") };
    assert_eq!(read("cpu", file), want);
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    let out = lab.ok(&["exec", id, "grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert!(out.trim().ends_with("\t0") || out.trim().ends_with(" 0"), "{out}");
    let doc = inspect(&lab, id);
    assert_eq!(doc["HostConfig"]["CpuShares"], 512);
    assert_eq!(doc["HostConfig"]["CpusetCpus"], "0");
    // --blkio-weight: in the cgroup where the kernel can weigh I/O, else docker's warning.
    let out = lab.lc(&["run", "--rm", "--blkio-weight", "300", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let weighs = if v2 {
        std::fs::read_dir("/sys/block")
            .unwrap()
            .flatten()
            .any(|d| std::fs::read_to_string(d.path().join("queue/scheduler")).is_ok_and(|s| s.contains("[bfq]")))
    } else {
        Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
    };
    assert_eq!(!weighs, text(&out.stderr).contains("--blkio-weight discarded"), "{}", text(&out.stderr));
    for (args, says) in [
        (vec!["--cpu-shares", "1"], "2 to 262144"),
        (vec!["--cpuset-cpus", "9999"], "not available"),
        (vec!["--cpuset-cpus", "1-0"], "backwards"),
        (vec!["--cpuset-cpus", "a"], "CPU numbers"),
        (vec!["--blkio-weight", "5"], "10 to 1000"),
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend(&args);
        argv.extend(["busybox", "true"]);
        let out = lab.lc(&argv);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
    lab.finish();
}

#[test]
fn init_is_pid_1_reaps_orphans_and_forwards_the_stop_signal() {
    let lab = Lab::new();
    let out = lab.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$ $PPID",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/labctl-init ") && lines[0].contains(" init -- sh -c"), "{out}");
    assert_eq!(lines[1], "2 1", "the command is PID 2, the init's child: {out}");
    // An orphan's zombie: reaped by the init, left forever by a plain `sleep` as PID 1.
    let script = "sh -c 'sleep 0.1 & exit'; exec sleep 1000";
    lab.ok(&["run", "-d", "--init", "--name", "with", "busybox", "sh", "-c", script]);
    lab.ok(&["run", "-d", "--name", "without", "busybox", "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(800));
    let zombies = |name: &str| lab.ok(&["exec", name, "sh", "-c", "ps -o stat | grep -c '^Z' || true"]);
    assert_eq!(zombies("with").trim(), "0");
    assert_eq!(zombies("without").trim(), "1", "the test shows what --init is for");
    // stop: SIGTERM reaches the command through the init (sleep as PID 1 would ignore it).
    let t = Instant::now();
    lab.ok(&["stop", "-t", "10", "with"]);
    assert!(t.elapsed() < Duration::from_secs(5), "the init did not forward SIGTERM");
    assert_eq!(lab.ok(&["inspect", "--format", "{{.State.ExitCode}}", "with"]), "143\n");
    assert_eq!(inspect(&lab, "with")["HostConfig"]["Init"], true);
    lab.finish();
}
