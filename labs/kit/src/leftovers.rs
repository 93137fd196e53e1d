//! What labctl may have left on this machine, found by name (every object labctl makes carries
//! a `labctl`/`lc` prefix), for `labctl clean` and `labctl clean --check`.

use crate::cleanup::Undo;
use crate::paths;
use std::path::{Path, PathBuf};

/// A leftover found by scanning, with how to remove it (if this build knows how).
#[derive(Debug, Clone, PartialEq)]
pub struct Leftover {
    pub what: String,
    pub undo: Option<Undo>,
}

/// Scans mounts, named network namespaces, cgroups and the nftables table.
pub fn scan() -> Vec<Leftover> {
    let mut out = Vec::new();
    out.extend(
        mounts()
            .into_iter()
            .map(|path| Leftover { what: format!("mount {}", path.display()), undo: Some(Undo::Unmount { path }) }),
    );
    out.extend(
        netns().into_iter().map(|name| Leftover { what: format!("netns {name}"), undo: Some(Undo::Netns { name }) }),
    );
    out.extend(
        cgroups()
            .into_iter()
            .map(|path| Leftover { what: format!("cgroup {}", path.display()), undo: Some(Undo::Cgroup { path }) }),
    );
    out
}

/// Mount points that belong to labctl: under its run or state directories, or under a
/// `labctl*` directory directly in the temp dir. Nothing broader: a checkout that happens to
/// live in a directory called labctl is not ours to unmount. Deepest first.
pub fn mounts() -> Vec<PathBuf> {
    let roots = [paths::run_dir(), paths::state_dir()];
    let temp = std::env::temp_dir();
    let in_labctl_temp = |p: &std::path::Path| {
        p.strip_prefix(&temp)
            .ok()
            .and_then(|rest| rest.components().next())
            .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with("labctl"))
    };
    let mut found: Vec<PathBuf> = crate::mountinfo::of_self()
        .into_iter()
        .map(|m| PathBuf::from(m.mount_point))
        .filter(|p| roots.iter().any(|r| p.starts_with(r)) || in_labctl_temp(p))
        // /run/netns/labctl-* entries are netns bind mounts, handled as netns.
        .filter(|p| !p.starts_with(paths::NETNS_DIR))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Named network namespaces with a labctl prefix.
pub fn netns() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(paths::NETNS_DIR) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| paths::is_ours(n)).collect();
    names.sort();
    names
}

/// labctl cgroup directories: `/sys/fs/cgroup/labctl*` (v2) and `/sys/fs/cgroup/<ctrl>/labctl*` (v1).
pub fn cgroups() -> Vec<PathBuf> {
    cgroups_under(Path::new("/sys/fs/cgroup"))
}

pub fn cgroups_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let is_labctl = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("labctl"));
    let Ok(top) = std::fs::read_dir(root) else { return out };
    for entry in top.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if is_labctl(&path) {
            out.push(path);
            continue;
        }
        // v1 controller hierarchies (cpu, memory, …) and the hybrid unified mount.
        if let Ok(inner) = std::fs::read_dir(&path) {
            out.extend(inner.flatten().map(|e| e.path()).filter(|p| p.is_dir() && is_labctl(p)));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_scan_finds_v1_and_v2_labctl_dirs_only() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["labctl", "cpu/labctl", "memory/labctl-x", "cpu/system.slice", "unified/user.slice"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let found: Vec<String> = cgroups_under(root.path())
            .iter()
            .map(|p| p.strip_prefix(root.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(found, vec!["cpu/labctl", "labctl", "memory/labctl-x"]);
    }
}
