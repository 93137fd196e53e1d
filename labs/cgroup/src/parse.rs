//! Pure parsers and formatters: command-line sizes and CPU shares, and the cgroup file formats
//! (`cpu.max`, flat-keyed files such as `cpu.stat` and `memory.events`, "max"-or-number files).
//! No I/O here, so every format is unit-tested.

use crate::error::{Error, Result};

/// The default CFS period, 100 ms, as in `cpu.cfs_period_us` and `cpu.max`.
pub const DEFAULT_PERIOD_US: u64 = 100_000;
/// The kernel refuses quotas below 1 ms (`cpu.cfs_quota_us` < 1000 is EINVAL).
pub const MIN_QUOTA_US: u64 = 1_000;
/// The smallest `--memory` accepted: 6 MiB, docker's floor. The kernel itself takes any value,
/// but below this even a shell is OOM-killed at start, which teaches nothing.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// A CFS bandwidth limit: `quota_us` of CPU time per `period_us` of wall time (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLimit {
    pub quota_us: Option<u64>,
    pub period_us: u64,
}

impl CpuLimit {
    pub const UNLIMITED: CpuLimit = CpuLimit { quota_us: None, period_us: DEFAULT_PERIOD_US };

    /// A limit of `cpus` CPUs (0.1 = 10% of one CPU) over the default period.
    pub fn from_cpus(cpus: f64) -> CpuLimit {
        CpuLimit { quota_us: Some((cpus * DEFAULT_PERIOD_US as f64).round() as u64), period_us: DEFAULT_PERIOD_US }
    }

    /// The limit in CPUs (None: unlimited).
    pub fn cpus(&self) -> Option<f64> {
        self.quota_us.map(|q| q as f64 / self.period_us as f64)
    }

    /// The v2 `cpu.max` line: `10000 100000` or `max 100000`.
    pub fn to_cpu_max(&self) -> String {
        match self.quota_us {
            Some(q) => format!("{q} {}", self.period_us),
            None => format!("max {}", self.period_us),
        }
    }

    /// Parses `cpu.max`: `$MAX $PERIOD` where `$MAX` is a number or `max` (the period may be
    /// left out when writing, never when the kernel reads it back).
    pub fn from_cpu_max(text: &str) -> Result<CpuLimit, String> {
        let mut parts = text.split_whitespace();
        let quota = parts.next().ok_or("empty")?;
        let period = parts.next().ok_or("no period: expected \"QUOTA PERIOD\"")?;
        if parts.next().is_some() {
            return Err("more than two fields: expected \"QUOTA PERIOD\"".into());
        }
        let quota_us = match quota {
            "max" => None,
            n => Some(n.parse::<u64>().map_err(|_| format!("quota {n:?} is neither a number nor \"max\""))?),
        };
        let period_us = period.parse::<u64>().map_err(|_| format!("period {period:?} is not a number"))?;
        Ok(CpuLimit { quota_us, period_us })
    }

    /// Parses the v1 pair `cpu.cfs_quota_us` (-1 = unlimited) and `cpu.cfs_period_us`.
    pub fn from_v1(quota: &str, period: &str) -> Result<CpuLimit, String> {
        let quota: i64 = quota.trim().parse().map_err(|_| format!("quota {quota:?} is not a number"))?;
        let period_us = period.trim().parse().map_err(|_| format!("period {period:?} is not a number"))?;
        Ok(CpuLimit { quota_us: (quota >= 0).then_some(quota as u64), period_us })
    }
}

/// Parses `--cpu`: a number of CPUs (`0.1`, `1.5`) or a percentage of one CPU (`10%`).
/// `cpus_present` is the machine's CPU count (a larger limit could never be used up).
pub fn parse_cpu(text: &str, cpus_present: usize) -> Result<CpuLimit> {
    let bad = |why: String| Error::BadValue(format!("--cpu {text}: {why}"));
    let trimmed = text.trim();
    let (number, scale) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim(), 0.01),
        None => (trimmed, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| bad("expected a number of CPUs (0.1, 1.5) or a percentage of one CPU (10%, 150%)".into()))?;
    if !value.is_finite() {
        return Err(bad("not a finite number".into()));
    }
    let cpus = value * scale;
    if cpus < 0.0 {
        return Err(bad("a CPU limit cannot be negative".into()));
    }
    if cpus == 0.0 {
        return Err(bad("a limit of 0 would never let the command run; give a share such as 0.1 or 10%".into()));
    }
    if cpus > cpus_present as f64 {
        return Err(bad(format!(
            "this machine has {cpus_present} CPU(s), so the most a group can use is --cpu {cpus_present} ({}%)",
            cpus_present * 100
        )));
    }
    let limit = CpuLimit::from_cpus(cpus);
    if limit.quota_us.unwrap_or(0) < MIN_QUOTA_US {
        return Err(bad(format!(
            "below the kernel's minimum quota of {MIN_QUOTA_US} µs per {DEFAULT_PERIOD_US} µs period (1%)"
        )));
    }
    Ok(limit)
}

