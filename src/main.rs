//! labctl: container internals, one lab at a time. This binary only parses flags and wires the
//! lab crates together; each verb lives in `commands/<verb>.rs`.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "labctl", version, about = "Container internals, one lab at a time", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the labs in course order, with your progress
    List(commands::list::Args),
    /// Run a lab's walkthrough: act on the kernel, show what it did, check it, clean up
    Run(commands::run::Args),
    /// Check this machine for every lab's needs, with the fix for each problem
    Doctor(commands::doctor::Args),
    /// Remove whatever labctl left behind (after a crash or --keep)
    Clean(commands::clean::Args),
    /// Verify your own attempt at a lab's challenge
    Check(commands::check::Args),
    /// Answer a lab's quiz
    Quiz(commands::quiz::Args),
    /// Show labs completed, quiz scores and challenges passed
    Progress(commands::progress::Args),
    /// Print shell completions
    Completions(commands::completions::Args),
    /// Namespace tools: run (unshare), enter (nsenter), ls (lsns)
    #[command(subcommand)]
    Ns(labns::cli::Command),
    /// Cgroup tools: run a command under limits, list groups, show stats
    #[command(subcommand)]
    Cgroup(labcgroup::cli::Command),
    /// OverlayFS tools: mount layers, diff an upper dir, make a layer tarball
    #[command(subcommand)]
    Overlay(laboverlay::cli::Command),
    /// Network tools: the labctl0 bridge, attach a netns, port maps
    #[command(subcommand)]
    Net(labnet::cli::Command),
    /// Image tools: build, import, save, load, pull, ls, inspect
    #[command(subcommand)]
    Image(labimage::cli::Command),
    /// The OCI runtime lcrun (runc's commands): spec, create, start, state, kill, delete, run, exec…
    Runtime(labruntime::cli::Invocation),
    /// The container engine (docker's verbs): run, ps, inspect, logs, exec, stop, start, rm…
    #[command(subcommand)]
    Container(labcontainer::cli::Command),
    /// Maintainer tools
    #[command(subcommand, hide = true)]
    Dev(commands::dev::Command),
    /// Run by the container-security lab inside its containers: one attempt, its errnos
    #[command(hide = true)]
    SecurityProbe {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    // Verbs that only read and print die quietly when their reader goes away (`| head`).
    if matches!(
        cli.command,
        Some(Command::List(_) | Command::Doctor(_) | Command::Progress(_) | Command::Completions(_) | Command::Dev(_))
    ) || matches!(&cli.command, Some(Command::Clean(args)) if args.check)
    {
        labkit::sys::default_sigpipe();
    }
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("labctl: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        None => commands::menu::exec(),
        Some(Command::List(args)) => commands::list::exec(args),
        Some(Command::Run(args)) => commands::run::exec(args),
        Some(Command::Doctor(args)) => commands::doctor::exec(args),
        Some(Command::Clean(args)) => commands::clean::exec(args),
        Some(Command::Check(args)) => commands::check::exec(args),
        Some(Command::Quiz(args)) => commands::quiz::exec(args),
        Some(Command::Progress(args)) => commands::progress::exec(args),
        Some(Command::Completions(args)) => commands::completions::exec(args),
        Some(Command::Ns(cmd)) => labns::cli::run(cmd),
        Some(Command::Cgroup(cmd)) => labcgroup::cli::run(cmd),
        Some(Command::Overlay(cmd)) => laboverlay::cli::run(cmd),
        Some(Command::Net(cmd)) => labnet::cli::run(cmd),
        Some(Command::Image(cmd)) => labimage::cli::run(cmd),
        Some(Command::Runtime(invocation)) => Ok(labruntime::cli::run(invocation)),
        Some(Command::Container(command)) => Ok(labcontainer::cli::run(command)),
        Some(Command::Dev(cmd)) => commands::dev::exec(cmd),
        Some(Command::SecurityProbe { args }) => Ok(labruntime::labs::security::probe(&args)),
    }
}
