//! Root tests on the real kernel of this machine (cgroup v1 hybrid here, v2 in the course-VM
//! harness): create, limit, stats, remove, OOM at the limit, throttling, and no leftovers.

use labcgroup::measure::cpu_over;
use labcgroup::worker::Worker;
use labcgroup::{Controller, CpuLimit, Error, System};
use labkit::testing::{kernel_lock, require_root};
use nix::sys::wait::WaitStatus;
use std::time::Duration;

const ALL: [Controller; 4] = [Controller::Cpu, Controller::Memory, Controller::Pids, Controller::Freezer];

/// Nothing labctl made is left: no labctl cgroup directory in any hierarchy, and no live
/// worker process (`lc-*`; reaped-late zombies of a killed fork bomb hold no resources).
fn assert_no_leftovers() {
    let left = labkit::leftovers::cgroups();
    assert!(left.is_empty(), "leftover cgroups: {left:?}");
    let workers = live_workers();
    assert!(workers.is_empty(), "leftover processes: {workers:?}");
}

pub fn live_workers() -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = &stat[open + 1..close];
        let state = stat[close + 2..].chars().next().unwrap_or('?');
        if comm.starts_with("lc-") && state != 'Z' {
            out.push((pid, comm.to_string()));
        }
    }
    out
}

/// How long a killed worker may take to be reaped: a bound for a hung kill, not a speed
/// check (a loaded machine schedules a throttled group's dying task late).
const REAP_LIMIT: Duration = Duration::from_secs(15);

#[test]
fn create_limit_stats_remove() {
    if !require_root("create_limit_stats_remove") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-basic").unwrap();
    group.create(&ALL, &[]).unwrap();
    group.set_cpu_limit(CpuLimit::from_cpus(0.25)).unwrap();
    group.set_cpu_weight(400).unwrap();
    group.set_memory_max(Some(64 << 20)).unwrap();
    group.disable_swap().unwrap();
    group.set_pids_max(Some(8)).unwrap();
    assert_eq!(group.cpu_limit().unwrap().cpus(), Some(0.25));
    let stats = group.stats().unwrap();
    assert_eq!(stats.memory.unwrap().limit, Some(64 << 20));
    assert_eq!(stats.pids.unwrap().limit, Some(8));
    let mut worker = Worker::spin().unwrap();
    group.add_process(worker.pid()).unwrap();
    assert_eq!(group.procs().unwrap(), vec![worker.pid()]);
    group.remove().unwrap();
    assert!(worker.wait(REAP_LIMIT).is_some(), "remove kills what is left");
    assert!(!group.exists());
    assert_no_leftovers();
}

#[test]
fn a_ten_percent_quota_throttles_a_busy_loop() {
    if !require_root("a_ten_percent_quota_throttles_a_busy_loop") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-cpu").unwrap();
    group.create(&[Controller::Cpu], &[Controller::Freezer]).unwrap();
    group.set_cpu_limit(CpuLimit::from_cpus(0.1)).unwrap();
    let worker = Worker::spin().unwrap();
    group.add_process(worker.pid()).unwrap();
    worker.start().unwrap();
    let sample = cpu_over(&group, Duration::from_millis(1000)).unwrap();
    group.remove().unwrap();
    drop(worker);
    let share = sample.share();
    assert!((0.05..=0.15).contains(&share), "share {share}");
    assert!(sample.delta.nr_periods >= 5, "{sample:?}");
    assert!(sample.delta.nr_throttled >= 5, "throttling counters move: {sample:?}");
    assert!(sample.delta.throttled > Duration::ZERO, "{sample:?}");
    assert_no_leftovers();
}

#[test]
fn the_oom_kill_happens_at_or_under_the_limit() {
    if !require_root("the_oom_kill_happens_at_or_under_the_limit") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-oom").unwrap();
    group.create(&[Controller::Memory], &[Controller::Freezer]).unwrap();
    group.set_memory_max(Some(64 << 20)).unwrap();
    group.disable_swap().unwrap();
    let mut worker = Worker::allocator().unwrap();
    group.add_process(worker.pid()).unwrap();
    let mut allocated = 0;
    for _ in 0..12 {
        if !worker.allocate(8, Duration::from_secs(5)).unwrap() {
            break;
        }
        allocated += 8;
    }
    let status = worker.wait(Duration::from_secs(5));
    let mem = group.stats().unwrap().memory.unwrap();
    group.remove().unwrap();
    assert!(allocated < 64, "allocated {allocated} MiB under a 64 MiB limit");
    assert!(matches!(status, Some(WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _))), "{status:?}");
    assert_eq!(mem.oom_kill, Some(1), "{mem:?}");
    assert!(mem.peak.unwrap() <= 64 << 20, "peak {:?} within the limit", mem.peak);
    assert_no_leftovers();
}

