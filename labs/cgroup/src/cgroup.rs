//! One interface over both cgroup worlds, shaped like youki's libcgroups: a [`System`] detects
//! the layout and hands out [`Cgroup`]s; each group talks to a v1 or v2 driver behind the
//! [`Driver`] trait. Groups live only under a `labctl` subtree and every write is checked to
//! stay there (the one exception: enabling controllers in the v2 root's
//! `cgroup.subtree_control`, which delegation needs).

use crate::error::{Error, Result};
use crate::layout::{self, Layout, Mounts, Root, Version};
use crate::parse::CpuLimit;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The top of our subtree in every hierarchy.
pub const SUBTREE: &str = "labctl";

/// A resource controller as the labs name it. v1's `cpuacct` travels with `Cpu`; v1's
/// `freezer` is a controller, v2's `cgroup.freeze` is core (always there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    Cpu,
    Memory,
    Pids,
    Freezer,
}

impl Controller {
    pub const ALL: [Controller; 4] = [Controller::Cpu, Controller::Memory, Controller::Pids, Controller::Freezer];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }
}

/// CPU accounting of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuStats {
    /// Total CPU time used (v1 `cpuacct.usage`, v2 `cpu.stat usage_usec`).
    pub usage: Duration,
    /// CFS periods in which the group was runnable, and in how many it ran out of quota.
    pub nr_periods: u64,
    pub nr_throttled: u64,
    /// Time spent throttled (v1 `throttled_time` ns, v2 `throttled_usec`).
    pub throttled: Duration,
}

/// Memory accounting of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryStats {
    /// v1 `memory.usage_in_bytes`, v2 `memory.current`.
    pub usage: u64,
    /// v1 `memory.max_usage_in_bytes`, v2 `memory.peak` (kernel 5.19+).
    pub peak: Option<u64>,
    /// v1 `memory.limit_in_bytes`, v2 `memory.max` (None: no limit).
    pub limit: Option<u64>,
    /// v1 `memory.failcnt`: how often usage hit the limit.
    pub failcnt: Option<u64>,
    /// v2 `memory.events`: times over memory.high, times at memory.max, OOMs.
    pub events_high: Option<u64>,
    pub events_max: Option<u64>,
    pub events_oom: Option<u64>,
    /// OOM kills (v1 `memory.oom_control oom_kill`, v2 `memory.events oom_kill`).
    pub oom_kill: Option<u64>,
    /// Anonymous memory (v1 `memory.stat rss`, v2 `memory.stat anon`).
    pub anon: Option<u64>,
}

/// Process accounting of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PidsStats {
    pub current: u64,
    pub limit: Option<u64>,
    /// `pids.events max`: forks refused because of pids.max.
    pub events_max: Option<u64>,
}

/// What a group has used; a part is `None` when its controller is not attached.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub cpu: Option<CpuStats>,
    pub memory: Option<MemoryStats>,
    pub pids: Option<PidsStats>,
}

/// What one cgroup world implements. Paths are absolute under the [`Root`].
pub trait Driver: Send + Sync + std::fmt::Debug {
    fn version(&self) -> Version;
    /// The directories `create` makes for these controllers (one per v1 hierarchy; one on v2).
    fn dirs(&self, controllers: &[Controller]) -> Result<Vec<PathBuf>>;
    /// The group's directories that exist now.
    fn existing_dirs(&self) -> Vec<PathBuf>;
    /// Creates the group; `optional` controllers are attached when available, silently not otherwise.
    fn create(&self, required: &[Controller], optional: &[Controller]) -> Result<()>;
    /// Where a control file lives (`cpu.max`, `memory.limit_in_bytes`, `cgroup.procs`).
    fn file(&self, name: &str) -> Option<PathBuf>;
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Every `cgroup.procs` of the group (one per v1 hierarchy).
    fn procs_files(&self) -> Vec<PathBuf>;
    fn set_cpu_limit(&self, limit: CpuLimit) -> Result<()>;
    fn cpu_limit(&self) -> Result<CpuLimit>;
    /// Weight on the v2 scale (1..10000, default 100).
    fn set_cpu_weight(&self, weight: u64) -> Result<()>;
    fn set_memory_max(&self, bytes: Option<u64>) -> Result<()>;
    fn set_memory_high(&self, bytes: Option<u64>) -> Result<()>;
    /// Forbids swap so the memory limit is exact; false when the kernel has no swap accounting.
    fn disable_swap(&self) -> Result<bool>;
    fn set_pids_max(&self, max: Option<u64>) -> Result<()>;
    fn set_frozen(&self, frozen: bool) -> Result<()>;
    fn frozen(&self) -> Result<bool>;
    fn stats(&self) -> Result<Stats>;
    /// Kills every process in the group (and below) and waits until it is empty.
    fn kill_all(&self) -> Result<()>;
    /// The processes in the group and every group below it.
    fn all_pids(&self) -> Vec<i32>;
    /// The runtime's create: the group in every hierarchy (v1; in a hybrid layout the cgroup2
    /// tree too) or with every controller the parent can pass down (v2).
    fn create_all(&self) -> Result<()>;
    /// Writes the planned control files in order; an error names the file and the value.
    fn apply(&self, resources: &crate::resources::Resources) -> Result<()>;
}

