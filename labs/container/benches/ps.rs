//! Benchmark: `container ps -a` with 100 containers (50 running, 50 exited) — the goal
//! is under 20 ms — next to `podman ps -a` holding the same 100 (its own storage under a temp
//! dir), interleaved in one run inside a network namespace of this process's own. Prints
//! medians and the ratio. `cargo bench -p labcontainer --bench ps` (root; podman optional).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn timed(cmd: &mut Command) -> Result<(Duration, String), String> {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        return Err(format!("{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

const RUNNING: usize = 50;
const EXITED: usize = 50;

fn main() {
    assert!(labkit::sys::is_root(), "the benchmark needs root: run it with sudo");
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let dir = tempfile::Builder::new().prefix("labctl-bench-ps-").tempdir().unwrap();
    let lib = dir.path().join("lib");
    let store = labimage::Store::open(lib.join("images")).unwrap();
    labimage::import::import_busybox(&store, "busybox:latest").expect("busybox-static is installed");
    let ours = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labcontainer"));
        c.args(args).env("LABCTL_RUN_DIR", dir.path().join("run")).env("LABCTL_STATE_DIR", &lib);
        c
    };
    for _ in 0..RUNNING {
        timed(&mut ours(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"])).expect("run -d");
    }
    for _ in 0..EXITED {
        timed(&mut ours(&["run", "--network", "none", "busybox", "true"])).expect("run");
    }
    let (_, listed) = timed(&mut ours(&["ps", "-a"])).expect("ps -a");
    assert_eq!(listed.lines().count(), RUNNING + EXITED + 1, "{listed}");

    let podman = Podman { dir: dir.path().join("podman") };
    let podman_ready = podman.fill(dir.path());
    let rounds = 30;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(timed(&mut ours(&["ps", "-a"])).expect("container ps -a").0);
        if podman_ready.is_ok() {
            b.push(timed(podman.cmd().args(["ps", "-a"])).expect("podman ps -a").0);
        }
    }
    let ours_median = median(a);
    println!(
        "container ps -a, {} containers ({RUNNING} running): median {} over {rounds} runs (goal < 20 ms)",
        RUNNING + EXITED,
        ms(ours_median)
    );
    match &podman_ready {
        Ok(()) => {
            let theirs = median(b);
            println!("podman ps -a, the same {}: median {} over {rounds} runs", RUNNING + EXITED, ms(theirs));
            println!("ratio: {:.3}×", ours_median.as_secs_f64() / theirs.as_secs_f64());
        }
        Err(why) => println!("podman: skipped ({why})"),
    }
    let (_, ids) = timed(&mut ours(&["ps", "-aq"])).expect("ps -aq");
    let mut rm = ours(&["rm", "-f"]);
    rm.args(ids.split_whitespace());
    timed(&mut rm).expect("rm -f every container");
    if podman_ready.is_ok() {
        let _ = podman.cmd().args(["rm", "-a", "-f", "-t", "0"]).output();
        let _ = Command::new("umount").arg("-R").arg(dir.path().join("podman/storage/overlay")).output();
    }
    cleanup_podman_cgroups();
}

struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", runtime()]);
        c
    }

    /// The same 100 containers in podman's storage: 50 running, 50 exited.
    fn fill(&self, scratch: &Path) -> Result<(), String> {
        let busybox = labimage::import::find_static_busybox().map_err(|e| e.to_string())?;
        let tar = labimage::import::busybox_layer(&busybox).and_then(|l| Ok(l.to_tar()?)).map_err(|e| e.to_string())?;
        let tar_path = scratch.join("busybox.tar");
        std::fs::write(&tar_path, tar).map_err(|e| e.to_string())?;
        timed(self.cmd().arg("import").arg(&tar_path).arg("localhost/lc-busybox"))?;
        let run = |detach: bool, argv: &[&str]| {
            let mut c = self.cmd();
            c.arg("run");
            if detach {
                c.arg("-d");
            }
            c.args(["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
                .args(["--cgroup-parent=/labctl/podman", "localhost/lc-busybox"])
                .args(argv);
            timed(&mut c).map(|_| ())
        };
        for _ in 0..RUNNING {
            run(true, &["sleep", "1000"])?;
        }
        for _ in 0..EXITED {
            run(false, &["true"])?;
        }
        Ok(())
    }
}

/// crun refuses cgroup v1 hybrid hosts: runc there.
fn runtime() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "crun"
    } else {
        "runc"
    }
}

/// podman leaves the parent group it was given: remove it (and an empty /labctl) everywhere.
fn cleanup_podman_cgroups() {
    let bases: Vec<PathBuf> = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        vec![PathBuf::from("/sys/fs/cgroup")]
    } else {
        std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path()).collect()
    };
    for base in bases {
        for sub in ["labctl/podman/conmon", "labctl/podman", "labctl"] {
            let _ = std::fs::remove_dir(base.join(sub));
        }
    }
}
