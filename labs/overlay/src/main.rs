//! `laboverlay`: the overlay tool on its own (the same commands as `labctl overlay`).

use clap::Parser;

#[derive(Parser)]
#[command(name = "laboverlay", about = "OverlayFS mounts, diffs and OCI layers")]
struct Cli {
    #[command(subcommand)]
    command: laboverlay::cli::Command,
}

fn main() {
    let cli = Cli::parse();
    match laboverlay::cli::run(cli.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("laboverlay: {e:#}");
            std::process::exit(1);
        }
    }
}
