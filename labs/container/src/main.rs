//! `labcontainer`: the engine on its own (`labctl container …` is the same parser).

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "labcontainer", about = "The mini container engine: docker's verbs on labctl's parts")]
struct Cli {
    #[command(subcommand)]
    command: labcontainer::cli::Command,
}

fn main() {
    // docker's exit code for a bad flag is 125, as for every engine error.
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let code = if e.use_stderr() { 125 } else { 0 };
        let _ = e.print();
        std::process::exit(code)
    });
    std::process::exit(labcontainer::cli::run(cli.command));
}
