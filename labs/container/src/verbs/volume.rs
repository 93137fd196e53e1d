//! `volume create [NAME]`, `volume ls [-q]`, `volume rm NAME…`: named volumes, directories
//! under `<lib>/volumes/NAME/_data` (docker's layout), mounted with `-v NAME:/path`.

use crate::engine::Engine;
use crate::error::Result;

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Create a volume (a random name when none is given)
    Create {
        /// The volume's name
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only the names
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Remove volumes (refused while a container uses one)
    #[command(alias = "remove")]
    Rm {
        /// The volumes' names
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    match args.action {
        Action::Create { name } => {
            println!("{}", crate::volume::create(engine, name.as_deref())?);
            Ok(0)
        }
        Action::Ls { quiet } => {
            if !quiet {
                println!("{:<10}VOLUME NAME", "DRIVER");
            }
            for name in crate::volume::list(engine) {
                if quiet {
                    println!("{name}");
                } else {
                    println!("{:<10}{name}", "local");
                }
            }
            Ok(0)
        }
        Action::Rm { names } => {
            let mut first = None;
            for name in &names {
                match crate::volume::remove(engine, name) {
                    Ok(()) => println!("{name}"),
                    Err(e) if first.is_none() => first = Some(e),
                    Err(e) => eprintln!("labctl container: {e}"),
                }
            }
            first.map_or(Ok(0), Err)
        }
    }
}
