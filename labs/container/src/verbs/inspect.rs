//! `inspect [--format TEMPLATE] CONTAINER…`: docker's JSON array, or the template per container.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::template::Format;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Go template, e.g. '{{.State.Pid}}'
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let format = args.format.as_deref().map(Format::parse).transpose()?;
    let mut docs = Vec::new();
    let mut missing: Option<Error> = None;
    for name in &args.containers {
        match engine.find(name) {
            Ok(r) => docs.push(crate::inspect::document(engine, &r)),
            Err(e) => {
                eprintln!("labctl container: {e}");
                missing.get_or_insert(e);
            }
        }
    }
    match &format {
        Some(f) => {
            for d in &docs {
                println!("{}", f.render(d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&docs).expect("JSON serialises")),
    }
    match missing {
        // docker prints what it found, then fails for the rest.
        Some(_) => Ok(1),
        None => Ok(0),
    }
}
