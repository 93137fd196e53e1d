//! `top`, `stats --no-stream`, `diff`, `pause`, `unpause`: what the kernel knows of a
//! container — its cgroup's processes and counters, its overlay's upper dir, the freezer.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::Record;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct One {
    /// The container, by name or id
    pub container: String,
}

#[derive(clap::Args, Debug)]
pub struct Many {
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Print one sample and exit (the only mode here)
    #[arg(long)]
    pub no_stream: bool,
    /// Containers (default: every running one)
    pub containers: Vec<String>,
}

fn running(engine: &Engine, record: &Record, what: &str) -> Result<()> {
    if matches!(engine.live(record), Live::Running | Live::Paused) {
        return Ok(());
    }
    let name = record.bare_name();
    Err(Error::state(name, format!("is not running, so {what}: start it first (`labctl container start {name}`)")))
}

fn cgroup(record: &Record) -> Result<labruntime::cgroups::ContainerCgroup> {
    Ok(labruntime::cgroups::ContainerCgroup::open(&crate::spec::cgroup_path(&record.id))?)
}

/// `top`: the processes of the container's cgroup, as `ps -ef` columns.
pub fn top(engine: &Engine, args: One) -> Result<i32> {
    let record = engine.find(&args.container)?;
    running(engine, &record, "it has no processes to list")?;
    println!("{:<8} {:<8} {:<8} CMD", "UID", "PID", "PPID");
    let mut pids = cgroup(&record)?.pids()?;
    pids.sort();
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("?")
                .to_string()
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> =
            cmd.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        println!("{:<8} {:<8} {:<8} {}", field("Uid:"), pid, field("PPid:"), cmd.join(" "));
    }
    Ok(0)
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// `stats --no-stream`: CPU % over a short sample, memory and pids from the cgroup.
pub fn stats(engine: &Engine, args: StatsArgs) -> Result<i32> {
    let records: Vec<Record> = if args.containers.is_empty() {
        engine.records().into_iter().filter(|r| matches!(engine.live(r), Live::Running | Live::Paused)).collect()
    } else {
        let mut out = Vec::new();
        for c in &args.containers {
            let r = engine.find(c)?;
            running(engine, &r, "it has no cgroup to read")?;
            out.push(r);
        }
        out
    };
    let sample = Duration::from_millis(500);
    let before: Vec<Option<Duration>> = records
        .iter()
        .map(|r| cgroup(r).ok().and_then(|c| c.stats().ok()).and_then(|s| s.cpu).map(|c| c.usage))
        .collect();
    std::thread::sleep(sample);
    println!("{:<14}{:<20}{:<9}{:<22}{:<9}PIDS", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %");
    let total: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|v| v.trim().to_string()))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    for (r, before) in records.iter().zip(before) {
        let s = cgroup(r)?.stats()?;
        let cpu = match (before, s.cpu.as_ref().map(|c| c.usage)) {
            (Some(a), Some(b)) => format!("{:.2}%", (b.saturating_sub(a)).as_secs_f64() / sample.as_secs_f64() * 100.0),
            _ => "--".into(),
        };
        let (usage, limit) = s.memory.as_ref().map(|m| (m.usage, m.limit.unwrap_or(total))).unwrap_or((0, total));
        let mem_pct = if limit > 0 { usage as f64 / limit as f64 * 100.0 } else { 0.0 };
        println!(
            "{:<14}{:<20}{:<9}{:<22}{:<9}{}",
            r.short_id(),
            r.bare_name(),
            cpu,
            format!("{} / {}", human_bytes(usage), human_bytes(limit)),
            format!("{mem_pct:.2}%"),
            s.pids.map(|p| p.current.to_string()).unwrap_or_else(|| "--".into())
        );
    }
    Ok(0)
}

/// `diff`: laboverlay's reading of the upper dir (A added, C changed, D deleted).
pub fn diff(engine: &Engine, args: One) -> Result<i32> {
    let record = engine.find(&args.container)?;
    let upper = engine.upper(&record.id);
    if !upper.is_dir() {
        return Ok(0);
    }
    for change in laboverlay::diff(&upper, &[&record.lower_dir])? {
        let letter = match change.kind.letter() {
            'O' => 'C',
            l => l,
        };
        println!("{letter} {}", std::path::Path::new("/").join(&change.path).display());
    }
    Ok(0)
}

/// `pause` (freeze) and `unpause` (thaw) through the runtime's freezer.
pub fn pause(engine: &Engine, args: Many, freeze: bool) -> Result<i32> {
    let root = engine.runtime();
    super::each(engine, &args.containers, |r| {
        let live = engine.live(r);
        let name = r.bare_name();
        match (freeze, live) {
            (true, Live::Running) | (false, Live::Paused) => Ok(labruntime::container::pause(&root, &r.id, freeze)?),
            (true, Live::Paused) => Err(Error::state(name, "is already paused (`labctl container unpause` thaws it)")),
            (false, Live::Running) => Err(Error::state(name, "is not paused")),
            _ => Err(Error::state(name, format!("is not running: start it first (`labctl container start {name}`)"))),
        }
    })
}
