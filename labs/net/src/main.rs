//! `labnet`: the network building block as a tool of its own (same as `labctl net ...`).

use clap::Parser;

/// Bridges, veth pairs, NAT and port mapping for network namespaces.
#[derive(Parser)]
#[command(name = "labnet", version)]
struct Args {
    #[command(subcommand)]
    command: labnet::cli::Command,
}

fn main() {
    let args = Args::parse();
    match labnet::cli::run(args.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labnet: {e:#}");
            std::process::exit(1);
        }
    }
}
