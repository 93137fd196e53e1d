//! `restart [-t N] CONTAINER…`: `stop` (the stop signal, SIGKILL after N seconds), then
//! `start`; a stopped container is just started. docker counts it in `RestartCount`. A `--rm`
//! container is refused: its stop removes it (its supervisor is the one that removes).

use crate::engine::Engine;
use crate::error::Result;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    super::each(engine, &args.containers, |record| {
        if record.host_config.auto_remove {
            let name = record.bare_name();
            return Err(crate::error::Error::state(
                name,
                format!(
                    "was run with --rm, so stopping it removes it and there is nothing to start again: \
                     `labctl container stop {name}`, then `run` it anew"
                ),
            ));
        }
        crate::host::stop(engine, record, Duration::from_secs(args.time), None)?;
        let record = engine.update(&record.id, |r| r.restart_count += 1)?;
        super::start::start_detached(engine, &record)
    })
}
