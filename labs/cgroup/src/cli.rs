//! `labctl cgroup ...` (and the `labcgroup` binary): run, ls, stats.

use crate::cgroup::System;
use crate::run::{self, Limits};

/// `labctl cgroup ...`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new cgroup (labctl/run-PID) under limits; print its usage at exit
    ///
    /// Sizes accept 67108864, 64K/64M/64G/1T, and the same with B or iB (64MB, 64MiB); units are
    /// powers of 1024, as in docker. Swap is turned off when --memory is set, so the limit is exact.
    Run(RunArgs),
    /// List the groups under labctl/ with their processes and limits
    Ls,
    /// Show the usage counters and limits of labctl/NAME
    Stats {
        /// The group's name below labctl/ (e.g. run-1234)
        name: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// CPU limit: CPUs (0.1, 1.5) or percent of one CPU (10%); at most the CPUs present
    #[arg(long, value_name = "CPUS", allow_hyphen_values = true)]
    pub cpu: Option<String>,
    /// CPU weight against sibling groups, 1..10000 (default 100; v1 cpu.shares = weight × 10.24)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpu_weight: Option<String>,
    /// Memory limit (memory.max / memory.limit_in_bytes), at least 6M; swap is turned off
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Throttle above this much memory (memory.high; cgroup v2 only)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_high: Option<String>,
    /// Most processes and threads the command may have (pids.max)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids: Option<String>,
    /// The command and its arguments (after --)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Run(args) => {
            let limits = Limits::parse(
                args.cpu.as_deref(),
                args.cpu_weight.as_deref(),
                args.memory.as_deref(),
                args.memory_high.as_deref(),
                args.pids.as_deref(),
            )?;
            let outcome = match run::run(&limits, &args.command) {
                Ok(o) => o,
                Err(e) => match e.downcast_ref::<run::SpawnError>() {
                    Some(spawn) => {
                        eprintln!("labctl cgroup: {spawn}");
                        return Ok(spawn.code);
                    }
                    None => return Err(e),
                },
            };
            eprintln!("{}", run::summary(&outcome));
            Ok(outcome.code)
        }
        Command::Ls => {
            let system = System::detect()?;
            println!("cgroup {} · layout {}", system.version().name(), system.layout().name());
            let names = system.list();
            if names.is_empty() {
                println!("no groups under labctl/");
            }
            for name in names {
                let group = system.group(&name)?;
                let procs = group.procs().map(|p| p.len()).unwrap_or(0);
                let cpu = group.cpu_limit().ok().and_then(|l| l.cpus()).map_or("-".into(), crate::measure::percent);
                let mem = group
                    .stats()
                    .ok()
                    .and_then(|s| s.memory)
                    .and_then(|m| m.limit)
                    .map_or("-".into(), labkit::fact::human_bytes);
                println!("{:<24} procs {procs:<4} cpu {cpu:<8} memory {mem}", group.path_name());
            }
            Ok(0)
        }
        Command::Stats { name } => {
            let system = System::detect()?;
            let group = system.group(&name)?;
            group.must_exist()?;
            let stats = group.stats()?;
            println!("{} (cgroup {})", group.path_name(), system.version().name());
            println!("  procs   {:?}", group.procs()?);
            if let Ok(limit) = group.cpu_limit() {
                println!("  cpu.max {}", limit.to_cpu_max());
            }
            for (k, v) in run::stats_lines(&stats) {
                println!("  {k:<7} {v}");
            }
            Ok(0)
        }
    }
}
