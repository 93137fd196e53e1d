//! `lcrun`'s command line: runc's verbs and flags, so podman (`--runtime`) and containerd's
//! shim (`--runc-binary`) can drive it. `labctl runtime …` is the same parser.

use crate::container::{self, CreateOptions};
use crate::error::{Error, Result};
use crate::exec::{exec, ExecOptions};
use crate::state::{Root, DEFAULT_ROOT};
use clap::{Args, Parser, Subcommand, ValueEnum};
use oci_spec::runtime::Process;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lcrun",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.2.0"),
    about = "An OCI runtime built from labctl's building blocks (runc-compatible command line)"
)]
pub struct Cli {
    #[command(flatten)]
    pub invocation: Invocation,
}

/// The global flags and one verb: `lcrun …` and `labctl runtime …` alike.
#[derive(Args, Debug)]
pub struct Invocation {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Directory for container state
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Also write errors to this file (containerd and podman read it)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// How --log lines are written: text, or JSON lines as containerd reads runc's
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Accepted for runc compatibility (containerd passes it); lcrun prints nothing more
    #[arg(long, global = true)]
    pub debug: bool,
    /// Cgroups through systemd (not supported: lcrun manages cgroupfs directly)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain lines
    Text,
    /// One JSON object a line (level, msg, time)
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns
    Table,
    /// A JSON array
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json)
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's pid here
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for a rootfs on ramfs)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (lcrun never creates a session keyring)
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many fds after stdio (3, 4, …) into the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container's id (no `/`, no `..`)
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a default config.json (runc spec)
    Spec {
        /// A config for an unprivileged user: a user namespace mapping your uid, no cgroup limits
        #[arg(long)]
        rootless: bool,
        /// The bundle directory to write config.json into
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
    /// Create a container: its init waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start {
        /// The container's id (see `list`)
        id: String,
    },
    /// Create and start a container, wait for it (unless --detach) and delete it
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container started; it runs on, `delete` removes it
        #[arg(long, short = 'd')]
        detach: bool,
    },
    /// Print a container's OCI state as JSON
    State {
        /// The container's id (see `list`)
        id: String,
    },
    /// List containers
    List {
        /// table or json
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: ListFormat,
        /// Only the ids
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Send a signal (default TERM) to a container's init, or with --all to all its processes
    Kill {
        /// Signal every process in the container's cgroup, not only its init
        #[arg(long, short = 'a')]
        all: bool,
        /// The container's id (see `list`)
        id: String,
        /// A signal name (TERM, SIGKILL) or number (9)
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a container (--force kills a running one first)
    Delete {
        /// Kill a running container (SIGKILL) before deleting it
        #[arg(long, short = 'f')]
        force: bool,
        /// The container's id (see `list`)
        id: String,
    },
    /// Run a new process inside a running container
    Exec {
        /// A process.json (the config's `process` object) instead of ARGS
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Give the process a pty (its master goes to --console-socket)
        #[arg(long, short = 't')]
        tty: bool,
        /// Do not wait for the process to exit
        #[arg(long, short = 'd')]
        detach: bool,
        /// Write the new process's pid here
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the pty master with --tty
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Working directory inside the container
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Set an environment variable: -e KEY=VALUE (repeatable)
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Add a capability to the process's sets
        #[arg(long, short = 'c')]
        cap: Vec<String>,
        /// Set no_new_privs: setuid binaries and file capabilities no longer raise privileges
        #[arg(long)]
        no_new_privs: bool,
        /// Pass this many fds after stdio (3, 4, …) into the process
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
        /// The container's id (see `list`)
        id: String,
        /// The command and its arguments (unless --process)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Freeze every process of a container (cgroup freezer)
    Pause {
        /// The container's id (see `list`)
        id: String,
    },
    /// Thaw a paused container
    Resume {
        /// The container's id (see `list`)
        id: String,
    },
    /// List the processes of a container
    Ps {
        /// table (a PID column) or json (an array of pids)
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: ListFormat,
        /// The container's id (see `list`)
        id: String,
        /// Accepted for runc compatibility (ps options); lcrun lists the pids only
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print the OCI features document
    Features,
}

/// Runs one command; returns the process exit code.
pub fn run(cli: Invocation) -> i32 {
    let global = cli.global.clone();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            report_error(&global, &e);
            1
        }
    }
}

fn report_error(global: &Global, error: &Error) {
    let message = error.to_string();
    eprintln!("lcrun: {message}");
    if let Some(path) = &global.log {
        let line = match global.log_format {
            LogFormat::Json => {
                serde_json::json!({"level": "error", "msg": message, "time": crate::state::now_rfc3339()}).to_string()
            }
            LogFormat::Text => format!("{} level=error msg={message:?}", crate::state::now_rfc3339()),
        };
        if let Ok(mut f) = std::fs::File::options().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn create_options(args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        no_pivot: args.no_pivot,
        preserve_fds: preserve_fds(args.preserve_fds),
    }
}

/// `--preserve-fds`, plus systemd socket activation's LISTEN_FDS, as runc counts them.
fn preserve_fds(flag: u32) -> u32 {
    let listen = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    flag.max(listen)
}

fn print_json(value: &impl serde::Serialize) -> Result<i32> {
    let text = serde_json::to_string_pretty(value).expect("serialises");
    println!("{text}");
    Ok(0)
}

fn dispatch(cli: Invocation) -> Result<i32> {
    if cli.global.systemd_cgroup {
        return Err(Error::Usage(
            "--systemd-cgroup is not supported: lcrun manages cgroups through cgroupfs (configure your engine with \
             cgroup_manager = \"cgroupfs\")"
                .into(),
        ));
    }
    let root = Root::new(&cli.global.root);
    match cli.command {
        Command::Spec { rootless, bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::Path { path, why: "exists already: remove it first".into() });
            }
            let text = serde_json::to_string_pretty(&crate::config::default_spec(rootless)).expect("serialises");
            std::fs::write(&path, text + "\n").map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            Ok(0)
        }
        Command::Create(args) => {
            container::create(&root, &args.id, &args.bundle, &create_options(&args))?;
            Ok(0)
        }
        Command::Start { id } => container::start(&root, &id).map(|_| 0),
        Command::Run { create, detach } => run_container(&root, &create, detach),
        Command::State { id } => print_json(&container::state(&root, &id)?),
        Command::List { format, quiet } => {
            let all = container::list(&root);
            if quiet {
                all.iter().for_each(|s| println!("{}", s.id));
                return Ok(0);
            }
            match format {
                ListFormat::Json => print_json(&all),
                ListFormat::Table => {
                    println!("{:<20} {:<8} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
                    for s in all {
                        println!(
                            "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                            s.id,
                            s.pid,
                            s.status,
                            s.bundle.display(),
                            s.created,
                            if s.owner.is_empty() { "root" } else { &s.owner }
                        );
                    }
                    Ok(0)
                }
            }
        }
        Command::Kill { all, id, signal } => {
            let signal = container::parse_signal(&signal)?;
            container::kill(&root, &id, signal, all).map(|_| 0)
        }
        Command::Delete { force, id } => container::delete(&root, &id, force).map(|_| 0),
        Command::Exec {
            process,
            tty,
            detach,
            pid_file,
            console_socket,
            cwd,
            env,
            user,
            cap,
            no_new_privs,
            preserve_fds: fds,
            id,
            args,
        } => {
            let process = match process {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| Error::io(format!("--process {}", path.display()), e))?;
                    serde_json::from_str(&text).map_err(|e| Error::Path {
                        path: path.clone(),
                        why: format!("invalid process JSON at line {} column {}: {e}", e.line(), e.column()),
                    })?
                }
                None => exec_process(&root, &id, tty, cwd, env, user, cap, no_new_privs, args)?,
            };
            let opts = ExecOptions { process, detach, pid_file, console_socket, preserve_fds: preserve_fds(fds) };
            // The container has processes of its own. Our children are undumpable, which keeps
            // /proc/PID/exe from them unless they hold CAP_SYS_PTRACE: then enter only from a
            // sealed copy of lcrun.
            if crate::selfexe::ptrace_possible(&container::saved_spec(&root, &id)?) {
                crate::selfexe::reexec_sealed()?;
            }
            exec(&root, &id, opts)
        }
        Command::Pause { id } => container::pause(&root, &id, true).map(|_| 0),
        Command::Resume { id } => container::pause(&root, &id, false).map(|_| 0),
        Command::Ps { format, id, ps_args: _ } => {
            let pids = container::processes(&root, &id)?;
            match format {
                ListFormat::Json => print_json(&pids),
                ListFormat::Table => {
                    println!("PID");
                    pids.iter().for_each(|p| println!("{p}"));
                    Ok(0)
                }
            }
        }
        Command::Features => print_json(&crate::features::document()),
    }
}

