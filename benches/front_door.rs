//! Front-door timings with the release binary: `labctl --help`, `labctl list` (targets: under
//! 10 ms) and `labctl run ns-net --yes` (target: under 200 ms), each against a bare process
//! start (`/bin/true`) measured in the same run, so the ratio shows labctl's own cost.
//!
//! `cargo bench --bench front_door` (root needed for the run).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(runs: usize, program: &str, args: &[&str]) -> Duration {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("NO_COLOR", "1")
            .status()
            .expect("spawn");
        samples.push(start.elapsed());
        assert!(status.success(), "{program} {args:?} failed");
    }
    median(samples)
}

fn main() {
    // `cargo bench` builds this bench in release mode; the binary sits next to it.
    let exe = std::env::current_exe().expect("bench path");
    let release = exe.parent().and_then(|deps| deps.parent()).expect("target/release");
    let labctl = release.join("labctl");
    if !labctl.exists() {
        let status = Command::new("cargo").args(["build", "--release", "--bin", "labctl"]).status().expect("cargo");
        assert!(status.success());
    }
    let labctl = labctl.to_str().expect("utf-8 path");
    let baseline = time(50, "/bin/true", &[]);
    println!("{:<28} {:>10} {:>10} {:>8}", "command", "median", "target", "vs true");
    let row = |name: &str, d: Duration, target_ms: u64| {
        println!(
            "{name:<28} {:>8.2}ms {:>8}ms {:>7.1}x {}",
            d.as_secs_f64() * 1e3,
            target_ms,
            d.as_secs_f64() / baseline.as_secs_f64(),
            if d < Duration::from_millis(target_ms) { "ok" } else { "OVER" }
        )
    };
    row("/bin/true (baseline)", baseline, 10);
    row("labctl --help", time(50, labctl, &["--help"]), 10);
    row("labctl list", time(50, labctl, &["list"]), 10);
    if nix::unistd::geteuid().is_root() {
        // Inside a throwaway network namespace, like the tests: the host's network stays untouched.
        let unshare_true = time(20, "unshare", &["--net", "/bin/true"]);
        let run = time(20, "unshare", &["--net", labctl, "run", "ns-net", "--yes", "--format", "plain"]);
        row("labctl run ns-net --yes", run.saturating_sub(unshare_true), 200);
    } else {
        println!("labctl run ns-net --yes: skipped (needs root)");
    }
}
