//! docker's words for times and states: `Up 5 seconds`, `Exited (0) 2 minutes ago` (go-units'
//! HumanDuration), and a command shortened for `ps`.

use crate::engine::{Engine, Live};
use crate::record::Record;
use std::time::{Duration, SystemTime};

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

pub fn since(rfc3339: &str) -> Duration {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// `ps`'s STATUS column.
pub fn status(engine: &Engine, record: &Record) -> String {
    status_of(engine.live(record), record)
}

/// `status` for a state already read (`ps` reads each container's once).
pub fn status_of(live: Live, record: &Record) -> String {
    match live {
        Live::Created => "Created".into(),
        Live::Running => format!("Up {}", duration(since(&record.state.started_at))),
        Live::Paused => format!("Up {} (Paused)", duration(since(&record.state.started_at))),
        Live::Exited => {
            let code = if record.state.status == "running" && record.state.exit_code == 0 {
                137
            } else {
                record.state.exit_code
            };
            format!("Exited ({code}) {} ago", duration(since(&record.state.finished_at)))
        }
    }
}

/// `ps`'s COMMAND: the command line quoted, cut at 20 characters as docker cuts it.
pub fn command(record: &Record, truncate: bool) -> String {
    let mut line = record.path.clone();
    for a in &record.args {
        line.push(' ');
        line.push_str(a);
    }
    if truncate && line.chars().count() > 20 {
        line = line.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{line}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(duration(Duration::from_secs(7200)), "2 hours");
    }
}
