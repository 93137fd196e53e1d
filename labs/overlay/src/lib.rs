//! OverlayFS lab, the overlay mounter and OCI layer translation.

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic { manifest_path: "labs/overlay/lab.yaml", manifest_yaml: include_str!("../lab.yaml"), labs: vec![] }
}

pub mod cli {
    /// `labctl overlay ...`
    #[derive(clap::Subcommand, Debug)]
    pub enum Command {}

    pub fn run(cmd: Command) -> anyhow::Result<i32> {
        match cmd {}
    }
}
