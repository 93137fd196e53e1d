//! `labimage`: the image tool on its own (the same commands as `labctl image ...`).

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "labimage", about = "Build, store and move OCI images")]
struct Args {
    #[command(subcommand)]
    command: labimage::cli::Command,
}

fn main() {
    let args = Args::parse();
    match labimage::cli::run(args.command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labimage: error: {e:#}");
            std::process::exit(1);
        }
    }
}