/// The exec'd process: the container's own `process` with the flags applied over it.
#[allow(clippy::too_many_arguments)]
fn exec_process(
    root: &Root,
    id: &str,
    tty: bool,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    cap: Vec<String>,
    no_new_privs: bool,
    args: Vec<String>,
) -> Result<Process> {
    let spec = container::saved_spec(root, id)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args));
    process.set_terminal(Some(tty));
    if let Some(cwd) = cwd {
        process.set_cwd(cwd);
    }
    let mut all_env = process.env().clone().unwrap_or_default();
    for pair in env {
        let key = pair.split('=').next().unwrap_or("").to_string();
        all_env.retain(|e| e.split('=').next() != Some(key.as_str()));
        all_env.push(pair);
    }
    process.set_env(Some(all_env));
    if let Some(user) = user {
        let (uid, gid) = user.split_once(':').unwrap_or((user.as_str(), "0"));
        let parse = |v: &str| {
            v.parse::<u32>().map_err(|_| {
                Error::Usage(format!("--user {user:?}: give numeric UID[:GID] (names are resolved by the engine)"))
            })
        };
        let mut u = process.user().clone();
        u.set_uid(parse(uid)?);
        u.set_gid(parse(gid)?);
        process.set_user(u);
    }
    if no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        for name in cap {
            let c: oci_spec::runtime::Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error::Usage(format!("--cap {name:?}: unknown capability (e.g. CAP_NET_ADMIN)")))?;
            let add = |s: Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.unwrap_or_default();
                s.insert(c);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
        }
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}

