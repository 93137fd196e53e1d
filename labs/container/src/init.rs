//! `--init`: a minimal PID 1 (tini and docker-init are the models). The engine's own static
//! binary is bind-mounted into the container at [`INIT_PATH`] and run with a hidden `init`
//! verb; it starts the command as its child, forwards the signals it gets to it, reaps every
//! zombie the command's orphans leave (what a shell or `sleep` as PID 1 never does), and exits
//! with the command's exit code (128 + N for a signal).

use crate::error::{Error, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

/// Where the init is mounted inside the container.
pub const INIT_PATH: &str = "/sbin/labctl-init";

/// The init's argv before the command: the verb's spelling in whichever binary we are.
pub fn argv_prefix() -> Vec<String> {
    let ours = std::env::current_exe().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut argv = vec![INIT_PATH.to_string()];
    if ours.as_deref() != Some("labcontainer") {
        argv.push("container".into());
    }
    argv.extend(["init".to_string(), "--".to_string()]);
    argv
}

/// The host path of the binary to bind-mount (ours).
pub fn binary() -> Result<std::path::PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("finding the engine's own binary for --init", e))
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The init's life: returns the exit code to leave with.
pub fn exec(args: Args) -> i32 {
    match run(&args.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("labctl-init: {e}");
            match &e {
                Error::Command { code, .. } => *code,
                _ => 125,
            }
        }
    }
}

fn run(command: &[String]) -> Result<i32> {
    // The child is spawned before we block signals: it inherits our mask, and a command with
    // SIGTERM blocked could not be stopped.
    let child = std::process::Command::new(&command[0]).args(&command[1..]).spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        Error::Command { name: "init".into(), why: format!("cannot run {:?}: {e}", command[0]), code }
    })?;
    let child = nix::unistd::Pid::from_raw(child.id() as i32);
    // From here every signal we can take comes through the signalfd (as PID 1 with default
    // actions the kernel would drop them).
    let mut all = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP] {
        all.remove(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None)
        .map_err(|e| Error::io("blocking signals", e))?;
    let sfd = SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC).map_err(|e| Error::io("signalfd", e))?;
    // A child that exited before the mask was set sent a SIGCHLD nobody saw.
    if let Some(code) = reap(child) {
        return Ok(code);
    }
    loop {
        let info = match sfd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::io("reading signals", e)),
        };
        let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else { continue };
        if signal != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(child, signal);
            continue;
        }
        if let Some(code) = reap(child) {
            return Ok(code);
        }
    }
}

/// Reaps everything that has exited (the command, and orphans reparented to us); the
/// command's exit code once it is among them.
fn reap(child: nix::unistd::Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
