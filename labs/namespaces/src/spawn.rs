//! The spawner: a child process born in new namespaces, the building block of `labctl ns run`
//! (what `unshare -f` does) and of the mini container.
//!
//! One `clone(2)` with namespace flags makes the child: with `CLONE_NEWPID` it is PID 1 of the
//! new pid namespace itself (`unshare(2)` before `exec` would only move its future children).
//! Parent and child then talk over a socketpair: the child says it is ready, the parent writes
//! its `uid_map`/`gid_map` (only a process outside may), says go, and the child sets up the
//! inside — mount tree private, a fresh `/proc`, hostname — and `exec`s. A setup failure comes
//! back over the same socket as a stage and an errno; a successful `exec` closes it.

use crate::error::{NsError, Result};
use crate::userns::UsernsPolicy;
use labkit::sys;
use labkit::Undo;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// One line of a uid_map or gid_map: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

impl IdMap {
    /// Maps one outside id to root inside (what `unshare --map-root-user` writes).
    pub fn root_to(outside: u32) -> IdMap {
        IdMap { inside: 0, outside, count: 1 }
    }

    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.inside, self.outside, self.count)
    }
}

/// Where the child's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    #[default]
    Inherit,
    /// stdin, stdout and stderr on /dev/null (a background process).
    Null,
}

/// What to create and how to set up the inside. Build with [`Spawner::new`] and the setters.
#[derive(Debug, Clone)]
pub struct Spawner {
    pub flags: CloneFlags,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// Mount a fresh proc on /proc inside (needs a new mount namespace).
    pub mount_proc: bool,
    /// Make the new mount namespace's whole tree private first (`mount --make-rprivate /`), so
    /// nothing mounted inside propagates out. On by default; the ns-mnt lab turns it off to show why.
    pub make_private: bool,
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
    /// Write `deny` to /proc/PID/setgroups before gid_map even as root (an unprivileged writer
    /// always must), so a lab shows the same under sudo as without it.
    pub deny_setgroups: bool,
    /// Become this (uid, gid) before creating the namespaces, so they are made by an
    /// unprivileged user (then `unshare(2)` is used, which cannot make the child PID 1).
    pub as_user: Option<(u32, u32)>,
    /// SIGKILL the child when the spawning thread exits (`unshare --kill-child`).
    pub kill_with_parent: bool,
    pub stdio: Stdio,
}

/// The child's setup stages. A failure travels to the parent as the stage's byte and an errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    KillWithParent = 1,
    DropIds = 2,
    Unshare = 3,
    WaitForParent = 4,
    MakePrivate = 5,
    MountProc = 6,
    Hostname = 7,
    Domainname = 8,
    Stdio = 9,
    Exec = 10,
}

impl Stage {
    const ALL: [Stage; 10] = [
        Stage::KillWithParent,
        Stage::DropIds,
        Stage::Unshare,
        Stage::WaitForParent,
        Stage::MakePrivate,
        Stage::MountProc,
        Stage::Hostname,
        Stage::Domainname,
        Stage::Stdio,
        Stage::Exec,
    ];

    fn from_byte(byte: u8) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| *s as u8 == byte)
    }

    /// What the stage does, as an error message names it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::KillWithParent => "prctl(PR_SET_PDEATHSIG)",
            Stage::DropIds => "dropping to the unprivileged uid and gid",
            Stage::Unshare => "unshare",
            Stage::WaitForParent => "waiting for the parent",
            Stage::MakePrivate => "mount --make-rprivate /",
            Stage::MountProc => "mount -t proc proc /proc",
            Stage::Hostname => "sethostname",
            Stage::Domainname => "writing /proc/sys/kernel/domainname",
            Stage::Stdio => "redirecting stdin/stdout/stderr",
            Stage::Exec => "execve",
        }
    }
}

/// The calls the child makes to set itself up: the seam between the setup order (in
/// [`setup_child`], testable without root against a recording fake) and the kernel
/// ([`ChildKernel`]). Implementations used in the child must not allocate (see
/// [`sys::clone_child`]).
pub trait ChildCalls {
    /// setgroups, setresgid, setresuid; then dumpable again (changing uid cleared it).
    fn set_ids(&mut self, uid: u32, gid: u32) -> nix::Result<()>;
    fn kill_with_parent(&mut self) -> nix::Result<()>;
    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()>;
    /// Says "ready" and waits for "go" (the parent writes the maps in between).
    fn wait_for_parent(&mut self) -> nix::Result<()>;
    fn make_root_private(&mut self) -> nix::Result<()>;
    fn mount_proc(&mut self) -> nix::Result<()>;
    fn sethostname(&mut self, name: &str) -> nix::Result<()>;
    fn set_domainname(&mut self, name: &[u8]) -> nix::Result<()>;
    /// Points fds 0, 1 and 2 at the open /dev/null.
    fn stdio_to_null(&mut self) -> nix::Result<()>;
}