/// `lcrun run`: create + start; in the foreground we are the init's subreaper, forward
/// signals to it, return its exit code and delete the container after.
fn run_container(root: &Root, args: &CreateArgs, detach: bool) -> Result<i32> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    if detach {
        container::create(root, &args.id, &args.bundle, &create_options(args))?;
        container::start(root, &args.id)?;
        return Ok(0);
    }
    labkit::sys::set_child_subreaper().map_err(|e| Error::io("prctl(PR_SET_CHILD_SUBREAPER)", e))?;
    let record = container::create(root, &args.id, &args.bundle, &create_options(args))?;
    let mut forwarded = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        forwarded.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
        .map_err(|e| Error::sys("blocking signals to forward", e))?;
    let sfd = SignalFd::with_flags(&forwarded, SfdFlags::SFD_CLOEXEC).map_err(|e| Error::sys("signalfd", e))?;
    if let Err(e) = container::start(root, &args.id) {
        let _ = container::delete(root, &args.id, true);
        return Err(e);
    }
    let code = loop {
        if let Some(code) = container::reap_until(record.pid)? {
            break code;
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo as i32 == Signal::SIGCHLD as i32 => continue,
            Ok(Some(info)) => {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = labkit::sys::signal_if_same(record.pid, record.start_time, sig);
                }
            }
            Ok(None) => continue,
            Err(e) => return Err(Error::sys("reading signals", e)),
        }
    };
    container::delete(root, &args.id, true)?;
    Ok(code)
}
