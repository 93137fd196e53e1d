//! `start [-a] [-i] CONTAINER…`: a created or exited container runs again (a new supervisor,
//! the same upper dir, config and log). With `-a` our stdout and stderr (or our terminal, for a
//! container made with `-t`) are attached until it exits, and its exit code is ours; `-i` also
//! passes our stdin.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::supervisor::{launch, Attach, Report};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach our stdout and stderr (or terminal) and give the container's exit code
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach our stdin too
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    if args.attach || args.interactive {
        let [one] = args.containers.as_slice() else {
            return Err(Error::Usage(
                "start -a/-i attaches to one container: name only one (or leave -a and -i out)".into(),
            ));
        };
        let record = engine.find(one)?;
        if matches!(engine.live(&record), Live::Running | Live::Paused) {
            let name = record.bare_name();
            return Err(Error::state(
                name,
                format!(
                    "is already running: attach to it with `labctl container attach {name}` (with -t) or see \
                         `labctl container logs -f {name}`"
                ),
            ));
        }
        if args.interactive && record.config.tty && !labkit::sys::stdin_is_tty() {
            return Err(Error::Usage(
                "the input device is not a TTY: start -i a -t container from a terminal, or use -a alone".into(),
            ));
        }
        let record = crate::host::reclaim(engine, &record)?;
        return super::run::launch_and_follow(engine, &record, args.interactive, record.config.tty, false);
    }
    super::each(engine, &args.containers, |record| start_detached(engine, record))
}

/// Starts one container in the background (nothing done when it runs already).
pub fn start_detached(engine: &Engine, record: &Record) -> Result<()> {
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
}
