//! The container's cgroup: `linux.cgroupsPath` + `linux.resources` through labcgroup, which
//! holds every cgroup operation (the v1 and v2 drivers and the file mapping, `labcgroup::resources`);
//! this file only translates the OCI types and checks their values.
//!
//! The init sequence calls, in this order (runc's: join first, then limits, so a memory limit
//! below what the container already uses is refused by the kernel with EBUSY and reported):
//!
//! ```text
//! ContainerCgroup::check(resources)?             before anything exists: bad values are refused here
//! let cg = ContainerCgroup::resolve(path, id)?;   absolute / relative (under our own cgroup) / default
//! cg.create()?;                                   every hierarchy (v1) or controller (v2) available
//! cg.add_process(init_pid)?;
//! cg.apply(resources)?;                           errors name the file and the value
//! state.cgroup = cg.path()                        later: ContainerCgroup::open(&state.cgroup)?
//! ```
//!
//! `freeze`/`thaw`/`is_frozen` serve pause/resume, `pids` serves ps and kill --all, `remove`
//! serves delete, `stats` serves events/stats.
//!
//! Devices: v1 writes `devices.deny`/`devices.allow` in order, followed by the devices every
//! container gets (runc's list: /dev/null, zero, full, random, urandom, tty, console, ptmx,
//! pts, net/tun, and mknod of any). v2 has no such files: the same list becomes an eBPF
//! program attached to the group (labcgroup::devices), so a rule means the same in both worlds.

use crate::error::{Error, Result};
use labcgroup::resources::{DeviceRule, Resources, Throttle, ThrottleKind, WeightDevice};
use labcgroup::{Cgroup, GroupPath, System, Version};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice};

/// Where containers go when the bundle names no cgroupsPath.
pub const DEFAULT_PARENT: &str = "/labctl/lcrun";

/// The container's cgroup, in every hierarchy.
#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    system: System,
    path: GroupPath,
    encoded: String,
}

impl ContainerCgroup {
    /// `linux.cgroupsPath`: absolute = from each hierarchy's root; relative = under the
    /// caller's own cgroup of each hierarchy (as runc does); `None` or empty =
    /// `/labctl/lcrun/<id>`. systemd's `slice:prefix:name` is refused with the fix.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<ContainerCgroup> {
        let field = "linux.cgroupsPath";
        let path = match cgroups_path.map(str::trim).filter(|p| !p.is_empty()) {
            None => format!("{DEFAULT_PARENT}/{id}"),
            Some(p) => p.to_string(),
        };
        if !path.starts_with('/') && path.split(':').count() == 3 {
            return Err(Error::config(
                field,
                format!(
                    "{path:?} is a systemd path (slice:prefix:name); lcrun drives cgroupfs only, without \
                     --systemd-cgroup: give a cgroupfs path such as /labctl/{id}"
                ),
            ));
        }
        let system = System::detect()?;
        let group_path =
            if path.starts_with('/') { GroupPath::absolute(&path) } else { GroupPath::relative(&system, &path) }
                .map_err(|e| Error::config(field, e.to_string()))?;
        Ok(ContainerCgroup::from_path(system, group_path))
    }

    /// The group named by [`ContainerCgroup::path`], read back from the state file.
    pub fn open(path: &str) -> Result<ContainerCgroup> {
        let group_path = GroupPath::decode(path)?;
        Ok(ContainerCgroup::from_path(System::detect()?, group_path))
    }

    fn from_path(system: System, path: GroupPath) -> ContainerCgroup {
        let encoded = path.encode();
        ContainerCgroup { system, path, encoded }
    }

    /// One string for the state file: `/labctl/lcrun/ID`, or with the v1 hierarchies where a
    /// relative path landed elsewhere: `/t/c;memory=/process_api/x/t/c`.
    pub fn path(&self) -> &str {
        &self.encoded
    }

    /// cgroup v1 (this machine, hybrid included) or v2 (course VMs).
    pub fn version(&self) -> Version {
        self.system.version()
    }

    fn group(&self) -> Result<Cgroup> {
        Ok(self.system.runtime_group(&self.path)?)
    }

    /// Refuses values the kernel would refuse or misread, before anything is created.
    pub fn check(resources: &LinuxResources) -> Result<()> {
        let mapped = to_resources(resources)?;
        check_hugepage_sizes(&mapped)?;
        Ok(())
    }

    /// Makes the group in every hierarchy (v1; and the cgroup2 tree of a hybrid layout) or
    /// with every controller the parents can pass down (v2).
    pub fn create(&self) -> Result<()> {
        self.group()?.create_all()?;
        Ok(())
    }

    /// Writes every limit; an error names the control file and the value.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let mapped = to_resources(resources)?;
        self.group()?.apply(&mapped)?;
        Ok(())
    }

    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.group()?.add_process(pid)?;
        Ok(())
    }

    pub fn freeze(&self) -> Result<()> {
        Ok(self.group()?.freeze()?)
    }

    pub fn thaw(&self) -> Result<()> {
        Ok(self.group()?.thaw()?)
    }

    pub fn is_frozen(&self) -> Result<bool> {
        Ok(self.group()?.frozen()?)
    }

    /// Every process in the container's group and the groups below it, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self.group()?.all_pids())
    }

    /// Kills what is left, removes the group from every hierarchy (retrying briefly on
    /// EBUSY), then its empty parents named `lcrun`/`labctl*`. Removing a gone group is fine.
    pub fn remove(&self) -> Result<()> {
        Ok(self.group()?.remove()?)
    }

    pub fn stats(&self) -> Result<labcgroup::Stats> {
        Ok(self.group()?.stats()?)
    }
}

