//! Inside the container: the processes `lcrun create` forks, and the init sequence that turns
//! config.json into kernel state, top to bottom.
//!
//! `lcrun create` forks an intermediate process that joins the cgroup (the parent puts it
//! there), enters or creates the namespaces and forks again, so that the container's init is
//! born inside the new pid namespace as PID 1. The intermediate reports the init's pid and
//! exits; the init runs [`container_init`].

use crate::caps::CapSets;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::kernel::{Kernel, Linux};
use crate::rootfs;
use crate::seccomp::Filter;
use labkit::sys;
use nix::sched::CloneFlags;
use oci_spec::runtime::{PosixRlimitType, Process, Spec};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Everything the children need, prepared (and validated) by the parent before it forks.
pub struct Plan {
    pub spec: Spec,
    pub rootfs: PathBuf,
    pub no_pivot: bool,
    pub caps: CapSets,
    pub seccomp: Option<Filter>,
    /// Namespaces joined by path, in setns order (user first, mnt last).
    pub join: Vec<(OwnedFd, CloneFlags)>,
    /// Namespaces created, except the user namespace, which is created first on its own.
    pub create: CloneFlags,
    pub new_user: bool,
    /// The container's state directory (O_PATH), where `exec.fifo` is opened after pivot_root.
    pub state_dir: OwnedFd,
    /// Connected to `--console-socket` when `process.terminal` is set.
    pub console: Option<UnixStream>,
    pub preserve_fds: u32,
}

/// The intermediate process: namespaces, then the fork that makes the init. Never returns.
pub fn intermediate(plan: Plan, mut chan: Channel) -> ! {
    crate::selfexe::make_undumpable();
    let code = match enter_namespaces(&plan, &mut chan) {
        Ok(()) => match sys::fork_single_threaded() {
            Ok(sys::Forked::Child) => match container_init(plan, &mut chan) {
                Ok(()) => sys::exit_now(0),
                Err(error) => {
                    let _ = chan.send(&Msg::Failed(error.to_string()));
                    sys::exit_now(1)
                }
            },
            Ok(sys::Forked::Parent(pid)) => chan.send(&Msg::InitPid(pid)).map_or(1, |_| 0),
            Err(e) => report(&mut chan, Error::io("forking the container's init", e)),
        },
        Err(e) => report(&mut chan, e),
    };
    sys::exit_now(code)
}

fn report(chan: &mut Channel, error: Error) -> i32 {
    let _ = chan.send(&Msg::Failed(error.to_string()));
    1
}

fn enter_namespaces(plan: &Plan, chan: &mut Channel) -> Result<()> {
    // Wait until the parent has put us in the container's cgroup (a new cgroup namespace
    // must be made from inside it) and set our oom_score_adj.
    chan.expect(&Msg::Go)?;
    for (fd, flag) in &plan.join {
        nix::sched::setns(fd.as_fd(), *flag)
            .map_err(|e| Error::sys(format!("setns into the {} namespace", ns_name(*flag)), e))?;
    }
    if plan.new_user {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| Error::sys("unshare(CLONE_NEWUSER)", e))?;
        // Only a process outside may write our maps: ask the parent, then become root inside.
        chan.send(&Msg::WriteMaps)?;
        chan.expect(&Msg::Go)?;
        sys::set_user_raw(0, 0, &[]).map_err(|e| Error::sys("becoming root in the new user namespace", e))?;
    }
    if !plan.create.is_empty() {
        nix::sched::unshare(plan.create).map_err(|e| Error::sys(format!("unshare({:?})", plan.create), e))?;
    }
    Ok(())
}

fn ns_name(flag: CloneFlags) -> &'static str {
    labns::NS_FLAGS.iter().find(|(_, f)| *f == flag).map_or("?", |(n, _)| n)
}