/// Where a group's directory sits in each hierarchy, and who owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// From each hierarchy's root: `labctl/NAME` for the labs.
    pub rel: PathBuf,
    /// Hierarchies where the group sits elsewhere, by [`crate::layout::CgroupMount::key`]
    /// (a runtime's relative cgroupsPath under the caller's own, differing, cgroups).
    pub overrides: Vec<(String, PathBuf)>,
    /// A runtime group: writes are not confined to a labctl subtree, and in a hybrid layout
    /// the group is also made in the cgroup2 tree (as runc does).
    pub runtime: bool,
}

impl Placement {
    pub fn lab(rel: PathBuf) -> Placement {
        Placement { rel, overrides: Vec::new(), runtime: false }
    }

    /// The path in the hierarchy with this key.
    pub fn rel_for(&self, key: &str) -> &Path {
        self.overrides.iter().find(|(k, _)| k == key).map_or(self.rel.as_path(), |(_, p)| p.as_path())
    }

    /// Writes a control file: anywhere for a runtime group, else only inside labctl.
    pub(crate) fn write(&self, path: &Path, value: &str) -> Result<()> {
        if self.runtime {
            write_any(path, value)
        } else {
            write(path, value)
        }
    }
}

/// The machine's cgroup setup, detected once.
#[derive(Debug, Clone)]
pub struct System {
    root: Root,
    mounts: Mounts,
}

impl System {
    /// Detects the real machine's layout.
    pub fn detect() -> Result<System> {
        System::at(Root::host())
    }

    /// Detects the layout of a (fake) tree: reads `ROOT/proc/self/mountinfo`.
    pub fn at(root: Root) -> Result<System> {
        let mounts = layout::detect(&root)?;
        Ok(System { root, mounts })
    }

    pub fn layout(&self) -> Layout {
        self.mounts.layout
    }

    pub fn version(&self) -> Version {
        self.mounts.layout.version()
    }

