//! `labctl cgroup run`: a command in a fresh group `labctl/run-PID` under limits. The command
//! is placed in the group before it execs (so nothing it forks escapes), its stats are printed
//! when it ends, its exit status is passed on, and the group is always removed: on success, on
//! failure, on Ctrl-C/SIGTERM (the group is killed, the summary printed, exit 130/143), and by
//! `labctl clean` after a SIGKILL (the undo journal).

use crate::cgroup::{Cgroup, Controller, Stats, System};
use crate::parse::{self, CpuLimit};
use anyhow::Context;
use labkit::fact::human_bytes;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The limits of one run, validated before anything is created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub cpu: Option<CpuLimit>,
    pub cpu_weight: Option<u64>,
    pub memory: Option<u64>,
    pub memory_high: Option<u64>,
    pub pids: Option<u64>,
}

impl Limits {
    /// Parses the flags; each bad value is a specific error (see `parse`).
    pub fn parse(
        cpu: Option<&str>,
        cpu_weight: Option<&str>,
        memory: Option<&str>,
        memory_high: Option<&str>,
        pids: Option<&str>,
    ) -> crate::Result<Limits> {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(Limits {
            cpu: cpu.map(|c| parse::parse_cpu(c, cpus)).transpose()?,
            cpu_weight: cpu_weight.map(parse::parse_weight).transpose()?,
            memory: memory.map(|m| parse::parse_memory("--memory", m)).transpose()?,
            memory_high: memory_high.map(|m| parse::parse_memory("--memory-high", m)).transpose()?,
            pids: pids.map(parse::parse_pids).transpose()?,
        })
    }

    /// The controllers these limits need.
    pub fn required(&self) -> Vec<Controller> {
        let mut out = Vec::new();
        if self.cpu.is_some() || self.cpu_weight.is_some() {
            out.push(Controller::Cpu);
        }
        if self.memory.is_some() || self.memory_high.is_some() {
            out.push(Controller::Memory);
        }
        if self.pids.is_some() {
            out.push(Controller::Pids);
        }
        out
    }

    /// Writes the limits into the group's files.
    pub fn apply(&self, group: &Cgroup) -> crate::Result<()> {
        if let Some(cpu) = self.cpu {
            group.set_cpu_limit(cpu)?;
        }
        if let Some(weight) = self.cpu_weight {
            group.set_cpu_weight(weight)?;
        }
        if let Some(bytes) = self.memory {
            group.set_memory_max(Some(bytes))?;
            // No swap, so the limit is exact and the OOM kill deterministic.
            group.disable_swap()?;
        }
        if let Some(bytes) = self.memory_high {
            group.set_memory_high(Some(bytes))?;
        }
        if let Some(n) = self.pids {
            group.set_pids_max(Some(n))?;
        }
        Ok(())
    }
}

/// The command could not be started; `code` is the shell's convention (127 not found, 126 not
/// executable), which `labctl cgroup run` exits with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SpawnError {
    pub code: i32,
    pub message: String,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub group: String,
    pub version: &'static str,
    /// The exit code labctl passes on: the command's, or 128+signal.
    pub code: i32,
    pub status: String,
    pub stats: Stats,
    pub wall: Duration,
    /// SIGINT/SIGTERM received by labctl while the command ran.
    pub interrupted: Option<i32>,
}

/// Runs `argv` in a new group under `limits`; see the module doc.
pub fn run(limits: &Limits, argv: &[String]) -> anyhow::Result<Outcome> {
    let (program, args) = argv.split_first().context("no command given: labctl cgroup run [LIMITS] -- CMD [ARGS]")?;
    if !labkit::sys::is_root() {
        anyhow::bail!("needs root: creating cgroups under /sys/fs/cgroup is for root only; run with sudo");
    }
    let system = System::detect()?;
    let group = system.group(&format!("run-{}", std::process::id()))?;
    let optional = [Controller::Cpu, Controller::Memory, Controller::Pids, Controller::Freezer];
    let cleanup = labkit::Cleanup::journaled("cgroup-run").map_err(anyhow::Error::msg)?;
    // Only the group's directories are journaled (each journal write costs a rename): after a
    // SIGKILL, `labctl clean` finds them, and any empty labctl/ top, by scanning /sys/fs/cgroup.
    for path in group.dirs(&optional)? {
        cleanup.register(labkit::Undo::Cgroup { path });
    }
    let result = run_in(&system, &group, limits, &optional, program, args);
    // Always remove the group, whatever happened above.
    let removed = group.remove();
    // Undoing removed directories is a no-op; this mostly deletes the journal.
    let (_, failures) = cleanup.undo_all();
    let outcome = result?;
    removed.with_context(|| format!("removing {}", group.path_name()))?;
    if let Some(f) = failures.first() {
        anyhow::bail!("cleanup failed: {f}");
    }
    Ok(outcome)
}

