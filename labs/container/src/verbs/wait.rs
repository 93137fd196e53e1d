//! `wait CONTAINER…`: blocks until each container has exited, prints its exit code.

use crate::engine::{Engine, Live};
use crate::error::Result;
use crate::record::Record;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Containers, by name or id (a unique prefix)
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    for name in &args.containers {
        let mut record = engine.find(name)?;
        let path = engine.record_path(&record.id);
        loop {
            if engine.live(&record) == Live::Exited && !engine.supervisor_alive(&record) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            match Record::load(&path) {
                Ok(r) => record = r,
                // Removed (--rm) under us: the last record we read has the code, if any.
                Err(_) => break,
            }
        }
        let code =
            if record.state.status == "running" && record.state.exit_code == 0 { 137 } else { record.state.exit_code };
        println!("{code}");
    }
    Ok(0)
}
