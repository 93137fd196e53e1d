//! lcrun against crun and runc, in one interleaved run (issue 11, "Performance"):
//! - start-to-exit wall time of `RUNTIME run ID` on one busybox bundle running /bin/true (a new
//!   network namespace with only lo), and the floor `unshare -fpnimu --mount-proc /bin/true`;
//! - `RUNTIME exec ID /bin/true` into a running container;
//! - peak RSS: ru_maxrss of the largest process of `RUNTIME run`'s tree (the runtime and its
//!   init before the exec of /bin/true).
//!
//! `cargo bench -p labruntime --bench run` as root. `LCRUN_BENCH_ROUNDS` (default 30) rounds,
//! each running every contender once in turn, so drift hits all alike; medians and ratios.
//! `LCRUN_JUDGE_RUNTIME` replaces lcrun. On a hybrid cgroup host the whole benchmark runs in a
//! private mount namespace without /sys/fs/cgroup/unified, where crun 1.8.1 works unwrapped:
//! every contender sees the same v1 layout (the host's mounts are untouched).

#[path = "../tests/judges_support/mod.rs"]
mod judges_support;

use judges_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--rss-of") {
        return rss_of(&args[2..]);
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the runtime benchmark needs root (containers): sudo cargo bench -p labruntime --bench run");
        std::process::exit(1);
    }
    if hybrid() && std::env::var_os("LCRUN_BENCH_PRIVATE_MOUNTS").is_none() {
        use std::os::unix::process::CommandExt;
        let err = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", r#"umount /sys/fs/cgroup/unified && exec "$0" "$@""#])
            .args(&args)
            .env("LCRUN_BENCH_PRIVATE_MOUNTS", "1")
            .exec();
        panic!("re-exec in a private mount namespace: {err}");
    }
    let rounds: usize = std::env::var("LCRUN_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    // Alone with the kernel: no root test of any crate runs meanwhile (quieter numbers, and no
    // leak check mistakes our cgroups for its own).
    let _lock = labkit::testing::kernel_lock();
    let bench = Bench::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bench.all(rounds)));
    let left = bench.cleanup();
    assert!(left.is_empty(), "the benchmark left: {left:#?}");
    if outcome.is_err() {
        std::process::exit(1);
    }
}

/// Helper mode: runs ARGS, then prints the peak RSS (KiB) of the largest process it waited for.
fn rss_of(args: &[String]) {
    let status = Command::new(&args[0]).args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::null()).status().unwrap();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    println!("{}", usage.max_rss());
    std::process::exit(status.code().unwrap_or(1));
}

