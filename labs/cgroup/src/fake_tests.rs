//! Both drivers against fake sysfs trees in temp dirs: the file formats each world reads and
//! writes, delegation, and the errors for a missing controller. No root needed.

use crate::layout::tests::{HYBRID, LEGACY, UNIFIED};
use crate::{Controller, CpuLimit, Error, Root, System, Version};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(mountinfo: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        fs::write(dir.path().join("proc/self/mountinfo"), mountinfo).unwrap();
        Fake { dir }
    }

    fn system(&self) -> System {
        System::at(Root::fake(self.dir.path())).unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn put(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn get(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

/// This machine's v1 hybrid layout with a group `labctl/demo` whose files hold kernel defaults.
fn v1_with_demo() -> Fake {
    let fake = Fake::new(HYBRID);
    let g = "sys/fs/cgroup";
    for (file, content) in [
        ("cpu/labctl/demo/cgroup.procs", ""),
        ("cpu/labctl/demo/cpu.cfs_quota_us", "-1\n"),
        ("cpu/labctl/demo/cpu.cfs_period_us", "100000\n"),
        ("cpu/labctl/demo/cpu.shares", "1024\n"),
        (
            "cpu/labctl/demo/cpu.stat",
            "nr_periods 20\nnr_throttled 18\nthrottled_time 1620000000\nnr_bursts 0\nburst_time 0\n",
        ),
        ("cpuacct/labctl/demo/cgroup.procs", ""),
        ("cpuacct/labctl/demo/cpuacct.usage", "200000000\n"),
        ("memory/labctl/demo/cgroup.procs", ""),
        ("memory/labctl/demo/memory.limit_in_bytes", "9223372036854771712\n"),
        ("memory/labctl/demo/memory.memsw.limit_in_bytes", "9223372036854771712\n"),
        ("memory/labctl/demo/memory.usage_in_bytes", "50331648\n"),
        ("memory/labctl/demo/memory.max_usage_in_bytes", "67104768\n"),
        ("memory/labctl/demo/memory.failcnt", "312\n"),
        ("memory/labctl/demo/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"),
        ("memory/labctl/demo/memory.stat", "cache 0\nrss 50000000\n"),
        ("pids/labctl/demo/cgroup.procs", ""),
        ("pids/labctl/demo/pids.max", "max\n"),
        ("pids/labctl/demo/pids.current", "16\n"),
        ("pids/labctl/demo/pids.events", "max 41\n"),
        ("freezer/labctl/demo/cgroup.procs", ""),
        ("freezer/labctl/demo/freezer.state", "THAWED\n"),
    ] {
        fake.put(&format!("{g}/{file}"), content);
    }
    fake
}

/// A pure v2 machine; `root_controllers` is what the kernel offers at the root.
fn v2(root_controllers: &str, root_subtree: &str) -> Fake {
    let fake = Fake::new(UNIFIED);
    fake.put("sys/fs/cgroup/cgroup.controllers", root_controllers);
    fake.put("sys/fs/cgroup/cgroup.subtree_control", root_subtree);
    // What the kernel shows in labctl/ once the root passes the controllers down.
    fake.put("sys/fs/cgroup/labctl/cgroup.controllers", root_controllers);
    fake.put("sys/fs/cgroup/labctl/cgroup.subtree_control", "");
    fake
}

fn v2_with_demo() -> Fake {
    let fake = v2("cpuset cpu io memory pids\n", "cpuset cpu io memory pids\n");
    fake.put("sys/fs/cgroup/labctl/cgroup.subtree_control", "cpu memory pids\n");
    for (file, content) in [
        ("cgroup.procs", ""),
        ("cgroup.freeze", "0\n"),
        ("cgroup.events", "populated 1\nfrozen 1\n"),
        ("cpu.max", "max 100000\n"),
        ("cpu.weight", "100\n"),
        (
            "cpu.stat",
            "usage_usec 200000\nuser_usec 190000\nsystem_usec 10000\nnr_periods 20\nnr_throttled 18\nthrottled_usec 1620000\n",
        ),
        ("memory.current", "50331648\n"),
        ("memory.peak", "67100000\n"),
        ("memory.max", "max\n"),
        ("memory.high", "max\n"),
        ("memory.swap.max", "max\n"),
        ("memory.events", "low 0\nhigh 7\nmax 30\noom 1\noom_kill 1\noom_group_kill 0\n"),
        ("memory.stat", "anon 50000000\nfile 0\n"),
        ("pids.max", "max\n"),
        ("pids.current", "16\n"),
        ("pids.events", "max 41\n"),
    ] {
        fake.put(&format!("sys/fs/cgroup/labctl/demo/{file}"), content);
    }
    fake
}

const ALL: [Controller; 4] = [Controller::Cpu, Controller::Memory, Controller::Pids, Controller::Freezer];

// ---- v1 ----

#[test]
fn v1_creates_one_directory_per_hierarchy() {
    let fake = Fake::new(HYBRID);
    let system = fake.system();
    assert_eq!(system.version(), Version::V1);
    let group = system.group("demo").unwrap();
    let dirs = group.dirs(&ALL).unwrap();
    let names: Vec<String> =
        dirs.iter().map(|d| d.strip_prefix(fake.dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(
        names,
        [
            "sys/fs/cgroup/cpu/labctl/demo",
            "sys/fs/cgroup/cpuacct/labctl/demo",
            "sys/fs/cgroup/memory/labctl/demo",
            "sys/fs/cgroup/pids/labctl/demo",
            "sys/fs/cgroup/freezer/labctl/demo"
        ]
    );
    group.create(&ALL, &[]).unwrap();
    assert!(dirs.iter().all(|d| d.is_dir()));
    assert_eq!(system.list(), ["demo"]);
}

#[test]
fn v1_co_mounted_cpu_and_cpuacct_share_one_directory() {
    let fake = Fake::new(LEGACY);
    let group = fake.system().group("demo").unwrap();
    assert_eq!(group.dirs(&[Controller::Cpu]).unwrap().len(), 1);
}

#[test]
fn v1_cpu_limit_writes_quota_and_period() {
    let fake = v1_with_demo();
    let group = fake.system().group("demo").unwrap();
    group.set_cpu_limit(CpuLimit::from_cpus(0.1)).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cpu/labctl/demo/cpu.cfs_quota_us"), "10000");
    assert_eq!(fake.get("sys/fs/cgroup/cpu/labctl/demo/cpu.cfs_period_us"), "100000");
    assert_eq!(group.cpu_limit().unwrap().cpus(), Some(0.1));
    group.set_cpu_limit(CpuLimit::UNLIMITED).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cpu/labctl/demo/cpu.cfs_quota_us"), "-1");
    assert_eq!(group.cpu_limit().unwrap(), CpuLimit::UNLIMITED);
}

#[test]
fn v1_weight_becomes_cpu_shares() {
    let fake = v1_with_demo();
    fake.system().group("demo").unwrap().set_cpu_weight(400).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cpu/labctl/demo/cpu.shares"), "4096");
}

#[test]
fn v1_memory_limit_then_swap_off_sets_memsw_to_the_limit() {
    let fake = v1_with_demo();
    let group = fake.system().group("demo").unwrap();
    group.set_memory_max(Some(64 << 20)).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/memory/labctl/demo/memory.limit_in_bytes"), "67108864");
    assert!(group.disable_swap().unwrap());
    assert_eq!(fake.get("sys/fs/cgroup/memory/labctl/demo/memory.memsw.limit_in_bytes"), "67108864");
    // Raising the limit later raises memsw first (memsw >= limit), keeping swap off.
    group.set_memory_max(Some(128 << 20)).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/memory/labctl/demo/memory.memsw.limit_in_bytes"), "134217728");
}

#[test]
fn v1_has_no_memory_high() {
    let fake = v1_with_demo();
    let err = fake.system().group("demo").unwrap().set_memory_high(Some(32 << 20)).unwrap_err();
    assert!(err.to_string().contains("memory.high"), "{err}");
    assert!(err.to_string().contains("soft_limit_in_bytes"), "{err}");
}

#[test]
fn v1_stats_read_each_hierarchy_in_its_units() {
    let fake = v1_with_demo();
    let stats = fake.system().group("demo").unwrap().stats().unwrap();
    let cpu = stats.cpu.unwrap();
    assert_eq!(cpu.usage, Duration::from_millis(200), "cpuacct.usage is in ns");
    assert_eq!((cpu.nr_periods, cpu.nr_throttled), (20, 18));
    assert_eq!(cpu.throttled, Duration::from_millis(1620), "throttled_time is in ns");
    let mem = stats.memory.unwrap();
    assert_eq!(mem.usage, 48 << 20);
    assert_eq!(mem.peak, Some(67104768));
    assert_eq!(mem.limit, None, "the huge default is no limit");
    assert_eq!(mem.failcnt, Some(312));
    assert_eq!(mem.oom_kill, Some(1));
    assert_eq!(mem.anon, Some(50000000));
    let pids = stats.pids.unwrap();
    assert_eq!((pids.current, pids.limit, pids.events_max), (16, None, Some(41)));
}

#[test]
fn v1_add_process_writes_every_hierarchy() {
    let fake = v1_with_demo();
    fake.system().group("demo").unwrap().add_process(4242).unwrap();
    for h in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
        assert_eq!(fake.get(&format!("sys/fs/cgroup/{h}/labctl/demo/cgroup.procs")), "4242", "{h}");
    }
}

#[test]
fn v1_freeze_writes_freezer_state() {
    let fake = v1_with_demo();
    let group = fake.system().group("demo").unwrap();
    group.freeze().unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/freezer/labctl/demo/freezer.state"), "FROZEN");
    assert!(group.frozen().unwrap());
    group.thaw().unwrap();
    assert!(!group.frozen().unwrap());
}

#[test]
fn v1_a_controller_that_is_not_mounted_names_the_fix() {
    let fake = Fake::new(LEGACY); // no pids hierarchy
    let err = fake.system().group("demo").unwrap().create(&[Controller::Pids], &[]).unwrap_err();
    assert!(matches!(err, Error::V1NotMounted { controller: "pids" }), "{err}");
    assert!(err.to_string().contains("mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids"), "{err}");
}

#[test]
fn v1_optional_controllers_are_skipped_when_absent() {
    let fake = Fake::new(LEGACY);
    let group = fake.system().group("demo").unwrap();
    group.create(&[Controller::Memory], &[Controller::Pids, Controller::Freezer]).unwrap();
    assert_eq!(group.existing_dirs().len(), 1, "{:?}", group.existing_dirs());
}

// ---- v2 ----

#[test]
fn v2_enables_controllers_from_the_root_down() {
    let fake = v2("cpuset cpu io memory pids\n", "");
    let group = fake.system().group("demo").unwrap();
    group.create(&[Controller::Cpu], &[]).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cgroup.subtree_control"), "+cpu");
    assert_eq!(fake.get("sys/fs/cgroup/labctl/cgroup.subtree_control"), "+cpu");
    assert!(fake.path("sys/fs/cgroup/labctl/demo").is_dir());
}

#[test]
fn v2_does_not_rewrite_what_is_already_enabled() {
    let fake = v2("cpu memory pids\n", "cpu memory pids\n");
    fake.system().group("demo").unwrap().create(&[Controller::Memory], &[]).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cgroup.subtree_control"), "cpu memory pids\n", "root untouched");
    assert_eq!(fake.get("sys/fs/cgroup/labctl/cgroup.subtree_control"), "+memory");
}

#[test]
fn v2_a_controller_the_kernel_does_not_offer_names_the_file() {
    let fake = v2("cpu memory\n", "cpu memory\n");
    let err = fake.system().group("demo").unwrap().create(&[Controller::Pids], &[]).unwrap_err();
    assert!(matches!(err, Error::V2Unavailable { controller: "pids", .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("sys/fs/cgroup/cgroup.controllers"), "{msg}");
    assert!(msg.contains("v1 hierarchy"), "{msg}");
}

#[test]
fn v2_missing_delegation_names_subtree_control_and_the_fix() {
    let fake = v2("cpu memory pids\n", "");
    // A subtree_control that reads fine but refuses writes, as in a cgroup namespace whose
    // root has processes (EBUSY) or an undelegated subtree (EACCES).
    fs::remove_file(fake.path("sys/fs/cgroup/cgroup.subtree_control")).unwrap();
    std::os::unix::fs::symlink("/proc/version", fake.path("sys/fs/cgroup/cgroup.subtree_control")).unwrap();
    let err = fake.system().group("demo").unwrap().create(&[Controller::Cpu], &[]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cgroup v2 controller \"cpu\""), "{msg}");
    assert!(msg.contains("echo +cpu >"), "{msg}");
    assert!(msg.contains("cgroup.subtree_control"), "{msg}");
}

#[test]
fn v2_optional_controllers_that_fail_are_skipped() {
    let fake = v2("cpu\n", "");
    fake.system().group("demo").unwrap().create(&[Controller::Cpu], &[Controller::Memory]).unwrap();
    assert!(fake.path("sys/fs/cgroup/labctl/demo").is_dir());
}

#[test]
fn v2_cpu_max_is_written_in_both_forms() {
    let fake = v2_with_demo();
    let group = fake.system().group("demo").unwrap();
    assert_eq!(group.cpu_limit().unwrap(), CpuLimit::UNLIMITED);
    group.set_cpu_limit(CpuLimit::from_cpus(0.1)).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/labctl/demo/cpu.max"), "10000 100000");
    assert_eq!(group.cpu_limit().unwrap().cpus(), Some(0.1));
    group.set_cpu_limit(CpuLimit::UNLIMITED).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/labctl/demo/cpu.max"), "max 100000");
}

#[test]
fn v2_a_corrupt_cpu_max_is_a_format_error_naming_the_file() {
    let fake = v2_with_demo();
    fake.put("sys/fs/cgroup/labctl/demo/cpu.max", "%!d(string=10000) 100000\n");
    let err = fake.system().group("demo").unwrap().cpu_limit().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("labctl/demo/cpu.max") && msg.contains("neither a number"), "{msg}");
}

#[test]
fn v2_weight_memory_and_swap_files() {
    let fake = v2_with_demo();
    let group = fake.system().group("demo").unwrap();
    group.set_cpu_weight(400).unwrap();
    group.set_memory_max(Some(64 << 20)).unwrap();
    group.set_memory_high(Some(48 << 20)).unwrap();
    assert!(group.disable_swap().unwrap());
    group.set_pids_max(Some(16)).unwrap();
    let d = "sys/fs/cgroup/labctl/demo";
    assert_eq!(fake.get(&format!("{d}/cpu.weight")), "400");
    assert_eq!(fake.get(&format!("{d}/memory.max")), "67108864");
    assert_eq!(fake.get(&format!("{d}/memory.high")), "50331648");
    assert_eq!(fake.get(&format!("{d}/memory.swap.max")), "0");
    assert_eq!(fake.get(&format!("{d}/pids.max")), "16");
    group.set_memory_max(None).unwrap();
    assert_eq!(fake.get(&format!("{d}/memory.max")), "max");
}

#[test]
fn v2_a_limit_without_its_controller_says_to_delegate() {
    let fake = v2_with_demo();
    fs::remove_file(fake.path("sys/fs/cgroup/labctl/demo/pids.max")).unwrap();
    let err = fake.system().group("demo").unwrap().set_pids_max(Some(4)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"pids\"") && msg.contains("labctl/cgroup.subtree_control"), "{msg}");
}

#[test]
fn v2_stats_read_cpu_stat_memory_events_and_pids() {
    let fake = v2_with_demo();
    let stats = fake.system().group("demo").unwrap().stats().unwrap();
    let cpu = stats.cpu.unwrap();
    assert_eq!(cpu.usage, Duration::from_millis(200));
    assert_eq!((cpu.nr_periods, cpu.nr_throttled), (20, 18));
    assert_eq!(cpu.throttled, Duration::from_millis(1620));
    let mem = stats.memory.unwrap();
    assert_eq!((mem.usage, mem.peak, mem.limit), (48 << 20, Some(67100000), None));
    assert_eq!((mem.events_high, mem.events_max, mem.events_oom, mem.oom_kill), (Some(7), Some(30), Some(1), Some(1)));
    assert_eq!(mem.anon, Some(50000000));
    let pids = stats.pids.unwrap();
    assert_eq!((pids.current, pids.events_max), (16, Some(41)));
}

#[test]
fn v2_freeze_writes_cgroup_freeze_and_reads_events() {
    let fake = v2_with_demo();
    let group = fake.system().group("demo").unwrap();
    group.freeze().unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/labctl/demo/cgroup.freeze"), "1");
    assert!(group.frozen().unwrap());
}

#[test]
fn v2_child_groups_delegate_through_their_parent() {
    let fake = v2("cpu memory pids\n", "cpu memory pids\n");
    fake.put("sys/fs/cgroup/labctl/parent/cgroup.controllers", "pids\n");
    fake.put("sys/fs/cgroup/labctl/parent/cgroup.subtree_control", "");
    let parent = fake.system().group("parent").unwrap();
    let child = parent.child("child").unwrap();
    assert_eq!(child.path_name(), "labctl/parent/child");
    child.create(&[Controller::Pids], &[]).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/labctl/parent/cgroup.subtree_control"), "+pids");
    assert!(fake.path("sys/fs/cgroup/labctl/parent/child").is_dir());
}

#[test]
fn stats_of_a_missing_group_is_not_found() {
    let fake = Fake::new(UNIFIED);
    let group = fake.system().group("nope").unwrap();
    let err = group.must_exist().unwrap_err();
    assert!(err.to_string().contains("labctl/nope does not exist"), "{err}");
}

#[test]
fn undo_entries_remove_the_group_then_the_empty_top() {
    let fake = Fake::new(UNIFIED);
    let system = fake.system();
    let group = system.group("demo").unwrap();
    let undos = crate::cgroup::undos(&system, &group, &ALL).unwrap();
    assert_eq!(undos.len(), 2);
    assert!(matches!(&undos[0], labkit::Undo::Command { argv } if argv[0] == "rmdir"));
    assert!(matches!(&undos[1], labkit::Undo::Cgroup { path } if path.ends_with(Path::new("labctl/demo"))));
}

// ---- the runtime's groups: any path, every OCI resource ----

use crate::resources::{DeviceRule, Throttle, ThrottleKind, WeightDevice};
use crate::{GroupPath, Resources};

/// Every resource the OCI runtime maps, with values unlike the kernel defaults.
fn every_resource() -> Resources {
    Resources {
        cpu_shares: Some(2048),
        cpu_quota: Some(50_000),
        cpu_period: Some(200_000),
        cpu_rt_runtime: Some(1000),
        cpu_rt_period: Some(500_000),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        memory_limit: Some(50 << 20),
        memory_reservation: Some(40 << 20),
        memory_swap: Some(60 << 20),
        memory_kernel: Some(30 << 20),
        memory_kernel_tcp: Some(20 << 20),
        memory_swappiness: Some(10),
        memory_oom_kill_disable: Some(true),
        pids_max: Some(1000),
        blkio_weight: Some(500),
        blkio_leaf_weight: Some(300),
        blkio_weight_devices: vec![WeightDevice { major: 8, minor: 0, weight: Some(600), leaf_weight: Some(700) }],
        blkio_throttles: vec![
            Throttle { kind: ThrottleKind::ReadBps, major: 8, minor: 0, rate: 102_400 },
            Throttle { kind: ThrottleKind::WriteIops, major: 8, minor: 0, rate: 300 },
        ],
        hugetlb: vec![("2MB".into(), 4 << 20)],
        net_classid: Some(0x10001),
        net_priorities: vec![("lo".into(), 7)],
        devices: vec![
            DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() },
            DeviceRule { allow: true, kind: 'c', major: Some(10), minor: Some(229), access: "rwm".into() },
        ],
        ..Default::default()
    }
}

/// A v1 machine with every hierarchy the OCI resources need (net_cls and net_prio co-mounted).
const V1_FULL: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb
41 31 0:38 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
42 31 0:39 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// What the kernel puts in a fresh group (the files `apply` writes must exist).
fn v1_group_files(fake: &Fake, path: &str) {
    let g = "sys/fs/cgroup";
    for (hierarchy, files) in [
        (
            "cpu,cpuacct",
            &[
                "cpu.shares",
                "cpu.cfs_period_us",
                "cpu.cfs_quota_us",
                "cpu.rt_period_us",
                "cpu.rt_runtime_us",
                "cgroup.procs",
            ][..],
        ),
        ("cpuset", &["cpuset.cpus", "cpuset.mems", "cgroup.procs"][..]),
        (
            "memory",
            &[
                "memory.limit_in_bytes",
                "memory.soft_limit_in_bytes",
                "memory.kmem.limit_in_bytes",
                "memory.kmem.tcp.limit_in_bytes",
                "memory.swappiness",
                "memory.oom_control",
                "cgroup.procs",
            ][..],
        ),
        ("devices", &["devices.allow", "devices.deny", "cgroup.procs"][..]),
        (
            "blkio",
            &[
                "blkio.weight",
                "blkio.leaf_weight",
                "blkio.weight_device",
                "blkio.leaf_weight_device",
                "blkio.throttle.read_bps_device",
                "blkio.throttle.write_iops_device",
                "cgroup.procs",
            ][..],
        ),
        ("pids", &["pids.max", "cgroup.procs"][..]),
        ("hugetlb", &["hugetlb.2MB.limit_in_bytes", "cgroup.procs"][..]),
        ("net_cls,net_prio", &["net_cls.classid", "net_prio.ifpriomap", "cgroup.procs"][..]),
        ("freezer", &["freezer.state", "cgroup.procs"][..]),
    ] {
        for file in files {
            fake.put(&format!("{g}/{hierarchy}{path}/{file}"), "");
        }
    }
    fake.put(&format!("{g}/memory{path}/memory.memsw.limit_in_bytes"), "9223372036854771712\n");
}

#[test]
fn runtime_v1_maps_every_resource_onto_its_file() {
    let fake = Fake::new(V1_FULL);
    let system = fake.system();
    let group = system.runtime_group(&GroupPath::absolute("/oci/cgrouptest").unwrap()).unwrap();
    v1_group_files(&fake, "/oci/cgrouptest");
    group.apply(&every_resource()).unwrap();
    let g = |f: &str| fake.get(&format!("sys/fs/cgroup/{f}"));
    let c = "oci/cgrouptest";
    for (file, want) in [
        (format!("cpu,cpuacct/{c}/cpu.shares"), "2048"),
        (format!("cpu,cpuacct/{c}/cpu.cfs_period_us"), "200000"),
        (format!("cpu,cpuacct/{c}/cpu.cfs_quota_us"), "50000"),
        (format!("cpu,cpuacct/{c}/cpu.rt_period_us"), "500000"),
        (format!("cpu,cpuacct/{c}/cpu.rt_runtime_us"), "1000"),
        (format!("cpuset/{c}/cpuset.cpus"), "0"),
        (format!("cpuset/{c}/cpuset.mems"), "0"),
        (format!("memory/{c}/memory.limit_in_bytes"), "52428800"),
        (format!("memory/{c}/memory.memsw.limit_in_bytes"), "62914560"),
        (format!("memory/{c}/memory.soft_limit_in_bytes"), "41943040"),
        (format!("memory/{c}/memory.kmem.limit_in_bytes"), "31457280"),
        (format!("memory/{c}/memory.kmem.tcp.limit_in_bytes"), "20971520"),
        (format!("memory/{c}/memory.swappiness"), "10"),
        (format!("memory/{c}/memory.oom_control"), "1"),
        (format!("pids/{c}/pids.max"), "1000"),
        (format!("blkio/{c}/blkio.weight"), "500"),
        (format!("blkio/{c}/blkio.leaf_weight"), "300"),
        (format!("blkio/{c}/blkio.weight_device"), "8:0 600"),
        (format!("blkio/{c}/blkio.leaf_weight_device"), "8:0 700"),
        (format!("blkio/{c}/blkio.throttle.read_bps_device"), "8:0 102400"),
        (format!("blkio/{c}/blkio.throttle.write_iops_device"), "8:0 300"),
        (format!("hugetlb/{c}/hugetlb.2MB.limit_in_bytes"), "4194304"),
        (format!("net_cls,net_prio/{c}/net_cls.classid"), "65537"),
        (format!("net_cls,net_prio/{c}/net_prio.ifpriomap"), "lo 7"),
        // Files hold the last write: deny-all went to devices.deny, the exception to allow.
        (format!("devices/{c}/devices.deny"), "a *:* rwm"),
        (format!("devices/{c}/devices.allow"), "c 10:229 rwm"),
    ] {
        assert_eq!(g(&file), want, "{file}");
    }
}

#[test]
fn runtime_v1_creates_every_hierarchy_and_the_hybrid_cgroup2_dir() {
    let fake = Fake::new(V1_FULL);
    fake.put("sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
    fake.put("sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
    let system = fake.system();
    let group = system.runtime_group(&GroupPath::absolute("/oci/c1").unwrap()).unwrap();
    // mkdir in a fake tree makes no files: give the new cpuset dirs the kernel's empty ones.
    for dir in ["oci", "oci/c1"] {
        fake.put(&format!("sys/fs/cgroup/cpuset/{dir}/cpuset.cpus"), "\n");
        fake.put(&format!("sys/fs/cgroup/cpuset/{dir}/cpuset.mems"), "\n");
    }
    group.create_all().unwrap();
    for h in ["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb", "net_cls,net_prio"] {
        assert!(fake.path(&format!("sys/fs/cgroup/{h}/oci/c1")).is_dir(), "{h}");
    }
    assert!(fake.path("sys/fs/cgroup/unified/oci/c1").is_dir(), "hybrid: also in the cgroup2 tree");
    // cpuset copied down level by level, so a process may join.
    assert_eq!(fake.get("sys/fs/cgroup/cpuset/oci/cpuset.cpus"), "0-1");
    assert_eq!(fake.get("sys/fs/cgroup/cpuset/oci/c1/cpuset.cpus"), "0-1");
    assert_eq!(fake.get("sys/fs/cgroup/cpuset/oci/c1/cpuset.mems"), "0");
    // The lab API still makes no cgroup2 dir in a hybrid layout.
    fake.system().group("demo").unwrap().create(&ALL, &[]).unwrap();
    assert!(!fake.path("sys/fs/cgroup/unified/labctl/demo").exists());
}

#[test]
fn runtime_relative_paths_follow_each_hierarchys_own_cgroup() {
    let fake = Fake::new(HYBRID);
    fake.put("proc/self/cgroup", "5:memory:/process_api/ab\n3:pids:/\n2:cpu:/\n0::/\n");
    let system = fake.system();
    let path = GroupPath::relative(&system, "labctl/t/c").unwrap();
    assert_eq!(path.encode(), "/labctl/t/c;memory=/process_api/ab/labctl/t/c");
    let group = system.runtime_group(&path).unwrap();
    let dirs = group.dirs(&[Controller::Memory, Controller::Pids]).unwrap();
    let rel: Vec<String> =
        dirs.iter().map(|d| d.strip_prefix(fake.dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(rel, ["sys/fs/cgroup/memory/process_api/ab/labctl/t/c", "sys/fs/cgroup/pids/labctl/t/c"]);
}

#[test]
fn runtime_v1_a_hierarchy_that_is_missing_names_the_controller() {
    let fake = v1_with_demo(); // this machine: no hugetlb, no net_cls hierarchies
    let group = fake.system().runtime_group(&GroupPath::absolute("/labctl/demo").unwrap()).unwrap();
    let err = group.apply(&Resources { hugetlb: vec![("2MB".into(), 1 << 21)], ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::V1NotMounted { controller: "hugetlb" }), "{err}");
}

#[test]
fn runtime_v1_pids_zero_is_max_and_cpu_quota_minus_one_is_unlimited() {
    let fake = v1_with_demo();
    let group = fake.system().runtime_group(&GroupPath::absolute("/labctl/demo").unwrap()).unwrap();
    group.apply(&Resources { pids_max: Some(0), cpu_quota: Some(-1), ..Default::default() }).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/pids/labctl/demo/pids.max"), "max");
    assert_eq!(fake.get("sys/fs/cgroup/cpu/labctl/demo/cpu.cfs_quota_us"), "-1");
}

#[test]
fn runtime_a_refused_value_names_the_file_and_the_value() {
    let fake = v1_with_demo();
    // A directory where the file should be: the write fails, as a kernel refusal would.
    fs::remove_file(fake.path("sys/fs/cgroup/pids/labctl/demo/pids.max")).unwrap();
    fs::create_dir(fake.path("sys/fs/cgroup/pids/labctl/demo/pids.max")).unwrap();
    let group = fake.system().runtime_group(&GroupPath::absolute("/labctl/demo").unwrap()).unwrap();
    let err = group.apply(&Resources { pids_max: Some(7), ..Default::default() }).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Rejected { .. }), "{msg}");
    assert!(msg.contains("\"7\"") && msg.contains("labctl/demo/pids.max"), "{msg}");
}

#[test]
fn runtime_groups_write_outside_labctl_but_lab_groups_never_do() {
    let fake = Fake::new(HYBRID);
    fake.put("sys/fs/cgroup/pids/machine/c1/pids.max", "max\n");
    let system = fake.system();
    let group = system.runtime_group(&GroupPath::absolute("/machine/c1").unwrap()).unwrap();
    group.set_pids_max(Some(5)).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/pids/machine/c1/pids.max"), "5");
    assert_eq!(group.path_name(), "/machine/c1");
    assert!(system.group("../machine").is_err());
}

#[test]
fn runtime_v2_maps_every_resource_onto_its_file() {
    let fake = v2("cpuset cpu io memory hugetlb pids\n", "");
    let system = fake.system();
    let group = system.runtime_group(&GroupPath::absolute("/labctl/c2").unwrap()).unwrap();
    group.create_all().unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/cgroup.subtree_control"), "+hugetlb", "the last controller enabled");
    let c = "sys/fs/cgroup/labctl/c2";
    for file in [
        "cpu.weight",
        "cpu.max",
        "cpuset.cpus",
        "cpuset.mems",
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "pids.max",
        "io.weight",
        "io.max",
        "hugetlb.2MB.max",
        "memory.high",
    ] {
        fake.put(&format!("{c}/{file}"), "");
    }
    let mut r = every_resource();
    // What only v1 has is refused on v2 (see resources' tests); leave it out here.
    r.cpu_rt_runtime = None;
    r.cpu_rt_period = None;
    r.memory_swappiness = None;
    r.memory_oom_kill_disable = None;
    r.net_classid = None;
    r.net_priorities.clear();
    r.devices.clear();
    r.blkio_leaf_weight = None;
    r.blkio_throttles.truncate(1);
    r.unified = vec![("memory.high".into(), "45000000".into())];
    group.apply(&r).unwrap();
    for (file, want) in [
        ("cpu.weight", "79"),
        ("cpu.max", "50000 200000"),
        ("cpuset.cpus", "0"),
        ("memory.max", "52428800"),
        ("memory.low", "41943040"),
        ("memory.swap.max", "10485760"),
        ("pids.max", "1000"),
        ("io.weight", "8:0 5960"), // 600 on the blkio scale; the last write
        ("io.max", "8:0 rbps=102400"),
        ("hugetlb.2MB.max", "4194304"),
        ("memory.high", "45000000"),
    ] {
        assert_eq!(fake.get(&format!("{c}/{file}")), want, "{file}");
    }
}

#[test]
fn runtime_v2_prefers_bfq_weight_when_the_group_has_it() {
    let fake = v2_with_demo();
    fake.put("sys/fs/cgroup/labctl/demo/io.bfq.weight", "");
    let group = fake.system().runtime_group(&GroupPath::absolute("/labctl/demo").unwrap()).unwrap();
    group.apply(&Resources { blkio_weight: Some(500), ..Default::default() }).unwrap();
    assert_eq!(fake.get("sys/fs/cgroup/labctl/demo/io.bfq.weight"), "500");
}

#[test]
fn runtime_v2_a_limit_on_an_undelegated_controller_names_subtree_control() {
    let fake = v2_with_demo(); // demo has no io files
    let group = fake.system().runtime_group(&GroupPath::absolute("/labctl/demo").unwrap()).unwrap();
    let r = Resources {
        blkio_throttles: vec![Throttle { kind: ThrottleKind::ReadBps, major: 8, minor: 0, rate: 1 }],
        ..Default::default()
    };
    let msg = group.apply(&r).unwrap_err().to_string();
    assert!(msg.contains("\"io\"") && msg.contains("labctl/cgroup.subtree_control"), "{msg}");
}

#[test]
fn runtime_remove_takes_the_empty_parents_that_are_ours() {
    let fake = Fake::new(HYBRID);
    let system = fake.system();
    let group = system.runtime_group(&GroupPath::absolute("/labctl/lcrun/c3").unwrap()).unwrap();
    group.create_all().unwrap();
    fs::create_dir_all(fake.path("sys/fs/cgroup/pids/labctl/lcrun/c3/inner")).unwrap();
    let other = system.runtime_group(&GroupPath::absolute("/keep/c4").unwrap()).unwrap();
    other.create_all().unwrap();
    group.remove().unwrap();
    other.remove().unwrap();
    for h in ["cpu", "memory", "pids", "unified"] {
        assert!(!fake.path(&format!("sys/fs/cgroup/{h}/labctl")).exists(), "{h}");
        assert!(fake.path(&format!("sys/fs/cgroup/{h}/keep")).is_dir(), "{h}: not ours by name, kept");
    }
}
