//! Accuracy and overhead of the cgroup limiter (run as root: `cargo bench -p labcgroup`).
//!
//! 1. A busy loop in a group with CPU quotas of 10/25/50/100% of one CPU, each measured over a
//!    2 s window; prints the measured share and its error in percentage points. An unlimited
//!    baseline comes first: on a loaded machine a busy loop gets less than a full CPU, and a
//!    quota above that baseline cannot be reached.
//! 2. `labcgroup run --cpu 10% -- /bin/true` (the same code as `labctl cgroup run`) against bare
//!    `/bin/true`: mean wall time of each and the ratio. `LABCTL_BIN=/path/to/labctl` measures
//!    `labctl cgroup run` instead.

use labcgroup::measure::cpu_over;
use labcgroup::worker::Worker;
use labcgroup::{Controller, CpuLimit, System};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(2);
const RUNS: usize = 30;

fn main() {
    if !labkit::sys::is_root() {
        eprintln!("cpu_share bench: needs root (it creates cgroups); run: sudo cargo bench -p labcgroup");
        return;
    }
    let _guard = labkit::testing::kernel_lock();
    let system = System::detect().expect("cgroup layout");
    println!("cgroup {} ({}), {} CPU(s)", system.version().name(), system.layout().name(), cpus());

    println!("\n== CPU share under a quota, {} s windows ==", WINDOW.as_secs());
    let group = system.group("bench-cpu").expect("name");
    group.create(&[Controller::Cpu], &[Controller::Freezer]).expect("create");
    let worker = Worker::spin().expect("fork");
    group.add_process(worker.pid()).expect("add");
    worker.start().expect("start");
    std::thread::sleep(Duration::from_millis(200));
    let baseline = cpu_over(&group, WINDOW).expect("measure").share();
    println!(
        "{:>8}  {:>9}  {:>9}  {:>10}  {:>12}  {:>11}",
        "quota", "measured", "error pp", "reachable", "vs reach. pp", "throttled"
    );
    println!("{:>8}  {:>8.2}%  {:>9}  {:>10}  {:>12}  {:>11}", "none", baseline * 100.0, "-", "-", "-", "-");
    for percent in [10u32, 25, 50, 100] {
        let target = percent as f64 / 100.0;
        group.set_cpu_limit(CpuLimit::from_cpus(target)).expect("limit");
        std::thread::sleep(Duration::from_millis(200));
        let sample = cpu_over(&group, WINDOW).expect("measure");
        let share = sample.share();
        // What a busy loop could get at all right now (the machine may be loaded).
        let reachable = target.min(baseline);
        println!(
            "{:>7}%  {:>8.2}%  {:>+9.2}  {:>9.2}%  {:>+12.2}  {:>5}/{:<5}",
            percent,
            share * 100.0,
            (share - target) * 100.0,
            reachable * 100.0,
            (share - reachable) * 100.0,
            sample.delta.nr_throttled,
            sample.delta.nr_periods
        );
    }
    drop(worker);
    group.remove().expect("remove");

    println!("\n== `cgroup run --cpu 10% -- /bin/true` vs bare /bin/true, {RUNS} runs each ==");
    let (bin, args): (String, Vec<&str>) = match std::env::var("LABCTL_BIN") {
        Ok(labctl) => (labctl, vec!["cgroup", "run", "--cpu", "10%", "--", "/bin/true"]),
        Err(_) => (env!("CARGO_BIN_EXE_labcgroup").to_string(), vec!["run", "--cpu", "10%", "--", "/bin/true"]),
    };
    let bare = time_runs("/bin/true", &[]);
    let limited = time_runs(&bin, &args);
    println!("{:>28}  {:>10}  {:>10}", "", "mean", "median");
    println!("{:>28}  {:>8.2}ms  {:>8.2}ms", "/bin/true", ms(mean(&bare)), ms(median(&bare)));
    println!("{:>28}  {:>8.2}ms  {:>8.2}ms", "cgroup run --cpu 10%", ms(mean(&limited)), ms(median(&limited)));
    println!(
        "overhead: {:.2} ms per run (median), ratio {:.1}x",
        ms(median(&limited)) - ms(median(&bare)),
        median(&limited).as_secs_f64() / median(&bare).as_secs_f64()
    );
    let left = labkit::leftovers::cgroups();
    assert!(left.is_empty(), "the bench left cgroups behind: {left:?}");
}

fn time_runs(program: &str, args: &[&str]) -> Vec<Duration> {
    (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            let status = Command::new(program).args(args).stderr(Stdio::null()).status().expect("run");
            assert!(status.success(), "{program} {args:?} failed: {status}");
            t0.elapsed()
        })
        .collect()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn mean(d: &[Duration]) -> Duration {
    d.iter().sum::<Duration>() / d.len() as u32
}

fn median(d: &[Duration]) -> Duration {
    let mut v = d.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
