//! `attach CONTAINER`: our terminal to a running `-t` container's pty (through its
//! supervisor); Ctrl-P Ctrl-Q detaches, and when the container exits its exit code is ours.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container, by name or id
    pub container: String,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let record = engine.find(&args.container)?;
    let name = record.bare_name().to_string();
    if !matches!(engine.live(&record), Live::Running | Live::Paused) {
        return Err(Error::state(
            &name,
            format!("cannot attach to a stopped container: start it first (`labctl container start {name}`)"),
        ));
    }
    if !record.config.tty {
        return Err(Error::state(
            &name,
            "it has no pty (it was run without -t): read its output with `labctl container logs -f`",
        ));
    }
    if !labkit::sys::stdin_is_tty() {
        return Err(Error::Usage("the input device is not a TTY: run attach from a terminal".into()));
    }
    match crate::tty::attach(engine, &record.id, &name)? {
        crate::tty::Ended::Detached => Ok(0),
        crate::tty::Ended::Exited => {
            crate::host::wait_supervisor(engine, &record, crate::host::SUPERVISOR_EXIT_LIMIT);
            Ok(crate::record::Record::load(&engine.record_path(&record.id)).map(|r| r.state.exit_code).unwrap_or(0))
        }
    }
}
