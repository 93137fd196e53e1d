//! `exec [-d] [-i] [-t] [-e] [-w] [-u] CONTAINER CMD…`: a new process in a running container,
//! through the runtime's exec (its cgroup joined, its namespaces entered, the same capabilities
//! and seccomp). Its exit code is ours; 126/127 when the command cannot be run. With `-t` it
//! gets a pty of its own: the runtime sends us the master over a console socket and we relay
//! our terminal to it (raw mode, SIGWINCH), as `run -it` does through the supervisor.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use std::os::fd::AsRawFd;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Leave the process running in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set an environment variable: KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// USER[:GROUP], names or numbers (resolved in the container)
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Keep stdin open (without -t stdin is always passed)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// A pseudo-terminal of its own (our terminal in raw mode, the window size followed)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The container, by name or id
    pub container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    if args.tty && args.detach {
        return Err(Error::Usage(
            "exec -d with -t: nobody would read a detached process's pty; leave -t out (its output is lost either way)"
                .into(),
        ));
    }
    if args.tty && args.interactive && !labkit::sys::stdin_is_tty() {
        return Err(Error::Usage(
            "the input device is not a TTY: run exec -it from a terminal, or leave -t out (-i alone passes stdin)"
                .into(),
        ));
    }
    let record = engine.find(&args.container)?;
    let name = record.bare_name().to_string();
    match engine.live(&record) {
        Live::Running => {}
        Live::Paused => {
            return Err(Error::state(&name, format!("is paused: unpause it first (`labctl container unpause {name}`)")))
        }
        other => {
            return Err(Error::state(
                &name,
                format!("is not running ({}): start it first (`labctl container start {name}`)", other.as_str()),
            ))
        }
    }
    let root = engine.runtime();
    let spec = labruntime::container::saved_spec(&root, &record.id)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    let mut env = Vec::new();
    for pair in &args.env {
        env.extend(crate::flags::env_flag(pair)?);
    }
    process.set_env(Some(crate::flags::merge_env(&process.env().clone().unwrap_or_default(), &env)));
    if let Some(dir) = &args.workdir {
        process.set_cwd(dir.into());
    }
    if let Some(user) = &args.user {
        let u = crate::user::resolve(&engine.merged(&record.id), user)?;
        let mut spec_user = process.user().clone();
        spec_user.set_uid(u.uid);
        spec_user.set_gid(u.gid);
        spec_user.set_additional_gids(Some(u.groups));
        process.set_user(spec_user);
    }
    if args.tty {
        return exec_tty(engine, &record.id, &name, process, args.interactive);
    }
    let opts = labruntime::exec::ExecOptions {
        process,
        detach: args.detach,
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
    };
    // A detached process must not hold our stdio (a caller reading our output would wait for it).
    let saved = if args.detach { Some(detach_stdio()?) } else { None };
    let result = labruntime::exec::exec(&root, &record.id, opts);
    if let Some(saved) = saved {
        restore_stdio(saved);
    }
    result.map_err(|e| crate::supervisor::command_error(&name, e))
}

fn detach_stdio() -> Result<[std::os::fd::OwnedFd; 3]> {
    let null =
        std::fs::File::options().read(true).write(true).open("/dev/null").map_err(|e| Error::io("/dev/null", e))?;
    let dup = |fd: i32| -> Result<std::os::fd::OwnedFd> {
        let new = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| Error::io("dup", e))?;
        Ok(labkit::sys::owned_fd(new))
    };
    let saved = [dup(0)?, dup(1)?, dup(2)?];
    for fd in 0..3 {
        nix::unistd::dup2(null.as_raw_fd(), fd).map_err(|e| Error::io("dup2", e))?;
    }
    Ok(saved)
}

fn restore_stdio(saved: [std::os::fd::OwnedFd; 3]) {
    for (fd, s) in saved.iter().enumerate() {
        let _ = nix::unistd::dup2(s.as_raw_fd(), fd as i32);
    }
}

/// `exec -t`: the process started detached with a console socket (so we stay single-threaded
/// and free to relay), its master received, our terminal relayed to it; we are its subreaper,
/// so its exit status comes back to us when the relay ends.
fn exec_tty(engine: &Engine, id: &str, name: &str, process: oci_spec::runtime::Process, input: bool) -> Result<i32> {
    let root = engine.runtime();
    std::fs::create_dir_all(&engine.run).map_err(|e| Error::io(format!("creating {}", engine.run.display()), e))?;
    let n = std::process::id();
    let console = engine.run.join(format!("{}.exec{n}.console", &id[..12]));
    let pid_file = engine.run.join(format!("{}.exec{n}.pid", &id[..12]));
    let _ = std::fs::remove_file(&console);
    let listener = std::os::unix::net::UnixListener::bind(&console)
        .map_err(|e| Error::io(format!("binding {}", console.display()), e))?;
    labkit::sys::set_child_subreaper().map_err(|e| Error::io("prctl(PR_SET_CHILD_SUBREAPER)", e))?;
    let opts = labruntime::exec::ExecOptions {
        process,
        detach: true,
        pid_file: Some(pid_file.clone()),
        console_socket: Some(console.clone()),
        preserve_fds: 0,
    };
    let started = labruntime::exec::exec(&root, id, opts);
    let _ = std::fs::remove_file(&console);
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok());
    let _ = std::fs::remove_file(&pid_file);
    started.map_err(|e| crate::supervisor::command_error(name, e))?;
    let pid = pid.ok_or_else(|| Error::state(name, "the runtime did not report the exec process's pid"))?;
    // The process sent the master before it was Ready: it waits in the socket's queue.
    let (conn, _) = listener.accept().map_err(|e| Error::io("accepting the console socket", e))?;
    let master = crate::tty::recv_fd(&conn)?;
    let output = master.try_clone().map_err(|e| Error::io("duplicating the pty master", e))?;
    if crate::tty::relay_from(output, master, input)? == crate::tty::Ended::Detached {
        return Ok(0);
    }
    labruntime::container::wait_exit(pid).map_err(|e| crate::supervisor::command_error(name, e))
}
