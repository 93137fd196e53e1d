//! The bundle's config.json, generated (oci-spec) from the container's record: runc's default
//! config, then docker's choices over it — the 14 default capabilities, the default seccomp
//! profile, masked and read-only paths, a 64 MiB /dev/shm, /etc/hostname, /etc/hosts and
//! /etc/resolv.conf bind-mounted from the container's directory, the cgroup limits of the
//! flags — and `--privileged` turning the protections off.

use crate::error::{Error, Result};
use crate::record::Record;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, RootBuilder, Spec, UserBuilder,
};
use std::path::{Path, PathBuf};

/// moby's `oci/defaults.go`.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The cgroup of a container, under labctl's own sub-tree.
pub fn cgroup_path(id: &str) -> String {
    format!("/labctl/containers/{id}")
}

/// The resolved user: uid, gid and the supplementary groups from the image's /etc/group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Everything the config needs besides the record.
pub struct Inputs<'a> {
    pub record: &'a Record,
    pub rootfs: &'a Path,
    /// The container's directory, holding hostname, hosts and resolv.conf.
    pub files: &'a Path,
    pub user: User,
}

pub fn build(inputs: &Inputs) -> Result<Spec> {
    let Inputs { record, rootfs, files, user } = inputs;
    let (config, host) = (&record.config, &record.host_config);
    let mut spec = labruntime::config::default_spec(false);
    spec.set_hostname(Some(config.hostname.clone()));
    spec.set_root(Some(
        RootBuilder::default()
            .path(rootfs.to_path_buf())
            .readonly(host.readonly_rootfs)
            .build()
            .expect("root has every field"),
    ));

    let mut process = spec.process().clone().unwrap_or_default();
    let mut args = if host.init { crate::init::argv_prefix() } else { Vec::new() };
    args.push(record.path.clone());
    args.extend(record.args.iter().cloned());
    process.set_args(Some(args));
    process.set_terminal(Some(config.tty));
    let mut env = config.env.clone();
    env.retain(|e| !e.starts_with("HOSTNAME="));
    env.insert(0, format!("HOSTNAME={}", config.hostname));
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(if config.working_dir.is_empty() { "/" } else { &config.working_dir }));
    process.set_user(
        UserBuilder::default()
            .uid(user.uid)
            .gid(user.gid)
            .additional_gids(user.groups.clone())
            .build()
            .expect("user has every field"),
    );
    process.set_rlimits(None);
    let no_new_privileges = host.security_opt.iter().any(|o| o == "no-new-privileges" || o == "no-new-privileges:true");
    process.set_no_new_privileges(Some(no_new_privileges));
    process.set_capabilities(Some(capabilities(host.privileged, &host.cap_add, &host.cap_drop)?));
    spec.set_process(Some(process));

    let mut mounts: Vec<Mount> = spec.mounts().clone().unwrap_or_default();
    for m in &mut mounts {
        let dest = m.destination().to_string_lossy().into_owned();
        if host.privileged && (dest == "/sys" || dest == "/sys/fs/cgroup") {
            let opts: Vec<String> = m.options().clone().unwrap_or_default().into_iter().filter(|o| o != "ro").collect();
            m.set_options(Some(opts));
        }
        if dest == "/dev/shm" {
            let size = if host.shm_size > 0 { host.shm_size } else { 64 << 20 };
            let mut opts: Vec<String> =
                m.options().clone().unwrap_or_default().into_iter().filter(|o| !o.starts_with("size=")).collect();
            opts.push(format!("size={}k", size / 1024));
            m.set_options(Some(opts));
        }
    }
    for name in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(bind(&files.join(name), &format!("/etc/{name}"), false));
    }
    for m in &record.mounts {
        mounts.push(bind(&m.source, &m.destination, !m.rw));
    }
    if host.init {
        mounts.push(bind(&crate::init::binary()?, crate::init::INIT_PATH, true));
    }
    for (dest, options) in &host.tmpfs {
        let options: Vec<String> = options.split(',').map(String::from).collect();
        mounts.push(
            MountBuilder::default()
                .destination(PathBuf::from(dest))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .options(options)
                .build()
                .expect("mount has every field"),
        );
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(PathBuf::from(cgroup_path(&record.id))));
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let namespaces = namespaces
        .into_iter()
        .filter(|ns| !(host.network_mode == "host" && ns.typ() == LinuxNamespaceType::Network))
        .collect();
    linux.set_namespaces(Some(namespaces));
    if host.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_seccomp(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
        linux.set_readonly_paths(Some(READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
        let unconfined = host.security_opt.iter().any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined");
        linux.set_seccomp(if unconfined { None } else { Some(labruntime::seccomp::docker_default()) });
    }
    let mut resources = LinuxResourcesBuilder::default();
    if host.privileged {
        let all = LinuxDeviceCgroupBuilder::default().allow(true).access("rwm").build().expect("device rule");
        resources = resources.devices(vec![all]);
    }
    if host.memory > 0 {
        let mut memory = LinuxMemoryBuilder::default().limit(host.memory);
        if host.memory_swap != 0 {
            memory = memory.swap(host.memory_swap);
        }
        resources = resources.memory(memory.build().expect("memory"));
    }
    if host.nano_cpus > 0 || host.cpu_shares > 0 || !host.cpuset_cpus.is_empty() {
        let mut cpu = LinuxCpuBuilder::default();
        if host.nano_cpus > 0 {
            let period: u64 = 100_000;
            let quota = (host.nano_cpus as i128 * period as i128 / 1_000_000_000) as i64;
            cpu = cpu.quota(quota).period(period);
        }
        if host.cpu_shares > 0 {
            cpu = cpu.shares(host.cpu_shares as u64);
        }
        if !host.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(host.cpuset_cpus.clone());
        }
        resources = resources.cpu(cpu.build().expect("cpu"));
    }
    if host.blkio_weight > 0 {
        let io = oci_spec::runtime::LinuxBlockIoBuilder::default().weight(host.blkio_weight).build().expect("blkio");
        resources = resources.block_io(io);
    }
    if let Some(limit) = host.pids_limit.filter(|l| *l > 0) {
        resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build().expect("pids"));
    }
    linux.set_resources(Some(resources.build().expect("resources")));
    spec.set_linux(Some(linux));
    spec.set_annotations(None);
    Ok(spec)
}

