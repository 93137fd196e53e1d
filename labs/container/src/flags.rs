//! Flag values as docker reads them: sizes (`512m`, `1g`), CPUs (`1.5`), env files, names.

use crate::error::{Error, Result};

/// docker's `RAMInBytes`: a number with an optional b/k/m/g/t/p suffix (powers of 1024).
pub fn parse_size(flag: &str, text: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "{flag} {text:?}: not a size; give a number with an optional unit: b, k, m, g (e.g. 512m, 1g)"
        ))
    };
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').filter(|s| s.ends_with(|c: char| c.is_ascii_alphabetic())).unwrap_or(&lower);
    let split = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if number < 0.0 {
        return Err(bad());
    }
    Ok((number * scale) as i64)
}

/// `--memory`: at least 6 MiB, as docker requires (less cannot even start a shell).
pub fn parse_memory(text: &str) -> Result<i64> {
    let bytes = parse_size("--memory", text)?;
    if bytes < 6 << 20 {
        return Err(Error::Usage(format!(
            "--memory {text:?}: the minimum memory limit is 6m (6 MiB); give a larger value, e.g. --memory 64m"
        )));
    }
    Ok(bytes)
}

/// `--memory-swap`: memory plus swap in bytes, -1 for unlimited swap.
pub fn parse_memory_swap(text: &str, memory: i64) -> Result<i64> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    let bytes = parse_size("--memory-swap", text)?;
    if memory == 0 {
        return Err(Error::Usage("--memory-swap needs --memory too (it is memory plus swap)".into()));
    }
    if bytes < memory {
        return Err(Error::Usage(format!(
            "--memory-swap {text:?} is smaller than --memory: it is memory plus swap, so give at least the memory limit"
        )));
    }
    Ok(bytes)
}

/// `--cpus`: more than 0 and at most the CPUs this machine has; returns nano-CPUs.
pub fn parse_cpus(text: &str) -> Result<i64> {
    let online = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| Error::Usage(format!("--cpus {text:?}: not a number; give CPUs as a decimal, e.g. --cpus 0.5")))?;
    if value.is_nan() || value <= 0.0 || !value.is_finite() {
        return Err(Error::Usage(format!(
            "--cpus {text}: must be more than 0 (e.g. 0.5 for half a CPU; leave --cpus out for no limit)"
        )));
    }
    if value > online as f64 {
        return Err(Error::Usage(format!(
            "--cpus {text}: this machine has only {online} CPUs; give a value from 0.01 to {online}"
        )));
    }
    let nano = (value * 1e9).round() as i64;
    if nano < 10_000_000 {
        return Err(Error::Usage(format!("--cpus {text}: the smallest limit is 0.01")));
    }
    Ok(nano)
}

/// `--cpu-shares`: the relative CPU weight (1024 is everyone's default; 0 leaves it so).
pub fn check_cpu_shares(shares: i64) -> Result<i64> {
    if shares != 0 && !(2..=262_144).contains(&shares) {
        return Err(Error::Usage(format!(
            "--cpu-shares {shares}: the kernel takes 2 to 262144 (1024 is the default weight; 512 is half of it)"
        )));
    }
    Ok(shares)
}

/// `--cpuset-cpus`: a list like `0-1,3`, every CPU one this machine has.
pub fn parse_cpuset(text: &str) -> Result<String> {
    let online = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let bad = |why: String| Error::Usage(format!("--cpuset-cpus {text:?}: {why}"));
    let mut highest = 0usize;
    for part in text.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let parse = |n: &str| {
            n.trim().parse::<usize>().map_err(|_| bad("give CPU numbers and ranges, e.g. 0 or 0-1 or 0,2".into()))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(bad(format!("the range {part} runs backwards; write it low-high")));
        }
        highest = highest.max(b);
    }
    if highest >= online {
        let available = if online == 1 { "0".to_string() } else { format!("0-{}", online - 1) };
        return Err(bad(format!("requested CPUs are not available: this machine has {available}")));
    }
    Ok(text.to_string())
}

/// `--blkio-weight`: 10 to 1000 (0 leaves the default), docker's range.
pub fn check_blkio_weight(weight: u16) -> Result<u16> {
    if weight != 0 && !(10..=1000).contains(&weight) {
        return Err(Error::Usage(format!("--blkio-weight {weight}: give 10 to 1000 (500 is the default)")));
    }
    Ok(weight)
}

/// Whether the kernel can weigh a container's block I/O: v1's `blkio.weight`, or on v2 the io
/// controller with BFQ scheduling a disk (what `io.bfq.weight` needs).
pub fn blkio_weight_supported() -> bool {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers");
    if v2.exists() {
        let io = std::fs::read_to_string(v2).is_ok_and(|c| c.split_whitespace().any(|w| w == "io"));
        let bfq = std::fs::read_dir("/sys/block")
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| std::fs::read_to_string(d.path().join("queue/scheduler")).is_ok_and(|s| s.contains("[bfq]")));
        io && bfq
    } else {
        std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
    }
}

/// `--env-file`: KEY=VALUE lines; `#` comments and blank lines skipped; a bare KEY takes the
/// value from our environment (and is left out when we have none), as docker does.
pub fn read_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::io(format!("--env-file {}: cannot read it (give the path of a KEY=VALUE file)", path.display()), e)
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some(("", _)) => {
                return Err(Error::Usage(format!(
                    "--env-file {} line {}: {line:?} has no variable name before '='",
                    path.display(),
                    n + 1
                )))
            }
            Some(_) => out.push(line.to_string()),
            None => {
                if let Ok(v) = std::env::var(line.trim_end()) {
                    out.push(format!("{}={v}", line.trim_end()));
                }
            }
        }
    }
    Ok(out)
}

/// `-e KEY=VALUE`, or `-e KEY` for our own value (left out when unset).
pub fn env_flag(pair: &str) -> Result<Option<String>> {
    match pair.split_once('=') {
        Some(("", _)) => Err(Error::Usage(format!("-e {pair:?}: no variable name before '='"))),
        Some(_) => Ok(Some(pair.to_string())),
        None => Ok(std::env::var(pair).ok().map(|v| format!("{pair}={v}"))),
    }
}

/// `base` with `over` applied: a later KEY replaces an earlier one in place.
pub fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let mut out: Vec<String> = base.to_vec();
    for pair in over {
        match out.iter().position(|e| key(e) == key(pair)) {
            Some(i) => out[i] = pair.clone(),
            None => out.push(pair.clone()),
        }
    }
    out
}

/// docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid container name {name:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two or more letters, digits, _ . -, starting with a letter or digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_dockers_units() {
        assert_eq!(parse_size("-m", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("-m", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("-m", "100").unwrap(), 100);
        assert_eq!(parse_size("-m", "1.5k").unwrap(), 1536);
        assert!(parse_size("-m", "abc").is_err());
        assert!(parse_size("-m", "10x").is_err());
    }

    #[test]
    fn memory_below_6m_is_refused() {
        let err = parse_memory("1k").unwrap_err().to_string();
        assert!(err.contains("minimum memory limit is 6m"), "{err}");
        assert_eq!(parse_memory("6m").unwrap(), 6 << 20);
    }

    #[test]
    fn cpus_must_be_positive_and_at_most_the_machines() {
        for bad in ["0", "-1", "abc", "100000"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
    }

    #[test]
    fn later_variables_replace_earlier_ones() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        assert_eq!(merge_env(&base, &["A=2".into(), "B=3".into()]), ["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn names_follow_dockers_rule() {
        check_name("web-1.a_b").unwrap();
        for bad in ["", "a", "-x", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