fn run_in(
    system: &System,
    group: &Cgroup,
    limits: &Limits,
    optional: &[Controller],
    program: &str,
    args: &[String],
) -> anyhow::Result<Outcome> {
    group.create(&limits.required(), optional)?;
    limits.apply(group)?;
    let procs = group
        .procs_files()
        .iter()
        .map(|p| std::fs::OpenOptions::new().write(true).open(p).with_context(|| format!("open {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Ctrl-C / SIGTERM: kill the group (the command and all it forked); the wait below returns.
    let interrupted = AtomicI32::new(0);
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let handle = signals.handle();
    let start = Instant::now();
    let (status, stats) = std::thread::scope(|scope| -> anyhow::Result<_> {
        scope.spawn(|| {
            if let Some(signal) = signals.forever().next() {
                interrupted.store(signal, Ordering::SeqCst);
                let _ = group.driver().kill_all();
            }
        });
        let outcome = (|| -> anyhow::Result<_> {
            let mut child =
                labkit::sys::spawn_in_cgroups(Command::new(program).args(args), procs).map_err(|e| match e.kind() {
                    ErrorKind::NotFound => {
                        anyhow::Error::new(SpawnError { code: 127, message: format!("command not found: {program}") })
                    }
                    ErrorKind::PermissionDenied => anyhow::Error::new(SpawnError {
                        code: 126,
                        message: format!("{program}: permission denied (not an executable file?)"),
                    }),
                    _ => anyhow::Error::new(e).context(format!("starting {program} in {}", group.path_name())),
                })?;
            let status = match child.wait() {
                // The signal thread's kill of the group reaps what it kills (so the group can
                // empty), our child included: it died by that SIGKILL.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) && interrupted.load(Ordering::SeqCst) != 0 => {
                    std::process::ExitStatus::from_raw(libc::SIGKILL)
                }
                other => other?,
            };
            // Stats before removal: the counters die with the group.
            Ok((status, group.stats()?))
        })();
        handle.close();
        outcome
    })?;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let described = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!(
            "killed by {}",
            nix::sys::signal::Signal::try_from(s).map(|s| s.as_str().to_string()).unwrap_or_else(|_| s.to_string())
        ),
        _ => "ended".into(),
    };
    let interrupted = Some(interrupted.load(Ordering::SeqCst)).filter(|s| *s != 0);
    Ok(Outcome {
        group: group.path_name(),
        version: system.version().name(),
        code: interrupted.map_or(code, |s| 128 + s),
        status: described,
        stats,
        wall: start.elapsed(),
        interrupted,
    })
}

/// The short summary printed when the command ends.
pub fn summary(o: &Outcome) -> String {
    let mut parts = vec![format!("{} (cgroup {})", o.group, o.version), o.status.clone()];
    if let Some(s) = o.interrupted {
        parts.push(format!("interrupted by {}", if s == libc::SIGINT { "SIGINT" } else { "SIGTERM" }));
    }
    parts.push(format!("wall {:.2} s", o.wall.as_secs_f64()));
    parts.extend(stats_lines(&o.stats).into_iter().map(|(k, v)| format!("{k} {v}")));
    format!("labctl cgroup: {}", parts.join(" · "))
}

/// One line per controller: cpu, memory, pids.
pub fn stats_lines(stats: &Stats) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(cpu) = &stats.cpu {
        let mut s = format!("{:.3} s", cpu.usage.as_secs_f64());
        if cpu.nr_periods > 0 {
            s.push_str(&format!(
                ", throttled in {} of {} periods ({:.3} s)",
                cpu.nr_throttled,
                cpu.nr_periods,
                cpu.throttled.as_secs_f64()
            ));
        }
        out.push(("cpu", s));
    }
    if let Some(m) = &stats.memory {
        let mut s = format!("now {}", human_bytes(m.usage));
        if let Some(p) = m.peak {
            s.push_str(&format!(", peak {}", human_bytes(p)));
        }
        s.push_str(&match m.limit {
            Some(l) => format!(", limit {}", human_bytes(l)),
            None => ", no limit".into(),
        });
        if let Some(k) = m.oom_kill {
            s.push_str(&format!(", oom kills {k}"));
        }
        out.push(("memory", s));
    }
    if let Some(p) = &stats.pids {
        let limit = p.limit.map_or("max".to_string(), |l| l.to_string());
        let mut s = format!("{} of {limit}", p.current);
        if let Some(e) = p.events_max.filter(|e| *e > 0) {
            s.push_str(&format!(", {e} forks refused"));
        }
        out.push(("pids", s));
    }
    out
}
