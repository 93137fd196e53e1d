//! The lifecycle of the OCI runtime spec: create, start, state, kill, delete (and list, pause,
//! resume, ps), each a function of the library that `lcrun` and the container engine call.

use crate::caps::CapSets;
use crate::cgroups::ContainerCgroup;
use crate::channel::{Channel, Msg};
use crate::config::{check_id, Bundle};
use crate::error::{Error, Result};
use crate::init::{self, Plan};
use crate::state::{now_rfc3339, OciState, Record, Root, Status};
use labkit::sys;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, LinuxResources, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of `create` beyond the bundle.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

/// The namespace types in setns order, with their clone flags.
fn ns_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

const NSFS_MAGIC: i64 = 0x6e73_6673;

/// linux.namespaces, split the way the intermediate process acts on them.
struct NamespacePlan {
    /// Joined by path, in setns order.
    join: Vec<(OwnedFd, CloneFlags)>,
    /// Created with unshare, except the user namespace.
    create: CloneFlags,
    new_user: bool,
}

fn plan_namespaces(spec: &Spec) -> Result<NamespacePlan> {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let mut join = Vec::new();
    let mut create = CloneFlags::empty();
    let mut seen = CloneFlags::empty();
    for ns in &namespaces {
        let flag = ns_flag(ns.typ());
        if seen.contains(flag) {
            return Err(Error::config("linux.namespaces", format!("{:?} is listed twice", ns.typ())));
        }
        seen |= flag;
        match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => {
                let file = std::fs::File::open(path)
                    .map_err(|e| Error::io(format!("linux.namespaces: opening {}", path.display()), e))?;
                let fs = nix::sys::statfs::fstatfs(&file)
                    .map_err(|e| Error::sys(format!("statfs {}", path.display()), e))?;
                if fs.filesystem_type().0 as i64 != NSFS_MAGIC {
                    return Err(Error::config(
                        "linux.namespaces[].path",
                        format!(
                            "{} is not a namespace file (use /proc/PID/ns/TYPE or a bind mount of one)",
                            path.display()
                        ),
                    ));
                }
                join.push((OwnedFd::from(file), flag));
            }
            _ => create |= flag,
        }
    }
    if !seen.contains(CloneFlags::CLONE_NEWNS) {
        return Err(Error::config(
            "linux.namespaces",
            "no mount namespace: lcrun sets up the rootfs only in a mount namespace of the container's own",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !seen.contains(CloneFlags::CLONE_NEWUTS) {
        return Err(Error::config("hostname", "setting a hostname needs a uts namespace: it would rename the host"));
    }
    // setns order: user first (it grants the rights for the rest), mnt last.
    let rank = |f: &CloneFlags| labns::NS_FLAGS.iter().position(|(_, g)| g == f).unwrap_or(0);
    join.sort_by_key(|(_, f)| rank(f));
    let new_user = create.contains(CloneFlags::CLONE_NEWUSER);
    Ok(NamespacePlan { join, create: create - CloneFlags::CLONE_NEWUSER, new_user })
}

fn check_unsupported(spec: &Spec) -> Result<()> {
    if let Some(process) = spec.process() {
        if process.apparmor_profile().as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::config(
                "process.apparmorProfile",
                "AppArmor is not supported by lcrun: remove the field",
            ));
        }
        if process.selinux_label().as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::config("process.selinuxLabel", "SELinux is not supported by lcrun: remove the field"));
        }
    }
    if spec.linux().as_ref().and_then(|l| l.mount_label().as_deref()).is_some_and(|p| !p.is_empty()) {
        return Err(Error::config(
            "linux.mountLabel",
            "SELinux mount labels are not supported by lcrun: remove the field",
        ));
    }
    Ok(())
}

