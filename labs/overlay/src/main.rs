//! `laboverlay`: the overlay tool on its own (the same commands as `labctl overlay`), plus
//! `laboverlay lab` to run the walkthrough without the front door (used by the leak tests).

use clap::Parser;

#[derive(Parser)]
#[command(name = "laboverlay", about = "OverlayFS mounts, diffs and OCI layers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Tool(laboverlay::cli::Command),
    /// Run the `overlay` walkthrough (plain text), as `labctl run overlay --yes` does.
    #[command(hide = true)]
    Lab {
        #[command(flatten)]
        lang: labkit::LangFlag,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tool(cmd) => laboverlay::cli::run(cmd),
        Command::Lab { lang } => run_lab(lang.lang.unwrap_or_default()),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("laboverlay: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run_lab(lang: labkit::Lang) -> anyhow::Result<i32> {
    let topic = laboverlay::topic();
    let manifest = topic.manifest()?;
    let def = manifest.lab("overlay").expect("the overlay lab is in lab.yaml");
    let cleanup = labkit::Cleanup::journaled("overlay").map_err(anyhow::Error::msg)?;
    let opts = labkit::RunOptions::unattended(lang, labkit::Format::Plain);
    let outcome = labkit::runner::run_lab(def, &laboverlay::labs::overlay::LAB, &opts, cleanup, std::io::stdout())?;
    Ok(if outcome.passed { 0 } else { 1 })
}