/// What the child sets up, decided by the parent before the clone.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildSetup<'a> {
    pub drop_to: Option<(u32, u32)>,
    pub kill_with_parent: bool,
    /// Namespaces the child unshares itself (an unprivileged child; else clone made them).
    pub unshare: Option<CloneFlags>,
    pub make_private: bool,
    pub mount_proc: bool,
    pub hostname: Option<&'a str>,
    pub domainname: Option<&'a [u8]>,
    pub stdio_to_null: bool,
}

/// The child's setup, in order: drop ids, die with the parent, unshare, wait for the maps,
/// make the mount tree private, mount /proc, set the hostname and domainname, redirect stdio.
/// Stops at the first failure and names its stage.
pub fn setup_child(calls: &mut impl ChildCalls, setup: &ChildSetup) -> std::result::Result<(), (Stage, Errno)> {
    let at = |stage: Stage| move |e: Errno| (stage, e);
    if let Some((uid, gid)) = setup.drop_to {
        calls.set_ids(uid, gid).map_err(at(Stage::DropIds))?;
    }
    if setup.kill_with_parent {
        calls.kill_with_parent().map_err(at(Stage::KillWithParent))?;
    }
    if let Some(flags) = setup.unshare {
        calls.unshare(flags).map_err(at(Stage::Unshare))?;
    }
    calls.wait_for_parent().map_err(at(Stage::WaitForParent))?;
    if setup.make_private {
        calls.make_root_private().map_err(at(Stage::MakePrivate))?;
    }
    if setup.mount_proc {
        calls.mount_proc().map_err(at(Stage::MountProc))?;
    }
    if let Some(name) = setup.hostname {
        calls.sethostname(name).map_err(at(Stage::Hostname))?;
    }
    if let Some(name) = setup.domainname {
        calls.set_domainname(name).map_err(at(Stage::Domainname))?;
    }
    if setup.stdio_to_null {
        calls.stdio_to_null().map_err(at(Stage::Stdio))?;
    }
    Ok(())
}

/// The real [`ChildCalls`]: plain system calls, no allocation.
pub struct ChildKernel<'a> {
    /// The child's end of the socketpair.
    pub socket: std::os::fd::BorrowedFd<'a>,
    /// /dev/null, when stdio goes there.
    pub devnull: Option<std::os::fd::BorrowedFd<'a>>,
}

impl ChildCalls for ChildKernel<'_> {
    fn set_ids(&mut self, uid: u32, gid: u32) -> nix::Result<()> {
        sys::set_ids_raw(uid, gid)?;
        let _ = nix::sys::prctl::set_dumpable(true);
        Ok(())
    }

    fn kill_with_parent(&mut self) -> nix::Result<()> {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
    }

    fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }

    fn wait_for_parent(&mut self) -> nix::Result<()> {
        let mut byte = [0u8; 1];
        if nix::unistd::write(self.socket, b"R").is_err()
            || nix::unistd::read(self.socket.as_raw_fd(), &mut byte) != Ok(1)
            || byte[0] != b'G'
        {
            return Err(Errno::EPIPE);
        }
        Ok(())
    }

    fn make_root_private(&mut self) -> nix::Result<()> {
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
    }

    fn mount_proc(&mut self) -> nix::Result<()> {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
    }

    fn sethostname(&mut self, name: &str) -> nix::Result<()> {
        nix::unistd::sethostname(name)
    }

    fn set_domainname(&mut self, name: &[u8]) -> nix::Result<()> {
        // The domainname sysctl acts on the writer's UTS namespace. std's File makes no
        // allocation for a short path and write/close are plain system calls.
        std::fs::File::options()
            .write(true)
            .open("/proc/sys/kernel/domainname")
            .and_then(|mut f| f.write_all(name))
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    }

    fn stdio_to_null(&mut self) -> nix::Result<()> {
        let Some(null) = self.devnull else { return Ok(()) };
        for target in 0..3 {
            nix::unistd::dup2(null.as_raw_fd(), target)?;
        }
        Ok(())
    }
}

