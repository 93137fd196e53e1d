//! `labcontainer`: the mini container engine behind `labctl container …` — docker's job done with
//! the labs' parts. For each container it writes an OCI bundle (config.json generated through
//! oci-spec from the image config and the flags; rootfs = an overlay of the image's unpacked
//! layers under a per-container upper dir) and starts it through labruntime in-process, held by
//! a small supervisor process of its own.

pub mod clean;
pub mod cli;
pub mod create;
pub mod engine;
pub mod error;
pub mod flags;
pub mod host;
pub mod human;
pub mod init;
pub mod inspect;
pub mod labs;
pub mod logs;
pub mod network;
pub mod record;
pub mod resolv;
pub mod spec;
pub mod supervisor;
pub mod template;
pub mod tty;
pub mod user;
pub mod verbs;
pub mod volume;

pub use engine::Engine;
pub use error::{Error, Result};

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/container/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
