//! `labnet`: the network building block as a tool of its own (same as `labctl net ...`), plus
//! a hidden `lab` runner for the walkthroughs (used by this crate's leak tests).

use clap::Parser;

/// Bridges, veth pairs, NAT and port mapping for network namespaces.
#[derive(Parser)]
#[command(name = "labnet", version)]
struct Args {
    #[command(subcommand)]
    command: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    #[command(flatten)]
    Net(labnet::cli::Command),
    /// Run a walkthrough without the front door (net-modes, net-bridge, net-overlay, net-remote).
    #[command(hide = true)]
    Lab {
        id: String,
        #[command(flatten)]
        lang: labkit::LangFlag,
        #[arg(long)]
        redact: bool,
    },
}

fn main() {
    let args = Args::parse();
    let result = match args.command {
        Top::Net(cmd) => labnet::cli::run(cmd),
        Top::Lab { id, lang, redact } => run_lab(&id, lang.lang.unwrap_or_default(), redact),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labnet: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run_lab(id: &str, lang: labkit::Lang, redact: bool) -> anyhow::Result<i32> {
    let topic = labnet::topic();
    let manifest = topic.manifest()?;
    let def = manifest.lab(id).ok_or_else(|| anyhow::anyhow!("no lab {id:?} in labs/net/lab.yaml"))?;
    let code = topic.labs.iter().copied().find(|l| l.id() == id).expect("every manifest lab has code");
    let cleanup = labkit::Cleanup::journaled(id).map_err(anyhow::Error::msg)?;
    let opts = labkit::RunOptions { redact, ..labkit::RunOptions::unattended(lang, labkit::Format::Plain) };
    let outcome = labkit::runner::run_lab(def, code, &opts, cleanup, std::io::stdout())?;
    Ok(if outcome.passed { 0 } else { 1 })
}
