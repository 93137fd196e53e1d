//! Entering another process's namespaces with setns(2): what `nsenter -t PID` does.
//!
//! The target's `/proc/PID/ns/*` files are opened first; a cloned child joins them with
//! setns (user first, mnt last) and execs. Joining a pid namespace only changes where the
//! caller's *children* go, so that one setns happens on a short-lived thread of ours just
//! before the clone: the child is then born inside the target's pid namespace.

use crate::error::{NsError, Result};
use crate::spawn::{resolve_program, NsChild};
use labkit::probe;
use labkit::sys;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

/// Checks that `pid` names a live user-space process whose namespaces can be entered.
pub fn check_target(pid: i64) -> Result<i32> {
    if pid <= 0 || pid > i32::MAX as i64 {
        return Err(NsError::InvalidPid(pid));
    }
    let pid = pid as i32;
    let stat = match labkit::process::stat(pid) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NsError::NoSuchProcess(pid)),
        Err(e) => return Err(NsError::io(format!("reading /proc/{pid}/stat"), e)),
    };
    if stat.is_zombie() || stat.state == 'X' {
        return Err(NsError::Exited(pid));
    }
    const PF_KTHREAD: u64 = 0x0020_0000;
    if stat.flags & PF_KTHREAD != 0 {
        return Err(NsError::KernelThread { pid, comm: stat.comm });
    }
    Ok(pid)
}

/// The namespace types of `pid` that differ from ours (what `nsenter --all` enters).
pub fn differing_types(pid: i32) -> Vec<&'static str> {
    labkit::probe::in_setns_order()
        .map(|t| t.name)
        .filter(|n| match (probe::ns_link(Some(pid), n), probe::ns_link(None, n)) {
            (Ok(theirs), Ok(ours)) => theirs != ours,
            _ => false,
        })
        .collect()
}

/// Where the entered command's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Inherit,
    Null,
}

/// Opens the target's namespace files, in setns order.
fn open_namespaces(pid: i32, types: &[&str]) -> Result<Vec<(&'static str, File, CloneFlags)>> {
    let mut out = Vec::new();
    for &probe::NsType { name, flag, .. } in probe::in_setns_order() {
        if !types.contains(&name) {
            continue;
        }
        // Joining the user namespace we are already in fails with EINVAL: skip it, as nsenter does.
        if name == "user" && probe::ns_link(Some(pid), name).ok() == probe::ns_link(None, name).ok() {
            continue;
        }
        let path = probe::ns_path(Some(pid), name);
        match File::open(&path) {
            Ok(f) => out.push((name, f, flag)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Gone between the check and now, or a kernel without this namespace type.
                check_target(pid as i64)?;
                return Err(NsError::io(format!("opening {path} (does this kernel have {name} namespaces?)"), e));
            }
            Err(e) => return Err(NsError::io(format!("opening {path}"), e)),
        }
    }
    for t in types {
        if crate::flag_of(t).is_none() {
            return Err(NsError::Usage(format!("unknown namespace type {t:?}: use one of {}", crate::type_names())));
        }
    }
    Ok(out)
}

