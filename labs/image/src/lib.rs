//! Image labs: Dockerfile builds into an OCI image layout, the image store.

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic { manifest_path: "labs/image/lab.yaml", manifest_yaml: include_str!("../lab.yaml"), labs: vec![] }
}

pub mod cli {
    /// `labctl image ...`
    #[derive(clap::Subcommand, Debug)]
    pub enum Command {}

    pub fn run(cmd: Command) -> anyhow::Result<i32> {
        match cmd {}
    }
}
