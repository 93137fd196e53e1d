//! The engine against podman (issue 12, "Performance"), every contender in turn in each
//! round of ONE interleaved run, so load drift hits all alike; medians, minimums, ratios:
//! - `container run --rm --network none busybox true` vs `podman run --rm --network none`
//!   (goal ≤ 0.1×);
//! - `run --rm --network bridge -p 8080:80` vs podman with netavark (goal ≤ 0.1×);
//! - `exec CONTAINER true` into a running `-d` container vs `podman exec` (goal ≤ 0.2×);
//! - RSS and PSS (smaps_rollup) of an idle `-d` container's supervisor vs its conmon.
//!
//! Same image (our busybox import, the same rootfs imported into podman), same disk for both
//! stores (a temp dir), podman on crun with cgroupfs and `--cgroup-parent=/labctl/podman`.
//! The benchmark runs in a mount namespace of its own with a tmpfs on /run, as on a standard
//! host (this machine's /run is on its disk): both runtimes keep their state there. On a
//! hybrid cgroup host the cgroup2 tree at /sys/fs/cgroup/unified is unmounted in that
//! namespace, where crun 1.8.1 works (every contender sees the same v1 layout); and in a
//! network namespace of its own, so bridges, NAT and port 8080 are the benchmark's alone.
//!
//! `cargo bench -p labcontainer --bench run` as root. `LCBENCH_ROUNDS` (default 15) rounds
//! after one warm-up round. Holds the kernel-test lock: no root test runs meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PRIVATE: &str = "LCBENCH_PRIVATE_MOUNTS";

fn main() {
    assert!(labkit::sys::is_root(), "the benchmark needs root: sudo cargo bench -p labcontainer --bench run");
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(PRIVATE).is_none() {
        use std::os::unix::process::CommandExt;
        let script = if hybrid() {
            r#"umount /sys/fs/cgroup/unified && mount -t tmpfs -o mode=0755 lcbench-run /run && exec "$0" "$@""#
        } else {
            r#"mount -t tmpfs -o mode=0755 lcbench-run /run && exec "$0" "$@""#
        };
        let err = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .args(&args)
            .env(PRIVATE, "1")
            .exec();
        panic!("re-exec in a private mount namespace: {err}");
    }
    let rounds: usize = std::env::var("LCBENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(15);
    let _lock = labkit::testing::kernel_lock();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    labkit::sys::set_link_up("lo", true).expect("lo up");
    let bench = Bench::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bench.all(rounds)));
    bench.cleanup();
    if outcome.is_err() {
        std::process::exit(1);
    }
}

