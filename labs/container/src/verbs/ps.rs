//! `ps [-a] [-q] [--format]`: docker's table, or a Go template per container (`table` first
//! for a header).

use crate::engine::{Engine, Live};
use crate::error::Result;
use crate::human;
use crate::record::Record;
use crate::template::Format;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show every container (default: running ones)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Go template, e.g. '{{.Names}} {{.Status}}' (prefix `table ` for a header)
    #[arg(long)]
    pub format: Option<String>,
    /// Full ids and commands
    #[arg(long)]
    pub no_trunc: bool,
}

/// The fields a `ps --format` template sees, with docker's names.
fn fields(r: &Record, live: Live, no_trunc: bool) -> serde_json::Value {
    json!({
        "ID": if no_trunc { r.id.as_str() } else { r.short_id() },
        "Image": r.config.image,
        "Command": human::command(r, !no_trunc),
        "CreatedAt": r.created,
        "RunningFor": format!("{} ago", human::duration(human::since(&r.created))),
        "Ports": "",
        "State": live.as_str(),
        "Status": human::status_of(live, r),
        "Names": r.bare_name(),
        "Labels": r.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": "",
        "Networks": r.host_config.network_mode,
    })
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let format = match args.format.as_deref() {
        Some("table") | None => None,
        Some(t) => Some(t.to_string()),
    };
    let (table_header, format) = match format {
        Some(t) if t.starts_with("table ") => (true, Some(Format::parse(&t["table ".len()..].replace("\\t", "\t"))?)),
        Some(t) => (false, Some(Format::parse(&t.replace("\\t", "\t"))?)),
        None => (false, None),
    };
    // Each container's state read once: the kernel is asked per container, and 100 add up.
    let records: Vec<(Record, Live)> = engine
        .records()
        .into_iter()
        .map(|r| {
            let live = engine.live(&r);
            (r, live)
        })
        .filter(|(_, live)| args.all || matches!(live, Live::Running | Live::Paused))
        .collect();
    let mut out = String::new();
    if args.quiet {
        for (r, _) in &records {
            out.push_str(if args.no_trunc { &r.id } else { r.short_id() });
            out.push('\n');
        }
        print!("{out}");
        return Ok(0);
    }
    if let Some(format) = format {
        if table_header {
            let header = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
                "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Names": "NAMES",
                "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"});
            out.push_str(&format.render(&header)?);
            out.push('\n');
        }
        for (r, live) in &records {
            out.push_str(&format.render(&fields(r, *live, args.no_trunc))?);
            out.push('\n');
        }
        print!("{out}");
        return Ok(0);
    }
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|(r, live)| {
            let f = fields(r, *live, args.no_trunc);
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            [s("ID"), s("Image"), s("Command"), s("RunningFor"), s("Status"), s("Ports"), s("Names")]
        })
        .collect();
    let header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}