impl Spawner {
    pub fn new(flags: CloneFlags) -> Spawner {
        Spawner {
            flags,
            hostname: None,
            domainname: None,
            mount_proc: false,
            make_private: true,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
            deny_setgroups: false,
            as_user: None,
            kill_with_parent: false,
            stdio: Stdio::Inherit,
        }
    }

    pub fn hostname(mut self, name: impl Into<String>) -> Spawner {
        self.hostname = Some(name.into());
        self
    }

    pub fn domainname(mut self, name: impl Into<String>) -> Spawner {
        self.domainname = Some(name.into());
        self
    }

    pub fn mount_proc(mut self, yes: bool) -> Spawner {
        self.mount_proc = yes;
        self
    }

    pub fn make_private(mut self, yes: bool) -> Spawner {
        self.make_private = yes;
        self
    }

    /// Maps root inside to `uid`/`gid` outside (`unshare -r` maps to the caller's own ids).
    pub fn map_root(mut self, uid: u32, gid: u32) -> Spawner {
        self.uid_map = vec![IdMap::root_to(uid)];
        self.gid_map = vec![IdMap::root_to(gid)];
        self
    }

    pub fn deny_setgroups(mut self, yes: bool) -> Spawner {
        self.deny_setgroups = yes;
        self
    }

    pub fn as_user(mut self, uid: u32, gid: u32) -> Spawner {
        self.as_user = Some((uid, gid));
        self
    }

    pub fn kill_with_parent(mut self, yes: bool) -> Spawner {
        self.kill_with_parent = yes;
        self
    }

    pub fn stdio(mut self, stdio: Stdio) -> Spawner {
        self.stdio = stdio;
        self
    }

    /// Contradictions caught before anything is created.
    pub fn validate(&self) -> Result<()> {
        let has = |f| self.flags.contains(f);
        if (self.hostname.is_some() || self.domainname.is_some()) && !has(CloneFlags::CLONE_NEWUTS) {
            return Err(NsError::Usage(
                "--hostname needs --uts: without a new UTS namespace it would rename this machine".into(),
            ));
        }
        if self.mount_proc && !has(CloneFlags::CLONE_NEWNS) {
            return Err(NsError::Usage(
                "mounting a fresh /proc needs --mnt: without a new mount namespace it would cover the host's /proc"
                    .into(),
            ));
        }
        if (!self.uid_map.is_empty() || !self.gid_map.is_empty()) && !has(CloneFlags::CLONE_NEWUSER) {
            return Err(NsError::Usage("uid/gid maps need --user (a new user namespace)".into()));
        }
        if self.as_user.is_some() && has(CloneFlags::CLONE_NEWPID) {
            return Err(NsError::Usage(
                "an unprivileged child unshares its namespaces itself, which cannot make it PID 1: drop --pid".into(),
            ));
        }
        Ok(())
    }

    /// Starts `argv` in the new namespaces and returns once it has exec'd.
    pub fn spawn(&self, argv: &[OsString]) -> Result<NsChild> {
        self.start(argv)?.finish()
    }

