//! Network labs: bridges, veth, NAT and port mapping over netlink.

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic { manifest_path: "labs/net/lab.yaml", manifest_yaml: include_str!("../lab.yaml"), labs: vec![] }
}

pub mod cli {
    /// `labctl net ...`
    #[derive(clap::Subcommand, Debug)]
    pub enum Command {}

    pub fn run(cmd: Command) -> anyhow::Result<i32> {
        match cmd {}
    }
}
