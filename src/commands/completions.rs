//! `labctl completions <shell>`.

use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "labctl", &mut std::io::stdout());
    Ok(0)
}
