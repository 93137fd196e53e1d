//! Root tests of the container's cgroup on this machine's kernel (v1 hybrid here, v2 in the
//! course VM): a real group under `labctl/lcrun-test-*`, limits read back from the files, a
//! forked child inside, freeze/thaw, remove, and nothing left afterwards.

use labcgroup::Version;
use labkit::testing::{kernel_lock, require_root};
use labruntime::cgroups::ContainerCgroup;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn v2() -> bool {
    labcgroup::System::detect().unwrap().version() == Version::V2
}

/// A child that sleeps until killed (async-signal-safe body: pause only).
fn sleeper() -> i32 {
    labkit::sys::fork_child(|| loop {
        nix::unistd::pause();
    })
    .unwrap()
}

fn reap(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// This test's directories, wherever a hierarchy holds them.
fn dirs_named(rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for candidate in [h.path().join(rel), Path::new("/sys/fs/cgroup").join(rel)] {
            if candidate.is_dir() && !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

fn file(controller_v1: &str, group: &str, name: &str) -> String {
    let path = if v2() {
        format!("/sys/fs/cgroup/labctl/{group}/{name}")
    } else {
        format!("/sys/fs/cgroup/{controller_v1}/labctl/{group}/{name}")
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")).trim().to_string()
}

#[test]
fn a_container_cgroup_lives_limits_freezes_and_leaves_nothing() {
    if !require_root("a_container_cgroup_lives_limits_freezes_and_leaves_nothing") {
        return;
    }
    let _guard = kernel_lock();
    let name = format!("lcrun-test-{}", std::process::id());
    let r = if v2() {
        // What only v1 has is refused on v2 (unit-tested); the rest is the same, devices included
        // (an eBPF program there).
        resources(
            r#"{"memory":{"limit":50593792,"swap":50593792,"reservation":40000000},
                "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},"pids":{"limit":64},
                "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"}]}"#,
        )
    } else {
        resources(
            r#"{"memory":{"limit":50593792,"swap":50593792,"reservation":40000000,"swappiness":10,"disableOOMKiller":true},
                "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
                "pids":{"limit":64},
                "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"}]}"#,
        )
    };
    ContainerCgroup::check(&r).unwrap();
    let cg = ContainerCgroup::resolve(Some(&format!("/labctl/{name}")), "x").unwrap();
    assert_eq!(cg.path(), format!("/labctl/{name}"));
    cg.create().unwrap();
    let child = sleeper();
    cg.add_process(child).unwrap();
    cg.apply(&r).unwrap();

    if v2() {
        assert_eq!(file("", &name, "memory.max"), "50593792");
        assert_eq!(file("", &name, "memory.swap.max"), "0");
        assert_eq!(file("", &name, "memory.low"), "39997440", "rounded down to pages");
        assert_eq!(file("", &name, "cpu.max"), "50000 100000");
        assert_eq!(file("", &name, "cpu.weight"), "20");
        assert_eq!(file("", &name, "pids.max"), "64");
        assert_eq!(file("", &name, "cpuset.cpus"), "0");
        let dir = Path::new("/sys/fs/cgroup/labctl").join(&name);
        assert_eq!(labcgroup::devices::attached(&dir).unwrap().len(), 1, "one BPF_CGROUP_DEVICE program");
    } else {
        assert_eq!(file("memory", &name, "memory.limit_in_bytes"), "50593792");
        assert_eq!(file("memory", &name, "memory.memsw.limit_in_bytes"), "50593792");
        assert_eq!(file("memory", &name, "memory.soft_limit_in_bytes"), "39997440", "rounded down to pages");
        assert_eq!(file("memory", &name, "memory.swappiness"), "10");
        assert!(file("memory", &name, "memory.oom_control").starts_with("oom_kill_disable 1"));
        assert_eq!(file("cpu", &name, "cpu.shares"), "512");
        assert_eq!(file("cpu", &name, "cpu.cfs_quota_us"), "50000");
        assert_eq!(file("cpu", &name, "cpu.cfs_period_us"), "100000");
        assert_eq!(file("cpuset", &name, "cpuset.cpus"), "0");
        assert_eq!(file("pids", &name, "pids.max"), "64");
        let devices = file("devices", &name, "devices.list");
        assert!(devices.contains("c 10:229 rwm") && devices.contains("c 1:3 rwm"), "{devices}");
        assert!(!devices.contains("a *:* rwm"), "deny-all took effect: {devices}");
        // Hybrid: the group is in the cgroup2 tree too, with the child in it.
        if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
            let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/unified/labctl/{name}/cgroup.procs")).unwrap();
            assert_eq!(procs.trim(), child.to_string());
        }
    }
    let own = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
    assert!(own.contains(&format!("/labctl/{name}")), "{own}");
    assert_eq!(cg.pids().unwrap(), [child]);

    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());

    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.unwrap().current, 1);
    assert_eq!(stats.memory.unwrap().limit, Some(50593792));

    // Reopened from the state string, as delete does; remove kills what is left.
    let reopened = ContainerCgroup::open(cg.path()).unwrap();
    reopened.remove().unwrap();
    reap(child);
    let left = dirs_named(&format!("labctl/{name}"));
    assert!(left.is_empty(), "left: {left:?}");
}