/// Starts `argv` inside `pid`'s namespaces of the given types and returns once it exec'd.
pub fn spawn(pid: i32, types: &[&str], argv: &[OsString], output: Output) -> Result<NsChild> {
    let pid = check_target(pid as i64)?;
    let namespaces = open_namespaces(pid, types)?;
    let program = resolve_program(argv.first().ok_or_else(|| NsError::Usage("no command given".into()))?)?;
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let devnull = match output {
        Output::Null => {
            Some(File::options().read(true).write(true).open("/dev/null").map_err(|e| NsError::io("/dev/null", e))?)
        }
        Output::Inherit => None,
    };
    let (mut parent_end, child_end) = UnixStream::pair().map_err(|e| NsError::io("socketpair", e))?;
    let pid_ns = namespaces.iter().find(|(n, _, _)| *n == "pid").map(|(_, f, _)| f);
    let others: Vec<(&'static str, &File, CloneFlags)> =
        namespaces.iter().filter(|(n, _, _)| *n != "pid").map(|(n, f, fl)| (*n, f, *fl)).collect();

    let body = |exec: &sys::PreparedExec| -> i32 {
        let fail = |stage: u8, errno: Errno| -> i32 {
            let mut msg = [b'E', stage, 0, 0, 0, 0];
            msg[2..].copy_from_slice(&(errno as i32).to_ne_bytes());
            let _ = nix::unistd::write(child_end.as_fd(), &msg);
            127
        };
        for (i, (_, file, flag)) in others.iter().enumerate() {
            if let Err(e) = nix::sched::setns(file.as_fd(), *flag) {
                return fail(i as u8, e);
            }
        }
        if let Some(null) = &devnull {
            for target in 0..3 {
                if let Err(e) = nix::unistd::dup2(null.as_raw_fd(), target) {
                    return fail(100, e);
                }
            }
        }
        let errno = exec.exec();
        fail(101, errno)
    };
    let cloned = std::thread::scope(|scope| {
        scope
            .spawn(|| -> std::io::Result<i32> {
                // Prepared on this thread: its raw pointers may not cross threads.
                let exec = sys::PreparedExec::new(&program, argv, &env)?;
                if let Some(file) = pid_ns {
                    nix::sched::setns(file.as_fd(), CloneFlags::CLONE_NEWPID)?;
                }
                sys::clone_child(CloneFlags::empty(), || body(&exec))
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the setns thread panicked")))
    });
    let child_pid = cloned.map_err(|e| {
        let what = if pid_ns.is_some() { "setns into the pid namespace and clone" } else { "clone" };
        if e.raw_os_error() == Some(libc::EPERM) && !sys::is_root() {
            NsError::NeedsRoot { what: "a process in another process's namespaces".into() }
        } else {
            NsError::io(what, e)
        }
    })?;
    drop(child_end);
    let child = NsChild { pid: child_pid, start_time: sys::process_start_time(child_pid).unwrap_or(0) };
    let mut msg = Vec::new();
    let _ = parent_end.read_to_end(&mut msg);
    if msg.first() == Some(&b'E') && msg.len() >= 6 {
        let errno = Errno::from_raw(i32::from_ne_bytes([msg[2], msg[3], msg[4], msg[5]]));
        let _ = child.wait();
        let stage = match msg[1] {
            100 => "redirecting stdin/stdout/stderr".to_string(),
            101 => format!("execve {}", program.display()),
            i => format!("setns into /proc/{pid}/ns/{}", others.get(i as usize).map(|o| o.0).unwrap_or("?")),
        };
        let hint = if errno == Errno::ENOENT && msg[1] == 101 {
            " (the program does not exist in the target's mount namespace)"
        } else if errno == Errno::EPERM {
            " (setns needs CAP_SYS_ADMIN over the target namespace: try sudo)"
        } else {
            ""
        };
        return Err(NsError::io(stage, std::io::Error::other(format!("{errno}{hint}"))));
    }
    Ok(child)
}

/// Runs `argv` inside `pid`'s namespaces and waits for it; returns its exit code.
pub fn run(pid: i32, types: &[&str], argv: &[OsString]) -> Result<i32> {
    spawn(pid, types, argv, Output::Inherit)?.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pid_is_named() {
        let err = check_target(i32::MAX as i64).unwrap_err();
        assert!(matches!(err, NsError::NoSuchProcess(_)), "{err}");
        assert!(err.to_string().contains("docker inspect"), "{err}");
    }

    #[test]
    fn zero_and_negative_pids_are_invalid() {
        assert!(matches!(check_target(0), Err(NsError::InvalidPid(0))));
        assert!(matches!(check_target(-5), Err(NsError::InvalidPid(-5))));
    }

    #[test]
    fn kthreadd_is_recognised_as_a_kernel_thread() {
        // PID 2 is kthreadd on every Linux system; in a container's pid namespace it may not exist.
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
            let err = check_target(2).unwrap_err();
            assert!(err.to_string().contains("kernel thread ([kthreadd])"), "{err}");
        }
    }

    #[test]
    fn an_exited_child_is_reported_as_exited() {
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not reaped yet: a zombie.
        for _ in 0..500 {
            if std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let err = check_target(pid as i64).unwrap_err();
        assert!(matches!(err, NsError::Exited(p) if p == pid), "{err}");
        drop(child);
    }
}
