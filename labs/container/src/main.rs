//! `labcontainer`: the engine on its own (`labctl container …` is the same parser).

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "labcontainer", about = "The mini container engine: docker's verbs on labctl's parts")]
struct Cli {
    #[command(subcommand)]
    command: labcontainer::cli::Command,
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(labcontainer::cli::run(cli.command));
}