    /// Creates the child and returns while it waits for its maps: the caller may look at
    /// `/proc/PID/uid_map` (still empty) before [`Pending::finish`] writes the maps and lets it run.
    pub fn start(&self, argv: &[OsString]) -> Result<Pending> {
        self.validate()?;
        let program = resolve_program(argv.first().ok_or_else(|| NsError::Usage("no command given".into()))?)?;
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let exec = sys::PreparedExec::new(&program, argv, &env)
            .map_err(|e| NsError::io(format!("preparing {}", program.display()), e))?;
        let devnull = match self.stdio {
            Stdio::Null => Some(
                std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .map_err(|e| NsError::io("opening /dev/null", e))?,
            ),
            Stdio::Inherit => None,
        };
        let (parent_end, child_end) = UnixStream::pair().map_err(|e| NsError::io("socketpair", e))?;
        let clone_flags = if self.as_user.is_some() { CloneFlags::empty() } else { self.flags };
        let hostname = self.hostname.as_deref();
        let domainname = self.domainname.as_deref().map(|d| d.as_bytes());

        let setup = ChildSetup {
            drop_to: self.as_user,
            kill_with_parent: self.kill_with_parent,
            unshare: self.as_user.map(|_| self.flags),
            make_private: self.flags.contains(CloneFlags::CLONE_NEWNS) && self.make_private,
            mount_proc: self.mount_proc,
            hostname,
            domainname,
            stdio_to_null: devnull.is_some(),
        };
        let body = || -> i32 {
            let fail = |stage: Stage, errno: Errno| -> i32 {
                let mut msg = [b'E', stage as u8, 0, 0, 0, 0];
                msg[2..].copy_from_slice(&(errno as i32).to_ne_bytes());
                let _ = nix::unistd::write(child_end.as_fd(), &msg);
                127
            };
            let mut kernel = ChildKernel { socket: child_end.as_fd(), devnull: devnull.as_ref().map(|f| f.as_fd()) };
            if let Err((stage, errno)) = setup_child(&mut kernel, &setup) {
                return fail(stage, errno);
            }
            let errno = exec.exec();
            fail(Stage::Exec, errno)
        };
        let pid = match sys::clone_child(clone_flags, body) {
            Ok(pid) => pid,
            Err(e) => return Err(self.clone_error(e)),
        };
        drop(child_end);
        let start_time = sys::process_start_time(pid).unwrap_or(0);
        let mut pending =
            Pending { spawner: self.clone(), child: NsChild { pid, start_time }, socket: parent_end, done: false };
        pending.wait_ready()?;
        Ok(pending)
    }

    fn clone_error(&self, e: std::io::Error) -> NsError {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
        if self.flags.contains(CloneFlags::CLONE_NEWUSER) {
            if let Some(why) = UsernsPolicy::current().blocker(errno, sys::is_root()) {
                return NsError::UserNsBlocked(why);
            }
        }
        if errno == Errno::EPERM && !sys::is_root() {
            return NsError::NeedsRoot { what: describe_flags(self.flags) };
        }
        NsError::io(format!("clone({})", describe_flags(self.flags)), e)
    }
}

/// A child started by [`Spawner::start`], waiting for its maps.
pub struct Pending {
    spawner: Spawner,
    child: NsChild,
    socket: UnixStream,
    done: bool,
}

impl Pending {
    pub fn pid(&self) -> i32 {
        self.child.pid
    }

    pub fn child(&self) -> &NsChild {
        &self.child
    }

    fn wait_ready(&mut self) -> Result<()> {
        let mut byte = [0u8; 1];
        match self.socket.read(&mut byte) {
            Ok(1) if byte[0] == b'R' => Ok(()),
            Ok(1) if byte[0] == b'E' => Err(self.child_error()),
            _ => Err(self.died("before it was ready")),
        }
    }

    /// Writes the maps (setgroups `deny` first when we are not root, as the kernel requires
    /// of an unprivileged writer, or when asked), lets the child run, and returns once it has exec'd.
    pub fn finish(mut self) -> Result<NsChild> {
        let pid = self.child.pid;
        if let Err(e) = self.write_maps() {
            self.abort();
            return Err(e);
        }
        if self.socket.write_all(b"G").is_err() {
            return Err(self.died("while we wrote its maps"));
        }
        let mut msg = Vec::new();
        let _ = self.socket.read_to_end(&mut msg);
        if msg.first() == Some(&b'E') && msg.len() >= 6 {
            let err = decode_child_error(&msg, &self.spawner);
            self.abort();
            return Err(err);
        }
        self.done = true;
        Ok(NsChild { pid, start_time: self.child.start_time })
    }

    fn write_maps(&self) -> Result<()> {
        let pid = self.child.pid;
        let write = |file: &str, text: &str| -> Result<()> {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, text).map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
                match UsernsPolicy::current().blocker(errno, sys::is_root()).filter(|_| errno == Errno::EPERM) {
                    Some(why) => NsError::UserNsBlocked(why),
                    None => NsError::io(
                        format!(
                            "writing {:?} to {path} (an unprivileged user may map only its own uid and gid, \
                             one line each)",
                            text.trim_end()
                        ),
                        e,
                    ),
                }
            })
        };
        let lines = |maps: &[IdMap]| maps.iter().map(IdMap::line).collect::<String>();
        if !self.spawner.uid_map.is_empty() {
            write("uid_map", &lines(&self.spawner.uid_map))?;
        }
        if !self.spawner.gid_map.is_empty() {
            if self.spawner.deny_setgroups || !sys::is_root() {
                write("setgroups", "deny")?;
            }
            write("gid_map", &lines(&self.spawner.gid_map))?;
        }
        Ok(())
    }

    fn child_error(&mut self) -> NsError {
        let mut rest = [0u8; 5];
        let mut msg = vec![b'E'];
        if self.socket.read_exact(&mut rest).is_ok() {
            msg.extend_from_slice(&rest);
        }
        let err = if msg.len() == 6 { decode_child_error(&msg, &self.spawner) } else { self.died("") };
        self.abort();
        err
    }

    fn died(&mut self, when: &str) -> NsError {
        let status = self.child.wait().ok();
        self.done = true;
        NsError::io(
            format!("the child {} exited {when}", self.child.pid),
            std::io::Error::other(format!("exit status {status:?}")),
        )
    }

    fn abort(&mut self) {
        let _ = self.child.kill();
        self.done = true;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
        }
    }
}