struct Bench {
    dir: tempfile::TempDir,
    cgroup: String,
    runtimes: Vec<(&'static str, PathBuf)>,
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

impl Bench {
    fn new() -> Bench {
        let dir = temp_dir("labctl-jbench.");
        let cgroup = format!("labctl/jbench-{}", std::process::id());
        for (bundle, args) in [("true", &["/bin/true"][..]), ("sleep", &["sleep", "1000"][..])] {
            let bundle = dir.path().join(bundle);
            busybox_bundle(&bundle, args, &format!("/{cgroup}/{}", args[0].trim_start_matches("/bin/")));
            // runc's default lists ambient capabilities that are not inheritable: the kernel
            // raises none of them, runc and crun say nothing, lcrun refuses. Not what we time.
            edit_config(&bundle, |c| {
                c["process"]["capabilities"].as_object_mut().unwrap().remove("ambient");
            });
        }
        let runtimes = vec![("lcrun", runtime()), ("crun", PathBuf::from(CRUN)), ("runc", PathBuf::from(RUNC))];
        Bench { dir, cgroup, runtimes }
    }

    fn cmd(&self, name: &str, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--root").arg(self.dir.path().join(format!("state-{name}"))).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// Times one command; None (with the reason printed once by the caller) when it failed.
    fn time(mut cmd: Command) -> Result<Duration, String> {
        let start = Instant::now();
        let out = cmd.output().map_err(|e| e.to_string())?;
        let took = start.elapsed();
        if out.status.success() {
            Ok(took)
        } else {
            Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    fn all(&self, rounds: usize) {
        println!("lcrun: {}", self.runtimes[0].1.display());
        self.run_latency(rounds);
        self.exec_latency(rounds);
        self.peak_rss();
    }

    fn run_latency(&self, rounds: usize) {
        let bundle = self.dir.path().join("true").display().to_string();
        let floor = ("floor", PathBuf::from("unshare"));
        let mut contenders: Vec<(&str, PathBuf)> = self.runtimes.clone();
        contenders.push(floor);
        let mut samples: Vec<Vec<Duration>> = vec![vec![]; contenders.len()];
        let mut failed: Vec<Option<String>> = vec![None; contenders.len()];
        for round in 0..rounds + 2 {
            for (i, (name, program)) in contenders.iter().enumerate() {
                if failed[i].is_some() {
                    continue;
                }
                let cmd = if *name == "floor" {
                    let mut c = Command::new("unshare");
                    c.args(["-fpnimu", "--mount-proc", "/bin/true"]).stdin(Stdio::null()).stderr(Stdio::piped());
                    c
                } else {
                    self.cmd(name, program, &["run", "--bundle", &bundle, &format!("lcb-{name}-{round}")])
                };
                match Self::time(cmd) {
                    Ok(d) if round >= 2 => samples[i].push(d), // two warm-up rounds
                    Ok(_) => {}
                    Err(e) => failed[i] = Some(e),
                }
            }
        }
        println!(
            "\nstart-to-exit of `RUNTIME run ID` (/bin/true, new netns with only lo), {rounds} interleaved rounds:"
        );
        let med = |i: usize| (!samples[i].is_empty()).then(|| median(&samples[i]));
        let (crun, floor) = (med(1), med(contenders.len() - 1));
        for (i, (name, _)) in contenders.iter().enumerate() {
            match (med(i), &failed[i]) {
                (_, Some(e)) => println!("  {name:<6} failed: {e}"),
                (Some(m), None) => {
                    let mut line = format!(
                        "  {name:<6} median {:>8}   min {:>8}   max {:>8}",
                        ms(m),
                        ms(*samples[i].iter().min().unwrap()),
                        ms(*samples[i].iter().max().unwrap())
                    );
                    if let Some(c) = crun {
                        line += &format!("   {:.2}x crun", m.as_secs_f64() / c.as_secs_f64());
                    }
                    if let Some(f) = floor {
                        line += &format!("   {:.2}x floor", m.as_secs_f64() / f.as_secs_f64());
                    }
                    println!("{line}");
                }
                (None, None) => println!("  {name:<6} no samples"),
            }
        }
    }

    fn exec_latency(&self, rounds: usize) {
        let bundle = self.dir.path().join("sleep").display().to_string();
        let mut samples: Vec<Vec<Duration>> = vec![vec![]; self.runtimes.len()];
        let mut failed: Vec<Option<String>> = vec![None; self.runtimes.len()];
        let mut started = vec![];
        for (i, (name, program)) in self.runtimes.iter().enumerate() {
            let id = format!("lcb-exec-{name}");
            // The container's stdio is create's: a file, never a pipe we would wait on.
            let log = self.dir.path().join(format!("create-{name}.log"));
            let mut create = self.cmd(name, program, &["create", "--bundle", &bundle, &id]);
            create.stderr(std::fs::File::create(&log).unwrap());
            let created = Self::time(create)
                .map_err(|e| format!("{e}{}", std::fs::read_to_string(&log).unwrap_or_default().trim()))
                .and_then(|_| Self::time(self.cmd(name, program, &["start", &id])));
            match created {
                Ok(_) => started.push(i),
                Err(e) => failed[i] = Some(format!("create/start: {e}")),
            }
        }
        for round in 0..rounds + 2 {
            for &i in &started {
                let (name, program) = &self.runtimes[i];
                if failed[i].is_some() {
                    continue;
                }
                match Self::time(self.cmd(name, program, &["exec", &format!("lcb-exec-{name}"), "/bin/true"])) {
                    Ok(d) if round >= 2 => samples[i].push(d),
                    Ok(_) => {}
                    Err(e) => failed[i] = Some(e),
                }
            }
        }
        for &i in &started {
            let (name, program) = &self.runtimes[i];
            let id = format!("lcb-exec-{name}");
            let _ = self.cmd(name, program, &["kill", &id, "KILL"]).output();
            let _ = self.cmd(name, program, &["delete", "--force", &id]).output();
        }
        println!("\n`RUNTIME exec ID /bin/true` into a running container, {rounds} interleaved rounds:");
        let crun = (!samples[1].is_empty()).then(|| median(&samples[1]));
        for (i, (name, _)) in self.runtimes.iter().enumerate() {
            match &failed[i] {
                Some(e) => println!("  {name:<6} failed: {e}"),
                None => {
                    let m = median(&samples[i]);
                    let ratio =
                        crun.map_or(String::new(), |c| format!("   {:.2}x crun", m.as_secs_f64() / c.as_secs_f64()));
                    println!("  {name:<6} median {:>8}{ratio}", ms(m));
                }
            }
        }
    }

    fn peak_rss(&self) {
        let bundle = self.dir.path().join("true").display().to_string();
        let me = std::env::current_exe().unwrap();
        println!("\npeak RSS of `RUNTIME run ID` (ru_maxrss of the largest process it waited for, median of 5):");
        let mut kib = vec![];
        for (name, program) in &self.runtimes {
            let mut values = vec![];
            for n in 0..5 {
                let state = self.dir.path().join(format!("state-{name}"));
                let out = Command::new(&me)
                    .arg("--rss-of")
                    .arg(program)
                    .arg("--root")
                    .arg(&state)
                    .args(["run", "--bundle", &bundle, &format!("lcb-rss-{name}-{n}")])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                if out.status.success() {
                    values.push(String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().unwrap());
                }
            }
            values.sort();
            kib.push(values.get(values.len() / 2).copied());
        }
        for (i, (name, _)) in self.runtimes.iter().enumerate() {
            match (kib[i], kib[1]) {
                (Some(k), Some(c)) => println!("  {name:<6} {k:>7} KiB   {:.2}x crun", k as f64 / c as f64),
                (Some(k), None) => println!("  {name:<6} {k:>7} KiB"),
                (None, _) => println!("  {name:<6} failed"),
            }
        }
    }

    fn cleanup(&self) -> Vec<String> {
        for (name, program) in &self.runtimes {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join(format!("state-{name}"))) {
                for e in entries.flatten() {
                    let id = e.file_name().to_string_lossy().into_owned();
                    let _ = self.cmd(name, program, &["delete", "--force", &id]).output();
                }
            }
        }
        let d = self.dir.path().display().to_string();
        kill_processes_mentioning(&d);
        let mut left = remove_cgroup_tree(&self.cgroup);
        unmount_under(self.dir.path());
        left.extend(mounts_under(self.dir.path()));
        left.extend(processes_mentioning(&d));
        left
    }
}
