//! **The OCI runtime's entry point** (not the labs'): a group at whatever path the bundle's
//! `linux.cgroupsPath` names, because podman, containerd and the runtime-tools suite choose it.
//! The labs' API ([`crate::System::group`]) stays confined to `labctl/`; only
//! [`crate::System::runtime_group`] writes elsewhere, and it refuses the root cgroup and `..`.
//!
//! On v1 a relative cgroupsPath lands under the caller's own cgroup of *each* hierarchy (as
//! runc does), and those can differ (`memory:/process_api/x`, `cpu:/`): a [`GroupPath`] holds
//! one path plus the hierarchies where it differs, and encodes as one string for a state file:
//! `/a/b` or `/a/b;memory=/process_api/x/a/b`.

use crate::cgroup::{Cgroup, Placement, System};
use crate::error::{Error, Result};
use crate::layout::Version;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A group's absolute path from each hierarchy's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPath {
    /// `/labctl/lcrun/ID`.
    pub path: String,
    /// Hierarchies (by [`crate::layout::CgroupMount::key`]) where the group sits elsewhere.
    pub overrides: Vec<(String, String)>,
}

impl GroupPath {
    /// An absolute path, cleaned: `//a/./b/` is `/a/b`; `..`, `;` and the root are refused.
    pub fn absolute(path: &str) -> Result<GroupPath> {
        Ok(GroupPath { path: clean(path)?, overrides: Vec::new() })
    }

    /// `rel` under the calling process's own cgroup in every hierarchy (read from
    /// `ROOT/proc/self/cgroup`).
    pub fn relative(system: &System, rel: &str) -> Result<GroupPath> {
        if rel.starts_with('/') {
            return GroupPath::absolute(rel);
        }
        let own_file = system.root().path(Path::new("/proc/self/cgroup"));
        let own = std::fs::read_to_string(&own_file).map_err(|source| Error::Io {
            op: "read",
            path: own_file.clone(),
            source,
        })?;
        let own = parse_proc_cgroup(&own);
        let keys: Vec<String> = system
            .mounts()
            .mounts
            .iter()
            .filter(|m| m.version == 2 || !m.controllers.is_empty())
            .filter(|m| system.version() == Version::V1 || m.version == 2)
            .map(|m| m.key())
            .collect();
        let mut paths: Vec<(String, String)> = Vec::new();
        for key in keys {
            let base = own.iter().find(|(k, _)| *k == key).map_or("/", |(_, p)| p.as_str());
            paths.push((key, clean(&format!("{base}/{rel}"))?));
        }
        let Some((_, first)) = paths.first().cloned() else {
            return GroupPath::absolute(&format!("/{rel}"));
        };
        let overrides = paths.into_iter().filter(|(_, p)| *p != first).collect();
        Ok(GroupPath { path: first, overrides })
    }

    /// The state-file form: `PATH[;KEY=PATH...]`.
    pub fn encode(&self) -> String {
        let mut out = self.path.clone();
        for (key, path) in &self.overrides {
            out.push_str(&format!(";{key}={path}"));
        }
        out
    }

    /// Reads [`GroupPath::encode`]'s form back.
    pub fn decode(text: &str) -> Result<GroupPath> {
        let mut parts = text.split(';');
        let path = clean(parts.next().unwrap_or(""))?;
        let mut overrides = Vec::new();
        for part in parts {
            let (key, p) = part.split_once('=').ok_or_else(|| Error::BadPath {
                path: text.to_string(),
                why: format!("{part:?} is not HIERARCHY=PATH"),
            })?;
            overrides.push((key.to_string(), clean(p)?));
        }
        Ok(GroupPath { path, overrides })
    }

    /// A group below this one.
    pub fn child(&self, name: &str) -> GroupPath {
        GroupPath {
            path: format!("{}/{name}", self.path),
            overrides: self.overrides.iter().map(|(k, p)| (k.clone(), format!("{p}/{name}"))).collect(),
        }
    }

