//! One file per verb (cargo's commands/ style): each has `Args` and `exec`.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod exec;
pub mod inner;
pub mod inspect;
pub mod kill;
pub mod logs;
pub mod port;
pub mod ps;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stop;
pub mod volume;
pub mod wait;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::supervisor::{Report, Reports};

/// For a `run` in the foreground: the signals we get go to the container's init (docker's
/// sig-proxy), until the supervisor reports the exit code.
pub fn forward_signals_until_exit(engine: &Engine, record: &Record, reports: &mut Reports) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| Error::io("blocking signals to forward", e))?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::io("signalfd", e))?;
    let root = engine.runtime();
    loop {
        let mut fds = [
            PollFd::new(reports.fd(), PollFlags::POLLIN),
            PollFd::new(std::os::fd::AsFd::as_fd(&sfd), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::io("poll", e)),
        }
        let (report_ready, signal_ready) =
            (fds[0].revents().is_some_and(|r| !r.is_empty()), fds[1].revents().is_some_and(|r| !r.is_empty()));
        if signal_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = labruntime::kill(&root, &record.id, sig, false);
                }
            }
        }
        if report_ready {
            return match reports.read() {
                Report::Exited(code) => Ok(code),
                // Its work after the exit failed (an unmount, a removal): say what, not just "died".
                Report::Failed { code, why } => Err(crate::verbs::run::failure(record.bare_name(), code, why)),
                _ => {
                    // The supervisor died: the record (or the kernel) tells what happened.
                    let now = crate::record::Record::load(&engine.record_path(&record.id));
                    let code = now.map(|r| r.state.exit_code).unwrap_or(125);
                    Err(Error::state(record.bare_name(), format!("its supervisor died (exit code so far {code})")))
                }
            };
        }
    }
}

/// Runs `f` on every container named, printing each name as docker does; the first error is
/// reported after the others were tried.
pub fn each(engine: &Engine, names: &[String], mut f: impl FnMut(&Record) -> Result<()>) -> Result<i32> {
    let mut first: Option<Error> = None;
    for name in names {
        match engine.find(name).and_then(|r| f(&r)) {
            Ok(()) => println!("{name}"),
            Err(e) if first.is_none() => first = Some(e),
            Err(e) => eprintln!("labctl container: {e}"),
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
