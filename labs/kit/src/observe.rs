//! Observations: typed kernel state read after a step acted, ready to render or serialise.

use crate::fact::Fact;
use crate::text::Text;
use serde::{Deserialize, Serialize};

/// One thing a step read from the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observation {
    /// `/proc/OWNER/ns/TYPE -> TYPE:[INODE]`; the owner is a pid, `self` or `thread-self`.
    NsLink { owner: Fact, ns_type: String, inode: Fact },
    /// Lines of a file as read (possibly a selection). Each line is a list of segments so that
    /// volatile parts (a pid inside /proc/PID/status) are typed.
    Excerpt { path: Fact, lines: Vec<Vec<Fact>> },
    /// A titled table (an lsns-style listing, counters).
    Table { title: Text, columns: Vec<String>, rows: Vec<Vec<Fact>> },
    /// Network interfaces seen from one network namespace.
    Interfaces { title: Text, interfaces: Vec<Interface> },
    /// Named values (`ip_forward = 1`).
    Values { title: Text, values: Vec<(String, Fact)> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// `UP` or `DOWN` (administrative state, IFF_UP).
    pub state: String,
    pub flags: Vec<String>,
    pub mac: Option<Fact>,
    /// Addresses with prefix length; IPv6 link-local ones are derived from the MAC and typed so.
    pub addresses: Vec<Fact>,
}

impl Observation {
    /// The namespace link of a process (`Some(pid)`) or of this process (`None`).
    pub fn ns_link(pid: Option<i32>, id: &crate::probe::NsId) -> Observation {
        Observation::NsLink {
            owner: pid.map(|p| Fact::Pid(p.into())).unwrap_or_else(|| Fact::text("self")),
            ns_type: id.ns_type.clone(),
            inode: Fact::Inode(id.inode),
        }
    }

    pub fn excerpt(path: impl Into<Fact>, text: &str) -> Observation {
        Observation::Excerpt { path: path.into(), lines: text.lines().map(|l| vec![Fact::text(l)]).collect() }
    }

    /// Every fact in the observation, for checks and tests.
    pub fn facts(&self) -> Vec<&Fact> {
        match self {
            Observation::NsLink { owner, inode, .. } => vec![owner, inode],
            Observation::Excerpt { path, lines } => std::iter::once(path).chain(lines.iter().flatten()).collect(),
            Observation::Table { rows, .. } => rows.iter().flatten().collect(),
            Observation::Interfaces { interfaces, .. } => {
                interfaces.iter().flat_map(|i| i.mac.iter().chain(i.addresses.iter())).collect()
            }
            Observation::Values { values, .. } => values.iter().map(|(_, v)| v).collect(),
        }
    }

    /// A copy with every volatile value replaced by its placeholder.
    pub fn redacted(&self) -> Observation {
        let r = |f: &Fact| f.redacted();
        match self {
            Observation::NsLink { owner, ns_type, inode } => {
                Observation::NsLink { owner: r(owner), ns_type: ns_type.clone(), inode: r(inode) }
            }
            Observation::Excerpt { path, lines } => {
                Observation::Excerpt { path: r(path), lines: lines.iter().map(|l| l.iter().map(r).collect()).collect() }
            }
            Observation::Table { title, columns, rows } => Observation::Table {
                title: title.clone(),
                columns: columns.clone(),
                rows: rows.iter().map(|row| row.iter().map(r).collect()).collect(),
            },
            Observation::Interfaces { title, interfaces } => Observation::Interfaces {
                title: title.clone(),
                interfaces: interfaces.iter().map(|i| Interface { mac: i.mac.as_ref().map(r), ..i.clone() }).collect(),
            },
            Observation::Values { title, values } => Observation::Values {
                title: title.clone(),
                values: values.iter().map(|(k, v)| (k.clone(), r(v))).collect(),
            },
        }
    }
}
