//! Values read from the kernel. Volatile ones carry their kind, so `--redact` hides them
//! structurally (`[pid]`, `[inode]`) instead of by pattern matching on rendered text.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// One value shown to the learner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Fact {
    /// Stable text: an interface name, a state, a file's stable content. Never redacted.
    Text(String),
    /// A number that is the lesson (PID 1 inside a pid namespace, a limit we set). Never redacted.
    Number(i64),
    Pid(i64),
    Inode(u64),
    Mac(String),
    #[serde(with = "duration_micros")]
    Duration(Duration),
    Bytes(u64),
    /// A path that contains a temporary directory or a run id.
    TempPath(String),
    /// A measurement that varies from run to run (a CPU share, a counter).
    Measured(String),
    /// A property of this machine (kernel version, hostname, CPU count).
    Host(String),
}

impl Fact {
    pub fn text(s: impl Into<String>) -> Fact {
        Fact::Text(s.into())
    }

    pub fn is_volatile(&self) -> bool {
        !matches!(self, Fact::Text(_) | Fact::Number(_))
    }

    /// The placeholder shown instead of a volatile value.
    pub fn redaction(&self) -> &'static str {
        match self {
            Fact::Text(_) | Fact::Number(_) => "",
            Fact::Pid(_) => "[pid]",
            Fact::Inode(_) => "[inode]",
            Fact::Mac(_) => "[mac]",
            Fact::Duration(_) => "[duration]",
            Fact::Bytes(_) => "[bytes]",
            Fact::TempPath(_) => "[path]",
            Fact::Measured(_) => "[measured]",
            Fact::Host(_) => "[host]",
        }
    }

    /// The value as shown: the real value, or its placeholder when redacting a volatile one.
    pub fn show(&self, redact: bool) -> String {
        if let (true, Fact::Mac(addr)) = (redact, self) {
            // An IPv6 link-local address keeps its shape: fe80::[mac]/64.
            if let Some((_, prefix)) = addr.strip_prefix("fe80::").and_then(|rest| rest.split_once('/')) {
                return format!("fe80::[mac]/{prefix}");
            }
        }
        if redact && self.is_volatile() {
            return self.redaction().to_string();
        }
        self.to_string()
    }

    /// Redacted copy, used by the JSON renderer so `--redact` holds for every format.
    pub fn redacted(&self) -> Fact {
        match self {
            Fact::Text(_) | Fact::Number(_) => self.clone(),
            Fact::Pid(_) => Fact::Pid(0),
            Fact::Inode(_) => Fact::Inode(0),
            Fact::Mac(_) => Fact::Mac(self.redaction().into()),
            Fact::Duration(_) => Fact::Duration(Duration::ZERO),
            Fact::Bytes(_) => Fact::Bytes(0),
            Fact::TempPath(_) => Fact::TempPath(self.redaction().into()),
            Fact::Measured(_) => Fact::Measured(self.redaction().into()),
            Fact::Host(_) => Fact::Host(self.redaction().into()),
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Text(s) | Fact::Mac(s) | Fact::TempPath(s) | Fact::Measured(s) | Fact::Host(s) => f.write_str(s),
            Fact::Number(n) | Fact::Pid(n) => write!(f, "{n}"),
            Fact::Inode(n) => write!(f, "{n}"),
            Fact::Bytes(n) => write!(f, "{}", human_bytes(*n)),
            Fact::Duration(d) => {
                if d.as_millis() >= 1000 {
                    write!(f, "{:.2} s", d.as_secs_f64())
                } else if d.as_micros() >= 1000 {
                    write!(f, "{:.1} ms", d.as_secs_f64() * 1e3)
                } else {
                    write!(f, "{} µs", d.as_micros())
                }
            }
        }
    }
}

impl From<&str> for Fact {
    fn from(s: &str) -> Fact {
        Fact::Text(s.to_string())
    }
}

impl From<String> for Fact {
    fn from(s: String) -> Fact {
        Fact::Text(s)
    }
}

/// `1536` → `1.5 KiB`; exact bytes below 1 KiB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

mod duration_micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_micros(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_values_are_redacted_and_lesson_values_are_not() {
        assert_eq!(Fact::Pid(4242).show(true), "[pid]");
        assert_eq!(Fact::Inode(4026531840).show(true), "[inode]");
        assert_eq!(Fact::Number(1).show(true), "1");
        assert_eq!(Fact::text("DOWN").show(true), "DOWN");
        assert_eq!(Fact::Pid(4242).show(false), "4242");
        assert_eq!(Fact::Mac("fe80::dc4e:12ff:feab:5419/64".into()).show(true), "fe80::[mac]/64");
    }

    #[test]
    fn bytes_are_human_readable() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 * 1024 * 1024), "64 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn json_redaction_keeps_the_kind() {
        let json = serde_json::to_string(&Fact::Pid(77).redacted()).unwrap();
        assert_eq!(json, r#"{"kind":"pid","value":0}"#);
    }
}