/// The devices every container may use (runc's `AllowedDevices`), after the bundle's rules.
fn default_devices() -> Vec<DeviceRule> {
    let rule = |kind, major: Option<i64>, minor: Option<i64>, access: &str| DeviceRule {
        allow: true,
        kind,
        major,
        minor,
        access: access.into(),
    };
    vec![
        rule('c', None, None, "m"),
        rule('b', None, None, "m"),
        rule('c', Some(1), Some(3), "rwm"),    // /dev/null
        rule('c', Some(1), Some(8), "rwm"),    // /dev/random
        rule('c', Some(1), Some(7), "rwm"),    // /dev/full
        rule('c', Some(5), Some(0), "rwm"),    // /dev/tty
        rule('c', Some(1), Some(5), "rwm"),    // /dev/zero
        rule('c', Some(1), Some(9), "rwm"),    // /dev/urandom
        rule('c', Some(5), Some(1), "rwm"),    // /dev/console
        rule('c', Some(136), None, "rwm"),     // /dev/pts/*
        rule('c', Some(5), Some(2), "rwm"),    // /dev/ptmx
        rule('c', Some(10), Some(200), "rwm"), // /dev/net/tun
    ]
}

/// Hugepage sizes the kernel has (`/sys/kernel/mm/hugepages/hugepages-2048kB` is `2MB`).
fn check_hugepage_sizes(r: &Resources) -> Result<()> {
    if r.hugetlb.is_empty() {
        return Ok(());
    }
    let sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let kb: u64 = name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
                    Some(page_size_name(kb))
                })
                .collect()
        })
        .unwrap_or_default();
    for (size, _) in &r.hugetlb {
        if !sizes.contains(size) {
            return Err(Error::config(
                "linux.resources.hugepageLimits",
                format!("page size {size:?} is not one this kernel has (it has: {sizes:?})"),
            ));
        }
    }
    Ok(())
}

