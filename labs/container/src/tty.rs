//! `-t`: the container's pty. The runtime's init opens it inside the container and sends the
//! master over the console socket (SCM_RIGHTS); the supervisor keeps it, logs what it prints,
//! and hands a copy of the master to each client of its attach socket (`run -it`, `attach`),
//! then streams the output to them. A client writes our keystrokes into the master itself and
//! sets its window size (SIGWINCH), with our terminal in raw mode; Ctrl-P Ctrl-Q detaches.

use crate::engine::Engine;
use crate::error::{Error, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Where the runtime sends the pty master (short: sun_path holds 108 bytes).
pub fn console_socket(engine: &Engine, id: &str) -> PathBuf {
    engine.run.join(format!("{}.console", &id[..12]))
}

/// The supervisor's attach socket.
pub fn attach_socket(engine: &Engine, id: &str) -> PathBuf {
    engine.run.join(format!("{}.attach", &id[..12]))
}

/// Sends `fd` with one byte of payload.
pub fn send_fd(stream: &UnixStream, fd: RawFd) -> Result<()> {
    let payload = [IoSlice::new(b"m")];
    sendmsg::<()>(stream.as_raw_fd(), &payload, &[ControlMessage::ScmRights(&[fd])], MsgFlags::empty(), None)
        .map(|_| ())
        .map_err(|e| Error::io("sending the pty master", e))
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(stream: &UnixStream) -> Result<File> {
    let mut buf = [0u8; 256];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::io("receiving the pty master", e))?;
    let fd = msg
        .cmsgs()
        .map_err(|e| Error::io("reading the control message", e))?
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .ok_or_else(|| Error::io("receiving the pty master", std::io::Error::other("no fd came with the message")))?;
    Ok(File::from(labkit::sys::owned_fd(fd)))
}

/// How a client's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Ctrl-P Ctrl-Q: the container goes on.
    Detached,
    /// The supervisor closed the stream: the container exited.
    Exited,
}

/// Our terminal in raw mode for the life of the value (restored on drop).
struct Raw {
    saved: Option<nix::sys::termios::Termios>,
}

impl Raw {
    fn enter() -> Raw {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        Raw { saved }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

fn copy_window_size(master: &File) {
    if let Ok((rows, cols)) = labkit::sys::window_size(std::io::stdin().as_fd()) {
        let _ = labkit::sys::set_window_size(master.as_fd(), rows, cols);
    }
}

/// Connects to a container's supervisor and relays our terminal to its pty until the
/// container exits or we detach.
pub fn attach(engine: &Engine, id: &str, name: &str) -> Result<Ended> {
    let path = attach_socket(engine, id);
    let stream = UnixStream::connect(&path).map_err(|e| {
        Error::state(name, format!("cannot reach its supervisor at {} ({e}): is it running with -t?", path.display()))
    })?;
    let master = recv_fd(&stream)?;
    relay(stream, master)
}

/// The client's loop: stdin → master (watching for Ctrl-P Ctrl-Q), stream → stdout, SIGWINCH
/// → the master's window size.
pub fn relay(stream: UnixStream, master: File) -> Result<Ended> {
    relay_from(stream, master, true)
}

/// `relay` with the output read from `output` (the supervisor's stream, or for `exec -t` the
/// master itself); stdin is read only when `input` (`-i`). EOF or EIO on `output` (every
/// slave closed) ends it.
pub fn relay_from<O: Read + AsFd>(mut output: O, mut master: File, input: bool) -> Result<Ended> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut winch = SigSet::empty();
    winch.add(Signal::SIGWINCH);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&winch), None)
        .map_err(|e| Error::io("blocking SIGWINCH", e))?;
    let sfd = SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::io("signalfd", e))?;
    let _raw = Raw::enter();
    copy_window_size(&master);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut buf = [0u8; 16 * 1024];
    let mut ctrl_p = false;
    let mut stdin_open = input;
    loop {
        let mut fds = vec![PollFd::new(output.as_fd(), PollFlags::POLLIN), PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::io("poll", e)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[0] {
            match output.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(Ended::Exited),
                Ok(n) => {
                    let _ = stdout.write_all(&buf[..n]);
                    let _ = stdout.flush();
                }
            }
        }
        if ready[1] {
            while let Ok(Some(_)) = sfd.read_signal() {}
            copy_window_size(&master);
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            let n = match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    continue;
                }
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                match (ctrl_p, b) {
                    (true, 0x11) => return Ok(Ended::Detached),
                    (true, 0x10) => out.push(0x10),
                    (true, b) => {
                        out.push(0x10);
                        out.push(b);
                        ctrl_p = false;
                    }
                    (false, 0x10) => ctrl_p = true,
                    (false, b) => out.push(b),
                }
            }
            if master.write_all(&out).is_err() {
                return Ok(Ended::Exited);
            }
        }
    }
}
