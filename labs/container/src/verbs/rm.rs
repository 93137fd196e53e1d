//! `rm [-f] [-v] CONTAINER…`: a stopped container's files removed; a running one only with `-f`
//! (SIGKILL first). Also cleans up after a supervisor that was SIGKILLed.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill a running container first
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too (`-v /ctr`, the image's VOLUMEs)
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn remove(engine: &Engine, record: &crate::record::Record, force: bool, volumes: bool) -> Result<()> {
    let live = engine.live(record);
    if matches!(live, Live::Running | Live::Paused) {
        if !force {
            let name = record.bare_name();
            return Err(Error::state(
                name,
                format!(
                    "cannot remove a {} container: stop it first (`labctl container stop {name}`) or force it \
                     (`labctl container rm -f {name}`)",
                    live.as_str()
                ),
            ));
        }
        crate::host::stop(engine, record, Duration::ZERO, Some(nix::sys::signal::Signal::SIGKILL))?;
    } else if !crate::host::wait_supervisor(engine, record, crate::host::SUPERVISOR_EXIT_LIMIT) {
        return Err(Error::state(record.bare_name(), "its supervisor is still finishing: try again"));
    }
    crate::host::release(engine, record)?;
    crate::host::remove_files(engine, &record.id)?;
    if volumes {
        crate::volume::remove_anonymous(engine, record)?;
    }
    Ok(())
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    super::each(engine, &args.containers, |r| remove(engine, r, args.force, args.volumes))
}
