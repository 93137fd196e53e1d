//! `labns run --pid --net --mnt --uts --ipc -- /bin/true` against
//! `unshare -fpnimu --mount-proc /bin/true`, interleaved, ratio printed (target: within 1.2x).
//! Needs root. `cargo bench -p labns` (release build of the labns binary).

use std::process::Command;
use std::time::{Duration, Instant};

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd.status().expect("spawn");
    assert!(status.success(), "{cmd:?} failed");
    start.elapsed()
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench run: needs root (it creates namespaces)");
        return;
    }
    let n: usize = std::env::var("LABNS_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let ours_bin = env!("CARGO_BIN_EXE_labns");
    let (mut ours, mut theirs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        ours.push(time(Command::new(ours_bin).args([
            "run",
            "--pid",
            "--net",
            "--mnt",
            "--uts",
            "--ipc",
            "--",
            "/bin/true",
        ])));
        theirs.push(time(Command::new("unshare").args(["-fpnimu", "--mount-proc", "/bin/true"])));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let (mo, mt) = (mean(&ours), mean(&theirs));
    let (do_, dt) = (median(&mut ours), median(&mut theirs));
    println!(
        "labns run --pid --net --mnt --uts --ipc -- /bin/true   mean {:>8.3} ms  median {:>8.3} ms",
        mo.as_secs_f64() * 1e3,
        do_.as_secs_f64() * 1e3
    );
    println!(
        "unshare -fpnimu --mount-proc /bin/true                 mean {:>8.3} ms  median {:>8.3} ms",
        mt.as_secs_f64() * 1e3,
        dt.as_secs_f64() * 1e3
    );
    println!(
        "ratio labns/unshare: mean {:.2}x  median {:.2}x  (n = {n}, target <= 1.2x)",
        mo.as_secs_f64() / mt.as_secs_f64(),
        do_.as_secs_f64() / dt.as_secs_f64()
    );
}