/// The container's init, from namespaces to execve: each line one step of the OCI config.
/// Returns only with the error that stopped it — or Ok for a config without `process`, whose
/// container only exists (the spec allows it) and stops once started.
pub fn container_init(mut plan: Plan, chan: &mut Channel) -> Result<()> {
    let k = &Linux;
    let spec = &plan.spec;
    let Some(process) = spec.process().clone() else {
        return container_without_process(&plan, chan);
    };
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    // Device nodes and directories get exactly the modes the config gives; the process's own
    // umask (process.user.umask) is set just before exec.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    set_hostname(k, spec)?;
    rootfs::prepare_root(k, spec, &plan.rootfs)?;
    rootfs::mount_all(k, spec, &plan.rootfs)?;
    rootfs::create_devices(k, spec, &plan.rootfs, plan.new_user || joins_user(&plan))?;
    let state = run_create_hooks(chan, spec)?;
    rootfs::enter_root(k, &plan.rootfs, plan.no_pivot)?;
    rootfs::apply_root_propagation(k, spec)?;
    if process.terminal().unwrap_or(false) {
        crate::console::attach_new_pty(plan.console.take(), &process)?;
    }
    apply_sysctls(k, spec)?;
    rootfs::protect_paths(k, spec)?;
    apply_rlimits(&process)?;
    check_cwd_inside_root(&process)?;
    let exec = prepare_exec(&process)?;
    // An ignored signal or a blocked mask survives execve (Rust ignores SIGPIPE; a launcher may
    // ignore more): the container's program starts with the defaults, before seccomp may refuse
    // rt_sigaction. `yes | head` must end `yes`; PID 1 must see what it did not ask to ignore.
    sys::default_all_signals();
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if !no_new_privs {
        // Without no_new_privs only a process with CAP_SYS_ADMIN may install a filter: now.
        install_seccomp(plan.seccomp.as_ref())?;
    }
    become_user(&process, &plan.caps)?;
    chdir_cwd(&process)?;
    chan.send(&Msg::Ready)?;
    wait_for_start(&plan.state_dir)?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
        install_seccomp(plan.seccomp.as_ref())?;
    }
    crate::hooks::run_all(spec.hooks().as_ref().and_then(|h| h.start_container().as_ref()), &state)?;
    close_inherited_fds(plan.preserve_fds)?;
    let errno = exec.exec();
    Err(Error::sys(format!("execve {:?}", process.args().as_ref().and_then(|a| a.first())), errno))
}

fn container_without_process(plan: &Plan, chan: &mut Channel) -> Result<()> {
    let (k, spec) = (&Linux, &plan.spec);
    set_hostname(k, spec)?;
    rootfs::prepare_root(k, spec, &plan.rootfs)?;
    rootfs::mount_all(k, spec, &plan.rootfs)?;
    rootfs::create_devices(k, spec, &plan.rootfs, plan.new_user || joins_user(plan))?;
    run_create_hooks(chan, spec)?;
    rootfs::enter_root(k, &plan.rootfs, plan.no_pivot)?;
    rootfs::protect_paths(k, spec)?;
    chan.send(&Msg::Ready)?;
    wait_for_start(&plan.state_dir)
}

fn joins_user(plan: &Plan) -> bool {
    plan.join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWUSER)
}

fn set_hostname(k: &dyn Kernel, spec: &Spec) -> Result<()> {
    if let Some(name) = spec.hostname().as_deref().filter(|n| !n.is_empty()) {
        k.sethostname(name).map_err(|e| Error::sys(format!("sethostname {name:?}"), e))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|n| !n.is_empty()) {
        k.write_file(Path::new("/proc/sys/kernel/domainname"), name)
            .map_err(|e| Error::sys(format!("setting the domainname {name:?}"), e))?;
    }
    Ok(())
}

/// prestart and createRuntime hooks run in the runtime's namespaces, so the parent runs them;
/// createContainer hooks run here, in the container's, before pivot_root.
fn run_create_hooks(chan: &mut Channel, spec: &Spec) -> Result<String> {
    chan.send(&Msg::RunHooks)?;
    let state = match chan.recv()? {
        Msg::State(state) => state,
        other => return Err(Error::Init(format!("expected the state after the hooks, got {other:?}"))),
    };
    crate::hooks::run_all(spec.hooks().as_ref().and_then(|h| h.create_container().as_ref()), &state)?;
    Ok(state)
}

fn apply_sysctls(k: &dyn Kernel, spec: &Spec) -> Result<()> {
    for (key, value) in spec.linux().as_ref().and_then(|l| l.sysctl().clone()).unwrap_or_default() {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        k.write_file(&path, &value).map_err(|e| Error::sys(format!("sysctl {key}={value}"), e))?;
    }
    Ok(())
}

fn apply_rlimits(process: &Process) -> Result<()> {
    use nix::sys::resource::{setrlimit, Resource};
    for limit in process.rlimits().iter().flatten() {
        let resource = match limit.typ() {
            PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        };
        setrlimit(resource, limit.soft(), limit.hard()).map_err(|e| {
            Error::sys(format!("setrlimit {:?} soft {} hard {}", limit.typ(), limit.soft(), limit.hard()), e)
        })?;
    }
    Ok(())
}

