//! `labctl clean [--check]`: finish the undo of runs that died (journals under /run/labctl),
//! then remove anything else carrying a labctl name.

use anyhow::bail;
use labkit::cleanup::{read_journals, Undo};
use labkit::leftovers;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only list what is left; exit 1 if anything is
    #[arg(long)]
    pub check: bool,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let journals = read_journals();
    // Objects of runs still in progress are theirs to undo: never touch them.
    let live: Vec<Undo> = journals.iter().filter(|(_, j)| j.owner_alive()).flat_map(|(_, j)| j.undo.clone()).collect();
    let dead: Vec<_> = journals.iter().filter(|(_, j)| !j.owner_alive()).collect();
    let mut found: Vec<(String, Option<Undo>)> = Vec::new();
    for (_, journal) in &dead {
        for undo in journal.undo.iter().rev() {
            found.push((
                format!("{} (journal of {} run {})", undo.describe(), journal.lab, journal.pid),
                Some(undo.clone()),
            ));
        }
    }
    for left in leftovers::scan() {
        let duplicate = found.iter().any(|(_, u)| u.is_some() && *u == left.undo);
        let in_live_run = left.undo.as_ref().is_some_and(|u| live.contains(u));
        if !duplicate && !in_live_run {
            found.push((left.what, left.undo));
        }
    }
    if args.check {
        for (what, _) in &found {
            println!("left: {what}");
        }
        if found.is_empty() {
            println!("nothing left by labctl");
            return Ok(0);
        }
        return Ok(1);
    }
    if !labkit::sys::is_root() && !found.is_empty() {
        bail!("labctl clean needs root to remove namespaces, mounts and cgroups: try sudo labctl clean");
    }
    let mut failures = 0;
    for (what, undo) in &found {
        match undo {
            Some(undo) => match undo.run() {
                Ok(()) => println!("removed {what}"),
                Err(e) => {
                    failures += 1;
                    println!("could not remove {what}: {e}");
                }
            },
            None => {
                failures += 1;
                println!("cannot remove {what} automatically");
            }
        }
    }
    if failures == 0 {
        for (path, _) in dead {
            let _ = std::fs::remove_file(path);
        }
    }
    if found.is_empty() {
        println!("nothing left by labctl");
    }
    Ok(if failures == 0 { 0 } else { 1 })
}
