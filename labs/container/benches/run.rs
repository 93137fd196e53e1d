//! Benchmark: `container run --rm --network none busybox true` against
//! `podman run --rm --network none` (crun, its own storage under a temp dir, cgroupfs,
//! `--cgroup-parent=/labctl/podman`) on the same busybox rootfs, interleaved in one run, inside
//! a network namespace this process makes for itself. Prints medians and the ratio (goal ≤ 0.1×).
//! `cargo bench -p labcontainer --bench run` (root; podman optional: skipped with the reason).

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

fn timed(cmd: &mut Command) -> Result<Duration, String> {
    let t = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        return Err(format!("{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(elapsed)
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
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", podman_runtime()]);
        c
    }
}

fn main() {
    assert!(labkit::sys::is_root(), "the benchmark needs root: run it with sudo");
    // Everything below (our containers and podman's) lives in this process's own netns.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
    let dir = tempfile::Builder::new().prefix("labctl-bench-engine-").tempdir().unwrap();
    let lib = dir.path().join("lib");
    let store = labimage::Store::open(lib.join("images")).unwrap();
    labimage::import::import_busybox(&store, "busybox:latest").expect("busybox-static is installed");
    let ours = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labcontainer"));
        c.args(args).env("LABCTL_RUN_DIR", dir.path().join("run")).env("LABCTL_STATE_DIR", &lib);
        c
    };
    let run = ["run", "--rm", "--network", "none", "busybox", "true"];
    timed(&mut ours(&run)).expect("a first run (unpacks the layers)");

    let podman = Podman { dir: dir.path().join("podman") };
    let podman_ready = (|| -> Result<(), String> {
        let busybox = labimage::import::find_static_busybox().map_err(|e| e.to_string())?;
        let tar = labimage::import::busybox_layer(&busybox).and_then(|l| Ok(l.to_tar()?)).map_err(|e| e.to_string())?;
        let tar_path = dir.path().join("busybox.tar");
        std::fs::write(&tar_path, tar).map_err(|e| e.to_string())?;
        let mut import = podman.cmd();
        import.arg("import").arg(&tar_path).arg("localhost/lc-busybox");
        timed(&mut import)?;
        timed(podman.cmd().args(podman_run_args()))?;
        Ok(())
    })();

    let rounds = 15;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(timed(&mut ours(&run)).expect("container run"));
        if podman_ready.is_ok() {
            b.push(timed(podman.cmd().args(podman_run_args())).expect("podman run"));
        }
    }
    let ours_median = median(a);
    println!("container run --rm --network none busybox true: median {} over {rounds} runs", ms(ours_median));
    match &podman_ready {
        Ok(()) => {
            let theirs = median(b);
            println!(
                "podman run --rm --network none ({}, cgroupfs): median {} over {rounds} runs",
                podman_runtime(),
                ms(theirs)
            );
            println!("ratio: {:.3}× (goal ≤ 0.1×)", ours_median.as_secs_f64() / theirs.as_secs_f64());
        }
        Err(why) => println!("podman: skipped ({why})"),
    }
    cleanup_podman_cgroups();
    let _ = Command::new("umount").arg("-R").arg(dir.path().join("podman/storage/overlay")).output();
}

/// podman's default rlimits (NOFILE 1048576, NPROC) need CAP_SYS_RESOURCE, which this machine's
/// root lacks: ask for low ones (our engine leaves the limits as they are).
fn podman_run_args() -> Vec<&'static str> {
    vec![
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--cgroup-parent=/labctl/podman",
        "localhost/lc-busybox",
        "true",
    ]
}

/// crun refuses cgroup v1 hybrid hosts ("cgroups in hybrid mode not supported"): runc there.
fn podman_runtime() -> &'static str {
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
        let _ = std::fs::remove_dir(base.join("labctl/podman/conmon"));
        let _ = std::fs::remove_dir(base.join("labctl/podman"));
    }
}
