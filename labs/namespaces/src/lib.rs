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

/// Namespace types with their clone flag, in the order setns should enter them: a view of
/// [`labkit::probe::SETNS_ORDER`].
pub const NS_FLAGS: [(&str, CloneFlags); 8] = {
    let t = labkit::probe::SETNS_ORDER;
    [
        (t[0].name, t[0].flag),
        (t[1].name, t[1].flag),
        (t[2].name, t[2].flag),
        (t[3].name, t[3].flag),
        (t[4].name, t[4].flag),
        (t[5].name, t[5].flag),
        (t[6].name, t[6].flag),
        (t[7].name, t[7].flag),
    ]
};

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