fn decode_child_error(msg: &[u8], spawner: &Spawner) -> NsError {
    let stage = Stage::from_byte(msg[1]);
    let errno = Errno::from_raw(i32::from_ne_bytes([msg[2], msg[3], msg[4], msg[5]]));
    let name = stage.map_or("?", Stage::name);
    if stage == Some(Stage::Unshare) && spawner.flags.contains(CloneFlags::CLONE_NEWUSER) {
        if let Some(why) = UsernsPolicy::current().blocker(errno, false) {
            return NsError::UserNsBlocked(why);
        }
    }
    let hint = match (stage, errno) {
        (Some(Stage::MountProc), Errno::EPERM) => {
            " (a fresh proc can be mounted only by a process in a new pid namespace it controls: add --pid)"
        }
        (Some(Stage::Exec), Errno::ENOENT) => " (the program is missing inside the new mount namespace)",
        (Some(Stage::Exec), Errno::EACCES) => " (not executable)",
        _ => "",
    };
    NsError::Child { stage: name, errno, hint: hint.into() }
}

/// A process started in new namespaces (or entered into existing ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsChild {
    pub pid: i32,
    /// /proc/PID/stat start time: with the pid it names this process for good.
    pub start_time: u64,
}

impl NsChild {
    /// The undo that kills this process (register it with the lab's cleanup).
    pub fn undo(&self) -> Undo {
        Undo::Kill { pid: self.pid, start_time: self.start_time }
    }

    /// Waits for the child; returns its exit code, or 128 + signal number as shells do.
    pub fn wait(&self) -> Result<i32> {
        loop {
            match waitpid(Pid::from_raw(self.pid), None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(NsError::io(format!("waiting for process {}", self.pid), e)),
            }
        }
    }

    /// SIGKILL and reap (only if it is still the process we started).
    pub fn kill(&self) -> Result<()> {
        if sys::signal_if_same(self.pid, self.start_time, nix::sys::signal::Signal::SIGKILL) {
            sys::wait_gone(self.pid, self.start_time, std::time::Duration::from_secs(5));
        }
        Ok(())
    }
}

