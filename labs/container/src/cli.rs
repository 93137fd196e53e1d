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
    /// Remove containers
    Rm(verbs::rm::Args),
    /// Run a command in a running container
    Exec(verbs::exec::Args),
    /// Send a signal to containers
    Kill(verbs::kill::Args),
    /// Wait for containers to exit and print their exit codes
    Wait(verbs::wait::Args),
}

/// Runs one verb; returns the exit code (docker's: 125 for an engine error).
pub fn run(command: Command) -> i32 {
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
        Command::Rm(args) => verbs::rm::exec(&engine, args),
        Command::Exec(args) => verbs::exec::exec(&engine, args),
        Command::Kill(args) => verbs::kill::exec(&engine, args),
        Command::Wait(args) => verbs::wait::exec(&engine, args),
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