#[test]
fn a_memory_limit_below_the_usage_is_refused_on_v1_and_enforced_by_the_oom_killer_on_v2() {
    if !require_root("a_memory_limit_below_the_usage_is_refused_on_v1_and_enforced_by_the_oom_killer_on_v2") {
        return;
    }
    let _guard = kernel_lock();
    let name = format!("lcrun-test-mem-{}", std::process::id());
    let cg = ContainerCgroup::resolve(Some(&format!("/labctl/{name}")), "x").unwrap();
    cg.create().unwrap();
    // A child that touches 16 MiB inside the group, then sleeps.
    let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
    let (go_r, go_w) = nix::unistd::pipe().unwrap();
    let child = labkit::sys::fork_child(move || {
        let mut byte = [0u8; 1];
        let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&go_r), &mut byte);
        if labkit::sys::touch_anonymous(16 << 20).is_err() {
            return 1;
        }
        let _ = nix::unistd::write(&ready_w, b"x");
        loop {
            nix::unistd::pause();
        }
    })
    .unwrap();
    cg.add_process(child).unwrap();
    nix::unistd::write(&go_w, b"x").unwrap();
    let mut byte = [0u8; 1];
    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&ready_r), &mut byte).unwrap();
    // 8 MiB passes check() (above the floor) but not the kernel: 16 MiB are in use and
    // anonymous memory cannot be reclaimed without swap.
    let r = resources(r#"{"memory":{"limit":8388608}}"#);
    ContainerCgroup::check(&r).unwrap();
    let result = cg.apply(&r);
    // v2 accepts memory.max below the usage and reclaims; what cannot be reclaimed is OOM-killed.
    let killed_by_oom = v2() && {
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
        matches!(status, Ok(nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)))
    };
    cg.remove().unwrap();
    if !killed_by_oom {
        reap(child);
    }
    let left = dirs_named(&format!("labctl/{name}"));
    assert!(left.is_empty(), "left: {left:?}");
    if v2() {
        assert!(result.is_ok(), "v2 takes the limit: {result:?}");
        assert!(killed_by_oom, "the child using 16 MiB was OOM-killed under an 8 MiB memory.max");
        return;
    }
    let err = result.unwrap_err().to_string();
    assert!(err.contains("\"8388608\"") && err.contains("memory."), "{err}");
    assert!(err.contains("already uses"), "{err}");
}

#[test]
fn the_default_path_is_labctl_lcrun_id_and_its_parents_go_with_it() {
    if !require_root("the_default_path_is_labctl_lcrun_id_and_its_parents_go_with_it") {
        return;
    }
    let _guard = kernel_lock();
    let id = format!("lcrun-test-default-{}", std::process::id());
    let cg = ContainerCgroup::resolve(None, &id).unwrap();
    assert_eq!(cg.path(), format!("/labctl/lcrun/{id}"));
    cg.create().unwrap();
    let made = dirs_named(&format!("labctl/lcrun/{id}"));
    assert!(!made.is_empty());
    cg.remove().unwrap();
    assert!(made.iter().all(|p| !p.exists()), "{made:?}");
    // Removing twice is fine (delete after a crashed delete).
    cg.remove().unwrap();
}