/// The host uid/gid that root inside maps to (the owner of exec.fifo), 0/0 without a user ns.
fn host_root(spec: &Spec) -> (u32, u32) {
    let find = |maps: Option<&Vec<LinuxIdMapping>>| {
        maps.into_iter().flatten().find(|m| m.container_id() == 0).map_or(0, |m| m.host_id())
    };
    let linux = spec.linux().as_ref();
    (find(linux.and_then(|l| l.uid_mappings().as_ref())), find(linux.and_then(|l| l.gid_mappings().as_ref())))
}

/// `lcrun create`: the container exists, its init waits for [`start`].
pub fn create(root: &Root, id: &str, bundle_dir: &Path, opts: &CreateOptions) -> Result<Record> {
    check_id(id)?;
    let bundle = Bundle::load(bundle_dir)?;
    let spec = &bundle.spec;
    check_unsupported(spec)?;
    // Without `process` the container only exists; start then lets its init exit.
    let process = spec.process().clone().unwrap_or_default();
    if spec.process().is_some() && process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config("process.args", "empty: name the program to run"));
    }
    let caps = CapSets::from_spec(process.capabilities().as_ref())?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    let resources = spec.linux().as_ref().and_then(|l| l.resources().clone());
    if let Some(r) = &resources {
        ContainerCgroup::check(r)?;
    }
    let NamespacePlan { join, create: create_flags, new_user } = plan_namespaces(spec)?;
    let console = match (&opts.console_socket, spec.process().is_some() && process.terminal().unwrap_or(false)) {
        (Some(path), true) => Some(std::os::unix::net::UnixStream::connect(path).map_err(|e| {
            Error::io(
                format!("--console-socket {}: cannot connect (is the terminal's receiver listening?)", path.display()),
                e,
            )
        })?),
        _ => None,
    };
    if let Some(pid_file) = &opts.pid_file {
        let dir = pid_file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(Error::Path {
                path: pid_file.clone(),
                why: format!("--pid-file: directory {} does not exist", dir.display()),
            });
        }
    }
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()).map(|p| p.display().to_string());
    let cgroup = ContainerCgroup::resolve(cgroups_path.as_deref(), id)?;

    let _lock = root.lock(id)?;
    if root.container_dir(id).exists() {
        return Err(Error::Exists { id: id.into(), root: root.dir.clone() });
    }
    let dir = root.container_dir(id);
    std::fs::create_dir(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let me = std::process::id() as i32;
    let mut record = Record {
        id: id.to_string(),
        stage: Status::Creating,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        pid: 0,
        start_time: 0,
        creator_pid: me,
        creator_start_time: sys::process_start_time(me).unwrap_or(0),
        cgroup: cgroup.path().to_string(),
        created: now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    };
    let result = (|| -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| Error::io(format!("chmod {}", dir.display()), e))?;
        root.save(&record)?;
        let config = serde_json::to_vec(spec).expect("a spec serialises");
        std::fs::write(root.config_file(id), config)
            .map_err(|e| Error::io("saving config.json in the state dir", e))?;
        let fifo = root.fifo(id);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .map_err(|e| Error::sys(format!("mkfifo {}", fifo.display()), e))?;
        // mkfifo's mode passes through the umask: set it explicitly, so a container user other
        // than root can still open the fifo for writing.
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))
            .map_err(|e| Error::io(format!("chmod {}", fifo.display()), e))?;
        let (uid, gid) = host_root(spec);
        nix::unistd::chown(&fifo, Some(uid.into()), Some(gid.into()))
            .map_err(|e| Error::sys(format!("chown {}", fifo.display()), e))?;
        cgroup.create()?;
        let state_dir = nix::fcntl::open(
            &dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("opening {}", dir.display()), e))?;
        let state_dir = sys::owned_fd(state_dir);
        let plan = Plan {
            spec: spec.clone(),
            rootfs: bundle.rootfs.clone(),
            no_pivot: opts.no_pivot,
            caps,
            seccomp,
            join,
            create: create_flags,
            new_user,
            state_dir,
            console,
            preserve_fds: opts.preserve_fds,
        };
        run_children(root, &mut record, plan, spec, &cgroup, resources.as_ref())
    })();
    if let Err(e) = result {
        abort_create(root, &record, &cgroup);
        return Err(e);
    }
    record.stage = Status::Created;
    root.save(&record)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, record.pid)?;
    }
    Ok(record)
}

