//! The cgroup v1 driver: one hierarchy per controller (or a few co-mounted), so one group is a
//! directory in each: `/sys/fs/cgroup/cpu/labctl/NAME`, `/sys/fs/cgroup/memory/labctl/NAME`, ...
//! A process joins by having its pid written to `cgroup.procs` in every one of them.

use crate::cgroup::{
    apply_write, procs_error, read, read_keyed, read_u64, wait_until, Controller, CpuStats, Driver, MemoryStats,
    Placement, Stats,
};
use crate::error::{Error, Result};
use crate::layout::{CgroupMount, Mounts, Root, Version};
use crate::parse::{format_max, keyed, v1_limit, weight_to_shares, CpuLimit};
use crate::resources::{plan_v1, Resources};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug)]
pub struct V1 {
    root: Root,
    mounts: Mounts,
    /// `labctl/NAME` for the labs; anywhere for the runtime.
    place: Placement,
}

/// The v1 hierarchies a lab controller lives in (cpu accounting is the separate cpuacct).
fn subsystems(controller: Controller) -> &'static [&'static str] {
    match controller {
        Controller::Cpu => &["cpu", "cpuacct"],
        Controller::Memory => &["memory"],
        Controller::Pids => &["pids"],
        Controller::Freezer => &["freezer"],
    }
}

impl V1 {
    pub fn new(root: Root, mounts: Mounts, place: Placement) -> V1 {
        V1 { root, mounts, place }
    }

    fn write(&self, path: &std::path::Path, value: &str) -> Result<()> {
        self.place.write(path, value)
    }

    /// The group's directory in one hierarchy.
    fn dir_in(&self, mount: &CgroupMount) -> PathBuf {
        let rel = self.place.rel_for(&mount.key());
        self.root.path(&mount.mount_point).join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// The group's directory in the hierarchy of `subsystem`, if that is mounted.
    fn dir_of(&self, subsystem: &str) -> Option<PathBuf> {
        self.mounts.v1_mount(subsystem).map(|m| self.dir_in(m))
    }

    /// The directory for a subsystem's files, only if the group has it.
    fn existing(&self, subsystem: &str) -> Option<PathBuf> {
        self.dir_of(subsystem).filter(|d| d.is_dir())
    }

    fn need(&self, subsystem: &'static str) -> Result<PathBuf> {
        if self.mounts.v1_mount(subsystem).is_none() {
            return Err(Error::V1NotMounted { controller: subsystem });
        }
        self.existing(subsystem).ok_or(Error::Unsupported {
            what: "this limit",
            version: "v1",
            why: "the group was created without this controller",
        })
    }

    /// One directory per controller hierarchy; a runtime group also has one in a hybrid
    /// layout's cgroup2 tree (no limits there: it keeps the container's cgroup2 view its own).
    fn all_hierarchy_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .mounts
            .mounts
            .iter()
            .filter(|m| m.version == 1 && !m.controllers.is_empty() || m.version == 2 && self.place.runtime)
            .map(|m| self.dir_in(m))
            .collect();
        dirs.dedup();
        dirs
    }

    /// A fresh v1 cpuset group has empty `cpuset.cpus`/`cpuset.mems`, and no process may join
    /// it until they are set: copy them down from the nearest parent, as runc does.
    fn fill_cpuset(&self) -> Result<()> {
        let Some(mount) = self.mounts.v1_mount("cpuset") else { return Ok(()) };
        let top = self.root.path(&mount.mount_point);
        let Some(leaf) = self.dir_of("cpuset") else { return Ok(()) };
        let Ok(below) = leaf.strip_prefix(&top) else { return Ok(()) };
        let mut dir = top.clone();
        for part in below.components() {
            let parent = dir.clone();
            dir = dir.join(part);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let path = dir.join(file);
                if read(&path)?.trim().is_empty() {
                    let value = read(&parent.join(file))?;
                    self.write(&path, value.trim())?;
                }
            }
        }
        Ok(())
    }
}

