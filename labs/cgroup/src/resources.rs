//! Every limit a container runtime sets on a group, in one world-neutral description
//! ([`Resources`], the OCI `linux.resources` fields in the kernel's units), and the two pure
//! mappings onto control files: [`plan_v1`] (`cpu.shares`, `memory.limit_in_bytes`,
//! `blkio.throttle.read_bps_device`, `devices.allow`, ...) and [`plan_v2`] (`cpu.weight`,
//! `memory.max`, `io.max`, ...). The drivers only execute the planned writes, in order, so
//! every mapping is unit-tested without a kernel.

use crate::error::{Error, Result};

/// What to set; `None` / empty = leave the kernel's value alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// v1 `cpu.shares` (2..262144, default 1024); v2 `cpu.weight` by runc's formula.
    pub cpu_shares: Option<u64>,
    /// CFS quota in µs per period; -1 = no limit.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_burst: Option<u64>,
    pub cpu_idle: Option<i64>,
    /// Real-time budget per period, µs (v1 only).
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    /// cpuset lists such as `0-1` and `0`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Bytes; -1 = no limit.
    pub memory_limit: Option<i64>,
    /// Soft limit: v1 `memory.soft_limit_in_bytes`, v2 `memory.low`.
    pub memory_reservation: Option<i64>,
    /// Memory **plus** swap, as OCI and v1's memsw count it; -1 = no limit.
    pub memory_swap: Option<i64>,
    /// v1 kernel memory limits (v2 always charges kernel memory to `memory.max`).
    pub memory_kernel: Option<i64>,
    pub memory_kernel_tcp: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub memory_oom_kill_disable: Option<bool>,
    /// `pids.max`; zero or negative = no limit.
    pub pids_max: Option<i64>,
    /// Block I/O weight 10..1000 (v1 `blkio.weight`, v2 `io.bfq.weight` or converted `io.weight`).
    pub blkio_weight: Option<u16>,
    pub blkio_leaf_weight: Option<u16>,
    pub blkio_weight_devices: Vec<WeightDevice>,
    pub blkio_throttles: Vec<Throttle>,
    /// Hugepage limits: page size as the kernel names it (`2MB`, `1GB`) and bytes.
    pub hugetlb: Vec<(String, u64)>,
    pub net_classid: Option<u32>,
    pub net_priorities: Vec<(String, u32)>,
    /// Device access rules, applied in order.
    pub devices: Vec<DeviceRule>,
    /// Raw v2 control files (`file`, `value`): OCI's `unified` map.
    pub unified: Vec<(String, String)>,
}

/// A per-device block I/O weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightDevice {
    pub major: i64,
    pub minor: i64,
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

/// A per-device I/O rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub kind: ThrottleKind,
    pub major: i64,
    pub minor: i64,
    pub rate: u64,
}

/// One device cgroup rule: type `a` (all), `b` or `c`; `None` major/minor = any (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl DeviceRule {
    /// The v1 line for `devices.allow` / `devices.deny`: `c 10:229 rwm`, `a *:* rwm`.
    pub fn to_v1(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let access = if self.access.is_empty() { "rwm" } else { &self.access };
        format!("{} {}:{} {}", self.kind, num(self.major), num(self.minor), access)
    }

    /// Matches every device with every access (`a *:* rwm`).
    pub fn is_everything(&self) -> bool {
        self.kind == 'a' && self.major.is_none() && self.minor.is_none() && rwm(&self.access)
    }
}

fn rwm(access: &str) -> bool {
    access.is_empty() || ['r', 'w', 'm'].iter().all(|c| access.contains(*c))
}

/// One control-file write: the controller that owns the file (the v1 hierarchy; on v2 the
/// controller to delegate, "" for core files), the file name, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write { controller, file: file.into(), value: value.to_string() }
}

/// -1 (or any negative) = no limit, as v1 files take it.
fn v1_bytes(n: i64) -> String {
    if n < 0 {
        "-1".into()
    } else {
        n.to_string()
    }
}

