//! The cgroup v2 driver: one unified tree, one directory per group
//! (`/sys/fs/cgroup/labctl/NAME`). A controller works in a group only if every ancestor lists it
//! in `cgroup.subtree_control`, so `create` enables what it needs from the root down (delegation)
//! and says exactly which file refused.

use crate::cgroup::{
    apply_write, procs_error, read, read_keyed, read_u64, wait_until, write_any, Controller, CpuStats, Driver,
    MemoryStats, Placement, Stats,
};
use crate::error::{Error, Result};
use crate::layout::Version;
use crate::parse::{format_max, keyed, parse_max, CpuLimit};
use crate::resources::{plan_v2, Resources, V2Files};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug)]
pub struct V2 {
    /// The cgroup2 mount (`/sys/fs/cgroup`) under the root.
    mount: PathBuf,
    /// `labctl/NAME` for the labs; anywhere for the runtime (relative to the mount).
    rel: PathBuf,
    place: Placement,
}

/// The controllers a runtime group gets when the machine offers them.
const RUNTIME_CONTROLLERS: [&str; 6] = ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"];

/// The v2 controller behind a lab controller (freezing is core: `cgroup.freeze`).
fn v2_controller(controller: Controller) -> Option<&'static str> {
    match controller {
        Controller::Cpu => Some("cpu"),
        Controller::Memory => Some("memory"),
        Controller::Pids => Some("pids"),
        Controller::Freezer => None,
    }
}

impl V2 {
    pub fn new(mount: PathBuf, place: Placement) -> V2 {
        let rel = place.rel_for("");
        let rel = rel.strip_prefix("/").unwrap_or(rel).to_path_buf();
        V2 { mount, rel, place }
    }

    fn dir(&self) -> PathBuf {
        self.mount.join(&self.rel)
    }

    /// The ancestors whose `cgroup.subtree_control` must list a controller for the group to
    /// get it: the mount root, `labctl`, and any parent groups (not the group itself).
    fn chain(&self) -> Vec<PathBuf> {
        let mut chain = vec![self.mount.clone()];
        let mut dir = self.mount.clone();
        let parts: Vec<_> = self.rel.components().collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            dir = dir.join(part);
            chain.push(dir.clone());
        }
        chain
    }

    /// Enables `controller` in every ancestor's `cgroup.subtree_control`, from the root down.
    fn delegate(&self, controller: &'static str) -> Result<()> {
        for (depth, dir) in self.chain().iter().enumerate() {
            let subtree = dir.join("cgroup.subtree_control");
            if words(&read(&subtree)?).any(|w| w == controller) {
                continue;
            }
            let controllers_file = dir.join("cgroup.controllers");
            let available = read(&controllers_file)?;
            if !words(&available).any(|w| w == controller) {
                return Err(Error::V2Unavailable {
                    controller,
                    path: controllers_file,
                    available: available.trim().to_string(),
                    why: if depth == 0 {
                        "the kernel has it bound to a cgroup v1 hierarchy (a hybrid layout) or was built without it"
                    } else {
                        "the parent group does not pass it down"
                    },
                });
            }
            let result = if depth == 0 {
                write_any(&subtree, &format!("+{controller}"))
            } else {
                self.place.write(&subtree, &format!("+{controller}"))
            };
            result.map_err(|e| match e {
                Error::Io { source, .. } | Error::NeedsRoot { source, .. } => {
                    Error::V2NotDelegated { controller, path: subtree.clone(), source }
                }
                other => other,
            })?;
        }
        Ok(())
    }

    fn file_in(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// A control file that exists (its controller is enabled for the group).
    fn need(&self, name: &str, controller: &'static str) -> Result<PathBuf> {
        let path = self.file_in(name);
        if path.exists() {
            return Ok(path);
        }
        let parent_subtree = self.chain().last().cloned().unwrap_or_default().join("cgroup.subtree_control");
        Err(Error::V2NotDelegated {
            controller,
            path: parent_subtree,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} is missing", path.display())),
        })
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
}

impl Driver for V2 {
    fn version(&self) -> Version {
        Version::V2
    }

    fn dirs(&self, _controllers: &[Controller]) -> Result<Vec<PathBuf>> {
        Ok(vec![self.dir()])
    }

    fn existing_dirs(&self) -> Vec<PathBuf> {
        Some(self.dir()).filter(|d| d.is_dir()).into_iter().collect()
    }