/// Finds `name` in PATH (a name with a slash is taken as a path), as execvp would.
pub fn resolve_program(name: &OsStr) -> Result<PathBuf> {
    let not_found = || NsError::CommandNotFound(name.to_string_lossy().into_owned());
    if name.is_empty() {
        return Err(not_found());
    }
    if name.as_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        return if path.exists() { Ok(path) } else { Err(not_found()) };
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p)).ok_or_else(not_found)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `net, pid, mnt` for the namespace flags in `flags`.
pub fn describe_flags(flags: CloneFlags) -> String {
    let names: Vec<&str> = labkit::probe::in_setns_order().filter(|t| flags.contains(t.flag)).map(|t| t.name).collect();
    if names.is_empty() {
        "no new namespaces".into()
    } else {
        format!("{} namespaces", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every call; fails the one named in `fail_at`.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        fail_at: Option<&'static str>,
    }

    impl Recorder {
        fn call(&mut self, name: &'static str, detail: String) -> nix::Result<()> {
            self.calls.push(if detail.is_empty() { name.to_string() } else { format!("{name} {detail}") });
            if self.fail_at == Some(name) {
                return Err(Errno::EPERM);
            }
            Ok(())
        }
    }

    impl ChildCalls for Recorder {
        fn set_ids(&mut self, uid: u32, gid: u32) -> nix::Result<()> {
            self.call("set_ids", format!("{uid}:{gid}"))
        }
        fn kill_with_parent(&mut self) -> nix::Result<()> {
            self.call("kill_with_parent", String::new())
        }
        fn unshare(&mut self, flags: CloneFlags) -> nix::Result<()> {
            self.call("unshare", describe_flags(flags))
        }
        fn wait_for_parent(&mut self) -> nix::Result<()> {
            self.call("wait_for_parent", String::new())
        }
        fn make_root_private(&mut self) -> nix::Result<()> {
            self.call("make_root_private", String::new())
        }
        fn mount_proc(&mut self) -> nix::Result<()> {
            self.call("mount_proc", String::new())
        }
        fn sethostname(&mut self, name: &str) -> nix::Result<()> {
            self.call("sethostname", name.to_string())
        }
        fn set_domainname(&mut self, name: &[u8]) -> nix::Result<()> {
            self.call("set_domainname", String::from_utf8_lossy(name).into_owned())
        }
        fn stdio_to_null(&mut self) -> nix::Result<()> {
            self.call("stdio_to_null", String::new())
        }
    }

    fn everything() -> ChildSetup<'static> {
        ChildSetup {
            drop_to: Some((1000, 1000)),
            kill_with_parent: true,
            unshare: Some(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWUTS),
            make_private: true,
            mount_proc: true,
            hostname: Some("box"),
            domainname: Some(b"lab"),
            stdio_to_null: true,
        }
    }

    #[test]
    fn the_child_drops_ids_unshares_waits_for_its_maps_then_sets_up_the_inside() {
        let mut rec = Recorder::default();
        setup_child(&mut rec, &everything()).unwrap();
        assert_eq!(
            rec.calls,
            [
                "set_ids 1000:1000",
                "kill_with_parent",
                "unshare user, uts namespaces",
                "wait_for_parent",
                "make_root_private",
                "mount_proc",
                "sethostname box",
                "set_domainname lab",
                "stdio_to_null",
            ]
        );
    }

    #[test]
    fn a_root_child_made_by_clone_only_waits_for_the_parent() {
        let mut rec = Recorder::default();
        setup_child(&mut rec, &ChildSetup::default()).unwrap();
        assert_eq!(rec.calls, ["wait_for_parent"]);
    }

    #[test]
    fn a_failing_call_stops_the_setup_and_names_its_stage() {
        let mut rec = Recorder { fail_at: Some("sethostname"), ..Recorder::default() };
        assert_eq!(setup_child(&mut rec, &everything()), Err((Stage::Hostname, Errno::EPERM)));
        assert_eq!(rec.calls.last().map(String::as_str), Some("sethostname box"));
        assert!(!rec.calls.iter().any(|c| c.starts_with("stdio")), "{:?}", rec.calls);
    }

    #[test]
    fn a_stage_survives_the_trip_over_the_socket() {
        for stage in Stage::ALL {
            assert_eq!(Stage::from_byte(stage as u8), Some(stage));
        }
        assert_eq!(Stage::from_byte(0), None);
        let msg = [b'E', Stage::MountProc as u8, 0, 0, 0, 0];
        let mut msg = msg;
        msg[2..].copy_from_slice(&(Errno::EPERM as i32).to_ne_bytes());
        let err = decode_child_error(&msg, &Spawner::new(CloneFlags::CLONE_NEWNS)).to_string();
        assert!(err.contains("mount -t proc proc /proc failed") && err.contains("add --pid"), "{err}");
    }

    #[test]
    fn hostname_without_a_uts_namespace_is_refused() {
        let err = Spawner::new(CloneFlags::CLONE_NEWPID).hostname("x").validate().unwrap_err();
        assert!(err.to_string().contains("--hostname needs --uts"), "{err}");
    }

    #[test]
    fn proc_without_a_mount_namespace_is_refused() {
        let err = Spawner::new(CloneFlags::CLONE_NEWPID).mount_proc(true).validate().unwrap_err();
        assert!(err.to_string().contains("needs --mnt"), "{err}");
    }

    #[test]
    fn an_unknown_command_is_named() {
        let err = resolve_program(OsStr::new("labctl-no-such-program")).unwrap_err();
        assert!(err.to_string().contains("command not found: \"labctl-no-such-program\""), "{err}");
        assert!(resolve_program(OsStr::new("sh")).is_ok());
    }

    #[test]
    fn id_maps_render_as_the_kernel_reads_them() {
        assert_eq!(IdMap::root_to(1000).line(), "0 1000 1\n");
    }
}