/// Parses `--cpu-weight`: 1..=10000 on the cgroup v2 scale (default 100; v1 `cpu.shares` is
/// derived as weight × 1024 / 100).
pub fn parse_weight(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(w) if (1..=10_000).contains(&w) => Ok(w),
        _ => Err(Error::BadValue(format!(
            "--cpu-weight {text}: expected a whole number from 1 to 10000 (the default weight is 100)"
        ))),
    }
}

/// cgroup v2 `cpu.weight` (1..10000, default 100) → v1 `cpu.shares` (2..262144, default 1024).
pub fn weight_to_shares(weight: u64) -> u64 {
    (weight * 1024 / 100).clamp(2, 262_144)
}

/// v1 `cpu.shares` → v2 `cpu.weight`.
pub fn shares_to_weight(shares: u64) -> u64 {
    (shares * 100 / 1024).clamp(1, 10_000)
}

/// Parses a size. Accepted forms (units are powers of 1024, as in docker and in the kernel's
/// own `memparse`): a byte count `67108864`; a number with a unit `64K`, `64M`, `64G`, `1T`;
/// the same with `B` or `iB`: `64MB`, `64MiB`. Upper or lower case. No fractions, no spaces.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty size".into());
    }
    if t.starts_with('-') {
        return Err("a size cannot be negative".into());
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!("{t:?} does not start with a number (sizes look like 64M, 64MiB or 67108864)"));
    }
    let (number, unit) = t.split_at(digits);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?}: use K, M, G or T (powers of 1024, optionally with B or iB), e.g. 64M, 64MiB or 67108864"
            ))
        }
    };
    let n: u64 = number.parse().map_err(|_| format!("{number:?} is too large"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("{t} is too large"))
}

/// Parses `--memory` / `--memory-high`: a size (see [`parse_size`]) of at least [`MIN_MEMORY`].
pub fn parse_memory(flag: &str, text: &str) -> Result<u64> {
    let bytes = parse_size(text).map_err(|e| Error::BadValue(format!("{flag} {text}: {e}")))?;
    if bytes == 0 {
        return Err(Error::BadValue(format!(
            "{flag} 0: a memory limit of 0 kills the command at once; leave {flag} out for no limit"
        )));
    }
    if bytes < MIN_MEMORY {
        return Err(Error::BadValue(format!(
            "{flag} {text}: below the minimum of 6 MiB (docker's floor: under it a process is OOM-killed while it starts); \
             use e.g. {flag} 64M"
        )));
    }
    Ok(bytes)
}

/// Parses `--pids`: at least 1 (the command itself).
pub fn parse_pids(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err(Error::BadValue("--pids 0: the command itself is a process; give at least 1".into())),
        Err(_) => Err(Error::BadValue(format!("--pids {text}: expected a whole number of processes, e.g. --pids 64"))),
    }
}

/// Parses a file holding a number or `max` (memory.max, pids.max, memory.swap.max): `None` = max.
pub fn parse_max(text: &str) -> Result<Option<u64>, String> {
    match text.trim() {
        "max" => Ok(None),
        n => n.parse().map(Some).map_err(|_| format!("{n:?} is neither a number nor \"max\"")),
    }
}

/// Formats a number-or-max value for writing.
pub fn format_max(value: Option<u64>) -> String {
    value.map_or_else(|| "max".to_string(), |v| v.to_string())
}

