//! `logs [-f] [--tail N] [-t] CONTAINER`: the json-file log, stdout lines to our stdout and
//! stderr lines to our stderr; `-f` follows until the container has stopped.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::logs::{parse, Line};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep printing new lines until the container exits
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Each line with its time
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// The container, by name or id
    pub container: String,
}

fn print(lines: &[Line], timestamps: bool) {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for l in lines {
        let text = if timestamps { format!("{} {}", l.time, l.log) } else { l.log.clone() };
        let _ = if l.stream == "stderr" { err.write_all(text.as_bytes()) } else { out.write_all(text.as_bytes()) };
    }
    let _ = out.flush();
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let record = engine.find(&args.container)?;
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse().map_err(|_| Error::Usage(format!("--tail {n:?}: give a number of lines, or all")))?),
    };
    let path = engine.log_path(&record.id);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let mut text = String::new();
    if let Some(f) = &mut file {
        f.read_to_string(&mut text).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    }
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let lines = parse(&text[..complete]);
    let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
    print(&lines[skip..], args.timestamps);
    if !args.follow {
        return Ok(0);
    }
    let mut offset = complete as u64;
    loop {
        let running = engine.record_path(&record.id).exists()
            && crate::record::Record::load(&engine.record_path(&record.id))
                .map(|r| {
                    matches!(engine.live(&r), Live::Running | Live::Paused | Live::Created)
                        && engine.supervisor_alive(&r)
                })
                .unwrap_or(false);
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = &mut file {
            let mut more = String::new();
            f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io("seek", e))?;
            f.read_to_string(&mut more).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let complete = more.rfind('\n').map_or(0, |i| i + 1);
            print(&parse(&more[..complete]), args.timestamps);
            offset += complete as u64;
        }
        if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
