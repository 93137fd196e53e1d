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

/// The clone flag of a namespace type name (`net` → CLONE_NEWNET).
pub fn flag_of(ns_type: &str) -> Option<CloneFlags> {
    labkit::probe::ns_type(ns_type).map(|t| t.flag)
}

/// The namespace type names, comma separated in setns order (for error messages).
pub(crate) fn type_names() -> String {
    labkit::probe::in_setns_order().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/namespaces/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
