//! `labruntime`: an OCI runtime built from the labs' building blocks, and `lcrun`, the same
//! library behind runc's command line (so podman and containerd can drive it).
//!
//! A bundle is a directory with `config.json` and a root filesystem. [`create`] turns it into a
//! container whose init waits on `exec.fifo` with every namespace, mount and cgroup in place;
//! [`start`] releases it; [`state`], [`kill`] and [`delete`] follow the OCI runtime spec's
//! lifecycle.

pub mod caps;
pub mod cgroups;
pub mod channel;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod container;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod init;
pub mod kernel;
pub mod labs;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod state;
pub use container::{create, delete, kill, list, start, state, CreateOptions};
pub use error::{Error, Result};
pub use state::{Root, Status};

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/runtime/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
