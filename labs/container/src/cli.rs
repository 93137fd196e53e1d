//! `labctl container <verb>` (and the `labcontainer` binary): docker's verbs and flags.

use crate::engine::Engine;
use crate::error::Error;
use crate::verbs;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from an image and start it
    Run(Box<verbs::run::Args>),
    /// List containers
    Ps(verbs::ps::Args),
    /// Show a container's configuration and state (docker's JSON, or --format)
    Inspect(verbs::inspect::Args),
    /// Print a container's output (its json-file log)
    Logs(verbs::logs::Args),
    /// Stop containers: the stop signal, then SIGKILL
    Stop(verbs::stop::Args),
    /// Start stopped containers
    Start(verbs::start::Args),
    /// Stop containers, then start them again
    Restart(verbs::restart::Args),
    /// Remove containers
    Rm(verbs::rm::Args),
    /// Run a command in a running container
    Exec(verbs::exec::Args),
    /// Send a signal to containers
    Kill(verbs::kill::Args),
    /// Attach our terminal to a running container's pty (Ctrl-P Ctrl-Q detaches)
    Attach(verbs::attach::Args),
    /// Copy files between a container and the host
    Cp(verbs::cp::Args),
    /// List a container's processes
    Top(verbs::inner::One),
    /// CPU, memory and pids of running containers, from their cgroups
    Stats(verbs::inner::StatsArgs),
    /// A new image from a container's changes (its upper dir as a layer)
    Commit(verbs::commit::Args),
    /// Files changed in a container's filesystem (its overlay's upper dir)
    Diff(verbs::inner::One),
    /// Freeze every process of containers (the freezer)
    Pause(verbs::inner::Many),
    /// Thaw paused containers
    Unpause(verbs::inner::Many),
    /// What `labctl clean` does for engine containers, alone: remove every one
    #[command(hide = true)]
    Clean,
    /// `--init`'s PID 1 inside a container: runs the command, forwards signals, reaps zombies
    #[command(hide = true)]
    Init(crate::init::Args),
    /// Manage volumes: create, ls, rm
    Volume(verbs::volume::Args),
    /// List a container's published ports
    Port(verbs::port::Args),
    /// Wait for containers to exit and print their exit codes
    Wait(verbs::wait::Args),
}

/// Runs one verb; returns the exit code (docker's: 125 for an engine error).
pub fn run(command: Command) -> i32 {
    // Inside a container, as whatever user the container runs as: no engine state involved.
    let command = match command {
        Command::Init(args) => return crate::init::exec(args),
        other => other,
    };
    if !labkit::sys::is_root() {
        eprintln!("labctl container: needs root (namespaces, mounts, cgroups): run with sudo");
        return 125;
    }
    let engine = Engine::from_env();
    let result = match command {
        Command::Run(args) => verbs::run::exec(&engine, *args),
        Command::Ps(args) => verbs::ps::exec(&engine, args),
        Command::Inspect(args) => verbs::inspect::exec(&engine, args),
        Command::Logs(args) => verbs::logs::exec(&engine, args),
        Command::Stop(args) => verbs::stop::exec(&engine, args),
        Command::Start(args) => verbs::start::exec(&engine, args),
        Command::Restart(args) => verbs::restart::exec(&engine, args),
        Command::Rm(args) => verbs::rm::exec(&engine, args),
        Command::Exec(args) => verbs::exec::exec(&engine, args),
        Command::Kill(args) => verbs::kill::exec(&engine, args),
        Command::Wait(args) => verbs::wait::exec(&engine, args),
        Command::Attach(args) => verbs::attach::exec(&engine, args),
        Command::Cp(args) => verbs::cp::exec(&engine, args),
        Command::Top(args) => verbs::inner::top(&engine, args),
        Command::Stats(args) => verbs::inner::stats(&engine, args),
        Command::Commit(args) => verbs::commit::exec(&engine, args),
        Command::Diff(args) => verbs::inner::diff(&engine, args),
        Command::Pause(args) => verbs::inner::pause(&engine, args, true),
        Command::Unpause(args) => verbs::inner::pause(&engine, args, false),
        Command::Clean => crate::clean::exec(&engine),
        Command::Init(_) => unreachable!("handled before the root check"),
        Command::Volume(args) => verbs::volume::exec(&engine, args),
        Command::Port(args) => verbs::port::exec(&engine, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

fn report(e: &Error) -> i32 {
    eprintln!("labctl container: {e}");
    e.exit_code()
}