    fn create(&self, required: &[Controller], optional: &[Controller]) -> Result<()> {
        // Make the ancestors first (they need to exist to delegate through them), then delegate,
        // then make the group: it is born with the enabled controllers' files.
        for dir in self.chain().iter().skip(1) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source })?;
        }
        for c in required.iter().filter_map(|c| v2_controller(*c)) {
            self.delegate(c)?;
        }
        for c in optional.iter().filter_map(|c| v2_controller(*c)) {
            let _ = self.delegate(c);
        }
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source })
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        Some(self.file_in(name)).filter(|p| p.exists())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        self.place.write(&self.file_in("cgroup.procs"), &pid.to_string()).map_err(|e| procs_error(e, pid))
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.file_in("cgroup.procs")]
    }

    fn set_cpu_limit(&self, limit: CpuLimit) -> Result<()> {
        self.place.write(&self.need("cpu.max", "cpu")?, &limit.to_cpu_max())
    }

    fn cpu_limit(&self) -> Result<CpuLimit> {
        let path = self.need("cpu.max", "cpu")?;
        let text = read(&path)?;
        CpuLimit::from_cpu_max(&text).map_err(|why| Error::Format { path, content: text.trim().to_string(), why })
    }

    fn set_cpu_weight(&self, weight: u64) -> Result<()> {
        self.place.write(&self.need("cpu.weight", "cpu")?, &weight.to_string())
    }

    fn set_memory_max(&self, bytes: Option<u64>) -> Result<()> {
        self.place.write(&self.need("memory.max", "memory")?, &format_max(bytes))
    }

    fn set_memory_high(&self, bytes: Option<u64>) -> Result<()> {
        self.place.write(&self.need("memory.high", "memory")?, &format_max(bytes))
    }

    fn disable_swap(&self) -> Result<bool> {
        let path = self.file_in("memory.swap.max");
        if !path.exists() {
            return Ok(false);
        }
        self.place.write(&path, "0")?;
        Ok(true)
    }

    fn set_pids_max(&self, max: Option<u64>) -> Result<()> {
        self.place.write(&self.need("pids.max", "pids")?, &format_max(max))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let path = self.file_in("cgroup.freeze");
        self.place.write(&path, if frozen { "1" } else { "0" })?;
        let events = self.file_in("cgroup.events");
        let want = if frozen { 1 } else { 0 };
        if wait_until(Duration::from_secs(2), || {
            read_keyed(&events).ok().and_then(|e| keyed(&e, "frozen")) == Some(want)
        }) {
            Ok(())
        } else {
            Err(Error::Format {
                path: events,
                content: String::new(),
                why: format!("\"frozen {want}\" did not appear within 2 s"),
            })
        }
    }

    fn frozen(&self) -> Result<bool> {
        Ok(keyed(&read_keyed(&self.file_in("cgroup.events"))?, "frozen") == Some(1))
    }

    fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        // cpu.stat's usage lines are always there; the throttling lines only with the cpu controller.
        if let Ok(cpu) = read_keyed(&self.file_in("cpu.stat")) {
            stats.cpu = Some(CpuStats {
                usage: Duration::from_micros(keyed(&cpu, "usage_usec").unwrap_or(0)),
                nr_periods: keyed(&cpu, "nr_periods").unwrap_or(0),
                nr_throttled: keyed(&cpu, "nr_throttled").unwrap_or(0),
                throttled: Duration::from_micros(keyed(&cpu, "throttled_usec").unwrap_or(0)),
            });
        }
        if self.file_in("memory.current").exists() {
            let events = read_keyed(&self.file_in("memory.events")).unwrap_or_default();
            let stat = read_keyed(&self.file_in("memory.stat")).unwrap_or_default();
            let max_path = self.file_in("memory.max");
            let max = read(&max_path)?;
            stats.memory = Some(MemoryStats {
                usage: read_u64(&self.file_in("memory.current"))?,
                peak: read_u64(&self.file_in("memory.peak")).ok(),
                limit: parse_max(&max).map_err(|why| Error::Format {
                    path: max_path,
                    content: max.trim().to_string(),
                    why,
                })?,
                failcnt: None,
                events_high: keyed(&events, "high"),
                events_max: keyed(&events, "max"),
                events_oom: keyed(&events, "oom"),
                oom_kill: keyed(&events, "oom_kill"),
                anon: keyed(&stat, "anon"),
            });
        }
        if self.file_in("pids.current").exists() {
            stats.pids = Some(crate::cgroup::pids_stats(&self.dir())?);
        }
        Ok(stats)
    }

    fn all_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        crate::cgroup::collect_pids(&self.dir(), &mut pids);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn create_all(&self) -> Result<()> {
        crate::cgroup::retry_vanished_parents(|| {
            for dir in self.chain().iter().skip(1) {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source })?;
            }
            let offered = read(&self.mount.join("cgroup.controllers")).unwrap_or_default();
            for c in RUNTIME_CONTROLLERS.iter().filter(|c| words(&offered).any(|w| w == **c)) {
                // A controller the parent cannot pass down is left out; a limit on it then says so.
                let _ = self.delegate(c);
            }
            // mkdir, not mkdir -p: a parent that another container's removal took away meanwhile
            // would come back without its delegated controllers; ENOENT makes the round start over.
            let dir = self.dir();
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other.map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source }),
            }
        })
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        let files = V2Files { bfq_weight: self.file_in("io.bfq.weight").exists() };
        for step in plan_v2(resources, files)? {
            let path = if step.controller.is_empty() {
                self.file_in(&step.file)
            } else {
                self.need(&step.file, step.controller)?
            };
            apply_write(&self.place, &path, &step.value)?;
        }
        if !resources.devices.is_empty() {
            // No device files on v2: the rules become an eBPF program on the group.
            crate::devices::attach(&self.dir(), &resources.devices)?;
        }
        Ok(())
    }

    fn kill_all(&self) -> Result<()> {
        // The one removal path (cgroup.kill, or freeze, kill, thaw), shared with the undo journal.
        labkit::cleanup::empty_cgroups(&[self.dir()]).map_err(|e| Error::Io {
            op: "empty",
            path: self.dir(),
            source: std::io::Error::other(e),
        })
    }
}
