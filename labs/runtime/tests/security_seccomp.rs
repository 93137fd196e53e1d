//! Seccomp filters really installed, each in a forked child (the filter stays with the child):
//! the errno a refused call returns, that allowed calls still work, every argument operator,
//! the kill action and the kernel's no_new_privs rule. Needs root only for the last one and for
//! the control calls (unshare); the filters themselves need only no_new_privs.

use labkit::testing::require_root;
use labruntime::caps::CapSets;
use labruntime::seccomp::{self, Filter};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;
use std::path::Path;

/// Exit codes a child uses to say what happened before its probe.
const INSTALL_FAILED: i32 = 200;
const NNP_FAILED: i32 = 201;

#[derive(Debug, PartialEq)]
enum Ended {
    Exited(i32),
    Signalled(nix::sys::signal::Signal),
}

/// Runs `probe` in a forked child after setting no_new_privs and installing `filter`; the
/// probe returns the errno it saw (0 for success) as the child's exit code.
fn probe_under(filter: Option<&Filter>, probe: impl FnOnce() -> i32) -> Ended {
    let pid = labkit::sys::fork_child(|| {
        // No core files from SIGSYS.
        let _ = nix::sys::prctl::set_dumpable(false);
        if nix::sys::prctl::set_no_new_privs().is_err() {
            return NNP_FAILED;
        }
        if let Some(filter) = filter {
            if filter.install().is_err() {
                return INSTALL_FAILED;
            }
        }
        probe()
    })
    .expect("fork");
    match waitpid(Pid::from_raw(pid), None).expect("waitpid") {
        WaitStatus::Exited(_, code) => Ended::Exited(code),
        WaitStatus::Signaled(_, signal, _) => Ended::Signalled(signal),
        other => panic!("child {pid}: {other:?}"),
    }
}

fn errno_of<T>(result: nix::Result<T>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(errno) => errno as i32,
    }
}

fn filter(spec: serde_json::Value) -> Filter {
    let spec: LinuxSeccomp = serde_json::from_value(spec).expect("linux.seccomp");
    seccomp::compile(&spec).expect("compiles")
}

fn mkdir_in(dir: &Path) -> impl FnOnce() -> i32 + '_ {
    move || errno_of(nix::unistd::mkdir(&dir.join("made"), nix::sys::stat::Mode::from_bits_truncate(0o755)))
}

#[test]
fn errno_ret_1_refuses_mkdir_with_eperm_and_the_directory_is_not_made() {
    let dir = tempfile::tempdir().unwrap();
    let refuse_mkdir = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}));
    assert_eq!(probe_under(Some(&refuse_mkdir), mkdir_in(dir.path())), Ended::Exited(Errno::EPERM as i32));
    assert!(!dir.path().join("made").exists());
    // Control: the same probe without the filter makes the directory.
    assert_eq!(probe_under(None, mkdir_in(dir.path())), Ended::Exited(0));
    assert!(dir.path().join("made").is_dir());
}

#[test]
fn a_custom_errno_is_what_the_refused_call_returns_and_other_calls_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::EXDEV as i32}]}));
    assert_eq!(probe_under(Some(&refuse), mkdir_in(dir.path())), Ended::Exited(Errno::EXDEV as i32));
    let path = dir.path().join("file");
    let create_a_file = || {
        errno_of(nix::fcntl::open(
            &path,
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        ))
    };
    assert_eq!(probe_under(Some(&refuse), create_a_file), Ended::Exited(0));
    assert!(path.exists());
}

