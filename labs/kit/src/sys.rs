//! The one place for `unsafe` (the workspace denies `unsafe_code`; this module alone is
//! allowed it) and for the process and thread plumbing around namespaces. It holds:
//! - everything that needs `unsafe`: `pre_exec` hooks (unshare, setns, cgroup moves, prepared
//!   execs), fork and clone, raw ioctls (interface flags), mmap, System V message queues,
//!   packet sockets and raw socket options (AF_PACKET capture, the don't-fragment bit);
//! - the thread helpers that run code in other or throwaway namespaces ([`in_namespaces`],
//!   [`in_new_namespaces`], [`unshare_mounts`]) and the process identity checks (start time,
//!   signal only the same process, wait until gone).
//!
//! Safe nix calls that *are* the operation a lab or tool teaches (mount, setns, unshare,
//! sethostname, pivot_root in a step function, the spawner's child setup, `ip netns add`'s bind
//! mount) stay beside their lesson. Each function here is thin and names the interface it wraps.

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

/// Effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The process start time (clock ticks since boot, /proc/PID/stat field 22): with the pid it
/// names one process for good, so we never signal a recycled pid.
pub fn process_start_time(pid: i32) -> Option<u64> {
    crate::process::stat(pid).ok().map(|s| s.start_time)
}

/// Spawns `cmd` after `unshare(flags)` in the child, between fork and exec (what `unshare -f`
/// does for every type but pid, whose new namespace only applies to the child's children).
pub fn spawn_unshared(cmd: &mut Command, flags: CloneFlags) -> io::Result<Child> {
    // SAFETY: the closure runs in the forked child before exec and only makes the unshare
    // syscall, which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || nix::sched::unshare(flags).map_err(io::Error::from));
    }
    cmd.spawn()
}