/// v1's order for memory: memsw must stay >= the limit at every moment, so when the new limit
/// would exceed the current memsw, memsw goes first. `current_memsw` is what the group has now.
pub fn plan_v1(r: &Resources, current_memsw: Option<u64>) -> Result<Vec<Write>> {
    if !r.unified.is_empty() {
        return Err(Error::Unavailable {
            what: "linux.resources.unified".into(),
            why: "it holds cgroup v2 files, and this machine runs cgroup v1 (leave it out here)".into(),
        });
    }
    let mut out = Vec::new();
    // cpu: the period before the quota (the quota is checked against it), rt period before runtime.
    if let Some(v) = r.cpu_shares {
        out.push(w("cpu", "cpu.shares", v));
    }
    if let Some(v) = r.cpu_period {
        out.push(w("cpu", "cpu.cfs_period_us", v));
    }
    if let Some(v) = r.cpu_quota {
        out.push(w("cpu", "cpu.cfs_quota_us", if v < 0 { -1 } else { v }));
    }
    if let Some(v) = r.cpu_burst {
        out.push(w("cpu", "cpu.cfs_burst_us", v));
    }
    if let Some(v) = r.cpu_idle {
        out.push(w("cpu", "cpu.idle", v));
    }
    if let Some(v) = r.cpu_rt_period {
        out.push(w("cpu", "cpu.rt_period_us", v));
    }
    if let Some(v) = r.cpu_rt_runtime {
        out.push(w("cpu", "cpu.rt_runtime_us", v));
    }
    if let Some(v) = &r.cpuset_cpus {
        out.push(w("cpuset", "cpuset.cpus", v));
    }
    if let Some(v) = &r.cpuset_mems {
        out.push(w("cpuset", "cpuset.mems", v));
    }
    // memory
    let limit = r.memory_limit.map(|l| w("memory", "memory.limit_in_bytes", v1_bytes(l)));
    let memsw = r.memory_swap.map(|s| w("memory", "memory.memsw.limit_in_bytes", v1_bytes(s)));
    let as_u64 = |n: i64| if n < 0 { u64::MAX } else { n as u64 };
    let memsw_first = match (r.memory_limit, current_memsw) {
        (Some(l), Some(current)) => as_u64(l) > current,
        _ => false,
    };
    if memsw_first {
        out.extend(memsw.clone());
        out.extend(limit);
    } else {
        out.extend(limit);
        out.extend(memsw);
    }
    if let Some(v) = r.memory_reservation {
        out.push(w("memory", "memory.soft_limit_in_bytes", v1_bytes(v)));
    }
    if let Some(v) = r.memory_kernel {
        out.push(w("memory", "memory.kmem.limit_in_bytes", v1_bytes(v)));
    }
    if let Some(v) = r.memory_kernel_tcp {
        out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", v1_bytes(v)));
    }
    if let Some(v) = r.memory_swappiness {
        out.push(w("memory", "memory.swappiness", v));
    }
    if let Some(v) = r.memory_oom_kill_disable {
        out.push(w("memory", "memory.oom_control", u8::from(v)));
    }
    if let Some(v) = r.pids_max {
        out.push(w("pids", "pids.max", if v > 0 { v.to_string() } else { "max".into() }));
    }
    // blkio
    if let Some(v) = r.blkio_weight {
        out.push(w("blkio", "blkio.weight", v));
    }
    if let Some(v) = r.blkio_leaf_weight {
        out.push(w("blkio", "blkio.leaf_weight", v));
    }
    for d in &r.blkio_weight_devices {
        if let Some(v) = d.weight {
            out.push(w("blkio", "blkio.weight_device", format!("{}:{} {v}", d.major, d.minor)));
        }
        if let Some(v) = d.leaf_weight {
            out.push(w("blkio", "blkio.leaf_weight_device", format!("{}:{} {v}", d.major, d.minor)));
        }
    }
    for t in &r.blkio_throttles {
        let file = match t.kind {
            ThrottleKind::ReadBps => "blkio.throttle.read_bps_device",
            ThrottleKind::WriteBps => "blkio.throttle.write_bps_device",
            ThrottleKind::ReadIops => "blkio.throttle.read_iops_device",
            ThrottleKind::WriteIops => "blkio.throttle.write_iops_device",
        };
        out.push(w("blkio", file, format!("{}:{} {}", t.major, t.minor, t.rate)));
    }
    for (size, limit) in &r.hugetlb {
        out.push(w("hugetlb", format!("hugetlb.{size}.limit_in_bytes"), limit));
    }
    if let Some(v) = r.net_classid {
        out.push(w("net_cls", "net_cls.classid", v));
    }
    for (iface, prio) in &r.net_priorities {
        out.push(w("net_prio", "net_prio.ifpriomap", format!("{iface} {prio}")));
    }
    for rule in &r.devices {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        out.push(w("devices", file, rule.to_v1()));
    }
    Ok(out)
}