    pub fn mounts(&self) -> &Mounts {
        &self.mounts
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The mount holding the controllers on v2 (`/sys/fs/cgroup`), under the root.
    pub fn v2_dir(&self) -> Option<PathBuf> {
        self.mounts.v2_mount().map(|m| self.root.path(&m.mount_point))
    }

    /// The top `labctl` directory in every hierarchy that manages controllers.
    pub fn subtree_tops(&self) -> Vec<PathBuf> {
        match self.version() {
            Version::V2 => self.v2_dir().map(|d| d.join(SUBTREE)).into_iter().collect(),
            Version::V1 => self
                .mounts
                .mounts
                .iter()
                .filter(|m| m.version == 1 && !m.controllers.is_empty())
                .map(|m| self.root.path(&m.mount_point).join(SUBTREE))
                .collect(),
        }
    }

    /// Controllers usable here: v1 mounted hierarchies; v2 the root's `cgroup.controllers`.
    pub fn available(&self) -> Vec<String> {
        match self.version() {
            Version::V1 => {
                let mut all: Vec<String> = self
                    .mounts
                    .mounts
                    .iter()
                    .filter(|m| m.version == 1)
                    .flat_map(|m| m.controllers.iter().cloned())
                    .collect();
                all.sort();
                all.dedup();
                all
            }
            Version::V2 => self
                .v2_dir()
                .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }

    /// A handle on `labctl/NAME` (not created yet).
    pub fn group(&self, name: &str) -> Result<Cgroup> {
        validate_name(name)?;
        Ok(self.handle(vec![name.to_string()]))
    }

    fn handle(&self, components: Vec<String>) -> Cgroup {
        let rel: PathBuf = std::iter::once(SUBTREE.to_string()).chain(components.iter().cloned()).collect();
        let driver = self.driver(Placement::lab(rel));
        Cgroup { system: self.clone(), components, driver, runtime_path: None }
    }

    pub(crate) fn driver(&self, place: Placement) -> Box<dyn Driver> {
        match self.version() {
            Version::V1 => Box::new(crate::v1::V1::new(self.root.clone(), self.mounts.clone(), place)),
            Version::V2 => {
                Box::new(crate::v2::V2::new(self.v2_dir().expect("a unified layout has a cgroup2 mount"), place))
            }
        }
    }

    /// The groups under labctl/ (top level), in every hierarchy, sorted.
    pub fn list(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .subtree_tops()
            .iter()
            .filter_map(|top| std::fs::read_dir(top).ok())
            .flat_map(|dir| dir.flatten())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Group names are one path component: no '/', no '..', not empty, no control-file look-alikes.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why| Err(Error::BadName { name: name.to_string(), why });
    if name.is_empty() {
        return bad("empty");
    }
    if name.contains('/') {
        return bad("contains '/': a name is one level below labctl/");
    }
    if name == "." || name == ".." || name.contains("..") {
        return bad("contains '..'");
    }
    if name.len() > 64 {
        return bad("longer than 64 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return bad("contains a character other than letters, digits, '-', '_' and '.'");
    }
    if name.starts_with("cgroup.") || name.contains('.') && name.split('.').next().is_some_and(is_controller_prefix) {
        return bad("looks like a control file (cgroup.*, cpu.*, memory.*)");
    }
    Ok(())
}

fn is_controller_prefix(prefix: &str) -> bool {
    layout::V1_CONTROLLERS.contains(&prefix) || matches!(prefix, "io" | "misc" | "cgroup")
}

/// One group under labctl/, in whichever world the machine has.
#[derive(Debug)]
pub struct Cgroup {
    pub(crate) system: System,
    pub(crate) components: Vec<String>,
    pub(crate) driver: Box<dyn Driver>,
    /// Set for the runtime's groups ([`System::runtime_group`]), which live anywhere.
    pub(crate) runtime_path: Option<crate::anywhere::GroupPath>,
}

impl Cgroup {
    /// `labctl/NAME[/CHILD...]`.
    pub fn path_name(&self) -> String {
        if let Some(path) = &self.runtime_path {
            return path.encode();
        }
        std::iter::once(SUBTREE).chain(self.components.iter().map(String::as_str)).collect::<Vec<_>>().join("/")
    }

    /// The name below labctl/.
    pub fn name(&self) -> String {
        self.components.join("/")
    }

    /// A group nested in this one (a parent's limits bound its children).
    pub fn child(&self, name: &str) -> Result<Cgroup> {
        validate_name(name)?;
        if let Some(path) = &self.runtime_path {
            return self.system.runtime_group(&path.child(name));
        }
        let mut components = self.components.clone();
        components.push(name.to_string());
        Ok(self.system.handle(components))
    }

    pub fn version(&self) -> Version {
        self.driver.version()
    }

    pub fn driver(&self) -> &dyn Driver {
        self.driver.as_ref()
    }

    /// The directories `create` would make; register them for undo before creating.
    pub fn dirs(&self, controllers: &[Controller]) -> Result<Vec<PathBuf>> {
        self.driver.dirs(controllers)
    }

    pub fn existing_dirs(&self) -> Vec<PathBuf> {
        self.driver.existing_dirs()
    }

    pub fn exists(&self) -> bool {
        !self.driver.existing_dirs().is_empty()
    }

    /// Creates the group with `required` controllers (an error names what is missing and the fix)
    /// plus whichever of `optional` this machine offers.
    pub fn create(&self, required: &[Controller], optional: &[Controller]) -> Result<&Cgroup> {
        self.driver.create(required, optional)?;
        Ok(self)
    }

    /// Fails with NotFound unless the group exists.
    pub fn must_exist(&self) -> Result<()> {
        if self.exists() {
            return Ok(());
        }
        let path = self.system.subtree_tops().first().cloned().unwrap_or_default().join(self.name());
        Err(Error::NotFound { name: self.name(), path })
    }

    pub fn file(&self, name: &str) -> Option<PathBuf> {
        self.driver.file(name)
    }

    /// Reads a control file of this group (for showing it).
    pub fn read(&self, name: &str) -> Result<String> {
        let path = self.file(name).ok_or_else(|| Error::Unsupported {
            what: "this control file",
            version: self.version().name(),
            why: "its controller is not attached to this group",
        })?;
        read(&path)
    }

    /// `echo PID > cgroup.procs` (in every hierarchy on v1).
    pub fn add_process(&self, pid: i32) -> Result<&Cgroup> {
        self.driver.add_process(pid)?;
        Ok(self)
    }

    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.driver.procs_files()
    }

    /// The processes in the group itself (not its children).
    pub fn procs(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for file in self.procs_files() {
            pids.extend(read(&file)?.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    pub fn set_cpu_limit(&self, limit: CpuLimit) -> Result<&Cgroup> {
        self.driver.set_cpu_limit(limit)?;
        Ok(self)
    }

    pub fn cpu_limit(&self) -> Result<CpuLimit> {
        self.driver.cpu_limit()
    }

    pub fn set_cpu_weight(&self, weight: u64) -> Result<&Cgroup> {
        self.driver.set_cpu_weight(weight)?;
        Ok(self)
    }

    pub fn set_memory_max(&self, bytes: Option<u64>) -> Result<&Cgroup> {
        self.driver.set_memory_max(bytes)?;
        Ok(self)
    }

    pub fn set_memory_high(&self, bytes: Option<u64>) -> Result<&Cgroup> {
        self.driver.set_memory_high(bytes)?;
        Ok(self)
    }

    pub fn disable_swap(&self) -> Result<bool> {
        self.driver.disable_swap()
    }

    pub fn set_pids_max(&self, max: Option<u64>) -> Result<&Cgroup> {
        self.driver.set_pids_max(max)?;
        Ok(self)
    }

    pub fn freeze(&self) -> Result<()> {
        self.driver.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<()> {
        self.driver.set_frozen(false)
    }

    pub fn frozen(&self) -> Result<bool> {
        self.driver.frozen()
    }

    pub fn stats(&self) -> Result<Stats> {
        self.driver.stats()
    }

    /// The processes in the group and in every group below it.
    pub fn all_pids(&self) -> Vec<i32> {
        self.driver.all_pids()
    }

    /// Creates the group with every controller this machine offers (the runtime's create).
    pub fn create_all(&self) -> Result<&Cgroup> {
        self.driver.create_all()?;
        Ok(self)
    }

    /// Sets every limit in `resources` (see [`crate::resources`] for the files each becomes).
    pub fn apply(&self, resources: &crate::resources::Resources) -> Result<&Cgroup> {
        self.driver.apply(resources)?;
        Ok(self)
    }

    /// Kills what is left, waits for the group to empty, removes its directories bottom-up,
    /// then the `labctl` top directories if nothing else is left in them.
    pub fn remove(&self) -> Result<()> {
        if self.exists() {
            self.driver.kill_all()?;
        }
        if self.runtime_path.is_some() {
            return crate::anywhere::remove_dirs(&self.driver.existing_dirs());
        }
        for dir in self.driver.existing_dirs() {
            labkit::cleanup::remove_cgroup_tree(&dir).map_err(|e| Error::Io {
                op: "remove",
                path: dir.clone(),
                source: std::io::Error::other(e),
            })?;
        }
        remove_empty_tops(&self.system);
        Ok(())
    }
}

/// Removes `labctl` top directories that have no groups left (another run may still use them:
/// then rmdir fails with EBUSY and we leave them).
/// Runs a group's creation again when a parent vanished under it (mkdir: ENOENT): whoever
/// removes its last group also removes the empty `labctl` parents, and may do so between our
/// mkdir of a parent and of the group. Gives up after a few rounds with the error.
pub(crate) fn retry_vanished_parents(mut create: impl FnMut() -> Result<()>) -> Result<()> {
    let mut left = 20;
    loop {
        match create() {
            Err(Error::Io { op: "mkdir", source, .. }) if source.kind() == std::io::ErrorKind::NotFound && left > 0 => {
                left -= 1;
            }
            other => return other,
        }
    }
}

pub fn remove_empty_tops(system: &System) {
    for top in system.subtree_tops() {
        let _ = std::fs::remove_dir(top);
    }
}

/// The undo entries for a group, to register before creating it: first the rmdir of each
/// empty `labctl` top (undone last), then the group's own directories.
pub fn undos(system: &System, group: &Cgroup, controllers: &[Controller]) -> Result<Vec<labkit::Undo>> {
    let dirs = group.dirs(controllers)?;
    let mut out: Vec<labkit::Undo> = Vec::new();
    for top in system.subtree_tops() {
        if dirs.iter().any(|d| d.starts_with(&top)) {
            out.push(labkit::Undo::Command { argv: vec!["rmdir".into(), top.display().to_string()] });
        }
    }
    out.extend(dirs.into_iter().map(|path| labkit::Undo::Cgroup { path }));
    Ok(out)
}

// ---- file access shared by the drivers ----

/// Is `path` inside a labctl subtree (a component named `labctl`)?
pub fn inside_subtree(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == SUBTREE)
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { op: "read", path: path.to_path_buf(), source })
}

/// Writes a control file of a labctl group; refuses anything outside the subtree.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    if !inside_subtree(path) {
        return Err(Error::Outside { path: path.to_path_buf() });
    }
    write_any(path, value)
}

/// Writes without the subtree check: only for enabling controllers from the v2 root down.
pub(crate) fn write_any(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    let result = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    result.map_err(|source| {
        let denied = matches!(source.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM));
        if denied && !labkit::sys::is_root() {
            Error::NeedsRoot { path: path.to_path_buf(), source }
        } else {
            Error::Io { op: "write", path: path.to_path_buf(), source }
        }
    })
}

pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| Error::Format {
        path: path.to_path_buf(),
        content: text.trim().to_string(),
        why: "expected a number".into(),
    })
}