/// The kernel's hugetlb file names: 2048 kB is `2MB`, 1048576 kB is `1GB`.
fn page_size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// OCI values -> labcgroup's; 0 means "not set" where runc reads it so (Go's zero value).
pub fn to_resources(r: &LinuxResources) -> Result<Resources> {
    let mut out = Resources::default();
    let bad = |field: &str, why: String| Err(Error::config(format!("linux.resources.{field}"), why));
    let set = |v: Option<i64>| v.filter(|n| *n != 0);

    if let Some(cpu) = r.cpu() {
        out.cpu_shares = cpu.shares().filter(|s| *s != 0);
        out.cpu_quota = set(cpu.quota());
        out.cpu_period = cpu.period().filter(|p| *p != 0);
        out.cpu_burst = cpu.burst();
        out.cpu_idle = cpu.idle();
        out.cpu_rt_runtime = set(cpu.realtime_runtime());
        out.cpu_rt_period = cpu.realtime_period().filter(|p| *p != 0);
        out.cpuset_cpus = cpu.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset_mems = cpu.mems().clone().filter(|s| !s.is_empty());
        if let Some(q) = out.cpu_quota {
            if q < -1 || (0..1000).contains(&q) {
                return bad("cpu.quota", format!("{q} µs: use -1 (no limit) or at least 1000 µs per period"));
            }
        }
        if let Some(p) = out.cpu_period {
            if !(1000..=1_000_000).contains(&p) {
                return bad("cpu.period", format!("{p} µs: the kernel takes 1000 to 1000000 µs"));
            }
        }
        if let Some(s) = out.cpu_shares {
            if !(2..=262_144).contains(&s) {
                return bad("cpu.shares", format!("{s}: the kernel takes 2 to 262144 (default 1024)"));
            }
        }
        if let Some(i) = out.cpu_idle {
            if !(0..=1).contains(&i) {
                return bad("cpu.idle", format!("{i}: 0 or 1"));
            }
        }
        for (field, list) in [("cpu.cpus", &out.cpuset_cpus), ("cpu.mems", &out.cpuset_mems)] {
            if let Some(list) = list {
                if !is_cpu_list(list) {
                    return bad(field, format!("{list:?}: expected a list such as 0-3,5"));
                }
            }
        }
    }

    if let Some(m) = r.memory() {
        let bytes = |field: &str, v: Option<i64>| -> Result<Option<i64>> {
            match set(v) {
                Some(n) if n < -1 => {
                    Err(Error::config(format!("linux.resources.memory.{field}"), format!("{n}: use -1 for no limit")))
                }
                other => Ok(other),
            }
        };
        out.memory_limit = bytes("limit", m.limit())?;
        out.memory_reservation = bytes("reservation", m.reservation())?;
        out.memory_swap = bytes("swap", m.swap())?;
        out.memory_kernel = bytes("kernel", m.kernel())?;
        out.memory_kernel_tcp = bytes("kernelTCP", m.kernel_tcp())?;
        out.memory_swappiness = m.swappiness();
        out.memory_oom_kill_disable = m.disable_oom_killer();
        let floor = labcgroup::parse::MIN_MEMORY as i64;
        if let Some(l) = out.memory_limit.filter(|l| *l > 0 && *l < floor) {
            return bad(
                "memory.limit",
                format!(
                    "{l} bytes is below the 6 MiB floor (6291456): the kernel takes it, but the container's first \
                     process is OOM-killed while it starts; give at least 6291456"
                ),
            );
        }
        if let (Some(l), Some(s)) = (out.memory_limit, out.memory_swap) {
            if l > 0 && s > 0 && s < l {
                return bad(
                    "memory.swap",
                    format!("{s} is below memory.limit {l}: swap counts memory plus swap, so it must be >= the limit"),
                );
            }
        }
        if let Some(s) = out.memory_swappiness.filter(|s| *s > 100) {
            return bad("memory.swappiness", format!("{s}: the kernel takes 0 to 100"));
        }
    }

    if let Some(p) = r.pids() {
        out.pids_max = Some(p.limit());
    }

    if let Some(b) = r.block_io() {
        let weight = |field: &str, w: Option<u16>| -> Result<Option<u16>> {
            match w.filter(|w| *w != 0) {
                Some(w) if !(10..=1000).contains(&w) => Err(Error::config(
                    format!("linux.resources.blockIO.{field}"),
                    format!("{w}: the kernel takes 10 to 1000"),
                )),
                other => Ok(other),
            }
        };
        out.blkio_weight = weight("weight", b.weight())?;
        out.blkio_leaf_weight = weight("leafWeight", b.leaf_weight())?;
        for d in b.weight_device().iter().flatten() {
            out.blkio_weight_devices.push(WeightDevice {
                major: d.major(),
                minor: d.minor(),
                weight: weight("weightDevice[].weight", d.weight())?,
                leaf_weight: weight("weightDevice[].leafWeight", d.leaf_weight())?,
            });
        }
        let throttles = |kind, list: &Option<Vec<LinuxThrottleDevice>>| {
            list.iter()
                .flatten()
                .map(|t| Throttle { kind, major: t.major(), minor: t.minor(), rate: t.rate() })
                .collect::<Vec<_>>()
        };
        out.blkio_throttles.extend(throttles(ThrottleKind::ReadBps, b.throttle_read_bps_device()));
        out.blkio_throttles.extend(throttles(ThrottleKind::WriteBps, b.throttle_write_bps_device()));
        out.blkio_throttles.extend(throttles(ThrottleKind::ReadIops, b.throttle_read_iops_device()));
        out.blkio_throttles.extend(throttles(ThrottleKind::WriteIops, b.throttle_write_iops_device()));
        for t in &out.blkio_throttles {
            if t.major < 0 || t.minor < 0 {
                return bad(
                    "blockIO.throttle*Device",
                    format!("{}:{}: a device number cannot be negative", t.major, t.minor),
                );
            }
        }
    }

    for h in r.hugepage_limits().iter().flatten() {
        if h.limit() < 0 {
            return bad("hugepageLimits", format!("{} limit {}: cannot be negative", h.page_size(), h.limit()));
        }
        out.hugetlb.push((h.page_size().clone(), h.limit() as u64));
    }

    if let Some(n) = r.network() {
        out.net_classid = n.class_id();
        for p in n.priorities().iter().flatten() {
            if p.name().is_empty() || p.name().contains(char::is_whitespace) {
                return bad("network.priorities", format!("{:?}: not an interface name", p.name()));
            }
            out.net_priorities.push((p.name().clone(), p.priority()));
        }
    }

    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return bad("rdma", "the rdma controller is not supported by lcrun; leave linux.resources.rdma out".into());
    }

    if let Some(unified) = r.unified() {
        let mut entries: Vec<(String, String)> = unified.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.sort();
        out.unified = entries;
    }

    if let Some(devices) = r.devices() {
        for d in devices {
            out.devices.push(device_rule(d)?);
        }
        if !devices.is_empty() {
            out.devices.extend(default_devices());
        }
    }
    Ok(out)
}

