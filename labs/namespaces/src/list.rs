//! Every namespace of the system, as `lsns` lists them: read from /proc/*/ns.

use crate::error::{NsError, Result};
use labkit::probe;

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub ns: u64,
    pub ns_type: String,
    pub nprocs: usize,
    pub pid: i32,
    pub user: String,
    pub command: String,
}

/// The namespaces of the system, optionally of one type (`mnt`, `net`, …), ordered like lsns.
pub fn list(only: Option<&str>) -> Result<Vec<Row>> {
    if let Some(t) = only {
        if crate::flag_of(t).is_none() {
            return Err(NsError::Usage(format!("unknown namespace type {t:?}: use one of {}", crate::type_names())));
        }
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut rows: Vec<Row> = probe::list_namespaces(only)
        .into_iter()
        .map(|e| Row {
            ns: e.id.inode,
            ns_type: e.id.ns_type,
            nprocs: e.processes,
            pid: e.lowest_pid,
            user: user_of(e.lowest_pid, &passwd),
            command: e.command,
        })
        .collect();
    rows.sort_by_key(|r| r.ns);
    Ok(rows)
}

/// The login name of a process's real uid (the number when /etc/passwd does not know it).
fn user_of(pid: i32, passwd: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    name_of_uid(&uid, passwd).unwrap_or(uid)
}

fn name_of_uid(uid: &str, passwd: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_string())
    })
}

/// The lsns table: NS TYPE NPROCS PID USER COMMAND.
pub fn render_table(rows: &[Row]) -> String {
    let columns: Vec<String> =
        ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"].iter().map(|s| s.to_string()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.ns.to_string(),
                r.ns_type.clone(),
                r.nprocs.to_string(),
                r.pid.to_string(),
                r.user.clone(),
                r.command.replace('\n', "\\n"),
            ]
        })
        .collect();
    let mut out = String::new();
    for line in labkit::render::table(&columns, &cells) {
        out.push_str(line.strip_prefix("  ").unwrap_or(&line).trim_end());
        out.push('\n');
    }
    out
}

/// The same as `lsns -J`: `{"namespaces": [{"ns", "type", "nprocs", "pid", "user", "command"}]}`.
pub fn render_json(rows: &[Row]) -> String {
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "ns": r.ns, "type": r.ns_type, "nprocs": r.nprocs, "pid": r.pid, "user": r.user, "command": r.command
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "namespaces": list })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_named_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n";
        assert_eq!(name_of_uid("65534", passwd).as_deref(), Some("nobody"));
        assert_eq!(name_of_uid("4242", passwd), None);
    }

    #[test]
    fn an_unknown_type_lists_the_valid_ones() {
        let err = list(Some("network")).unwrap_err();
        assert!(err.to_string().contains("unknown namespace type \"network\": use one of user, cgroup"), "{err}");
    }

    #[test]
    fn our_own_namespaces_appear_with_their_type() {
        let rows = list(Some("uts")).unwrap();
        let ours = probe::ns_link(None, "uts").unwrap();
        assert!(rows.iter().any(|r| r.ns == ours.inode && r.ns_type == "uts"));
        assert!(render_table(&rows).starts_with("NS"));
    }
}