/// runc's mapping of v1 `cpu.shares` (2..262144) onto v2 `cpu.weight` (1..10000): linear, so
/// the default 1024 becomes 39 (not 100: runc and crun agree on this, so we do too).
pub fn shares_to_v2_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// runc's mapping of a blkio weight (10..1000) onto `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// v2 `memory.swap.max` counts swap alone; OCI's swap is memory + swap.
fn v2_swap(limit: Option<i64>, swap: i64) -> Result<String> {
    if swap < 0 {
        return Ok("max".into());
    }
    match limit {
        Some(l) if l > 0 && swap >= l => Ok((swap - l).to_string()),
        Some(l) if l > 0 => Err(Error::Unavailable {
            what: format!("linux.resources.memory.swap {swap}"),
            why: format!("it counts memory plus swap, so it must be at least the memory limit {l}"),
        }),
        _ => Err(Error::Unavailable {
            what: format!("linux.resources.memory.swap {swap}"),
            why: "cgroup v2 sets swap relative to the memory limit: give linux.resources.memory.limit too".into(),
        }),
    }
}

/// What exists on the v2 group, for the choices runc makes by looking (io.bfq.weight or io.weight).
#[derive(Debug, Clone, Copy, Default)]
pub struct V2Files {
    pub bfq_weight: bool,
}

