//! Namespace labs and tools: what `unshare`, `nsenter` and `lsns` do, with real syscalls.

pub mod cli;
pub mod net;

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/namespaces/lab.yaml",
        manifest_yaml: include_str!("../lab.yaml"),
        labs: vec![&net::LAB],
    }
}
