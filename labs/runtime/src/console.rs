//! `process.terminal`: the init opens a pty inside the container (its own /dev/pts), makes
//! the slave its controlling terminal and stdio, and sends the master over `--console-socket`
//! with SCM_RIGHTS — the protocol conmon and containerd's shim listen for.

use crate::error::{Error, Result};
use labkit::sys;
use nix::fcntl::OFlag;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::Process;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

pub fn attach_new_pty(socket: Option<UnixStream>, process: &Process) -> Result<()> {
    let socket = socket.ok_or_else(|| {
        Error::Usage("process.terminal is true but no --console-socket was given to receive the pty".into())
    })?;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("opening /dev/ptmx in the container", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&name)
        .map_err(|e| Error::io(format!("opening the pty's slave {name}"), e))?;
    if let Some(size) = process.console_size() {
        sys::set_window_size(slave.as_fd(), size.height() as u16, size.width() as u16)
            .map_err(|e| Error::io("setting the console size", e))?;
    }
    let fds = [master.as_raw_fd()];
    let payload = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(socket.as_raw_fd(), &payload, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(|e| Error::sys("sending the pty master over --console-socket", e))?;
    drop(master);
    drop(socket);
    sys::set_controlling_tty(slave.as_fd()).map_err(|e| Error::io("making the pty our controlling terminal", e))?;
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(|e| Error::sys("dup2 of the pty onto stdio", e))?;
    }
    Ok(())
}
