//! `labctl clean [--check]`: finish the undo of runs that died (journals under /run/labctl),
//! then remove anything else carrying a labctl name: mounts, named netns, cgroups (labkit's
//! scan), and in this network namespace links and the firewall table (labnet).

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
    let mut found: Vec<(String, Option<Action>)> = Vec::new();
    for (_, journal) in &dead {
        for undo in journal.undo.iter().rev() {
            let what = format!("{} (journal of {} run {})", undo.describe(), journal.lab, journal.pid);
            found.push((what, Some(Action::Undo(undo.clone()))));
        }
    }
    for left in leftovers::scan() {
        let duplicate =
            found.iter().any(|(_, a)| matches!((a, &left.undo), (Some(Action::Undo(u)), Some(l)) if u == l));
        let in_live_run = left.undo.as_ref().is_some_and(|u| live.contains(u));
        if !duplicate && !in_live_run {
            found.push((left.what, left.undo.map(Action::Undo)));
        }
    }
    found.extend(runtime_leftovers());
    // Links and rules are looked at only while no lab runs (a running lab owns its own).
    if journals.iter().all(|(_, j)| !j.owner_alive()) {
        found.extend(network_leftovers());
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
    for (what, action) in &found {
        match action {
            Some(action) => match action.run() {
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

/// How to remove one leftover.
enum Action {
    Undo(Undo),
    /// A labctl bridge: `labctl net bridge down` (also its leases and port maps).
    BridgeDown(String),
    DeleteLink(String),
    /// The `inet labctl` nft table or the LABCTL iptables chains.
    Firewall,
    /// An lcrun container under the default state root: `lcrun delete --force ID`.
    RuntimeDelete(String),
    RemoveFile(std::path::PathBuf),
}

impl Action {
    fn run(&self) -> Result<(), String> {
        match self {
            Action::Undo(undo) => undo.run(),
            Action::BridgeDown(name) => labnet::bridge_down(name).map(|_| ()).map_err(|e| e.to_string()),
            Action::DeleteLink(name) => {
                labnet::Netlink::open().and_then(|mut nl| nl.delete_link(name)).map_err(|e| e.to_string())
            }
            Action::Firewall => {
                labnet::firewall::Firewall::here().and_then(|fw| fw.uninstall()).map_err(|e| e.to_string())
            }
            Action::RemoveFile(path) => std::fs::remove_file(path).map_err(|e| e.to_string()),
            Action::RuntimeDelete(id) => {
                let root = labruntime::Root::new(labruntime::state::DEFAULT_ROOT);
                labruntime::delete(&root, id, true).map_err(|e| e.to_string())
            }
        }
    }
}

/// labctl-named links in this network namespace, and labctl's firewall rules.
fn network_leftovers() -> Vec<(String, Option<Action>)> {
    let mut out = Vec::new();
    if let Ok(links) = labnet::Netlink::open().and_then(|mut nl| nl.links()) {
        for link in links.into_iter().filter(|l| labkit::paths::is_ours(&l.name)) {
            if link.alias.as_deref() == Some(labnet::bridge::BRIDGE_ALIAS) {
                out.push((format!("bridge {}", link.name), Some(Action::BridgeDown(link.name))));
            } else {
                out.push((format!("link {}", link.name), Some(Action::DeleteLink(link.name))));
            }
        }
    }
    if labnet::firewall::Firewall::here().is_ok_and(|fw| fw.installed()) {
        out.push(("labctl firewall rules (nft table inet labctl / LABCTL chains)".into(), Some(Action::Firewall)));
    }
    out
}

/// lcrun containers under the default state root (its init, cgroup and state dir go with
/// `delete --force`), also a create that was killed midway.
fn runtime_leftovers() -> Vec<(String, Option<Action>)> {
    let root = labruntime::Root::new(labruntime::state::DEFAULT_ROOT);
    let mut out: Vec<(String, Option<Action>)> = labruntime::list(&root)
        .into_iter()
        .map(|s| (format!("lcrun container {} ({})", s.id, s.status), Some(Action::RuntimeDelete(s.id))))
        .collect();
    // A directory without its state file: a create killed before it wrote the first record.
    for entry in std::fs::read_dir(&root.dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !root.exists(&name) {
            out.push((format!("lcrun state dir {}", entry.path().display()), Some(Action::RuntimeDelete(name))));
        }
    }
    for lock in root.stale_locks() {
        out.push((format!("stale lcrun lock {}", lock.display()), Some(Action::RemoveFile(lock))));
    }
    out
}
