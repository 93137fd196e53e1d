//! `labcgroup`: the cgroup tools on their own (`labctl cgroup` without the rest of labctl).

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "labcgroup", version, about = "Cgroup tools: run a command under limits, list groups, show stats")]
struct Args {
    #[command(subcommand)]
    command: labcgroup::cli::Command,
}

fn main() {
    let args = Args::parse();
    match labcgroup::cli::run(args.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labcgroup: {e:#}");
            std::process::exit(1);
        }
    }
}
