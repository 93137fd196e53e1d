//! Measuring what a group used over a window of wall time: the CPU share a quota allows, and
//! the throttling counters that moved meanwhile.

use crate::cgroup::{Cgroup, CpuStats};
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// CPU use of a group over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSample {
    pub wall: Duration,
    /// Counter deltas over the window.
    pub delta: CpuStats,
}

impl CpuSample {
    /// CPU time over wall time: 0.10 is 10% of one CPU.
    pub fn share(&self) -> f64 {
        self.delta.usage.as_secs_f64() / self.wall.as_secs_f64()
    }
}

fn cpu(group: &Cgroup) -> Result<CpuStats> {
    group.stats()?.cpu.ok_or(Error::Unsupported {
        what: "CPU accounting",
        version: "this",
        why: "the group has no cpu controller attached (v1: cpuacct not mounted)",
    })
}

/// Reads the counters, sleeps `window`, reads them again.
pub fn cpu_over(group: &Cgroup, window: Duration) -> Result<CpuSample> {
    let (before, t0) = (cpu(group)?, Instant::now());
    std::thread::sleep(window);
    let (after, wall) = (cpu(group)?, t0.elapsed());
    Ok(CpuSample {
        wall,
        delta: CpuStats {
            usage: after.usage.saturating_sub(before.usage),
            nr_periods: after.nr_periods.saturating_sub(before.nr_periods),
            nr_throttled: after.nr_throttled.saturating_sub(before.nr_throttled),
            throttled: after.throttled.saturating_sub(before.throttled),
        },
    })
}

/// `12.3%`.
pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}
