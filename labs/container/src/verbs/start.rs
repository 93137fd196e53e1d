//! `start CONTAINER…`: a created or exited container runs again (a new supervisor, the same
//! upper dir, config and log).

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::supervisor::{launch, Attach, Report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    super::each(engine, &args.containers, |record| {
        if matches!(engine.live(record), Live::Running | Live::Paused) {
            return Ok(());
        }
        // Whatever a dead supervisor left (mount, runtime state) goes first.
        let record = crate::host::reclaim(engine, record)?;
        let mut reports = launch(engine, &record.id, Attach::default())?;
        let result = match reports.read() {
            Report::Started(_) => Ok(()),
            Report::Failed { code, why } => Err(super::run::failure(record.bare_name(), code, why)),
            _ => Err(Error::state(record.bare_name(), "its supervisor died before the container started")),
        };
        drop(reports);
        result
    })
}
