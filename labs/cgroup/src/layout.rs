//! Which cgroup world this machine lives in, read from `/proc/self/mountinfo`:
//! - **legacy**: only cgroup v1 hierarchies, one per controller (or a few co-mounted);
//! - **hybrid**: v1 hierarchies hold the controllers, plus an empty cgroup2 tree at
//!   `/sys/fs/cgroup/unified` (systemd's compromise; this build machine);
//! - **unified**: one cgroup2 tree at `/sys/fs/cgroup` with every controller (course VMs).
//!
//! Every path goes through a [`Root`], `/` on a real machine and a temp dir in tests, so the
//! drivers run unchanged against fake sysfs trees.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Legacy,
    Hybrid,
    Unified,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Legacy => "legacy (cgroup v1 only)",
            Layout::Hybrid => "hybrid (cgroup v1 controllers + an empty cgroup v2 tree)",
            Layout::Unified => "unified (cgroup v2 only)",
        }
    }

    /// Which driver manages the controllers: v1 for legacy and hybrid, v2 for unified.
    pub fn version(self) -> Version {
        match self {
            Layout::Legacy | Layout::Hybrid => Version::V1,
            Layout::Unified => Version::V2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// Where the filesystem starts: `/` for real, a temp dir for a fake sysfs tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn host() -> Root {
        Root(PathBuf::from("/"))
    }

    pub fn fake(dir: &Path) -> Root {
        Root(dir.to_path_buf())
    }

    /// An absolute path as seen by the kernel (`/sys/fs/cgroup/cpu`) under this root.
    pub fn path(&self, absolute: &Path) -> PathBuf {
        self.0.join(absolute.strip_prefix("/").unwrap_or(absolute))
    }

    pub fn is_host(&self) -> bool {
        self.0 == Path::new("/")
    }
}

/// One cgroup mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The mount point as the kernel names it (`/sys/fs/cgroup/memory`).
    pub mount_point: PathBuf,
    /// 1 or 2.
    pub version: u8,
    /// v1: the controllers bound to this hierarchy (`cpu`, `cpuacct`); `name=systemd` is not
    /// one. v2: empty (read `cgroup.controllers` instead).
    pub controllers: Vec<String>,
}

impl CgroupMount {
    /// The hierarchy's name in `/proc/PID/cgroup`: its controllers, sorted and comma-joined
    /// (`cpu,cpuacct`); "" for cgroup2.
    pub fn key(&self) -> String {
        let mut controllers = self.controllers.clone();
        controllers.sort();
        controllers.join(",")
    }
}

/// What mountinfo says about cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounts {
    pub layout: Layout,
    pub mounts: Vec<CgroupMount>,
}

impl Mounts {
    /// The v1 hierarchy a controller is bound to.
    pub fn v1_mount(&self, controller: &str) -> Option<&CgroupMount> {
        self.mounts.iter().find(|m| m.version == 1 && m.controllers.iter().any(|c| c == controller))
    }

    /// The cgroup2 mount (in hybrid layouts the empty `unified` one).
    pub fn v2_mount(&self) -> Option<&CgroupMount> {
        self.mounts.iter().find(|m| m.version == 2)
    }
}

/// Parses `/proc/self/mountinfo` text and decides the layout.
pub fn parse_mountinfo(text: &str) -> Option<Mounts> {
    let mut mounts = Vec::new();
    for mount in labkit::mountinfo::parse(text) {
        let mount_point = PathBuf::from(mount.mount_point);
        match mount.fstype.as_str() {
            "cgroup2" => mounts.push(CgroupMount { mount_point, version: 2, controllers: Vec::new() }),
            "cgroup" => {
                let controllers: Vec<String> =
                    mount.super_options.split(',').filter(|o| V1_CONTROLLERS.contains(o)).map(str::to_string).collect();
                mounts.push(CgroupMount { mount_point, version: 1, controllers });
            }
            _ => {}
        }
    }
    let v1_controllers = mounts.iter().any(|m| m.version == 1 && !m.controllers.is_empty());
    let v2 = mounts.iter().any(|m| m.version == 2);
    let layout = match (v1_controllers, v2) {
        (false, true) => Layout::Unified,
        (true, true) => Layout::Hybrid,
        (true, false) => Layout::Legacy,
        (false, false) => return None,
    };
    Some(Mounts { layout, mounts })
}

/// Controller names that can appear in a v1 mount's super options (everything else there is
/// an option such as `rw` or `name=systemd`).
pub const V1_CONTROLLERS: [&str; 13] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
];

/// Reads and parses mountinfo under `root`.
pub fn detect(root: &Root) -> Result<Mounts> {
    let path = root.path(Path::new("/proc/self/mountinfo"));
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { op: "read", path: path.clone(), source })?;
    parse_mountinfo(&text).ok_or(Error::NoCgroupFs { mountinfo: path })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// This build machine's mountinfo (cgroup lines and one other).
    pub const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// An Ubuntu 22.04 course VM.
    pub const UNIFIED: &str = "\
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// Debian 9 era, with cpu and cpuacct co-mounted.
    pub const LEGACY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
";

    #[test]
    fn this_machine_is_hybrid() {
        let m = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(m.layout, Layout::Hybrid);
        assert_eq!(m.v1_mount("memory").unwrap().mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m.v2_mount().unwrap().mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert!(m.v1_mount("net_cls").is_none());
    }

    #[test]
    fn a_course_vm_is_unified() {
        let m = parse_mountinfo(UNIFIED).unwrap();
        assert_eq!(m.layout, Layout::Unified);
        assert_eq!(m.layout.version(), Version::V2);
    }

    #[test]
    fn co_mounted_v1_controllers_share_a_hierarchy() {
        let m = parse_mountinfo(LEGACY).unwrap();
        assert_eq!(m.layout, Layout::Legacy);
        assert_eq!(m.v1_mount("cpu"), m.v1_mount("cpuacct"));
        assert_eq!(m.v1_mount("cpu").unwrap().mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    }

    #[test]
    fn no_cgroup_mount_is_none() {
        assert!(parse_mountinfo("23 1 0:21 / /sys rw - sysfs sysfs rw\n").is_none());
    }

    #[test]
    fn escaped_mount_points_are_unescaped() {
        assert_eq!(
            parse_mountinfo("1 0 0:1 / /a\\040b rw - cgroup2 cgroup2 rw\n").unwrap().mounts[0].mount_point,
            PathBuf::from("/a b")
        );
    }

    #[test]
    fn the_real_mountinfo_parses() {
        let m = detect(&Root::host()).unwrap();
        assert!(!m.mounts.is_empty());
    }
}