/// Forks the intermediate process and answers it (and then the init) until the init is ready.
fn run_children(
    root: &Root,
    record: &mut Record,
    plan: Plan,
    spec: &Spec,
    cgroup: &ContainerCgroup,
    resources: Option<&LinuxResources>,
) -> Result<()> {
    let (mut ours, theirs) = Channel::pair()?;
    let oom = spec.process().as_ref().and_then(|p| p.oom_score_adj());
    let intermediate =
        match sys::fork_single_threaded().map_err(|e| Error::io("forking the container's first process", e))? {
            sys::Forked::Child => {
                drop(ours);
                init::intermediate(plan, theirs)
            }
            sys::Forked::Parent(pid) => pid,
        };
    drop(theirs);
    drop(plan);
    let reap = |pid: i32| {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    };
    let result = (|| -> Result<()> {
        // Joined before the limits are written, as runc does: a limit below what the process
        // already uses is then refused by the kernel at once, not met by the OOM killer later.
        cgroup.add_process(intermediate)?;
        if let Some(r) = resources {
            cgroup.apply(r)?;
        }
        if let Some(score) = oom {
            std::fs::write(format!("/proc/{intermediate}/oom_score_adj"), score.to_string())
                .map_err(|e| Error::io(format!("process.oomScoreAdj {score}"), e))?;
        }
        ours.send(&Msg::Go)?;
        loop {
            match ours.recv()? {
                Msg::WriteMaps => {
                    write_id_maps(intermediate, spec)?;
                    ours.send(&Msg::Go)?;
                }
                Msg::InitPid(pid) => {
                    record.pid = pid;
                    record.start_time = sys::process_start_time(pid).unwrap_or(0);
                    root.save(record)?;
                    reap(intermediate);
                }
                Msg::RunHooks => {
                    let state =
                        serde_json::to_string(&OciState::of(record, Status::Created)).expect("state serialises");
                    let hooks = spec.hooks().as_ref();
                    crate::hooks::run_all(hooks.and_then(|h| h.prestart().as_ref()), &state)?;
                    crate::hooks::run_all(hooks.and_then(|h| h.create_runtime().as_ref()), &state)?;
                    ours.send(&Msg::State(state))?;
                }
                Msg::Ready => return Ok(()),
                Msg::Failed(why) => return Err(Error::Init(why)),
                other => return Err(Error::Init(format!("unexpected {other:?} on the sync channel"))),
            }
        }
    })();
    if result.is_err() {
        let _ = sys::signal_if_same(intermediate, sys::process_start_time(intermediate).unwrap_or(0), Signal::SIGKILL);
        reap(intermediate);
    }
    result
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let lines = |maps: Option<&Vec<LinuxIdMapping>>| -> String {
        maps.into_iter().flatten().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
    };
    for (file, text) in [
        ("uid_map", lines(linux.and_then(|l| l.uid_mappings().as_ref()))),
        ("gid_map", lines(linux.and_then(|l| l.gid_mappings().as_ref()))),
    ] {
        if text.is_empty() {
            return Err(Error::config(
                format!("linux.{}", file.replace("_map", "Mappings")),
                "a new user namespace needs mappings",
            ));
        }
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &text).map_err(|e| Error::io(format!("writing {:?} to {path}", text.trim_end()), e))?;
    }
    Ok(())
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("lcrun-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io(format!("--pid-file {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("--pid-file {}", path.display()), e))
}

/// Undoes a create that failed midway: the init (if born), the cgroup, the state dir.
fn abort_create(root: &Root, record: &Record, cgroup: &ContainerCgroup) {
    kill_everything(record, cgroup);
    let _ = cgroup.remove();
    let _ = root.remove(&record.id);
}

fn alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && sys::process_start_time(pid) == Some(start_time) && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string)))
        .is_some_and(|state| state == "Z" || state == "X")
}