#[test]
fn default_errno_ret_answers_every_call_off_the_list() {
    let dir = tempfile::tempdir().unwrap();
    // Enough for the probe and _exit: everything else gets defaultErrnoRet.
    let only_a_few = filter(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": Errno::ENOTSUP as i32,
        "syscalls": [{"names": ["exit", "exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(probe_under(Some(&only_a_few), mkdir_in(dir.path())), Ended::Exited(Errno::ENOTSUP as i32));
    let getpid = || if nix::unistd::getpid().as_raw() > 1 { 0 } else { 1 };
    assert_eq!(probe_under(Some(&only_a_few), getpid), Ended::Exited(0));
}

#[test]
fn docker_default_allows_the_usual_calls_and_refuses_unshare() {
    if !require_root("seccomp: unshare as the control") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let docker = seccomp::compile(&seccomp::docker_default()).unwrap();
    assert_eq!(probe_under(Some(&docker), mkdir_in(dir.path())), Ended::Exited(0));
    let unshare_uts = || errno_of(nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS));
    assert_eq!(probe_under(Some(&docker), unshare_uts), Ended::Exited(Errno::EPERM as i32));
    assert_eq!(probe_under(None, unshare_uts), Ended::Exited(0), "control: root may unshare without the filter");
}

/// close(fd) on fds that are not open: EBADF normally, ENOMSG when the rule matched.
fn close_errno(filter: &Filter, fd: i32) -> i32 {
    match probe_under(Some(filter), move || errno_of(nix::unistd::close(fd))) {
        Ended::Exited(code) => code,
        other => panic!("close({fd}): {other:?}"),
    }
}

#[test]
fn every_argument_operator_matches_as_libseccomp_defines_it() {
    let (hit, miss) = (Errno::ENOMSG as i32, Errno::EBADF as i32);
    // (op, value, valueTwo, fd that matches, fd that does not)
    let cases = [
        ("SCMP_CMP_EQ", 1000, None, 1000, 1001),
        ("SCMP_CMP_NE", 1000, None, 1001, 1000),
        ("SCMP_CMP_LT", 1000, None, 999, 1000),
        ("SCMP_CMP_LE", 1000, None, 1000, 1001),
        ("SCMP_CMP_GE", 1000, None, 1000, 999),
        ("SCMP_CMP_GT", 1000, None, 1001, 1000),
        // (fd & 0x0f00) == 0x0300: 1000 is 0x3e8, 2024 is 0x7e8 (which mask and value
        // swapped would match).
        ("SCMP_CMP_MASKED_EQ", 0x0f00, Some(0x0300), 1000, 2024),
    ];
    for (op, value, value_two, matching, other) in cases {
        let mut arg = json!({"index": 0, "value": value, "op": op});
        if let Some(two) = value_two {
            arg["valueTwo"] = json!(two);
        }
        let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": hit, "args": [arg]}]}));
        assert_eq!(close_errno(&f, matching), hit, "{op}: close({matching}) should match");
        assert_eq!(close_errno(&f, other), miss, "{op}: close({other}) should not match");
    }
}

#[test]
fn two_conditions_on_different_arguments_must_both_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    // openat(AT_FDCWD, path, flags, mode): refuse only when flags has O_CREAT and mode is 0o600.
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["openat", "open"],
        "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::ENOMSG as i32, "args": [
            {"index": 2, "value": libc::O_CREAT, "valueTwo": libc::O_CREAT, "op": "SCMP_CMP_MASKED_EQ"},
            {"index": 3, "value": 0o600, "op": "SCMP_CMP_EQ"}]}]}));
    let create = |mode: u32| {
        let path = path.clone();
        move || {
            errno_of(nix::fcntl::open(
                &path,
                nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY,
                nix::sys::stat::Mode::from_bits_truncate(mode),
            ))
        }
    };
    assert_eq!(probe_under(Some(&f), create(0o600)), Ended::Exited(Errno::ENOMSG as i32));
    assert_eq!(probe_under(Some(&f), create(0o644)), Ended::Exited(0));
}

#[test]
fn kill_process_ends_the_child_with_sigsys() {
    let f = filter(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
    );
    let getppid = || nix::unistd::getppid().as_raw().min(1);
    assert_eq!(probe_under(Some(&f), getppid), Ended::Signalled(nix::sys::signal::Signal::SIGSYS));
}

#[test]
fn the_log_and_tsync_flags_are_accepted_by_this_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let f = filter(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    assert_eq!(probe_under(Some(&f), mkdir_in(dir.path())), Ended::Exited(Errno::EPERM as i32));
}

#[test]
fn without_no_new_privs_or_cap_sys_admin_the_kernel_refuses_the_filter() {
    if !require_root("seccomp: install needs no_new_privs or CAP_SYS_ADMIN") {
        return;
    }
    let f = filter(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    let no_caps = CapSets::from_spec(Some(&serde_json::from_value(json!({})).unwrap())).unwrap();
    let install_without_privilege = |drop_caps: bool| {
        let (f, no_caps) = (&f, &no_caps);
        let pid = labkit::sys::fork_child(move || {
            if drop_caps && no_caps.apply_after_setuid().is_err() {
                return 1;
            }
            match f.install() {
                Ok(()) => 0,
                Err(labruntime::Error::Io { source, .. }) => source.raw_os_error().unwrap_or(2),
                Err(_) => 3,
            }
        })
        .unwrap();
        match waitpid(Pid::from_raw(pid), None).unwrap() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(install_without_privilege(true), Errno::EACCES as i32);
    assert_eq!(install_without_privilege(false), 0, "control: with CAP_SYS_ADMIN the filter installs");
}

#[test]
fn each_rule_keeps_its_own_action_across_the_split_into_filters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keep")).unwrap();
    // Default EPERM; mkdir allowed; rmdir EXDEV; getppid killed: three programs.
    let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["exit", "exit_group", "mkdir", "mkdirat"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": Errno::EXDEV as i32},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}));
    assert_eq!(f.program_lengths().len(), 3);
    assert_eq!(probe_under(Some(&f), mkdir_in(dir.path())), Ended::Exited(0));
    let keep = dir.path().join("keep");
    assert_eq!(
        probe_under(Some(&f), || errno_of(nix::unistd::unlinkat(None, &keep, nix::unistd::UnlinkatFlags::RemoveDir))),
        Ended::Exited(Errno::EXDEV as i32)
    );
    let chdir = || errno_of(nix::unistd::chdir("/"));
    assert_eq!(probe_under(Some(&f), chdir), Ended::Exited(Errno::EPERM as i32));
    let getppid = || nix::unistd::getppid().as_raw().min(1);
    assert_eq!(probe_under(Some(&f), getppid), Ended::Signalled(nix::sys::signal::Signal::SIGSYS));
    assert!(keep.is_dir());
}
