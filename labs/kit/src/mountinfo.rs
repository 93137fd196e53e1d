//! `/proc/PID/mountinfo` (proc(5)), parsed once for every lab and tool:
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.

use std::io;
use std::path::Path;

/// One mount, as one mountinfo line describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// Field 1, the mount id.
    pub id: String,
    /// Field 2, the parent's mount id.
    pub parent: String,
    /// Field 3, `major:minor` of the filesystem's device.
    pub device: String,
    /// Field 4, the directory of the filesystem that forms this mount's root.
    pub root: String,
    /// Field 5, where it is mounted (octal escapes decoded).
    pub mount_point: String,
    /// Field 6, per-mount options (`rw,nosuid`).
    pub options: String,
    /// The optional fields before ` - `: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options (`rw,lowerdir=…` for an overlay, the controllers for cgroup v1).
    pub super_options: String,
}

/// Parses mountinfo text; lines that do not have its shape are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let fields: Vec<&str> = head.split(' ').collect();
    if fields.len() < 6 {
        return None;
    }
    let mut tail = tail.splitn(3, ' ');
    Some(Mount {
        id: fields[0].to_string(),
        parent: fields[1].to_string(),
        device: fields[2].to_string(),
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        options: fields[5].to_string(),
        optional: fields[6..].iter().filter(|f| !f.is_empty()).map(|f| f.to_string()).collect(),
        fstype: tail.next().filter(|t| !t.is_empty())?.to_string(),
        source: tail.next().unwrap_or_default().to_string(),
        super_options: tail.next().unwrap_or_default().to_string(),
    })
}

/// Reads and parses a mountinfo file (`/proc/self/mountinfo`, `/proc/PID/mountinfo`).
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string(path)?))
}

/// The mounts of this process's mount namespace (none when /proc cannot be read).
pub fn of_self() -> Vec<Mount> {
    read("/proc/self/mountinfo").unwrap_or_default()
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_every_field() {
        let m = &parse("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n")[0];
        assert_eq!((m.id.as_str(), m.parent.as_str(), m.device.as_str()), ("36", "35", "98:0"));
        assert_eq!((m.root.as_str(), m.mount_point.as_str(), m.options.as_str()), ("/mnt1", "/mnt2", "rw,noatime"));
        assert_eq!(m.optional, ["master:1"]);
        assert_eq!((m.fstype.as_str(), m.source.as_str()), ("ext3", "/dev/root"));
        assert_eq!(m.super_options, "rw,errors=continue");
    }

    #[test]
    fn no_optional_fields_and_bad_lines() {
        let mounts = parse("38 35 0:6 / /p rw - tmpfs tmpfs rw\nnot a mount line\n1 2 3 - x\n");
        assert_eq!(mounts.len(), 1);
        assert!(mounts[0].optional.is_empty());
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/x\134y\011"), "/x\\y\t");
        assert_eq!(unescape("/plain/网络"), "/plain/网络");
        assert_eq!(unescape(r"/short\04"), r"/short\04");
    }
}