#[test]
fn pids_max_stops_a_fork_bomb_and_remove_defuses_it() {
    if !require_root("pids_max_stops_a_fork_bomb_and_remove_defuses_it") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-pids").unwrap();
    group.create(&[Controller::Pids], &[Controller::Freezer]).unwrap();
    group.set_pids_max(Some(16)).unwrap();
    let worker = Worker::bomb().unwrap();
    group.add_process(worker.pid()).unwrap();
    worker.start().unwrap();
    let mut pids = None;
    for _ in 0..200 {
        pids = group.stats().unwrap().pids;
        if pids.is_some_and(|p| p.current == 16 && p.events_max.unwrap_or(1) > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids = pids.unwrap();
    group.remove().unwrap();
    drop(worker);
    assert_eq!(pids.current, 16, "{pids:?}");
    assert_no_leftovers();
}

#[test]
fn a_process_that_already_exited_cannot_be_added() {
    if !require_root("a_process_that_already_exited_cannot_be_added") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-gone").unwrap();
    group.create(&[Controller::Memory], &[]).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    let err = group.add_process(pid).unwrap_err();
    group.remove().unwrap();
    assert!(matches!(err, Error::NoSuchProcess { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_no_leftovers();
}

#[test]
fn freeze_and_thaw_stop_and_resume_a_busy_loop() {
    if !require_root("freeze_and_thaw_stop_and_resume_a_busy_loop") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-freeze").unwrap();
    group.create(&[Controller::Cpu, Controller::Freezer], &[]).unwrap();
    let worker = Worker::spin().unwrap();
    group.add_process(worker.pid()).unwrap();
    worker.start().unwrap();
    group.freeze().unwrap();
    assert!(group.frozen().unwrap());
    let frozen = cpu_over(&group, Duration::from_millis(200)).unwrap();
    group.thaw().unwrap();
    let thawed = cpu_over(&group, Duration::from_millis(200)).unwrap();
    group.remove().unwrap();
    drop(worker);
    assert!(frozen.share() < 0.02, "frozen share {}", frozen.share());
    assert!(thawed.share() > 0.2, "thawed share {}", thawed.share());
    assert_no_leftovers();
}

#[test]
fn the_undo_journal_kills_a_frozen_group_in_any_order() {
    if !require_root("the_undo_journal_kills_a_frozen_group_in_any_order") {
        return;
    }
    let _guard = kernel_lock();
    let system = System::detect().unwrap();
    let group = system.group("test-frozen-undo").unwrap();
    let undos = labcgroup::cgroup::undos(&system, &group, &[Controller::Pids, Controller::Freezer]).unwrap();
    group.create(&[Controller::Pids, Controller::Freezer], &[]).unwrap();
    let mut worker = Worker::spin().unwrap();
    group.add_process(worker.pid()).unwrap();
    group.freeze().unwrap();
    // A Ctrl-C here leaves a frozen group; the undo runs each directory alone, the freezer's
    // last (on v1 the pids directory's tasks are frozen in another hierarchy).
    let mut dirs: Vec<labkit::Undo> = undos.into_iter().filter(|u| matches!(u, labkit::Undo::Cgroup { .. })).collect();
    dirs.sort_by_key(|u| matches!(u, labkit::Undo::Cgroup { path } if path.to_string_lossy().contains("freezer")));
    for undo in &dirs {
        let started = std::time::Instant::now();
        undo.run().unwrap_or_else(|e| panic!("{}: {e}", undo.describe()));
        assert!(started.elapsed() < Duration::from_secs(3), "{} waited for a frozen task", undo.describe());
    }
    assert!(worker.wait(REAP_LIMIT).is_some(), "the frozen worker was killed");
    assert!(!group.exists());
    labcgroup::cgroup::remove_empty_tops(&system);
}

/// Where cgroup2 is mounted: /sys/fs/cgroup (v2), /sys/fs/cgroup/unified (this hybrid machine).
fn cgroup2_mount() -> std::path::PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4).unwrap().into())
        })
        .expect("no cgroup2 mount: the kernel tests need one (hybrid or unified)")
}

#[test]
fn the_ebpf_device_program_refuses_what_the_rules_do_not_allow_and_is_replaced_on_apply() {
    use labcgroup::resources::DeviceRule;
    if !require_root("the eBPF device program") {
        return;
    }
    let _guard = kernel_lock();
    let top = cgroup2_mount().join("labctl");
    let dir = top.join(format!("devices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cleanup = labkit::Cleanup::in_memory("devices-test");
    cleanup.register(labkit::Undo::Cgroup { path: dir.clone() });
    let rule =
        |allow, kind, major, minor, access: &str| DeviceRule { allow, kind, major, minor, access: access.into() };
    // docker's shape: deny everything, then /dev/null (c 1:3) only.
    let rules = [rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), Some(3), "rwm")];
    labcgroup::devices::attach(&dir, &rules).unwrap();
    assert_eq!(labcgroup::devices::attached(&dir).unwrap().len(), 1);
    let probe = |dir: &std::path::Path| {
        let procs = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")).unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(
            "(: < /dev/null) 2>/dev/null && echo null=ok || echo null=refused; \
             (: < /dev/zero) 2>/dev/null && echo zero=ok || echo zero=refused",
        );
        cmd.stdout(std::process::Stdio::piped());
        let child = labkit::sys::spawn_in_cgroups(&mut cmd, vec![procs]).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(probe(&dir), "null=ok\nzero=refused\n");
    // A second apply replaces the program: still one, now allowing /dev/zero (c 1:5) too.
    let more = [rules[0].clone(), rules[1].clone(), rule(true, 'c', Some(1), Some(5), "r")];
    labcgroup::devices::attach(&dir, &more).unwrap();
    assert_eq!(labcgroup::devices::attached(&dir).unwrap().len(), 1);
    assert_eq!(probe(&dir), "null=ok\nzero=ok\n");
    // Allow-everything needs no program: the old one is detached.
    labcgroup::devices::attach(&dir, &[rule(true, 'a', None, None, "rwm")]).unwrap();
    assert!(labcgroup::devices::attached(&dir).unwrap().is_empty());
    let (_, failures) = cleanup.undo_all();
    assert!(failures.is_empty(), "{failures:?}");
    let _ = std::fs::remove_dir(&top);
}
