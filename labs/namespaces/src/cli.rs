//! `labctl ns ...` (and the `labns` binary).

/// Namespace tools.
#[derive(clap::Subcommand, Debug)]
pub enum Command {}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {}
}
