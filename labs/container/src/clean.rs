//! What `labctl clean` removes of the engine: every container (running or not: its init,
//! cgroup, overlay mount, bridge lease and DNAT rules, then its files), also after its
//! supervisor was SIGKILLed at any moment — a directory a killed `create` left without its
//! record, runtime state without an engine record. Volumes and images are data, not
//! leftovers: they stay.

use crate::engine::Engine;
use crate::error::{Error, Result};

/// One thing to remove: what it is, and the id `remove` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub what: String,
    pub id: String,
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

pub fn scan(engine: &Engine) -> Vec<Leftover> {
    let mut out = Vec::new();
    for record in engine.records() {
        let status = engine.live(&record).as_str();
        out.push(Leftover {
            what: format!("engine container {} ({}, {status})", record.bare_name(), record.short_id()),
            id: record.id.clone(),
        });
    }
    let known: Vec<String> = out.iter().map(|l| l.id.clone()).collect();
    for id in dir_names(&engine.lib).into_iter().chain(dir_names(&engine.run)) {
        if !known.contains(&id) && !out.iter().any(|l| l.id == id) {
            out.push(Leftover { what: format!("engine container {} without its record (a killed create)", &id), id });
        }
    }
    out
}

pub fn remove(engine: &Engine, id: &str) -> Result<()> {
    if engine.record_path(id).exists() {
        let record = crate::record::Record::load(&engine.record_path(id))?;
        return crate::verbs::rm::remove(engine, &record, true, true);
    }
    let root = engine.runtime();
    if root.container_dir(id).exists() {
        labruntime::delete(&root, id, true)?;
    }
    let merged = engine.merged(id);
    while crate::host::is_mounted(&merged) {
        laboverlay::unmount(&merged)?;
    }
    crate::host::remove_files(engine, id)?;
    let _ = std::fs::remove_dir(root.container_dir(id));
    if root.container_dir(id).exists() {
        return Err(Error::state(id, format!("{} is still there", root.container_dir(id).display())));
    }
    Ok(())
}

/// The hidden `clean` verb: the engine's part of `labctl clean`, alone.
pub fn exec(engine: &Engine) -> Result<i32> {
    let mut failed = None;
    for left in scan(engine) {
        match remove(engine, &left.id) {
            Ok(()) => println!("removed {}", left.what),
            Err(e) => {
                println!("could not remove {}: {e}", left.what);
                failed.get_or_insert(e);
            }
        }
    }
    failed.map_or(Ok(0), Err)
}
