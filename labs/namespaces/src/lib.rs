//! Namespace labs and tools: what `unshare`, `nsenter` and `lsns` do, with real syscalls.
//!
//! The building blocks (reused by the mini container): [`spawn::Spawner`] starts a child in new
//! namespaces with clone(2); [`enter`] runs a command inside another process's namespaces with
//! setns(2); [`list`] lists the system's namespaces from /proc/*/ns.

pub mod cli;
pub mod enter;
pub mod error;
pub mod labs;
pub mod list;
pub mod spawn;
pub mod userns;

pub use error::NsError;
pub use spawn::{IdMap, NsChild, Spawner, Stdio};

use nix::sched::CloneFlags;

/// Namespace types as /proc/PID/ns names them, with their clone flag, in the order setns
/// should enter them (user first: it grants the rights for the rest; mnt last).
pub const NS_FLAGS: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("time", CloneFlags::from_bits_retain(0x80)),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The clone flag of a namespace type name (`net` → CLONE_NEWNET).
pub fn flag_of(ns_type: &str) -> Option<CloneFlags> {
    NS_FLAGS.iter().find(|(n, _)| *n == ns_type).map(|(_, f)| *f)
}

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/namespaces/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
