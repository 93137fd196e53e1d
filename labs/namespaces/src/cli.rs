//! `labctl ns ...` (and the `labns` binary): run (unshare), enter (nsenter), ls (lsns).

use crate::error::NsError;
use crate::spawn::{IdMap, Spawner};
use clap::Args;
use nix::sched::CloneFlags;
use std::ffi::OsString;

/// Namespace tools.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run a command in new namespaces (like `unshare -f`; with --pid and --mnt a fresh /proc is mounted)
    Run(RunArgs),
    /// Run a command inside another process's namespaces (like `nsenter -t PID`)
    Enter(EnterArgs),
    /// List the namespaces of this system (like `lsns`)
    Ls(LsArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// New UTS namespace (hostname, domainname)
    /// Enter its UTS namespace (hostname)
    #[arg(long, short = 'u')]
    pub uts: bool,
    /// New pid namespace: the command is PID 1 inside
    /// Enter its PID namespace (the command becomes a process in it)
    #[arg(long, short = 'p')]
    pub pid: bool,
    /// New mount namespace, made private first so nothing propagates back out
    /// Enter its mount namespace
    #[arg(long, short = 'm')]
    pub mnt: bool,
    /// New IPC namespace (System V IPC, POSIX message queues)
    /// Enter its IPC namespace
    #[arg(long, short = 'i')]
    pub ipc: bool,
    /// New network namespace (only a DOWN lo inside)
    /// Enter its network namespace
    #[arg(long, short = 'n')]
    pub net: bool,
    /// New user namespace (an ordinary user may create one)
    /// Enter its user namespace
    #[arg(long, short = 'U')]
    pub user: bool,
    /// New cgroup namespace
    /// Enter its cgroup namespace
    #[arg(long, short = 'C')]
    pub cgroup: bool,
    /// Hostname inside (needs --uts)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Mount a fresh /proc inside (implies --mnt; the default with --pid and --mnt)
    #[arg(long, conflicts_with = "no_mount_proc")]
    pub mount_proc: bool,
    /// Keep the old /proc even with --pid --mnt
    #[arg(long)]
    pub no_mount_proc: bool,
    /// Map your uid and gid to root inside the user namespace (like `unshare -r`; implies --user)
    #[arg(long, short = 'r')]
    pub map_root: bool,
    /// The command and its arguments (after --)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct EnterArgs {
    /// The target process
    #[arg(long, short = 't', value_name = "PID", allow_negative_numbers = true)]
    pub target: i64,
    /// Every namespace of the target that differs from ours
    #[arg(long, short = 'a', conflicts_with_all = ["mnt", "uts", "ipc", "net", "pid", "user", "cgroup"])]
    pub all: bool,
    /// Enter its mount namespace
    #[arg(long, short = 'm')]
    pub mnt: bool,
    /// Enter its UTS namespace (hostname)
    #[arg(long, short = 'u')]
    pub uts: bool,
    /// Enter its IPC namespace
    #[arg(long, short = 'i')]
    pub ipc: bool,
    /// Enter its network namespace
    #[arg(long, short = 'n')]
    pub net: bool,
    /// Enter its PID namespace (the command becomes a process in it)
    #[arg(long, short = 'p')]
    pub pid: bool,
    /// Enter its user namespace
    #[arg(long, short = 'U')]
    pub user: bool,
    /// Enter its cgroup namespace
    #[arg(long, short = 'C')]
    pub cgroup: bool,
    /// The command and its arguments (after --; default: $SHELL or /bin/sh)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only this type: mnt, uts, ipc, pid, net, user, cgroup, time
    #[arg(long, short = 't', value_name = "TYPE")]
    pub r#type: Option<String>,
    /// JSON like `lsns -J`
    #[arg(long, short = 'J')]
    pub json: bool,
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Run(args) => Ok(run_cmd(args)?),
        Command::Enter(args) => Ok(enter_cmd(args)?),
        Command::Ls(args) => {
            let rows = crate::list::list(args.r#type.as_deref())?;
            if args.json {
                println!("{}", crate::list::render_json(&rows));
            } else {
                print!("{}", crate::list::render_table(&rows));
            }
            Ok(0)
        }
    }
}