/// SIGKILL to the init and to everything in the container's cgroup; waits until they are gone.
fn kill_everything(record: &Record, cgroup: &ContainerCgroup) {
    let _ = cgroup.thaw();
    if alive(record.pid, record.start_time) {
        let _ = sys::signal_if_same(record.pid, record.start_time, Signal::SIGKILL);
    }
    for pid in cgroup.pids().unwrap_or_default() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    for _ in 0..500 {
        if !alive(record.pid, record.start_time) && cgroup.pids().unwrap_or_default().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The live status: stopped when the init is gone, paused when frozen, created while the fifo
/// waits, a create whose `lcrun` died midway shows as stopped.
pub fn status(root: &Root, record: &Record) -> Status {
    match record.stage {
        Status::Creating => {
            if alive(record.creator_pid, record.creator_start_time) {
                Status::Creating
            } else {
                Status::Stopped
            }
        }
        _ if !alive(record.pid, record.start_time) => Status::Stopped,
        Status::Created if root.fifo(&record.id).exists() => Status::Created,
        _ => match ContainerCgroup::open(&record.cgroup).and_then(|c| c.is_frozen()) {
            Ok(true) => Status::Paused,
            _ => Status::Running,
        },
    }
}

/// `lcrun state`.
pub fn state(root: &Root, id: &str) -> Result<OciState> {
    check_id(id)?;
    let record = root.load(id)?;
    Ok(OciState::of(&record, status(root, &record)))
}

/// `lcrun start`: releases the init waiting on exec.fifo, then runs the poststart hooks.
pub fn start(root: &Root, id: &str) -> Result<()> {
    check_id(id)?;
    let _lock = root.lock_existing(id)?;
    let mut record = root.load(id)?;
    let now = status(root, &record);
    if now != Status::Created {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: now,
            what: "only a created container can be started (create a new one, or `lcrun delete` this one)".into(),
        });
    }
    let fifo_path = root.fifo(id);
    let fifo = std::fs::File::options()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo_path)
        .map_err(|e| Error::io(format!("opening {}", fifo_path.display()), e))?;
    wait_readable(&fifo, &record)?;
    let _ = std::fs::remove_file(&fifo_path);
    record.stage = Status::Running;
    root.save(&record)?;
    let spec = saved_spec(root, id)?;
    let state = serde_json::to_string(&OciState::of(&record, Status::Running)).expect("state serialises");
    if let Err(e) = crate::hooks::run_all(spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()), &state) {
        // The spec: a failed poststart hook is logged and the lifecycle goes on.
        eprintln!("lcrun: warning: poststart {e}");
    }
    Ok(())
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

/// Waits for the init's byte on the fifo, giving up if the init dies first.
fn wait_readable(fifo: &std::fs::File, record: &Record) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(50u16)).map_err(|e| Error::sys("poll on exec.fifo", e))?;
        if ready > 0 && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            let mut byte = [0u8; 1];
            if matches!((&*fifo).read(&mut byte), Ok(1)) {
                return Ok(());
            }
        }
        if !alive(record.pid, record.start_time) {
            return Err(Error::WrongStatus {
                id: record.id.clone(),
                status: Status::Stopped,
                what: "its init exited before it could be started".into(),
            });
        }
    }
}

pub fn saved_spec(root: &Root, id: &str) -> Result<Spec> {
    let path = root.config_file(id);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    crate::config::parse_spec(&text).map_err(|why| Error::Path { path, why })
}

/// A signal by name (`TERM`, `SIGTERM`) or number (`15`).
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || Error::Usage(format!("unknown signal {text:?}: use a name like TERM or KILL, or a number like 15"));
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map_err(|_| bad())
}

