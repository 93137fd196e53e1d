//! `labns`: the namespace tools on their own (`labctl ns` without the rest of labctl).

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "labns", version, about = "Namespace tools: run (unshare), enter (nsenter), ls (lsns)")]
struct Args {
    #[command(subcommand)]
    command: labns::cli::Command,
}

fn main() {
    let args = Args::parse();
    match labns::cli::run(args.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labns: {e:#}");
            std::process::exit(1);
        }
    }
}