/// Spawns `cmd` inside the namespaces given as open `/proc/PID/ns/*` files (the nsenter move).
pub fn spawn_in_namespaces(cmd: &mut Command, namespaces: Vec<(File, CloneFlags)>) -> io::Result<Child> {
    // SAFETY: runs in the forked child before exec; setns is a plain syscall on fds the
    // parent opened and the closure owns.
    unsafe {
        cmd.pre_exec(move || {
            for (file, flags) in &namespaces {
                nix::sched::setns(file, *flags).map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Runs `f` on a fresh thread that first joins the given namespaces; the caller's own
/// namespaces never change. A mount namespace needs a thread that does not share its
/// filesystem info, hence the `unshare(CLONE_FS)`.
pub fn in_namespaces<T: Send>(namespaces: &[(&Path, CloneFlags)], f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                if namespaces.iter().any(|(_, flags)| flags.contains(CloneFlags::CLONE_NEWNS)) {
                    nix::sched::unshare(CloneFlags::CLONE_FS)?;
                }
                for (path, flags) in namespaces {
                    let file = File::open(path)?;
                    nix::sched::setns(&file, *flags).map_err(|e| {
                        io::Error::new(io::Error::from(e).kind(), format!("setns {}: {e}", path.display()))
                    })?;
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// Runs `f` on a fresh thread that has unshared `flags` (a throwaway namespace for probes).
pub fn in_new_namespaces<T: Send>(flags: CloneFlags, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                nix::sched::unshare(flags)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// Gives the calling thread its own copy of the mount table (`unshare -m`, this thread only) with
/// `/` given `propagation` recursively: `MS_PRIVATE` (nothing crosses either way) or `MS_SLAVE`
/// (our mounts still arrive, its own never leave). Its mounts vanish with the thread.
pub fn unshare_mounts(propagation: nix::mount::MsFlags) -> io::Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("unshare a mount namespace: {e}")))?;
    mount(None::<&str>, "/", None::<&str>, propagation | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("set the propagation of /: {e}")))
}

/// Sends `signal` to `pid` only if it is still the process that started at `start_time`.
/// Returns false when that process is already gone.
pub fn signal_if_same(pid: i32, start_time: u64, signal: Signal) -> bool {
    if process_start_time(pid) != Some(start_time) {
        return false;
    }
    nix::sys::signal::kill(Pid::from_raw(pid), signal).is_ok()
}

/// Reaps `pid` if it is our child; otherwise waits (up to `limit`) for it to disappear.
pub fn wait_gone(pid: i32, start_time: u64, limit: std::time::Duration) {
    wait_for_exit(pid, start_time, limit, true);
}

/// [`wait_gone`] without reaping: returns once `pid` has exited (a zombie still waiting for its
/// parent's wait counts), is reaped by someone else, or `limit` passes.
pub fn wait_exited(pid: i32, start_time: u64, limit: std::time::Duration) {
    wait_for_exit(pid, start_time, limit, false);
}

fn wait_for_exit(pid: i32, start_time: u64, limit: std::time::Duration, reap: bool) {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
    if !reap {
        flags |= WaitPidFlag::WNOWAIT;
    }
    let deadline = std::time::Instant::now() + limit;
    loop {
        match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {}
            Ok(_) => return,
            Err(Errno::ECHILD) => {
                if process_start_time(pid) != Some(start_time) || is_zombie(pid) {
                    return;
                }
            }
            Err(_) => return,
        }
        if std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A process that has exited but is not reaped yet: state Z (zombie) or X (dead) in /proc/PID/stat.
pub fn is_zombie(pid: i32) -> bool {
    crate::process::stat(pid).is_ok_and(|s| s.is_zombie())
}

/// Is the process that started at `start_time` still running? A zombie has its pid and start
/// time still, but runs nothing and holds nothing: it counts as dead.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    process_start_time(pid) == Some(start_time) && !is_zombie(pid)
}

/// Detaches the mount at `path` (umount2 with MNT_DETACH).
pub fn unmount(path: &Path) -> nix::Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
}

/// Sets or clears IFF_UP on an interface of the calling thread's network namespace, through
/// the SIOCGIFFLAGS/SIOCSIFFLAGS ioctls (what `ifconfig lo up` does; `ip` uses netlink).
pub fn set_link_up(name: &str, up: bool) -> io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    let mut req = ifreq_for(name)?;
    // SAFETY: `req` is a properly initialised ifreq with a NUL-terminated name; the kernel
    // writes only ifr_flags for SIOCGIFFLAGS.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let mut flags = unsafe { req.ifr_ifru.ifru_flags };
    if up {
        flags |= libc::IFF_UP as libc::c_short;
    } else {
        flags &= !(libc::IFF_UP as libc::c_short);
    }
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: as above; SIOCSIFFLAGS reads ifr_flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// Takes an exclusive, non-blocking lock on `file` (flock); `None` when someone else holds it.
pub fn try_lock(file: File) -> io::Result<Option<nix::fcntl::Flock<File>>> {
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// Is stdin a terminal (for prompts)?
pub fn stdin_is_tty() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal()
}

/// Is stderr a terminal (prompts are drawn there)?
pub fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

/// Is stdout a terminal (colour decision)?
pub fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal()
}

/// Spawns `cmd` so that it runs inside cgroups from its first instruction: between fork and
/// exec the child writes `0` ("the writing process") to each already-open `cgroup.procs` file,
/// what `sh -c 'echo 0 > cgroup.procs; exec CMD'` does. Used by `labctl cgroup run`, so a
/// command that forks at once cannot leave children outside its group.
pub fn spawn_in_cgroups(cmd: &mut Command, procs: Vec<File>) -> io::Result<Child> {
    use std::os::fd::AsFd;
    // SAFETY: the closure runs in the forked child before exec and only calls write(2) on
    // file descriptors the parent opened and the closure owns; no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            for file in &procs {
                nix::unistd::write(file.as_fd(), b"0").map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Forks a child that runs `body` and `_exit`s with its return value, without exec: the
/// cgroup labs' busy loops, allocators and fork bombs, which must work where no helper binary
/// exists (busybox VMs). `body` runs in a copy of a possibly multi-threaded process, so it must
/// be async-signal-safe: raw syscalls only (nix's read, write, mmap, fork, nanosleep, prctl),
/// no allocation, no locks, no printing, no panics. Returns the child's pid to the parent.
pub fn fork_child(body: impl FnOnce() -> i32) -> io::Result<i32> {
    // SAFETY: in the child only `body` runs (async-signal-safe by this function's contract),
    // then _exit(2), which skips destructors and atexit handlers that could take locks.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(child.as_raw()),
        nix::unistd::ForkResult::Child => {
            let code = body();
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Maps `len` bytes of private anonymous memory and writes one byte per 4 KiB, so every page
/// is really allocated and charged to the caller's memory cgroup (the cgroup memory labs'
/// allocator). The mapping is kept for the rest of the process's life. Async-signal-safe: no
/// allocation, usable in a [`fork_child`] body.
pub fn touch_anonymous(len: usize) -> io::Result<()> {
    if len == 0 {
        return Err(io::Error::from(Errno::EINVAL));
    }
    // SAFETY: asks the kernel for a fresh private anonymous mapping; no existing memory is
    // named or aliased.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = ptr.cast::<u8>();
    for offset in (0..len).step_by(4096) {
        // SAFETY: offset < len, inside the mapping we own; volatile so the write is not elided.
        unsafe { base.add(offset).write_volatile(1) };
    }
    Ok(())
}

/// Creates a child with raw `clone(2)` and `flags` (plus `SIGCHLD`), like `fork` but born in
/// the new namespaces those flags ask for: with `CLONE_NEWPID` the child is PID 1 of a new pid
/// namespace (what `unshare -f` needs a second fork for), and with `CLONE_NEWUSER` every other
/// new namespace is owned by the new user namespace. The child starts with SIGPIPE at its
/// default and an empty signal mask (as after `std::process::Command`), runs `body`, and
/// `_exit`s with its return value. Returns the child's pid (as the caller's pid namespace
/// sees it).
///
/// `body` runs in a copy of a possibly multi-threaded process whose C library was not told
/// about the clone: it must use plain system calls only — nix's mount, setns, unshare,
/// sethostname, pivot_root, read, write, open, close, dup2, prctl, [`set_ids_raw`] and
/// [`PreparedExec::exec`] — never allocation, locks, printing, panics, or libc's
/// setuid/setgroups (they signal the parent's threads).
pub fn clone_child(flags: CloneFlags, body: impl FnOnce() -> i32) -> io::Result<i32> {
    let raw_flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: clone without CLONE_VM and with a null stack behaves like fork: the child gets
    // its own copy of the address space and continues on its copy of this stack. The five
    // arguments are zero but the flags, which makes their per-architecture order irrelevant.
    let ret = unsafe { libc::syscall(libc::SYS_clone, raw_flags, 0usize, 0usize, 0usize, 0usize) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret > 0 {
        return Ok(ret as i32);
    }
    // SAFETY: resetting one disposition to its default is async-signal-safe.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    let code = body();
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Drops every supplementary group and sets the real, effective and saved gid and uid, with
/// raw system calls (setgroups, setresgid, setresuid): safe in a [`clone_child`] body, where
/// libc's wrappers would try to signal threads that exist only in the parent.
pub fn set_ids_raw(uid: u32, gid: u32) -> nix::Result<()> {
    // SAFETY: plain system calls with integer arguments and a null group list of length 0.
    unsafe {
        Errno::result(libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()))?;
        Errno::result(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        Errno::result(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
    }
    Ok(())
}

/// A program with its arguments and environment turned into C strings and NULL-terminated
/// pointer arrays ahead of time, so a [`clone_child`] body can `execve` it without allocating.
pub struct PreparedExec {
    program: std::ffi::CString,
    _strings: Vec<std::ffi::CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl PreparedExec {
    /// `program` is a path (resolve PATH before); `args` includes argv[0].
    pub fn new(
        program: &Path,
        args: &[std::ffi::OsString],
        env: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> io::Result<PreparedExec> {
        use std::os::unix::ffi::OsStrExt;
        let c = |bytes: &[u8]| {
            std::ffi::CString::new(bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a command or its environment"))
        };
        let program = c(program.as_os_str().as_bytes())?;
        let mut strings = Vec::new();
        for a in args {
            strings.push(c(a.as_bytes())?);
        }
        let argc = strings.len();
        for (k, v) in env {
            strings.push(c(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
        }
        let mut argv: Vec<*const libc::c_char> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
        envp.push(std::ptr::null());
        Ok(PreparedExec { program, _strings: strings, argv, envp })
    }

    /// `execve(2)`: returns only when it failed, with the reason. Async-signal-safe.
    pub fn exec(&self) -> Errno {
        // SAFETY: every pointer points into `_strings`, owned by self and alive for this call;
        // both arrays end with NULL as execve requires.
        unsafe { libc::execve(self.program.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        Errno::last()
    }
}

/// Restores the default SIGPIPE action (Rust ignores it, so `labctl list | head` would panic
/// on a failed print). Only for commands that create nothing: a lab run instead sees EPIPE as
/// an error and cleans up.
pub fn default_sigpipe() {
    // SAFETY: installing SIG_DFL for SIGPIPE has no preconditions; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Every signal back to its default action and none blocked, as a fresh program expects: an
/// ignored signal or a blocked mask survives execve, so a container's PID 1 would inherit
/// whatever its launcher ignored (a multi-threaded launcher's SIG32/SIG33, a shell's SIGINT
/// under `&`). Raw system calls: glibc's wrappers refuse its own internal signals 32 and 33.
/// Only for a single-threaded process about to execve.
pub fn default_all_signals() {
    // The kernel's struct sigaction on x86_64 and aarch64: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    let empty: u64 = 0;
    let sigset_size = std::mem::size_of::<u64>();
    // SAFETY: both structures live across the calls and have the kernel's layout and size;
    // nothing of ours runs as a handler. SIGKILL/SIGSTOP are refused by the kernel, on purpose.
    unsafe {
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                let null = std::ptr::null_mut::<KernelSigaction>();
                libc::syscall(libc::SYS_rt_sigaction, sig, &default as *const KernelSigaction, null, sigset_size);
            }
        }
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            sigset_size,
        );
    }
}

/// Creates a new System V message queue with `key` in the calling thread's IPC namespace
/// (`msgget(key, IPC_CREAT | IPC_EXCL | 0600)`, what `ipcmk -Q` does) and returns its id.
/// EEXIST when that namespace already has a queue with this key.
pub fn sysv_msg_create(key: i32) -> io::Result<i32> {
    // SAFETY: msgget takes two integers and touches no memory of ours.
    let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(id)
}

/// Puts one message of type `mtype` (> 0) with `text` on queue `id` without blocking
/// (`msgsnd(id, msg, len, IPC_NOWAIT)`).
pub fn sysv_msg_send(id: i32, mtype: i64, text: &[u8]) -> io::Result<()> {
    // msgsnd reads a `long mtype` followed by the message bytes.
    let mut buf = Vec::with_capacity(std::mem::size_of::<libc::c_long>() + text.len());
    buf.extend_from_slice(&(mtype as libc::c_long).to_ne_bytes());
    buf.extend_from_slice(text);
    // SAFETY: `buf` holds the mtype and `text.len()` bytes after it, as msgsnd reads them; the
    // kernel copies them before returning.
    let ret = unsafe { libc::msgsnd(id, buf.as_ptr().cast(), text.len(), libc::IPC_NOWAIT) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes System V message queue `id` of the calling thread's IPC namespace
/// (`msgctl(id, IPC_RMID, NULL)`, what `ipcrm -q` does).
pub fn sysv_msg_remove(id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer argument, so a null pointer is fine.
    let ret = unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `cmd`'s child mount a fresh proc at `target` (a path as the child sees it, e.g. /proc
/// after a chroot), then become `uid`/`gid`, before it execs. A proc shows the pid namespace of
/// the process that mounts it, so for a child that is pid 1 of a new pid namespace only the
/// child itself can do it, and only while it is still root.
pub fn mount_proc_then_set_ids(cmd: &mut Command, target: &Path, uid: u32, gid: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: runs in the forked child before exec and only makes the mount, setgroups,
    // setresgid and setresuid system calls with C strings prepared before the fork; it
    // allocates nothing and touches no shared state.
    unsafe {
        cmd.pre_exec(move || {
            let rc = libc::mount(c"proc".as_ptr(), target.as_ptr(), c"proc".as_ptr(), flags, std::ptr::null());
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            set_ids_raw(uid, gid).map_err(io::Error::from)
        });
    }
    Ok(())
}

/// Installs a classic-BPF seccomp filter on the calling thread: seccomp(2) with
/// SECCOMP_SET_MODE_FILTER and `flags` (SECCOMP_FILTER_FLAG_*). The kernel takes it only after
/// PR_SET_NO_NEW_PRIVS or with CAP_SYS_ADMIN (EACCES otherwise); a flag it does not know is
/// EINVAL; with SECCOMP_FILTER_FLAG_TSYNC a thread that cannot follow is reported as ESRCH.
/// Allocates nothing: usable in a [`clone_child`] or [`fork_child`] body.
pub fn seccomp_set_mode_filter(program: &[libc::sock_filter], flags: libc::c_ulong) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from(Errno::EINVAL))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies the
    // instructions and writes nothing back.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog)
    };
    match ret {
        0 => Ok(()),
        r if r < 0 => Err(io::Error::last_os_error()),
        // TSYNC: the id of a thread that could not be synchronised.
        _ => Err(io::Error::from(Errno::ESRCH)),
    }
}
/// clone3(NULL, 0): the kernel refuses a call without arguments with EINVAL before it reads
/// or creates anything, so the errno shows who answered — EINVAL the kernel, another one a
/// seccomp filter (docker's profile answers ENOSYS, so that libc falls back to clone).
pub fn clone3_without_arguments() -> Errno {
    // SAFETY: with size 0 the kernel rejects the call before dereferencing the null pointer.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    if ret < 0 {
        Errno::last()
    } else {
        // Never reached: no kernel accepts an empty clone_args.
        Errno::UnknownErrno
    }
}

/// Which side of a [`fork_single_threaded`] we are on.
pub enum Forked {
    Parent(i32),
    Child,
}

/// Number of threads of this process (/proc/self/status `Threads:`).
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().unwrap_or(0))))
        .unwrap_or(0)
}

/// `fork(2)` for a process that has one thread (the OCI runtime's create, exec and supervisor
/// paths). With no other thread there is no lock another thread could hold, so the child may
/// allocate and use std freely; it must leave with [`exit_now`]. Refuses with EDEADLK when the
/// process has more than one thread, instead of risking a deadlocked child.
pub fn fork_single_threaded() -> io::Result<Forked> {
    if thread_count() > 1 {
        return Err(io::Error::other("fork from a multi-threaded process refused (EDEADLK)"));
    }
    // SAFETY: the process is single-threaded (checked above), so the child's copy of the
    // address space holds no lock owned by a thread that does not exist in it.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// `_exit(2)`: ends a forked child at once, without running the parent's destructors or
/// atexit handlers (which would flush the parent's buffers a second time).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Closes every file descriptor from `first` up (`close_range(first, ~0U, 0)`, Linux 5.9):
/// the last act before a container's execve, so no host fd leaks inside (CVE-2024-21626).
/// Falls back to closing the fds listed in /proc/self/fd on older kernels.
pub fn close_fds_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes integers only and closes descriptors of this process.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if ret == 0 {
        return Ok(());
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first as i32)
        .collect();
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

/// Makes the terminal open on `fd` the controlling terminal of the calling session leader
/// (`ioctl(fd, TIOCSCTTY, 0)`), as a container's init with `process.terminal` needs.
pub fn set_controlling_tty(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCSCTTY takes an integer argument; the fd is borrowed and open.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a terminal's window size (`ioctl(fd, TIOCSWINSZ)`).
pub fn set_window_size(fd: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which lives on our stack for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A terminal's window size (`ioctl(fd, TIOCGWINSZ)`): rows and columns.
pub fn window_size(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize struct, which lives on our stack for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants (a container's init once the
/// intermediate process exits) are reparented to us, so we can wait for them.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_SET_KEEPCAPS, on)`: keep the permitted capabilities across the uid change from
/// root to the container's user.
pub fn set_keep_caps(on: bool) -> io::Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setgroups(2)`, `setresgid(2)`, `setresuid(2)` with the given supplementary groups, as
/// raw system calls: they change only the calling thread, which is what a single-threaded
/// container init wants (libc's wrappers would signal other threads).
pub fn set_user_raw(uid: u32, gid: u32, groups: &[u32]) -> nix::Result<()> {
    // SAFETY: integer arguments and a pointer to `groups`, valid for `groups.len()` entries.
    unsafe {
        Errno::result(libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()))?;
        Errno::result(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        Errno::result(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
    }
    Ok(())
}

/// `openat(2)` of `name` relative to the directory `dir` (which may be an O_PATH descriptor):
/// reaches a file through a directory opened before pivot_root, when no path leads to it.
pub fn openat_file(dir: std::os::fd::BorrowedFd<'_>, name: &str, flags: nix::fcntl::OFlag) -> io::Result<File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, nix::sys::stat::Mode::empty())?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor nix returned as a raw fd.
pub fn owned_fd(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: callers pass a descriptor a system call just returned and that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// A packet socket (`socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))`) bound to one interface of
/// the calling thread's network namespace: every frame the interface sends or receives, with
/// its Ethernet header, as tcpdump sees it. The socket keeps its namespace for its life.
pub struct PacketSocket {
    fd: std::os::fd::OwnedFd,
}

/// Which way a captured frame went (sll_pkttype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketDirection {
    /// Received by this host (PACKET_HOST, or broadcast/multicast).
    Incoming,
    /// Sent by this host (PACKET_OUTGOING).
    Outgoing,
}

impl PacketSocket {
    /// Opens the socket and binds it to interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<PacketSocket> {
        use std::os::fd::{FromRawFd, OwnedFd};
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the returned fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol as i32) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all-zero is valid before we fill it.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = ifindex as i32;
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes for the duration of the call.
        let ret = unsafe {
            libc::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), (&addr as *const libc::sockaddr_ll).cast(), len)
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd })
    }

    /// Receives one frame into `buf`, waiting up to `timeout`; `None` when none came. Returns
    /// the frame's full length (it may exceed `buf`, then the rest is cut) and its direction.
    pub fn recv(&self, buf: &mut [u8], timeout: std::time::Duration) -> io::Result<Option<(usize, PacketDirection)>> {
        use std::os::fd::AsRawFd;
        let tv = nix::sys::time::TimeVal::new(
            timeout.as_secs() as libc::time_t,
            timeout.subsec_micros() as libc::suseconds_t,
        );
        nix::sys::socket::setsockopt(&self.fd, nix::sys::socket::sockopt::ReceiveTimeout, &tv)?;
        // SAFETY: as in `open`.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` is valid for `buf.len()` writable bytes and `from`/`len` describe a
        // sockaddr_ll the kernel may fill; MSG_TRUNC makes it return the real frame length.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
                _ => Err(e),
            };
        }
        let direction = if from.sll_pkttype == libc::PACKET_OUTGOING {
            PacketDirection::Outgoing
        } else {
            PacketDirection::Incoming
        };
        Ok(Some((n as usize, direction)))
    }
}

/// Asks for the don't-fragment bit on every datagram of `socket` and for EMSGSIZE instead of
/// local fragmentation (`setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)`, what
/// `ping -M do` sets).
pub fn set_dont_fragment(socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
    let value: libc::c_int = libc::IP_PMTUDISC_DO;
    // SAFETY: `value` is a valid c_int for the duration of the call, and its size is passed.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

// ---- bpf(2): cgroup v2 device programs ----------------------------------------------------------
// The numbers of linux/bpf.h (uapi, stable): commands, the program and attach types, the flag.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// More programs may sit on the same group and its parents; every one must allow.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as raw bytes: each command fills the fields it reads; the rest stays zero,
/// which the kernel requires.
#[repr(C, align(8))]
struct BpfAttr([u8; 128]);

impl BpfAttr {
    fn new() -> BpfAttr {
        BpfAttr([0; 128])
    }
    fn u32(mut self, offset: usize, value: u32) -> BpfAttr {
        self.0[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        self
    }
    fn u64(mut self, offset: usize, value: u64) -> BpfAttr {
        self.0[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
        self
    }
}

fn bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a 128-byte, 8-aligned bpf_attr whose pointer fields (if any) point at
    // buffers the caller keeps alive for the call; the kernel reads it and may write into it
    // (PROG_QUERY's count) within those 128 bytes.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len() as libc::c_uint) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program (`insns`: struct bpf_insn, each
/// as its 8 bytes in a u64). A program the verifier refuses comes back with the verifier's log.
pub fn bpf_load_device_program(insns: &[u64], license: &std::ffi::CStr) -> io::Result<std::os::fd::OwnedFd> {
    let load = |log: &mut [u8]| {
        let mut attr = BpfAttr::new()
            .u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, insns.len() as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64);
        if !log.is_empty() {
            attr = attr.u32(24, 1).u32(28, log.len() as u32).u64(32, log.as_mut_ptr() as u64);
        }
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    match load(&mut []) {
        Ok(fd) => Ok(owned_fd(fd as std::os::fd::RawFd)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EINVAL)) => {
            let mut log = vec![0u8; 64 * 1024];
            match load(&mut log) {
                Ok(fd) => Ok(owned_fd(fd as std::os::fd::RawFd)),
                Err(again) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    Err(io::Error::new(again.kind(), format!("{again}; the verifier said: {}", text.trim())))
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// bpf(BPF_PROG_ATTACH): `program` on the cgroup directory `cgroup` as BPF_CGROUP_DEVICE, with
/// BPF_F_ALLOW_MULTI (as runc and crun attach).
pub fn bpf_attach_device_program(
    cgroup: std::os::fd::BorrowedFd<'_>,
    program: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut attr = BpfAttr::new()
        .u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, program.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr).map(|_| ())
}

/// bpf(BPF_PROG_DETACH) of the program with id `id` from `cgroup` (BPF_PROG_GET_FD_BY_ID first).
pub fn bpf_detach_device_program(cgroup: std::os::fd::BorrowedFd<'_>, id: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = owned_fd(bpf(BPF_PROG_GET_FD_BY_ID, &mut BpfAttr::new().u32(0, id))? as std::os::fd::RawFd);
    let mut attr =
        BpfAttr::new().u32(0, cgroup.as_raw_fd() as u32).u32(4, fd.as_raw_fd() as u32).u32(8, BPF_CGROUP_DEVICE);
    bpf(BPF_PROG_DETACH, &mut attr).map(|_| ())
}

/// bpf(BPF_PROG_QUERY): the ids of the BPF_CGROUP_DEVICE programs attached to `cgroup` itself
/// (not those inherited from its parents).
pub fn bpf_device_programs(cgroup: std::os::fd::BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    use std::os::fd::AsRawFd;
    let mut ids = vec![0u32; 64];
    let mut attr = BpfAttr::new()
        .u32(0, cgroup.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    let count = u32::from_ne_bytes(attr.0[24..28].try_into().expect("4 bytes")) as usize;
    ids.truncate(count.min(ids.len()));
    Ok(ids)
}
