//! `lcrun`: the OCI runtime on its own (podman --runtime, ctr run --runc-binary).

use clap::Parser;

fn main() {
    let cli = labruntime::cli::Cli::parse();
    std::process::exit(labruntime::cli::run(cli.invocation));
}