impl Driver for V1 {
    fn version(&self) -> Version {
        Version::V1
    }

    fn dirs(&self, controllers: &[Controller]) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for c in controllers {
            for sub in subsystems(*c) {
                if let Some(d) = self.dir_of(sub) {
                    if !dirs.contains(&d) {
                        dirs.push(d);
                    }
                }
            }
        }
        Ok(dirs)
    }

    fn existing_dirs(&self) -> Vec<PathBuf> {
        self.all_hierarchy_dirs().into_iter().filter(|d| d.is_dir()).collect()
    }

    fn create(&self, required: &[Controller], optional: &[Controller]) -> Result<()> {
        for c in required {
            let main = subsystems(*c)[0];
            if self.mounts.v1_mount(main).is_none() {
                return Err(Error::V1NotMounted { controller: main });
            }
        }
        let all: Vec<Controller> = required.iter().chain(optional).copied().collect();
        for dir in self.dirs(&all)? {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source })?;
        }
        Ok(())
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        let prefix = name.split('.').next().unwrap_or("");
        if prefix == "cgroup" || name == "tasks" || name == "notify_on_release" {
            return self.existing_dirs().into_iter().next().map(|d| d.join(name));
        }
        self.existing(prefix).map(|d| d.join(name))
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        for file in self.procs_files() {
            self.write(&file, &pid.to_string()).map_err(|e| procs_error(e, pid))?;
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.existing_dirs().into_iter().map(|d| d.join("cgroup.procs")).collect()
    }

    fn set_cpu_limit(&self, limit: CpuLimit) -> Result<()> {
        let dir = self.need("cpu")?;
        // The period first: a quota is validated against it.
        self.write(&dir.join("cpu.cfs_period_us"), &limit.period_us.to_string())?;
        let quota = limit.quota_us.map_or("-1".to_string(), |q| q.to_string());
        self.write(&dir.join("cpu.cfs_quota_us"), &quota)
    }

    fn cpu_limit(&self) -> Result<CpuLimit> {
        let dir = self.need("cpu")?;
        let (q, p) = (read(&dir.join("cpu.cfs_quota_us"))?, read(&dir.join("cpu.cfs_period_us"))?);
        CpuLimit::from_v1(&q, &p).map_err(|why| Error::Format {
            path: dir.join("cpu.cfs_quota_us"),
            content: q.trim().to_string(),
            why,
        })
    }

    fn set_cpu_weight(&self, weight: u64) -> Result<()> {
        let dir = self.need("cpu")?;
        self.write(&dir.join("cpu.shares"), &weight_to_shares(weight).to_string())
    }

    fn set_memory_max(&self, bytes: Option<u64>) -> Result<()> {
        let dir = self.need("memory")?;
        let value = bytes.map_or("-1".to_string(), |b| b.to_string());
        // memsw (memory+swap) must stay >= the memory limit: raise it first when it is lower.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            let current = v1_limit(read_u64(&memsw)?);
            let raise = match (current, bytes) {
                (Some(c), Some(b)) => c < b,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if raise {
                self.write(&memsw, &value)?;
            }
        }
        self.write(&dir.join("memory.limit_in_bytes"), &value)
    }

    fn set_memory_high(&self, _bytes: Option<u64>) -> Result<()> {
        Err(Error::Unsupported {
            what: "memory.high (throttling before the limit)",
            version: "v1",
            why: "v1 has only memory.soft_limit_in_bytes, which is applied under global memory pressure, not per group",
        })
    }

    fn disable_swap(&self) -> Result<bool> {
        let dir = self.need("memory")?;
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if !memsw.exists() {
            return Ok(false);
        }
        let limit = read(&dir.join("memory.limit_in_bytes"))?;
        self.write(&memsw, limit.trim())?;
        Ok(true)
    }

    fn set_pids_max(&self, max: Option<u64>) -> Result<()> {
        let dir = self.need("pids")?;
        self.write(&dir.join("pids.max"), &format_max(max))
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let dir = self.need("freezer")?;
        let state = dir.join("freezer.state");
        self.write(&state, if frozen { "FROZEN" } else { "THAWED" })?;
        let want = if frozen { "FROZEN" } else { "THAWED" };
        if wait_until(Duration::from_secs(2), || read(&state).map(|s| s.trim() == want).unwrap_or(false)) {
            Ok(())
        } else {
            Err(Error::Format {
                path: state.clone(),
                content: read(&state).unwrap_or_default().trim().to_string(),
                why: format!("still not {want} after 2 s"),
            })
        }
    }

    fn frozen(&self) -> Result<bool> {
        let dir = self.need("freezer")?;
        Ok(read(&dir.join("freezer.state"))?.trim() == "FROZEN")
    }

    fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        if let Some(dir) = self.existing("cpu") {
            let cpu_stat = read_keyed(&dir.join("cpu.stat"))?;
            let usage = match self.existing("cpuacct") {
                Some(acct) => Duration::from_nanos(read_u64(&acct.join("cpuacct.usage"))?),
                None => Duration::ZERO,
            };
            stats.cpu = Some(CpuStats {
                usage,
                nr_periods: keyed(&cpu_stat, "nr_periods").unwrap_or(0),
                nr_throttled: keyed(&cpu_stat, "nr_throttled").unwrap_or(0),
                throttled: Duration::from_nanos(keyed(&cpu_stat, "throttled_time").unwrap_or(0)),
            });
        }
        if let Some(dir) = self.existing("memory") {
            let oom = read_keyed(&dir.join("memory.oom_control")).unwrap_or_default();
            let stat = read_keyed(&dir.join("memory.stat")).unwrap_or_default();
            stats.memory = Some(MemoryStats {
                usage: read_u64(&dir.join("memory.usage_in_bytes"))?,
                peak: read_u64(&dir.join("memory.max_usage_in_bytes")).ok(),
                limit: v1_limit(read_u64(&dir.join("memory.limit_in_bytes"))?),
                failcnt: read_u64(&dir.join("memory.failcnt")).ok(),
                events_high: None,
                events_max: None,
                events_oom: None,
                oom_kill: keyed(&oom, "oom_kill"),
                anon: keyed(&stat, "rss"),
            });
        }
        if let Some(dir) = self.existing("pids") {
            stats.pids = Some(crate::cgroup::pids_stats(&dir)?);
        }
        Ok(stats)
    }

    fn all_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in self.existing_dirs() {
            crate::cgroup::collect_pids(&dir, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn create_all(&self) -> Result<()> {
        crate::cgroup::retry_vanished_parents(|| {
            for dir in self.all_hierarchy_dirs() {
                std::fs::create_dir_all(&dir).map_err(|source| Error::Io { op: "mkdir", path: dir.clone(), source })?;
            }
            self.fill_cpuset()
        })
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        let memsw = self.existing("memory").map(|d| d.join("memory.memsw.limit_in_bytes")).filter(|p| p.exists());
        let current_memsw = match memsw {
            Some(path) => Some(read_u64(&path)?),
            None => None,
        };
        for step in plan_v1(resources, current_memsw)? {
            let dir = self.need(step.controller)?;
            let mut path = dir.join(&step.file);
            // Since Linux 5.0 (no CFQ) the weights live in BFQ's files, as runc also finds.
            if matches!(step.file.as_str(), "blkio.weight" | "blkio.weight_device") && !path.exists() {
                let bfq = dir.join(step.file.replace("blkio.", "blkio.bfq."));
                if bfq.exists() {
                    path = bfq;
                }
            }
            apply_write(&self.place, &path, &step.value)?;
        }
        Ok(())
    }

    fn kill_all(&self) -> Result<()> {
        // The one removal path (freeze, kill, thaw), shared with the undo journal.
        let dirs = self.existing_dirs();
        labkit::cleanup::empty_cgroups(&dirs).map_err(|e| Error::Io {
            op: "empty",
            path: dirs.first().cloned().unwrap_or_default(),
            source: std::io::Error::other(e),
        })
    }
}