fn device_rule(d: &LinuxDeviceCgroup) -> Result<DeviceRule> {
    let kind = d.typ().map_or('a', |t| t.as_str().chars().next().unwrap_or('a'));
    let access = d.access().clone().unwrap_or_else(|| "rwm".into());
    let field = "linux.resources.devices[]";
    if !matches!(kind, 'a' | 'b' | 'c') {
        return Err(Error::config(field, format!("type {kind:?}: a device cgroup rule is for a, b or c devices")));
    }
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(Error::config(field, format!("access {access:?}: use some of r, w, m")));
    }
    // runc writes -1 for "any"; so do some engines.
    let number = |n: Option<i64>| n.filter(|n| *n >= 0);
    Ok(DeviceRule { allow: d.allow(), kind, major: number(d.major()), minor: number(d.minor()), access })
}

fn is_cpu_list(list: &str) -> bool {
    list.split(',').all(|part| {
        let mut ends = part.trim().splitn(2, '-');
        let ok = |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
        let first = ends.next();
        match ends.next() {
            None => ok(first),
            second => ok(first) && ok(second),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn systemd_paths_are_refused_with_the_fix() {
        let err = ContainerCgroup::resolve(Some("machine.slice:libpod:abc"), "abc").unwrap_err().to_string();
        assert!(err.contains("linux.cgroupsPath") && err.contains("systemd") && err.contains("/labctl/abc"), "{err}");
    }

    #[test]
    fn page_sizes_are_named_as_the_kernel_does() {
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1_048_576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
    }

    #[test]
    fn the_runtime_tools_memory_case_maps_field_by_field() {
        let r = resources(
            r#"{"memory":{"limit":50593792,"reservation":50593792,"swap":50593792,"kernel":50593792,
                "kernelTCP":50593792,"swappiness":10,"disableOOMKiller":true}}"#,
        );
        let m = to_resources(&r).unwrap();
        assert_eq!(
            (m.memory_limit, m.memory_reservation, m.memory_swap),
            (Some(50593792), Some(50593792), Some(50593792))
        );
        assert_eq!((m.memory_kernel, m.memory_kernel_tcp), (Some(50593792), Some(50593792)));
        assert_eq!((m.memory_swappiness, m.memory_oom_kill_disable), (Some(10), Some(true)));
    }

    #[test]
    fn cpu_blkio_pids_network_hugetlb_map() {
        let r = resources(
            r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"realtimeRuntime":0,"cpus":"0-1","mems":"0"},
                "pids":{"limit":1000},
                "blockIO":{"weight":500,"leafWeight":300,"weightDevice":[{"major":8,"minor":0,"weight":500,"leafWeight":300}],
                           "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":102400}],
                           "throttleWriteIopsDevice":[{"major":8,"minor":0,"rate":300}]},
                "network":{"classID":1048577,"priorities":[{"name":"lo","priority":2}]},
                "hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
        );
        let m = to_resources(&r).unwrap();
        assert_eq!(
            (m.cpu_shares, m.cpu_quota, m.cpu_period, m.cpu_rt_runtime),
            (Some(1024), Some(50000), Some(100000), None)
        );
        assert_eq!((m.cpuset_cpus.as_deref(), m.cpuset_mems.as_deref()), (Some("0-1"), Some("0")));
        assert_eq!(m.pids_max, Some(1000));
        assert_eq!((m.blkio_weight, m.blkio_leaf_weight), (Some(500), Some(300)));
        assert_eq!(
            m.blkio_weight_devices,
            [WeightDevice { major: 8, minor: 0, weight: Some(500), leaf_weight: Some(300) }]
        );
        assert_eq!(
            m.blkio_throttles,
            [
                Throttle { kind: ThrottleKind::ReadBps, major: 8, minor: 0, rate: 102400 },
                Throttle { kind: ThrottleKind::WriteIops, major: 8, minor: 0, rate: 300 }
            ]
        );
        assert_eq!((m.net_classid, m.net_priorities.clone()), (Some(1048577), vec![("lo".to_string(), 2)]));
        assert_eq!(m.hugetlb, [("2MB".to_string(), 4194304)]);
    }

    #[test]
    fn device_rules_come_first_then_the_defaults() {
        let r = resources(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"},
                           {"allow":true,"type":"b","major":8,"minor":-1,"access":"r"}]}"#,
        );
        let m = to_resources(&r).unwrap();
        let lines: Vec<String> = m.devices.iter().map(DeviceRule::to_v1).collect();
        assert_eq!(&lines[..3], ["a *:* rwm", "c 10:229 rwm", "b 8:* r"]);
        assert!(!m.devices[0].allow);
        assert_eq!(lines.len(), 3 + default_devices().len());
        assert!(lines.contains(&"c 1:3 rwm".to_string()), "/dev/null stays usable");
        // None at all: the group keeps what it inherits, nothing is added.
        assert!(to_resources(&resources("{}")).unwrap().devices.is_empty());
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        for (json, field, why) in [
            (r#"{"memory":{"limit":1024}}"#, "memory.limit", "6 MiB"),
            (r#"{"memory":{"limit":-5}}"#, "memory.limit", "-1 for no limit"),
            (r#"{"memory":{"limit":104857600,"swap":52428800}}"#, "memory.swap", ">= the limit"),
            (r#"{"memory":{"swappiness":101}}"#, "memory.swappiness", "0 to 100"),
            (r#"{"cpu":{"quota":500}}"#, "cpu.quota", "at least 1000"),
            (r#"{"cpu":{"period":10}}"#, "cpu.period", "1000 to 1000000"),
            (r#"{"cpu":{"cpus":"0-a"}}"#, "cpu.cpus", "0-3,5"),
            (r#"{"blockIO":{"weight":5}}"#, "blockIO.weight", "10 to 1000"),
            (r#"{"devices":[{"allow":true,"access":"rwx"}]}"#, "devices[]", "r, w, m"),
            (r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#, "hugepageLimits", "3MB"),
        ] {
            let err = ContainerCgroup::check(&resources(json)).unwrap_err().to_string();
            assert!(err.contains(&format!("linux.resources.{field}")) && err.contains(why), "{json}: {err}");
        }
        assert!(ContainerCgroup::check(&resources(r#"{"memory":{"limit":-1},"pids":{"limit":-1}}"#)).is_ok());
    }

    #[test]
    fn cpu_lists_parse() {
        for ok in ["0", "0-1", "0,2-3", "1-1"] {
            assert!(is_cpu_list(ok), "{ok}");
        }
        for bad in ["", "a", "0-", "-1", "0,,1"] {
            assert!(!is_cpu_list(bad), "{bad}");
        }
    }
}