fn bind(source: &Path, dest: &str, readonly: bool) -> Mount {
    let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
    if readonly {
        options.push("ro".into());
    }
    MountBuilder::default()
        .destination(PathBuf::from(dest))
        .typ("bind")
        .source(source.to_path_buf())
        .options(options)
        .build()
        .expect("mount has every field")
}

/// A capability by docker's spelling: `NET_ADMIN`, `net_admin` or `CAP_NET_ADMIN`.
pub fn parse_capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    serde_json::from_value(serde_json::Value::String(full)).map_err(|_| {
        Error::Usage(format!(
            "unknown capability {name:?}: use a name like NET_ADMIN or SYS_TIME (see capabilities(7))"
        ))
    })
}

/// Every capability this kernel knows (`--privileged`, `--cap-add ALL`).
fn all_capabilities() -> Capabilities {
    let last: u8 =
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40);
    caps::all()
        .into_iter()
        .filter(|c| c.index() <= last)
        .filter_map(|c| serde_json::from_value::<Capability>(serde_json::Value::String(c.to_string())).ok())
        .collect()
}

/// docker's 14, then `--cap-drop`, then `--cap-add` (ALL allowed in both); all with --privileged.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<LinuxCapabilities> {
    let mut caps = labruntime::caps::docker_defaults();
    let mut set: Capabilities = caps.bounding().clone().unwrap_or_default();
    if privileged {
        set = all_capabilities();
    } else {
        for name in drop {
            if name.eq_ignore_ascii_case("ALL") {
                set.clear();
            } else {
                set.remove(&parse_capability(name)?);
            }
        }
        for name in add {
            if name.eq_ignore_ascii_case("ALL") {
                set = all_capabilities();
            } else {
                set.insert(parse_capability(name)?);
            }
        }
    }
    caps.set_bounding(Some(set.clone()));
    caps.set_effective(Some(set.clone()));
    caps.set_permitted(Some(set));
    Ok(caps)
}