pub(crate) fn read_keyed(path: &Path) -> Result<Vec<(String, u64)>> {
    Ok(crate::parse::parse_keyed(&read(path)?))
}

pub(crate) use labkit::process::wait_until;

/// Sends SIGKILL to each pid (ours: they are in a labctl group).
/// `pids.current`, `pids.max` and `pids.events` of one group directory (same files in v1 and v2).
pub(crate) fn pids_stats(dir: &Path) -> Result<crate::PidsStats> {
    let events = read_keyed(&dir.join("pids.events")).ok();
    let max_path = dir.join("pids.max");
    let max = read(&max_path)?;
    Ok(crate::PidsStats {
        current: read_u64(&dir.join("pids.current"))?,
        limit: crate::parse::parse_max(&max).map_err(|why| Error::Format {
            path: max_path,
            content: max.trim().to_string(),
            why,
        })?,
        events_max: events.and_then(|e| crate::parse::keyed(&e, "max")),
    })
}

/// Writes one planned value; a refusal names the file, the value and a likely reason.
pub(crate) fn apply_write(place: &Placement, path: &Path, value: &str) -> Result<()> {
    place.write(path, value).map_err(|e| match e {
        Error::Io { path, source, .. } => {
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let hint = crate::resources::refusal_hint(&file, source.raw_os_error());
            Error::Rejected { path, value: value.to_string(), source, hint }
        }
        other => other,
    })
}

/// The pids of a group and every group below it (one hierarchy).
pub(crate) fn collect_pids(dir: &std::path::Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_pids(&entry.path(), out);
            }
        }
    }
}

/// Maps a write error on cgroup.procs: ESRCH means the process is gone.
pub(crate) fn procs_error(err: Error, pid: i32) -> Error {
    match err {
        Error::Io { path, source, .. } if source.raw_os_error() == Some(libc::ESRCH) => {
            Error::NoSuchProcess { pid, path }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_safe_component() {
        assert!(validate_name("demo").is_ok());
        assert!(validate_name("run-1234").is_ok());
        for (name, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "'..'"),
            ("../../system.slice", "'/'"),
            ("a..b", "'..'"),
            ("cgroup.procs", "control file"),
            ("memory.max", "control file"),
            ("sp ace", "character"),
        ] {
            let err = validate_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }

    #[test]
    fn writes_outside_labctl_are_refused() {
        let err = write(Path::new("/sys/fs/cgroup/system.slice/cpu.max"), "max").unwrap_err();
        assert!(matches!(err, Error::Outside { .. }), "{err}");
    }
}