fn hybrid() -> bool {
    labkit::mountinfo::of_self().iter().any(|m| m.mount_point == "/sys/fs/cgroup/unified")
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs `cmd` (stdio to /dev/null, stderr kept for the error); its wall time.
fn timed(cmd: &mut Command) -> Result<Duration, String> {
    let t = Instant::now();
    let out =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| e.to_string())?;
    let took = t.elapsed();
    if !out.status.success() {
        return Err(format!("{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(took)
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

struct Bench {
    dir: tempfile::TempDir,
    run: PathBuf,
    /// Why podman cannot be compared, if it cannot.
    podman: Result<(), String>,
}

/// One timed contender of a section: its name and how to make its command.
type Contender<'a> = (&'a str, Box<dyn Fn() -> Command + 'a>);

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::Builder::new().prefix("labctl-bench-engine-").tempdir().unwrap();
        let run = PathBuf::from(format!("/run/labctl-bench-{}", std::process::id()));
        let store = labimage::Store::open(dir.path().join("lib/images")).unwrap();
        labimage::import::import_busybox(&store, "busybox:latest").expect("busybox-static is installed");
        let mut bench = Bench { dir, run, podman: Ok(()) };
        bench.podman = bench.podman_setup();
        bench
    }

    fn ours(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labcontainer"));
        c.args(args).env("LABCTL_RUN_DIR", &self.run).env("LABCTL_STATE_DIR", self.dir.path().join("lib"));
        c
    }

    fn podman(&self, args: &[&str]) -> Command {
        let d = self.dir.path().join("podman");
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg("/run/lcbench-podman")
            .arg("--tmpdir")
            .arg("/run/lcbench-podman-tmp")
            .arg("--network-config-dir")
            .arg(d.join("networks"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", "crun"])
            .args(["--network-backend", "netavark"])
            .args(args);
        c
    }

    fn podman_setup(&self) -> Result<(), String> {
        let busybox = labimage::import::find_static_busybox().map_err(|e| e.to_string())?;
        let tar = labimage::import::busybox_layer(&busybox).and_then(|l| Ok(l.to_tar()?)).map_err(|e| e.to_string())?;
        let tar_path = self.dir.path().join("busybox.tar");
        std::fs::write(&tar_path, tar).map_err(|e| e.to_string())?;
        timed(self.podman(&["import", &tar_path.display().to_string(), "localhost/lc-busybox"]).env("TMPDIR", "/run"))?;
        Ok(())
    }

    fn podman_run(&self, network: &[&str], tail: &[&str]) -> Command {
        // podman's default rlimits (NOFILE 1048576, NPROC) need CAP_SYS_RESOURCE, which this
        // machine's root lacks: ask for low ones (our engine leaves the limits as they are).
        let mut args = vec!["run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
        args.extend(["--cgroup-parent=/labctl/podman"]);
        args.extend(network);
        args.extend(tail);
        self.podman(&args)
    }

    fn all(&self, rounds: usize) {
        println!("machine: {} cores, load average {} at the start", num_cpus(), loadavg());
        if let Err(why) = &self.podman {
            println!("podman: not compared ({why})");
        }
        let none = ["--rm", "--network", "none"];
        let ours_none = ["run", "--rm", "--network", "none", "busybox", "true"];
        self.section(
            "run --rm --network none busybox true",
            0.1,
            rounds,
            vec![
                ("ours", Box::new(|| self.ours(&ours_none))),
                ("podman", Box::new(|| self.podman_run(&none, &["localhost/lc-busybox", "true"]))),
            ],
        );
        let bridge = ["--rm", "--network", "bridge", "-p", "8080:80"];
        let ours_bridge = ["run", "--rm", "--network", "bridge", "-p", "8080:80", "busybox", "true"];
        self.section(
            "run --rm --network bridge -p 8080:80 busybox true",
            0.1,
            rounds,
            vec![
                ("ours", Box::new(|| self.ours(&ours_bridge))),
                ("podman", Box::new(|| self.podman_run(&bridge, &["localhost/lc-busybox", "true"]))),
            ],
        );
        self.exec_and_memory(rounds);
        println!("\nload average {} at the end", loadavg());
    }

    /// Times every contender once per round, in turn; prints medians and the ratio to podman.
    fn section(&self, title: &str, goal: f64, rounds: usize, contenders: Vec<Contender<'_>>) {
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        let mut failed: Vec<Option<String>> = vec![None; contenders.len()];
        for (i, (name, _)) in contenders.iter().enumerate() {
            if *name == "podman" {
                failed[i] = self.podman.clone().err();
            }
        }
        for round in 0..=rounds {
            for (i, (_, cmd)) in contenders.iter().enumerate() {
                if failed[i].is_some() {
                    continue;
                }
                match timed(&mut cmd()) {
                    Ok(d) if round > 0 => samples[i].push(d), // round 0 warms up
                    Ok(_) => {}
                    Err(e) => failed[i] = Some(e),
                }
            }
        }
        println!("\n{title}: {rounds} interleaved rounds (+1 warm-up)");
        for (i, (name, _)) in contenders.iter().enumerate() {
            match &failed[i] {
                Some(why) => println!("  {name:7} failed: {why}"),
                None => {
                    let min = samples[i].iter().min().copied().unwrap_or_default();
                    println!("  {name:7} median {:>9}  min {:>9}", ms(median(&samples[i])), ms(min));
                }
            }
        }
        if failed.iter().all(Option::is_none) && contenders.len() == 2 {
            let ratio = median(&samples[0]).as_secs_f64() / median(&samples[1]).as_secs_f64();
            let verdict = if ratio <= goal { "met" } else { "NOT met" };
            println!("  ratio ours/podman: {ratio:.3}× (goal ≤ {goal}×: {verdict})");
        }
    }

    /// `exec C true` into an idle `sleep` container of each, then the memory of what holds it.
    fn exec_and_memory(&self, rounds: usize) {
        let ours_id = output(&mut self.ours(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"]))
            .expect("container run -d");
        let podman_id = self.podman.clone().and_then(|()| {
            output(&mut self.podman_run(&["-d", "--network", "none"], &["localhost/lc-busybox", "sleep", "1000"]))
        });
        let theirs = podman_id.clone();
        let mut contenders: Vec<Contender<'_>> = vec![("ours", Box::new(|| self.ours(&["exec", &ours_id, "true"])))];
        if let Ok(id) = &theirs {
            contenders.push(("podman", Box::new(move || self.podman(&["exec", id, "true"]))));
        }
        self.section("exec CONTAINER true", 0.2, rounds, contenders);

        println!("\nidle `-d` container: memory of its supervisor (ours) and of its conmon (podman)");
        let pid = output(&mut self.ours(&["inspect", "--format", "{{.State.Pid}}", &ours_id]))
            .ok()
            .and_then(|p| p.parse::<i32>().ok())
            .expect("our container's pid");
        let mine = memory(parent(pid)).map(|m| m.show()).unwrap_or_else(|e| e);
        println!("  ours    supervisor {mine}");
        let conmon = theirs.and_then(|id| {
            let pid = output(&mut self.podman(&["inspect", "--format", "{{.State.ConmonPid}}", &id]))?;
            memory(pid.parse().map_err(|_| format!("conmon pid {pid:?}"))?)
        });
        match conmon {
            Ok(m) => println!("  podman  conmon     {}", m.show()),
            Err(e) => println!("  podman  conmon     not measured ({e})"),
        }
        let _ = timed(&mut self.ours(&["rm", "-f", &ours_id]));
        if let Ok(id) = podman_id {
            let _ = timed(&mut self.podman(&["rm", "-f", "-t", "0", &id]));
        }
    }

    fn cleanup(&self) {
        if self.podman.is_ok() {
            let _ = timed(&mut self.podman(&["rm", "-a", "-f", "-t", "0"]));
        }
        // What podman left mounted under the temp dir (its layers' merged dirs), deepest first,
        // so the temp dir can go.
        let base = self.dir.path().display().to_string();
        let mut mounts: Vec<String> =
            labkit::mountinfo::of_self().into_iter().map(|m| m.mount_point).filter(|p| p.starts_with(&base)).collect();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in mounts {
            let _ = labkit::sys::unmount(Path::new(&m));
        }
        // podman leaves the parent group it was given (conmon's goes once conmon has exited).
        let bases: Vec<PathBuf> = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            vec![PathBuf::from("/sys/fs/cgroup")]
        } else {
            std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path()).collect()
        };
        for base in bases {
            for _ in 0..200 {
                let _ = std::fs::remove_dir(base.join("labctl/podman/conmon"));
                if std::fs::remove_dir(base.join("labctl/podman")).is_ok() || !base.join("labctl/podman").exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = std::fs::remove_dir(base.join("labctl"));
        }
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn parent(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 1..].split_whitespace().nth(1).and_then(|p| p.parse().ok())))
        .unwrap_or(0)
}

struct Memory {
    rss_kib: u64,
    pss_kib: u64,
    /// Private_Dirty: what this process alone holds (heap, stacks, written data); the rest
    /// of RSS is clean file pages (program text), shared page cache.
    dirty_kib: u64,
}

impl Memory {
    fn show(&self) -> String {
        format!("RSS {} KiB, PSS {} KiB, private dirty {} KiB", self.rss_kib, self.pss_kib, self.dirty_kib)
    }
}

fn memory(pid: i32) -> Result<Memory, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).map_err(|e| format!("pid {pid}: {e}"))?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory { rss_kib: field("Rss:"), pss_kib: field("Pss:"), dirty_kib: field("Private_Dirty:") })
}
