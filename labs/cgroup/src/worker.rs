//! The labs' own child processes, made with `fork` and no `exec`, so they work on any machine
//! (a busybox VM has no stress tool): a busy loop, a step-by-step memory allocator, a forker and
//! a fork bomb. Each child waits for a "go" byte on a pipe, so the parent can first move it
//! into a cgroup (`echo PID > cgroup.procs`) and only then let it start.
//!
//! The child bodies run in a copy of a multi-threaded process: they only make raw syscalls
//! (read, write, mmap, fork, nanosleep, prctl) and never allocate; see `labkit::sys::fork_child`.

use labkit::sys;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// A forked child of ours, killed and reaped when dropped.
#[derive(Debug)]
pub struct Worker {
    pid: i32,
    start_time: u64,
    go: OwnedFd,
    ack: OwnedFd,
    status: Option<WaitStatus>,
}

/// What a child does once it gets its go byte.
#[derive(Clone, Copy)]
enum Kind {
    /// Burns CPU forever.
    Spin,
    /// Each byte N read: allocate and touch N MiB, answer N.
    Alloc,
    /// Forks up to N (the go byte) children that sleep, answers how many it made.
    Forker,
    /// Every process forks forever; when fork fails it retries every 20 ms.
    Bomb,
}

impl Worker {
    /// A busy loop (`while :; do :; done`), named `lc-spin`.
    pub fn spin() -> io::Result<Worker> {
        Worker::fork(Kind::Spin)
    }

    /// An allocator driven by [`Worker::allocate`], named `lc-alloc`.
    pub fn allocator() -> io::Result<Worker> {
        Worker::fork(Kind::Alloc)
    }

    /// A process that forks sleeping children on [`Worker::fork_children`], named `lc-forker`.
    pub fn forker() -> io::Result<Worker> {
        Worker::fork(Kind::Forker)
    }

    /// A fork bomb (`:(){ :|:& };:` without the shell), named `lc-bomb`.
    pub fn bomb() -> io::Result<Worker> {
        Worker::fork(Kind::Bomb)
    }

    fn fork(kind: Kind) -> io::Result<Worker> {
        let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (ack_r, ack_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // The closure owns the child's pipe ends: in the parent it is dropped unrun, closing them.
        let pid = sys::fork_child(move || child_main(kind, go_r, ack_w))?;
        // The start time pins the pid for undo; a child that died at once has none.
        let start_time = sys::process_start_time(pid).unwrap_or(0);
        Ok(Worker { pid, start_time, go: go_w, ack: ack_r, status: None })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The undo that kills this worker (register it right after creating the worker).
    pub fn undo(&self) -> labkit::Undo {
        labkit::Undo::Kill { pid: self.pid, start_time: self.start_time }
    }

    /// Lets a spinner or bomb start.
    pub fn start(&self) -> io::Result<()> {
        self.send(1)
    }

    fn send(&self, byte: u8) -> io::Result<()> {
        nix::unistd::write(self.go.as_fd(), &[byte])?;
        Ok(())
    }

    /// Waits up to `limit` for the child's answer byte; `None` if it did not answer (it died,
    /// or is still busy).
    fn answer(&self, limit: Duration) -> Option<u8> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.ack.as_fd(), PollFlags::POLLIN)];
        let ms = limit.as_millis().min(i32::MAX as u128) as i32;
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(n) if n > 0 => {
                let mut buf = [0u8; 1];
                match nix::unistd::read(self.ack.as_raw_fd(), &mut buf) {
                    Ok(1) => Some(buf[0]),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Asks an allocator to allocate and touch `mib` more MiB; true once it says it has.
    /// False when it did not answer within `limit` (killed by the OOM killer, or throttled).
    pub fn allocate(&self, mib: u8, limit: Duration) -> io::Result<bool> {
        self.send(mib)?;
        Ok(self.answer(limit) == Some(mib))
    }

    /// Asks a forker to fork `n` sleeping children; returns how many forks succeeded.
    pub fn fork_children(&self, n: u8, limit: Duration) -> io::Result<Option<u8>> {
        self.send(n)?;
        Ok(self.answer(limit))
    }

    /// The exit status once the child has ended, waiting up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<WaitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let deadline = Instant::now() + limit;
        loop {
            match waitpid(Pid::from_raw(self.pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => {
                    self.status = Some(status);
                    return self.status;
                }
                Err(_) => return None,
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kills (SIGKILL) and reaps the child.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
            self.wait(Duration::from_secs(5));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Describes how a child ended: `exit 0`, `killed by SIGKILL`.
pub fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("killed by {}", signal.as_str()),
        other => format!("{other:?}"),
    }
}

/// How a child ended, as a sentence's predicate in both languages ("was killed by SIGKILL").
pub fn describe_text(status: &WaitStatus) -> labkit::Text {
    match status {
        WaitStatus::Exited(_, code) => {
            labkit::Text::new(format!("exited with code {code}"), format!("以退出码 {code} 退出"))
        }
        WaitStatus::Signaled(_, signal, _) => {
            labkit::Text::new(format!("was killed by {}", signal.as_str()), format!("被 {} 杀死", signal.as_str()))
        }
        other => labkit::Text::new(format!("ended as {other:?}"), format!("以 {other:?} 结束")),
    }
}

// ---- the child side: async-signal-safe only ----

fn child_main(kind: Kind, go: OwnedFd, ack: OwnedFd) -> i32 {
    let (go, ack) = (go.as_raw_fd(), &ack);
    let name: &CStr = match kind {
        Kind::Spin => c"lc-spin",
        Kind::Alloc => c"lc-alloc",
        Kind::Forker => c"lc-forker",
        Kind::Bomb => c"lc-bomb",
    };
    let _ = nix::sys::prctl::set_name(name);
    let Some(first) = read_byte(go) else { return 0 };
    match kind {
        Kind::Spin => loop {
            std::hint::spin_loop();
        },
        Kind::Alloc => {
            let mut mib = first;
            loop {
                if sys::touch_anonymous(mib as usize * MIB).is_err() {
                    return 1;
                }
                write_byte(ack, mib);
                match read_byte(go) {
                    Some(n) if n > 0 => mib = n,
                    _ => return 0,
                }
            }
        }
        Kind::Forker => {
            let mut made = 0u8;
            for _ in 0..first {
                if sys::fork_child(sleep_forever).is_err() {
                    break;
                }
                made += 1;
            }
            write_byte(ack, made);
            sleep_forever()
        }
        Kind::Bomb => bomb(),
    }
}

fn bomb() -> i32 {
    loop {
        if sys::fork_child(bomb).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sleep_forever() -> i32 {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn read_byte(fd: RawFd) -> Option<u8> {
    let mut buf = [0u8; 1];
    match nix::unistd::read(fd, &mut buf) {
        Ok(1) => Some(buf[0]),
        _ => None,
    }
}

fn write_byte(fd: &OwnedFd, byte: u8) {
    let _ = nix::unistd::write(fd, &[byte]);
}
