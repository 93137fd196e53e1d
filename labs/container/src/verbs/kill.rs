//! `kill [-s SIGNAL] CONTAINER…`: a signal (default KILL) to the container's init.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The signal: a name (KILL, SIGTERM) or a number
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let signal = labruntime::container::parse_signal(&args.signal)?;
    super::each(engine, &args.containers, |r| {
        if !matches!(engine.live(r), Live::Running | Live::Paused) {
            return Err(Error::state(
                r.bare_name(),
                format!("is not running: nothing to signal (start it with `labctl container start {}`)", r.bare_name()),
            ));
        }
        Ok(labruntime::kill(&engine.runtime(), &r.id, signal, false)?)
    })
}
