//! `stop [-t N] CONTAINER…`: the stop signal, then SIGKILL after N seconds (default 10).

use crate::engine::Engine;
use crate::error::Result;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Signal to send first (default: the image's StopSignal, else TERM)
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let signal = args.signal.as_deref().map(labruntime::container::parse_signal).transpose()?;
    super::each(engine, &args.containers, |r| crate::host::stop(engine, r, Duration::from_secs(args.time), signal))
}