/// `process.args[0]` found as execvp would, with the container's own PATH, inside the new root.
pub fn prepare_exec(process: &Process) -> Result<sys::PreparedExec> {
    let args: Vec<OsString> = process.args().clone().unwrap_or_default().into_iter().map(OsString::from).collect();
    let first = args.first().ok_or_else(|| Error::config("process.args", "empty: name the program to run"))?;
    let env: Vec<(OsString, OsString)> = process
        .env()
        .iter()
        .flatten()
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    let path_var = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.to_string_lossy().into_owned());
    let program = find_program(&first.to_string_lossy(), path_var.as_deref())?;
    sys::PreparedExec::new(&program, &args, &env).map_err(|e| Error::io("preparing execve", e))
}

fn find_program(name: &str, path: Option<&str>) -> Result<PathBuf> {
    let not_found = || Error::NotExecutable { name: name.to_string(), why: "not found in the container".into() };
    if name.contains('/') {
        let p = PathBuf::from(name);
        if !p.exists() {
            return Err(not_found());
        }
        if !p.is_file() || nix::unistd::access(&p, nix::unistd::AccessFlags::X_OK).is_err() {
            return Err(Error::NotExecutable {
                name: name.to_string(),
                why: "permission denied (not an executable file)".into(),
            });
        }
        return Ok(p);
    }
    let path = path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file())
        .ok_or_else(not_found)
}

fn install_seccomp(filter: Option<&Filter>) -> Result<()> {
    filter.map_or(Ok(()), Filter::install)
}

/// Bounding set first (needs CAP_SETPCAP), then the uid change with the permitted set kept,
/// then the other four sets as the config says.
pub fn become_user(process: &Process, caps: &CapSets) -> Result<()> {
    caps.apply_bounding()?;
    let user = process.user();
    sys::set_keep_caps(true).map_err(|e| Error::io("prctl(PR_SET_KEEPCAPS)", e))?;
    let groups = user.additional_gids().clone().unwrap_or_default();
    sys::set_user_raw(user.uid(), user.gid(), &groups)
        .map_err(|e| Error::sys(format!("switching to uid {} gid {} groups {groups:?}", user.uid(), user.gid()), e))?;
    sys::set_keep_caps(false).map_err(|e| Error::io("prctl(PR_SET_KEEPCAPS)", e))?;
    caps.apply_after_setuid()?;
    let umask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    Ok(())
}

fn chdir_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).map_err(|e| Error::sys(format!("process.cwd {}", cwd.display()), e))
}

/// CVE-2024-21626: a cwd through /proc/self/fd/N (a host directory the runtime still holds
/// open, such as the state dir) lands outside the new root; getcwd then answers ENOENT. Checked
/// while still root and before any seccomp filter (which may refuse getcwd); a cwd that does
/// not exist is left to the real chdir as the container's user.
fn check_cwd_inside_root(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    if nix::unistd::chdir(cwd).is_err() {
        return Ok(());
    }
    let inside = match nix::unistd::getcwd() {
        Ok(path) => path.is_absolute(),
        Err(nix::errno::Errno::ENOENT) => false,
        Err(e) => return Err(Error::sys("getcwd after chdir to process.cwd", e)),
    };
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))?;
    if inside {
        return Ok(());
    }
    Err(Error::config(
        "process.cwd",
        format!(
            "{} resolves outside the container's root (through a file descriptor the runtime holds, \
             CVE-2024-21626): refused; give a directory inside the rootfs",
            cwd.display()
        ),
    ))
}

/// Blocks until `lcrun start` opens the fifo for reading, then tells it we are going.
fn wait_for_start(state_dir: &OwnedFd) -> Result<()> {
    use std::io::Write;
    let flags = nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC;
    let mut fifo = sys::openat_file(state_dir.as_fd(), "exec.fifo", flags)
        .map_err(|e| Error::io("opening exec.fifo to wait for start", e))?;
    fifo.write_all(b"0").map_err(|e| Error::io("writing exec.fifo", e))
}

/// Every fd above stdio and the `--preserve-fds` ones is closed, so no host file, directory
/// or socket of the runtime stays reachable inside (CVE-2024-21626).
fn close_inherited_fds(preserve_fds: u32) -> Result<()> {
    sys::close_fds_from(3 + preserve_fds).map_err(|e| Error::io("closing inherited file descriptors", e))
}
