//! `run`: create a container from an image and start it; in the foreground, its output on our
//! terminal and its exit code as ours; with `-d`, its id printed and the supervisor left to hold it.

use crate::create::{create, Request};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::flags;
use crate::supervisor::{launch, Attach, Report};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run in the background and print the container's id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// A name for the container (default: a random one); other verbs accept it for the id
    #[arg(long)]
    pub name: Option<String>,
    /// KEY=VALUE (or KEY, taking our value)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read KEY=VALUE lines from this file (repeatable)
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (default: the image's WorkingDir)
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// USER[:GROUP], names or numbers
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// The container's hostname (its UTS namespace; default: the short id)
    #[arg(long)]
    pub hostname: Option<String>,
    /// Replace the image's ENTRYPOINT with this program
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// bridge (labctl0, the default), none (only lo), host (ours) or container:NAME (its)
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Mount HOST_PATH:CTR[:ro], VOLUME:CTR[:ro] or an anonymous volume at CTR
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs: CTR[:OPTIONS]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Publish a container port: HOST:CONTAINER[/tcp|udp]
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap (-1: unlimited swap)
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// CPU limit (e.g. 0.5)
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// At most this many processes (the pids cgroup; 0 or -1: no limit)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Relative CPU weight (default 1024)
    #[arg(short = 'c', long, allow_hyphen_values = true)]
    pub cpu_shares: Option<i64>,
    /// CPUs the container may run on (e.g. 0-1, 0,2)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Relative block I/O weight, 10 to 1000
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Add a capability to the default set, e.g. NET_ADMIN (or ALL)
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop a capability from the default set, e.g. CHOWN (or ALL)
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Every capability, no seccomp, no masked paths, every device allowed
    #[arg(long)]
    pub privileged: bool,
    /// no-new-privileges or seccomp=unconfined
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm (default 64m)
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Run a minimal init as PID 1 that forwards signals and reaps zombies
    #[arg(long)]
    pub init: bool,
    /// Keep stdin open (the container reads ours)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// A pseudo-terminal (our terminal in raw mode; Ctrl-P Ctrl-Q detaches)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The image: a name from `labctl image ls`, or an id
    pub image: String,
    /// The command and its arguments (default: the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn request(args: &Args) -> Result<Request> {
    if args.tty && args.interactive && !args.detach && !labkit::sys::stdin_is_tty() {
        return Err(Error::Usage(
            "the input device is not a TTY: run -it from a terminal, or leave -t out (-i alone passes stdin)".into(),
        ));
    }
    if args.detach && args.interactive && !args.tty {
        return Err(Error::Usage(
            "-d with -i but no -t: `attach` works on containers with a pty here; use -dit, or leave -i out".into(),
        ));
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(flags::read_env_file(file)?);
    }
    for pair in &args.env {
        env.extend(flags::env_flag(pair)?);
    }
    let memory = args.memory.as_deref().map(flags::parse_memory).transpose()?.unwrap_or(0);
    let memory_swap =
        args.memory_swap.as_deref().map(|s| flags::parse_memory_swap(s, memory)).transpose()?.unwrap_or(0);
    Ok(Request {
        image: args.image.clone(),
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        name: args.name.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        network: args.network.clone(),
        publish: crate::network::parse_publish(&args.publish)?,
        volumes: args.volume.clone(),
        tmpfs: args.tmpfs.clone(),
        memory,
        memory_swap,
        nano_cpus: args.cpus.as_deref().map(flags::parse_cpus).transpose()?.unwrap_or(0),
        pids_limit: args.pids_limit,
        read_only: args.read_only,
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        security_opt: args.security_opt.clone(),
        auto_remove: args.rm,
        tty: args.tty,
        open_stdin: args.interactive,
        init: args.init,
        cpu_shares: flags::check_cpu_shares(args.cpu_shares.unwrap_or(0))?,
        cpuset_cpus: args.cpuset_cpus.as_deref().map(flags::parse_cpuset).transpose()?.unwrap_or_default(),
        blkio_weight: match flags::check_blkio_weight(args.blkio_weight.unwrap_or(0))? {
            w if w > 0 && !flags::blkio_weight_supported() => {
                // docker's answer too: a warning, and the weight discarded.
                eprintln!(
                    "WARNING: this kernel cannot weigh block I/O (no blkio.weight; on cgroup v2 BFQ must schedule \
                     a disk): --blkio-weight discarded"
                );
                0
            }
            w => w,
        },
        shm_size: args.shm_size.as_deref().map(|s| flags::parse_size("--shm-size", s)).transpose()?.unwrap_or(0),
    })
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let request = request(&args)?;
    let record = create(engine, &request)?;
    launch_and_follow(engine, &record, args.interactive, args.tty, args.detach)
}

/// Starts a created (or exited) container through a new supervisor; detached, prints its id;
/// in the foreground (`run`, `start -a`), our stdio (or with `-t` our terminal) is the
/// container's until it exits, and its exit code is ours.
pub fn launch_and_follow(
    engine: &Engine,
    record: &crate::record::Record,
    interactive: bool,
    tty: bool,
    detach: bool,
) -> Result<i32> {
    let name = record.bare_name().to_string();
    let tty_client = tty && !detach;
    let attach = Attach { stdin: interactive && !detach && !tty, output: !detach && !tty, tty_client };
    let mut reports = launch(engine, &record.id, attach)?;
    let mut first = reports.read();
    let mut client = None;
    if first == Report::Listening {
        let stream = std::os::unix::net::UnixStream::connect(crate::tty::attach_socket(engine, &record.id))
            .map_err(|e| Error::io("connecting to the container's supervisor", e))?;
        let master = crate::tty::recv_fd(&stream)?;
        client = Some((stream, master));
        first = reports.read();
    }
    match first {
        Report::Started(_) => {}
        Report::Failed { code, why } => {
            reap(reports.supervisor);
            return Err(failure(&name, code, why));
        }
        _ => {
            reap(reports.supervisor);
            return Err(Error::state(&name, "its supervisor died before the container started"));
        }
    }
    if detach {
        println!("{}", record.id);
        return Ok(0);
    }
    if let Some((stream, master)) = client {
        if crate::tty::relay(stream, master)? == crate::tty::Ended::Detached {
            reap_later(reports.supervisor);
            return Ok(0);
        }
    }
    let code = crate::verbs::forward_signals_until_exit(engine, record, &mut reports)?;
    reap(reports.supervisor);
    Ok(code)
}

/// A failure the supervisor reported, with its exit code (125, 126 or 127).
pub fn failure(name: &str, code: i32, why: String) -> Error {
    let prefix = format!("container {name}: ");
    let why = why.strip_prefix(&prefix).map(str::to_string).unwrap_or(why);
    if code == 125 {
        Error::state(name, why)
    } else {
        Error::Command { name: name.to_string(), why, code }
    }
}

/// The supervisor lives on after a detach: it is our child, so the kernel reparents it to
/// init when we exit; nothing to wait for.
fn reap_later(_supervisor: i32) {}

pub fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}