/// The v2 writes. Kernel memory (`kernel`, `kernelTCP`) has no v2 file: v2 always charges it to
/// `memory.max`, so it is not written (as runc and crun do).
pub fn plan_v2(r: &Resources, files: V2Files) -> Result<Vec<Write>> {
    let unsupported = |what: &str, why: &str| Error::Unavailable { what: what.into(), why: why.into() };
    if r.cpu_rt_runtime.is_some() || r.cpu_rt_period.is_some() {
        return Err(unsupported(
            "linux.resources.cpu.realtimeRuntime/realtimePeriod",
            "cgroup v2 has no real-time group scheduling (cpu.rt_*); leave them out",
        ));
    }
    if r.memory_swappiness.is_some() {
        return Err(unsupported(
            "linux.resources.memory.swappiness",
            "cgroup v2 has no per-group memory.swappiness; leave it out",
        ));
    }
    if r.memory_oom_kill_disable == Some(true) {
        return Err(unsupported(
            "linux.resources.memory.disableOOMKiller",
            "cgroup v2 cannot disable the OOM killer per group (no memory.oom_control); leave it out",
        ));
    }
    if r.net_classid.is_some() || !r.net_priorities.is_empty() {
        return Err(unsupported(
            "linux.resources.network",
            "net_cls and net_prio exist only in cgroup v1 (on v2, match cgroups in nftables/eBPF instead)",
        ));
    }
    let mut out = Vec::new();
    if let Some(v) = r.cpu_shares {
        out.push(w("cpu", "cpu.weight", shares_to_v2_weight(v)));
    }
    if r.cpu_quota.is_some() || r.cpu_period.is_some() {
        let quota = match r.cpu_quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        let value = match r.cpu_period {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        out.push(w("cpu", "cpu.max", value));
    }
    if let Some(v) = r.cpu_burst {
        out.push(w("cpu", "cpu.max.burst", v));
    }
    if let Some(v) = r.cpu_idle {
        out.push(w("cpu", "cpu.idle", v));
    }
    if let Some(v) = &r.cpuset_cpus {
        out.push(w("cpuset", "cpuset.cpus", v));
    }
    if let Some(v) = &r.cpuset_mems {
        out.push(w("cpuset", "cpuset.mems", v));
    }
    let max = |n: i64| if n < 0 { "max".to_string() } else { n.to_string() };
    // swap.max first: a lower memory.max never conflicts with it, and it refers to the new limit.
    if let Some(s) = r.memory_swap {
        out.push(w("memory", "memory.swap.max", v2_swap(r.memory_limit, s)?));
    }
    if let Some(v) = r.memory_limit {
        out.push(w("memory", "memory.max", max(v)));
    }
    if let Some(v) = r.memory_reservation {
        out.push(w("memory", "memory.low", max(v)));
    }
    if let Some(v) = r.pids_max {
        out.push(w("pids", "pids.max", if v > 0 { v.to_string() } else { "max".into() }));
    }
    if let Some(v) = r.blkio_weight {
        if files.bfq_weight {
            out.push(w("io", "io.bfq.weight", v));
        } else {
            out.push(w("io", "io.weight", format!("default {}", blkio_to_io_weight(v))));
        }
    }
    for d in &r.blkio_weight_devices {
        if let Some(v) = d.weight {
            if files.bfq_weight {
                out.push(w("io", "io.bfq.weight", format!("{}:{} {v}", d.major, d.minor)));
            } else {
                out.push(w("io", "io.weight", format!("{}:{} {}", d.major, d.minor, blkio_to_io_weight(v))));
            }
        }
    }
    for t in &r.blkio_throttles {
        let key = match t.kind {
            ThrottleKind::ReadBps => "rbps",
            ThrottleKind::WriteBps => "wbps",
            ThrottleKind::ReadIops => "riops",
            ThrottleKind::WriteIops => "wiops",
        };
        // 0 means "no limit" in OCI; io.max spells it "max".
        let rate = if t.rate == 0 { "max".to_string() } else { t.rate.to_string() };
        out.push(w("io", "io.max", format!("{}:{} {key}={rate}", t.major, t.minor)));
    }
    for (size, limit) in &r.hugetlb {
        out.push(w("hugetlb", format!("hugetlb.{size}.max"), limit));
    }
    for (file, value) in &r.unified {
        if file.contains('/') || file.starts_with('.') || file.is_empty() {
            return Err(Error::Unavailable {
                what: format!("linux.resources.unified key {file:?}"),
                why: "a key is one control file name such as memory.high".into(),
            });
        }
        let controller = match file.split('.').next().unwrap_or("") {
            "cpu" => "cpu",
            "cpuset" => "cpuset",
            "memory" => "memory",
            "pids" => "pids",
            "io" => "io",
            "hugetlb" => "hugetlb",
            "misc" => "misc",
            "rdma" => "rdma",
            _ => "",
        };
        out.push(w(controller, file.clone(), value));
    }
    Ok(out)
}

/// Why the kernel may have refused a value, in words, from the errno and the file.
pub fn refusal_hint(file: &str, errno: Option<i32>) -> &'static str {
    match (file, errno) {
        ("memory.limit_in_bytes" | "memory.max" | "memory.memsw.limit_in_bytes", Some(libc::EBUSY)) => {
            "the limit is below the memory the group already uses and the kernel could not reclaim enough; give a larger limit"
        }
        ("memory.memsw.limit_in_bytes", Some(libc::EINVAL)) => {
            "memory+swap must be at least the memory limit (linux.resources.memory.swap >= limit)"
        }
        ("memory.limit_in_bytes", Some(libc::EINVAL)) => {
            "the memory limit must not exceed memory+swap (linux.resources.memory.swap)"
        }
        ("memory.kmem.limit_in_bytes", Some(libc::EOPNOTSUPP | 524)) => {
            "this kernel no longer supports a kernel-memory limit (removed in Linux 5.16+); leave linux.resources.memory.kernel out"
        }
        ("cpu.cfs_quota_us" | "cpu.max", Some(libc::EINVAL)) => {
            "the quota must be at least 1000 µs and the period between 1000 and 1000000 µs"
        }
        ("cpu.rt_runtime_us", Some(libc::EINVAL | libc::EBUSY)) => {
            "the real-time budget exceeds what the parent group has (its cpu.rt_runtime_us) or the period"
        }
        ("cpuset.cpus" | "cpuset.mems", Some(libc::EINVAL)) => {
            "the list names CPUs or memory nodes this machine (or the parent group) does not have"
        }
        ("blkio.leaf_weight" | "blkio.leaf_weight_device", Some(libc::ENOENT)) => {
            "leaf weights existed only with the CFQ I/O scheduler (removed in Linux 5.0); leave leafWeight out"
        }
        (_, Some(libc::ENOENT)) => "the device or control file does not exist on this machine",
        (_, Some(libc::EINVAL)) => "the kernel considers the value out of range or malformed",
        (_, Some(libc::EPERM | libc::EACCES)) => "permission denied: run as root, in a delegated subtree",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_become_v1_lines() {
        let rule =
            |kind, major, minor, access: &str| DeviceRule { allow: true, kind, major, minor, access: access.into() };
        assert_eq!(rule('c', Some(10), Some(229), "rwm").to_v1(), "c 10:229 rwm");
        assert_eq!(rule('b', Some(8), None, "r").to_v1(), "b 8:* r");
        assert_eq!(rule('a', None, None, "").to_v1(), "a *:* rwm");
        assert!(rule('a', None, None, "rwm").is_everything());
        assert!(!rule('a', None, None, "r").is_everything());
    }

    #[test]
    fn weights_convert_as_runc_does() {
        assert_eq!(shares_to_v2_weight(2), 1);
        assert_eq!(shares_to_v2_weight(262_144), 10_000);
        assert_eq!(shares_to_v2_weight(1024), 39);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn v1_memory_order_keeps_memsw_above_the_limit() {
        let r = Resources { memory_limit: Some(200 << 20), memory_swap: Some(300 << 20), ..Default::default() };
        let files = |plan: Vec<Write>| plan.into_iter().map(|w| w.file).collect::<Vec<_>>();
        // memsw currently 100M: raising the limit to 200M needs memsw raised first.
        assert_eq!(
            files(plan_v1(&r, Some(100 << 20)).unwrap()),
            ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        );
        // A fresh group (memsw unlimited): the limit first.
        assert_eq!(
            files(plan_v1(&r, Some(u64::MAX >> 1)).unwrap()),
            ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        );
    }

    #[test]
    fn v2_swap_is_relative_to_the_limit() {
        assert_eq!(v2_swap(Some(100), 150).unwrap(), "50");
        assert_eq!(v2_swap(Some(100), -1).unwrap(), "max");
        assert!(v2_swap(Some(100), 50).unwrap_err().to_string().contains("at least the memory limit 100"));
        assert!(v2_swap(None, 50).unwrap_err().to_string().contains("give linux.resources.memory.limit"));
    }

    #[test]
    fn v2_refuses_what_only_v1_has() {
        for r in [
            Resources { cpu_rt_runtime: Some(1), ..Default::default() },
            Resources { memory_swappiness: Some(10), ..Default::default() },
            Resources { memory_oom_kill_disable: Some(true), ..Default::default() },
            Resources { net_classid: Some(1), ..Default::default() },
        ] {
            let err = plan_v2(&r, V2Files::default()).unwrap_err().to_string();
            assert!(err.contains("linux.resources."), "{err}");
        }
        let err = plan_v1(&Resources { unified: vec![("memory.high".into(), "1".into())], ..Default::default() }, None)
            .unwrap_err();
        assert!(err.to_string().contains("cgroup v1"), "{err}");
    }
}