/// Parses a flat-keyed file (`cpu.stat`, `memory.events`, `memory.stat`, v1 `memory.oom_control`):
/// one `key value` per line. Lines that do not fit are skipped.
pub fn parse_keyed(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?;
            let value = parts.next()?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// One value of a flat-keyed file.
pub fn keyed(entries: &[(String, u64)], key: &str) -> Option<u64> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// v1 stores "unlimited" as a huge number (PAGE_COUNTER_MAX × page size, rounded); treat any
/// value from 2^62 up as no limit.
pub fn v1_limit(bytes: u64) -> Option<u64> {
    (bytes < 1 << 62).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_round_trips_both_forms() {
        assert_eq!(CpuLimit::from_cpu_max("max 100000\n").unwrap(), CpuLimit::UNLIMITED);
        let ten = CpuLimit::from_cpu_max("10000 100000").unwrap();
        assert_eq!(ten, CpuLimit { quota_us: Some(10_000), period_us: 100_000 });
        assert_eq!(ten.to_cpu_max(), "10000 100000");
        assert_eq!(CpuLimit::UNLIMITED.to_cpu_max(), "max 100000");
    }

    #[test]
    fn cpu_max_rejects_a_go_format_error_written_into_it() {
        // What a Go program writes when it formats a string with %d: not a quota.
        let err = CpuLimit::from_cpu_max("%!d(string=10000) 100000").unwrap_err();
        assert!(err.contains("neither a number nor \"max\""), "{err}");
        assert!(CpuLimit::from_cpu_max("10000").unwrap_err().contains("no period"));
        assert!(CpuLimit::from_cpu_max("1 2 3").is_err());
    }

    #[test]
    fn v1_quota_minus_one_is_unlimited() {
        assert_eq!(CpuLimit::from_v1("-1\n", "100000\n").unwrap(), CpuLimit::UNLIMITED);
        assert_eq!(CpuLimit::from_v1("10000", "100000").unwrap().cpus(), Some(0.1));
    }

    #[test]
    fn cpu_accepts_fractions_and_percentages() {
        assert_eq!(parse_cpu("0.1", 2).unwrap().quota_us, Some(10_000));
        assert_eq!(parse_cpu("10%", 2).unwrap().quota_us, Some(10_000));
        assert_eq!(parse_cpu("150%", 2).unwrap().quota_us, Some(150_000));
        assert_eq!(parse_cpu("2", 2).unwrap().quota_us, Some(200_000));
    }

    #[test]
    fn cpu_bad_inputs_say_why() {
        let msg = |s: &str| parse_cpu(s, 2).unwrap_err().to_string();
        assert!(msg("0").contains("never let the command run"), "{}", msg("0"));
        assert!(msg("0%").contains("never let the command run"));
        assert!(msg("-0.5").contains("cannot be negative"));
        assert!(msg("3").contains("this machine has 2 CPU(s)"), "{}", msg("3"));
        assert!(msg("abc").contains("expected a number of CPUs"));
        assert!(msg("0.001").contains("minimum quota"));
        assert!(msg("NaN").contains("finite"));
    }

    #[test]
    fn weights_convert_between_worlds() {
        assert_eq!(weight_to_shares(100), 1024);
        assert_eq!(weight_to_shares(400), 4096);
        assert_eq!(shares_to_weight(1024), 100);
        assert!(parse_weight("0").is_err());
        assert!(parse_weight("10001").is_err());
        assert_eq!(parse_weight("400").unwrap(), 400);
    }

    #[test]
    fn sizes_accept_the_documented_forms() {
        for form in ["64M", "64m", "64MB", "64MiB", "64mib", "67108864", "65536K", "65536KiB"] {
            assert_eq!(parse_size(form).unwrap(), 64 << 20, "{form}");
        }
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096B").unwrap(), 4096);
    }

    #[test]
    fn sizes_reject_the_rest_by_name() {
        assert!(parse_size("").unwrap_err().contains("empty"));
        assert!(parse_size("-64M").unwrap_err().contains("negative"));
        assert!(parse_size("64X").unwrap_err().contains("unknown unit \"x\""));
        assert!(parse_size("1.5G").unwrap_err().contains("unknown unit"));
        assert!(parse_size("M").unwrap_err().contains("does not start with a number"));
        assert!(parse_size("99999999999T").unwrap_err().contains("too large"));
    }

    #[test]
    fn memory_limits_have_a_floor() {
        assert_eq!(parse_memory("--memory", "64M").unwrap(), 64 << 20);
        let zero = parse_memory("--memory", "0").unwrap_err().to_string();
        assert!(zero.contains("kills the command at once"), "{zero}");
        let tiny = parse_memory("--memory", "1M").unwrap_err().to_string();
        assert!(tiny.contains("below the minimum of 6 MiB"), "{tiny}");
        assert!(parse_memory("--memory", "lots").unwrap_err().to_string().starts_with("--memory lots:"));
    }

    #[test]
    fn pids_need_at_least_the_command() {
        assert_eq!(parse_pids("16").unwrap(), 16);
        assert!(parse_pids("0").unwrap_err().to_string().contains("at least 1"));
        assert!(parse_pids("x").is_err());
    }

    #[test]
    fn keyed_files_parse_cpu_stat_and_memory_events() {
        let cpu = parse_keyed(
            "usage_usec 54536000\nuser_usec 22876000\nsystem_usec 31660000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
        );
        assert_eq!(keyed(&cpu, "usage_usec"), Some(54_536_000));
        assert_eq!(keyed(&cpu, "throttled_usec"), Some(0));
        let events = parse_keyed("low 0\nhigh 12\nmax 30\noom 1\noom_kill 1\noom_group_kill 0\n");
        assert_eq!(keyed(&events, "oom_kill"), Some(1));
        assert_eq!(keyed(&events, "high"), Some(12));
        assert_eq!(keyed(&events, "nope"), None);
    }

    #[test]
    fn max_files_parse() {
        assert_eq!(parse_max("max\n").unwrap(), None);
        assert_eq!(parse_max("67108864\n").unwrap(), Some(64 << 20));
        assert!(parse_max("sixty").is_err());
        assert_eq!(format_max(None), "max");
        assert_eq!(v1_limit(9223372036854771712), None);
        assert_eq!(v1_limit(64 << 20), Some(64 << 20));
    }
}
