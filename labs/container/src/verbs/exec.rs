//! `exec [-d] [-e] [-w] [-u] CONTAINER CMD…`: a new process in a running container, through the
//! runtime's exec (its cgroup joined, its namespaces entered, the same capabilities and seccomp).
//! Its exit code is ours; 126/127 when the command cannot be run.

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
    /// Keep stdin open (accepted; stdin is always passed)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// A pseudo-terminal (not built yet)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The container, by name or id
    pub container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    if args.tty {
        return Err(Error::Usage("exec -t (a pseudo-terminal) is not built yet: leave -t out".into()));
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
    process.set_terminal(Some(false));
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
