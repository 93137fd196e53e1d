//! `/proc/PID/stat` (proc(5)), parsed once: the fields labctl reads about a process.

use std::io;
use std::time::{Duration, Instant};

/// What /proc/PID/stat says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, the command name without its parentheses (it may hold spaces and `)`).
    pub comm: String,
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    /// Field 4, the parent's pid.
    pub ppid: i32,
    /// Field 9, the kernel's PF_* flags.
    pub flags: u64,
    /// Field 22, clock ticks since boot: with the pid it names one process for good.
    pub start_time: u64,
}

impl Stat {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// Parses a stat line. The command may contain spaces and parentheses: the fields restart
/// after the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        comm: text.get(open + 1..close)?.to_string(),
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        flags: fields.get(6)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Reads `/proc/PID/stat`; `NotFound` when there is no such process.
pub fn stat(pid: i32) -> io::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat: unexpected format")))
}

/// True while `pid` is a process that has not exited (a zombie has).
pub fn alive(pid: i32) -> bool {
    stat(pid).is_ok_and(|s| !s.is_zombie())
}

/// The processes whose parent is `pid` and that have not exited (zombies left out), found by
/// scanning /proc (children started by any thread of `pid` count: the parent is the process).
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| stat(*child).is_ok_and(|s| s.ppid == pid && !s.is_zombie()))
        .collect();
    out.sort_unstable();
    out
}

/// Polls `done` every 2 ms until it holds or `limit` passes; true if it held (the kernel
/// finishes some work asynchronously: reaping, cgroup moves, freezing).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits (up to a second) until `pid` runs `comm`, i.e. has exec'd, so its /proc entries are
/// final; true if it did.
pub fn wait_for_exec(pid: i32, comm: &str) -> bool {
    wait_until(Duration::from_secs(1), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_with_spaces_and_parentheses_is_read_whole() {
        let line =
            "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.comm.as_str(), s.state, s.ppid, s.flags, s.start_time), ("a b) c", 'S', 1, 4194560, 98765));
    }

    #[test]
    fn our_own_stat_says_we_run() {
        let s = stat(std::process::id() as i32).unwrap();
        assert!(!s.is_zombie() && s.start_time > 0, "{s:?}");
        assert!(alive(std::process::id() as i32));
    }

    #[test]
    fn a_running_child_is_listed_and_a_reaped_one_is_not() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(children(std::process::id() as i32).contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children(std::process::id() as i32).contains(&pid));
    }

    #[test]
    fn wait_until_gives_up_after_the_limit() {
        let start = Instant::now();
        assert!(!wait_until(Duration::from_millis(20), || false));
        assert!(start.elapsed() >= Duration::from_millis(20));
        let mut calls = 0;
        assert!(wait_until(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
    }

    #[test]
    fn a_truncated_line_is_not_a_stat() {
        assert_eq!(parse_stat("1 (init) S 0"), None);
    }
}
