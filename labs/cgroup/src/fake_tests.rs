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