    fn placement(&self) -> Placement {
        Placement {
            rel: PathBuf::from(&self.path),
            overrides: self.overrides.iter().map(|(k, p)| (k.clone(), PathBuf::from(p))).collect(),
            runtime: true,
        }
    }
}

/// Normalises an absolute cgroup path and refuses what must never be a container's group.
fn clean(path: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::BadPath { path: path.to_string(), why: why.to_string() });
    if !path.starts_with('/') {
        return bad("not absolute");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return bad("contains '..': a container's cgroup cannot climb out of its parent"),
            p if p.contains(';') || p.contains('\n') => return bad("contains ';' or a newline"),
            p if p.starts_with("cgroup.") => return bad("a component looks like a control file (cgroup.*)"),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return bad("this is the root cgroup: limits there would apply to the whole machine");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `/proc/PID/cgroup` lines `ID:CONTROLLERS:PATH` as (hierarchy key, path); `name=` hierarchies
/// (systemd's) are skipped.
fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let mut list: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
            if list.iter().any(|c| c.starts_with("name=")) {
                return None;
            }
            list.sort_unstable();
            Some((list.join(","), path.to_string()))
        })
        .collect()
}

impl System {
    /// The runtime's group at `path` (not created yet). Writes are not confined to `labctl/`.
    pub fn runtime_group(&self, path: &GroupPath) -> Result<Cgroup> {
        let components = path.path.trim_start_matches('/').split('/').map(str::to_string).collect();
        Ok(Cgroup {
            system: self.clone(),
            components,
            driver: self.driver(path.placement()),
            runtime_path: Some(path.clone()),
        })
    }
}

/// Removes a runtime group's directories (and any groups the container made below them),
/// deepest first, retrying briefly on EBUSY (a killed task may take a moment to leave); then
/// the empty parents that are ours by name (`lcrun`, `labctl*`), so nothing is left behind.
pub(crate) fn remove_dirs(dirs: &[PathBuf]) -> Result<()> {
    for top in dirs {
        let mut all = Vec::new();
        collect_dirs(top, &mut all);
        all.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in &all {
            rmdir_retrying(dir)?;
        }
        let mut parent = top.parent();
        while let Some(dir) = parent {
            let ours = dir.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n == "lcrun" || n.starts_with("labctl")
            });
            if !ours || std::fs::remove_dir(dir).is_err() {
                break;
            }
            parent = dir.parent();
        }
    }
    Ok(())
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

fn rmdir_retrying(dir: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(source) => return Err(Error::Io { op: "rmdir", path: dir.to_path_buf(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_cleaned_and_checked() {
        assert_eq!(GroupPath::absolute("//labctl/./x/").unwrap().path, "/labctl/x");
        for (path, why) in [
            ("/", "root cgroup"),
            ("/labctl/../system.slice", "'..'"),
            ("relative", "not absolute"),
            ("/a;b", "';'"),
            ("/labctl/cgroup.procs", "control file"),
        ] {
            let err = GroupPath::absolute(path).unwrap_err().to_string();
            assert!(err.contains(why), "{path}: {err}");
        }
    }

    #[test]
    fn proc_cgroup_lines_become_hierarchy_keys() {
        let own = parse_proc_cgroup("9:name=systemd:/\n4:memory:/process_api/ab\n2:cpuacct,cpu:/\n0::/user.slice\n");
        assert_eq!(
            own,
            [
                ("memory".to_string(), "/process_api/ab".to_string()),
                ("cpu,cpuacct".into(), "/".into()),
                ("".into(), "/user.slice".into())
            ]
        );
    }

    #[test]
    fn the_encoding_round_trips() {
        let path = GroupPath { path: "/t/c".into(), overrides: vec![("memory".into(), "/process_api/ab/t/c".into())] };
        assert_eq!(path.encode(), "/t/c;memory=/process_api/ab/t/c");
        assert_eq!(GroupPath::decode(&path.encode()).unwrap(), path);
        assert!(GroupPath::decode("/t;nonsense").is_err());
    }
}
