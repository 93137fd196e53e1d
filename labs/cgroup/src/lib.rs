//! Cgroup labs and the cgroup v1/v2 limiter.

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic { manifest_path: "labs/cgroup/lab.yaml", manifest_yaml: include_str!("../lab.yaml"), labs: vec![] }
}

pub mod cli {
    /// `labctl cgroup ...`
    #[derive(clap::Subcommand, Debug)]
    pub enum Command {}

    pub fn run(cmd: Command) -> anyhow::Result<i32> {
        match cmd {}
    }
}