/// The spawner a `labctl ns run` command line asks for.
pub fn spawner_for(args: &RunArgs) -> Result<Spawner, NsError> {
    let mut flags = CloneFlags::empty();
    let user = args.user || args.map_root;
    for (on, flag) in [
        (args.uts, CloneFlags::CLONE_NEWUTS),
        (args.pid, CloneFlags::CLONE_NEWPID),
        (args.mnt || args.mount_proc, CloneFlags::CLONE_NEWNS),
        (args.ipc, CloneFlags::CLONE_NEWIPC),
        (args.net, CloneFlags::CLONE_NEWNET),
        (user, CloneFlags::CLONE_NEWUSER),
        (args.cgroup, CloneFlags::CLONE_NEWCGROUP),
    ] {
        if on {
            flags |= flag;
        }
    }
    if flags.is_empty() {
        return Err(NsError::Usage(
            "no namespace asked for: add at least one of --uts --pid --mnt --ipc --net --user --cgroup".into(),
        ));
    }
    let mount_proc = args.mount_proc || (args.pid && args.mnt && !args.no_mount_proc);
    let mut spawner = Spawner::new(flags).mount_proc(mount_proc).kill_with_parent(true);
    if let Some(h) = &args.hostname {
        spawner = spawner.hostname(h);
    }
    if args.map_root {
        let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        spawner.uid_map = vec![IdMap::root_to(uid)];
        spawner.gid_map = vec![IdMap::root_to(gid)];
    }
    spawner.validate()?;
    Ok(spawner)
}

fn run_cmd(args: RunArgs) -> Result<i32, NsError> {
    let spawner = spawner_for(&args)?;
    let child = spawner.spawn(&args.command)?;
    child.wait()
}

fn enter_cmd(args: EnterArgs) -> Result<i32, NsError> {
    let pid = crate::enter::check_target(args.target)?;
    let types: Vec<&str> = if args.all {
        crate::enter::differing_types(pid)
    } else {
        [
            (args.user, "user"),
            (args.cgroup, "cgroup"),
            (args.ipc, "ipc"),
            (args.uts, "uts"),
            (args.net, "net"),
            (args.pid, "pid"),
            (args.mnt, "mnt"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n)
        .collect()
    };
    if types.is_empty() && !args.all {
        return Err(NsError::Usage(
            "no namespace chosen: add --all, or some of --mnt --uts --ipc --net --pid --user --cgroup".into(),
        ));
    }
    let command = if args.command.is_empty() {
        vec![std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into())]
    } else {
        args.command
    };
    crate::enter::run(pid, &types, &command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: Command,
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("labns").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn enter_all_conflicts_with_single_types() {
        let err = parse(&["enter", "-t", "1", "--all", "--net", "--", "true"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(err.to_string().contains("--all"), "{err}");
    }

    #[test]
    fn mount_proc_conflicts_with_no_mount_proc() {
        let err = parse(&["run", "--pid", "--mount-proc", "--no-mount-proc", "--", "true"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn hostname_without_uts_is_refused_before_anything_runs() {
        let Command::Run(args) = parse(&["run", "--pid", "--hostname", "x", "--", "true"]).unwrap() else { panic!() };
        let err = spawner_for(&args).unwrap_err();
        assert!(err.to_string().contains("--hostname needs --uts"), "{err}");
    }

    #[test]
    fn run_without_any_namespace_is_refused() {
        let Command::Run(args) = parse(&["run", "--", "true"]).unwrap() else { panic!() };
        assert!(spawner_for(&args).unwrap_err().to_string().contains("no namespace asked for"));
    }

    #[test]
    fn pid_and_mnt_mount_a_fresh_proc_by_default() {
        let Command::Run(args) = parse(&["run", "-p", "-m", "--", "true"]).unwrap() else { panic!() };
        assert!(spawner_for(&args).unwrap().mount_proc);
        let Command::Run(args) = parse(&["run", "-p", "-m", "--no-mount-proc", "--", "true"]).unwrap() else {
            panic!()
        };
        assert!(!spawner_for(&args).unwrap().mount_proc);
    }
}
