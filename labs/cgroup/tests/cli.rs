//! The `labcgroup` binary (same code as `labctl cgroup`): bad input from the list, and
//! leak checks after success, failure and Ctrl-C.

use labkit::testing::{kernel_lock, require_root};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn labcgroup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labcgroup")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input is refused before anything is created: a specific message and a non-zero exit.
fn refused(args: &[&str], needle: &str) {
    let out = labcgroup(args);
    assert_ne!(out.status.code(), Some(0), "{args:?} succeeded");
    assert!(stderr(&out).contains(needle), "{args:?}: {:?} lacks {needle:?}", stderr(&out));
}

#[test]
fn bad_cpu_values_are_refused_by_name() {
    refused(&["run", "--cpu", "0", "--", "true"], "--cpu 0: a limit of 0 would never let the command run");
    refused(&["run", "--cpu", "-1", "--", "true"], "cannot be negative");
    refused(&["run", "--cpu", "1000", "--", "true"], "this machine has");
    refused(&["run", "--cpu", "abc", "--", "true"], "expected a number of CPUs (0.1, 1.5) or a percentage");
    refused(&["run", "--cpu-weight", "0", "--", "true"], "from 1 to 10000");
}

#[test]
fn bad_memory_values_are_refused_by_name() {
    refused(&["run", "--memory", "0", "--", "true"], "--memory 0: a memory limit of 0");
    refused(&["run", "--memory", "4K", "--", "true"], "below the minimum of 6 MiB");
    refused(&["run", "--memory", "64X", "--", "true"], "unknown unit");
    refused(&["run", "--memory", "-64M", "--", "true"], "cannot be negative");
    refused(&["run", "--pids", "0", "--", "true"], "at least 1");
}

#[test]
fn group_names_with_slashes_or_dots_are_refused() {
    refused(&["stats", "a/b"], "contains '/'");
    refused(&["stats", ".."], "contains '..'");
    refused(&["stats", "../../system.slice"], "bad cgroup name");
}

#[test]
fn a_missing_group_is_named() {
    if !require_root("a_missing_group_is_named") {
        return;
    }
    refused(&["stats", "no-such-group"], "labctl/no-such-group does not exist");
}

fn no_leftovers() {
    let left = labkit::leftovers::cgroups();
    assert!(left.is_empty(), "leftover cgroups: {left:?}");
}

#[test]
fn success_passes_the_exit_status_and_leaves_nothing() {
    if !require_root("success_passes_the_exit_status_and_leaves_nothing") {
        return;
    }
    let _guard = kernel_lock();
    let out = labcgroup(&["run", "--cpu", "10%", "--memory", "64M", "--pids", "16", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("exit 7") && err.contains("limit 64 MiB") && err.contains("of 16"), "{err}");
    no_leftovers();
}

#[test]
fn an_oom_killed_command_exits_137_and_leaves_nothing() {
    if !require_root("an_oom_killed_command_exits_137_and_leaves_nothing") {
        return;
    }
    let _guard = kernel_lock();
    let out = labcgroup(&["run", "--memory", "16M", "--", "sh", "-c", "head -c 104857600 /dev/zero | tail"]);
    let err = stderr(&out);
    assert!(err.contains("oom kills 1") || err.contains("oom kills 2"), "{err}");
    assert_ne!(out.status.code(), Some(0));
    no_leftovers();
}

#[test]
fn a_missing_command_exits_127_and_leaves_nothing() {
    if !require_root("a_missing_command_exits_127_and_leaves_nothing") {
        return;
    }
    let _guard = kernel_lock();
    let out = labcgroup(&["run", "--cpu", "0.5", "--", "/nonexistent/cmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("command not found: /nonexistent/cmd"));
    no_leftovers();
}

#[test]
fn ctrl_c_kills_the_group_and_leaves_nothing() {
    if !require_root("ctrl_c_kills_the_group_and_leaves_nothing") {
        return;
    }
    let _guard = kernel_lock();
    let child = Command::new(env!("CARGO_BIN_EXE_labcgroup"))
        .args(["run", "--cpu", "20%", "--", "sh", "-c", "sleep 300 & sleep 300 & while :; do :; done"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let group = format!("run-{pid}");
    // Wait until the command runs in its group.
    let system = labcgroup::System::detect().unwrap();
    let handle = system.group(&group).unwrap();
    for _ in 0..500 {
        if handle.procs().map(|p| p.len() >= 3).unwrap_or(false) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let inside = handle.procs().unwrap();
    assert!(inside.len() >= 3, "{inside:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted by SIGINT"), "{}", stderr(&out));
    for p in inside {
        let alive = std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| !s.contains(") Z "));
        assert!(!alive, "process {p} of the group survived");
    }
    no_leftovers();
}