/// `lcrun kill`: `signal` to the init, or with `all` to every process in the container's cgroup.
pub fn kill(root: &Root, id: &str, signal: Signal, all: bool) -> Result<()> {
    check_id(id)?;
    let record = root.load(id)?;
    let now = status(root, &record);
    if now == Status::Stopped {
        return Err(Error::WrongStatus { id: id.into(), status: now, what: "no process left to signal".into() });
    }
    if all {
        let cgroup = ContainerCgroup::open(&record.cgroup)?;
        for pid in cgroup.pids()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
        if signal == Signal::SIGKILL {
            let _ = cgroup.thaw();
        }
        return Ok(());
    }
    if !sys::signal_if_same(record.pid, record.start_time, signal) {
        return Err(Error::WrongStatus { id: id.into(), status: Status::Stopped, what: "its init is gone".into() });
    }
    Ok(())
}

/// `lcrun delete`: a stopped or created container is removed; a running one only with `force`
/// (SIGKILL first). Runs the poststop hooks; removes the cgroup and the state.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    check_id(id)?;
    if !root.container_dir(id).exists() {
        return if force { Ok(()) } else { Err(Error::NotFound { id: id.into(), root: root.dir.clone() }) };
    }
    let _lock = root.lock(id)?;
    let record = match root.load(id) {
        Ok(r) => r,
        // A create killed before its first record: only the directory is there.
        Err(Error::NotFound { .. }) if force => return root.remove(id),
        Err(e) => return Err(e),
    };
    let now = status(root, &record);
    // The spec: deleting a container that is not stopped (created ones included) is an error.
    if now != Status::Stopped && !force {
        return Err(Error::WrongStatus {
            id: id.into(),
            status: now,
            what: format!("stop it first (`lcrun kill {id} KILL`) or use `lcrun delete --force {id}`"),
        });
    }
    let cgroup = ContainerCgroup::open(&record.cgroup)?;
    kill_everything(&record, &cgroup);
    cgroup.remove()?;
    if let Ok(spec) = saved_spec(root, id) {
        let state = serde_json::to_string(&OciState::of(&record, Status::Stopped)).expect("state serialises");
        if let Err(e) = crate::hooks::run_all(spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()), &state) {
            eprintln!("lcrun: warning: poststop {e}");
        }
    }
    root.remove(id)
}

/// `lcrun list`: every container with its live status.
pub fn list(root: &Root) -> Vec<OciState> {
    root.ids().iter().filter_map(|id| root.load(id).ok()).map(|r| OciState::of(&r, status(root, &r))).collect()
}

/// `lcrun pause` / `resume`: the cgroup freezer.
pub fn pause(root: &Root, id: &str, freeze: bool) -> Result<()> {
    check_id(id)?;
    let record = root.load(id)?;
    let now = status(root, &record);
    let cgroup = ContainerCgroup::open(&record.cgroup)?;
    match (freeze, now) {
        (true, Status::Running) => cgroup.freeze(),
        (false, Status::Paused) => cgroup.thaw(),
        _ => Err(Error::WrongStatus {
            id: id.into(),
            status: now,
            what: if freeze {
                "only a running container can be paused"
            } else {
                "only a paused container can be resumed"
            }
            .into(),
        }),
    }
}

/// `lcrun ps`: the pids in the container's cgroup.
pub fn processes(root: &Root, id: &str) -> Result<Vec<i32>> {
    check_id(id)?;
    let record = root.load(id)?;
    ContainerCgroup::open(&record.cgroup)?.pids()
}

/// Waits for `pid` (our child, or a descendant reparented to us as subreaper) and returns its
/// exit code, 128 + signal number when a signal ended it (as shells report it).
pub fn wait_exit(pid: i32) -> Result<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("waiting for process {pid}"), e)),
        }
    }
}

/// Reaps every exited child without blocking; Some(exit code) once `pid` is among them.
pub fn reap_until(pid: i32) -> Result<Option<i32>> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, signal, _)) if p.as_raw() == pid => return Ok(Some(128 + signal as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            // Not our child (no subreaper): we can only see that it is gone, not its status.
            Err(nix::errno::Errno::ECHILD) => return Ok(if alive_pid(pid) { None } else { Some(0) }),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waitpid", e)),
        }
    }
}

fn alive_pid(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}
