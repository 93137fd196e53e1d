//! `lcrun exec`: a new process inside a running container — its cgroup joined, every one of
//! its namespaces entered through /proc/PID/ns (user first, mnt last), then the same
//! privilege steps as the init.

use crate::caps::CapSets;
use crate::cgroups::ContainerCgroup;
use crate::channel::{Channel, Msg};
use crate::container::{saved_spec, status};
use crate::error::{Error, Result};
use crate::init;
use crate::state::{Root, Status};
use labkit::sys;
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

pub struct ExecOptions {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
}

/// Runs the process; returns its exit code (0 at once with `detach`).
pub fn exec(root: &Root, id: &str, opts: ExecOptions) -> Result<i32> {
    crate::config::check_id(id)?;
    let record = root.load(id)?;
    let now = status(root, &record);
    if !matches!(now, Status::Running | Status::Created) {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: now,
            what: "exec needs a running container (start it, or resume it if paused)".into(),
        });
    }
    let spec = saved_spec(root, id)?;
    let process = opts.process;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Usage("exec: name the command to run (lcrun exec ID CMD [ARGS…] or --process FILE)".into()));
    }
    let caps = CapSets::from_spec(process.capabilities().as_ref())?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    let namespaces = open_namespaces(record.pid)?;
    let console = match (&opts.console_socket, process.terminal().unwrap_or(false)) {
        (Some(path), true) => Some(
            UnixStream::connect(path)
                .map_err(|e| Error::io(format!("--console-socket {}: cannot connect", path.display()), e))?,
        ),
        (None, true) => return Err(Error::Usage("exec --tty needs --console-socket to hand the pty to".into())),
        _ => None,
    };
    let cgroup = ContainerCgroup::open(&record.cgroup)?;
    if !opts.detach {
        sys::set_child_subreaper().map_err(|e| Error::io("prctl(PR_SET_CHILD_SUBREAPER)", e))?;
    }
    let (mut ours, mut theirs) = Channel::pair()?;
    let first = match sys::fork_single_threaded().map_err(|e| Error::io("forking the exec process", e))? {
        sys::Forked::Child => {
            crate::selfexe::make_undumpable();
            drop(ours);
            let code = match enter(&namespaces, &mut theirs) {
                Ok(()) => match sys::fork_single_threaded() {
                    Ok(sys::Forked::Child) => {
                        let err =
                            become_process(&process, &caps, seccomp.as_ref(), console, opts.preserve_fds, &mut theirs)
                                .unwrap_err();
                        let _ = theirs.send(&Msg::Failed(err.to_string()));
                        sys::exit_now(1)
                    }
                    Ok(sys::Forked::Parent(pid)) => theirs.send(&Msg::InitPid(pid)).map_or(1, |_| 0),
                    Err(e) => {
                        let _ = theirs.send(&Msg::Failed(format!("fork: {e}")));
                        1
                    }
                },
                Err(e) => {
                    let _ = theirs.send(&Msg::Failed(e.to_string()));
                    1
                }
            };
            sys::exit_now(code)
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop(theirs);
    drop(console);
    let reap = |pid: i32| nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    let setup = (|| -> Result<i32> {
        cgroup.add_process(first)?;
        ours.send(&Msg::Go)?;
        // The intermediate sends the pid and the process sends Ready, on the same channel: a
        // fast process (no seccomp, no capability changes) can be first.
        let (mut pid, mut ready) = (None, false);
        while pid.is_none() || !ready {
            match ours.recv()? {
                Msg::InitPid(p) if pid.is_none() => pid = Some(p),
                Msg::Ready if !ready => ready = true,
                Msg::Failed(why) => return Err(Error::Init(why)),
                other => return Err(Error::Init(format!("unexpected {other:?}"))),
            }
        }
        let _ = reap(first);
        Ok(pid.expect("the loop ends with a pid"))
    })();
    let pid = match setup {
        Ok(pid) => pid,
        Err(e) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::Signal::SIGKILL);
            let _ = reap(first);
            return Err(e);
        }
    };
    if let Some(path) = &opts.pid_file {
        std::fs::write(path, pid.to_string()).map_err(|e| Error::io(format!("--pid-file {}", path.display()), e))?;
    }
    if opts.detach {
        return Ok(0);
    }
    crate::container::wait_exit(pid)
}

/// /proc/PID/ns/* of the init for every type that differs from ours, in setns order.
fn open_namespaces(pid: i32) -> Result<Vec<(OwnedFd, CloneFlags)>> {
    let mut out = Vec::new();
    for (name, flag) in labns::NS_FLAGS {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) if std::os::unix::fs::MetadataExt::ino(&a) == std::os::unix::fs::MetadataExt::ino(&b) => {}
            (Ok(_), _) => {
                let file = std::fs::File::open(&theirs).map_err(|e| Error::io(format!("opening {theirs}"), e))?;
                out.push((OwnedFd::from(file), flag));
            }
            (Err(_), _) => {}
        }
    }
    Ok(out)
}

fn enter(namespaces: &[(OwnedFd, CloneFlags)], chan: &mut Channel) -> Result<()> {
    chan.expect(&Msg::Go)?;
    for (fd, flag) in namespaces {
        nix::sched::setns(fd.as_fd(), *flag).map_err(|e| Error::sys(format!("setns {flag:?}"), e))?;
    }
    Ok(())
}

fn become_process(
    process: &Process,
    caps: &CapSets,
    seccomp: Option<&crate::seccomp::Filter>,
    console: Option<UnixStream>,
    preserve_fds: u32,
    chan: &mut Channel,
) -> Result<std::convert::Infallible> {
    if process.terminal().unwrap_or(false) {
        nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
        crate::console::attach_new_pty(console, process)?;
    }
    let exec = init::prepare_exec(process)?;
    // Before seccomp, which may refuse rt_sigaction: the process starts with default signals.
    sys::default_all_signals();
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if !no_new_privs {
        if let Some(f) = seccomp {
            f.install()?;
        }
    }
    init::become_user(process, caps)?;
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).map_err(|e| Error::sys(format!("cwd {}", cwd.display()), e))?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
        if let Some(f) = seccomp {
            f.install()?;
        }
    }
    chan.send(&Msg::Ready)?;
    sys::close_fds_from(3 + preserve_fds).map_err(|e| Error::io("closing inherited fds", e))?;
    let errno = exec.exec();
    Err(Error::sys("execve", errno))
}
