//! Network labs: bridges, veth, NAT and port mapping over netlink.
//!
//! - [`netlink`]: a small synchronous rtnetlink client (what `ip` and `bridge` do).
//! - [`netns`]: named network namespaces, the `ip netns add` way.
//! - [`firewall`]: NAT and port mapping through nft or iptables, in labctl's own table.
//! - [`bridge`]: the building block — a bridge, attached namespaces with addresses from a
//!   persistent allocator, port maps, teardown.
//! - [`capture`]: decoding VXLAN frames a packet socket captured.
//! - [`cni`]: a small CNI runtime for the reference plugins.
//! - the labs `net-modes`, `net-bridge`, `net-overlay`, `net-remote`.

pub mod bridge;
pub mod capture;
pub mod cli;
pub mod cni;
pub mod firewall;
pub mod labs;
pub mod netlink;
pub mod netns;
pub mod ports;

pub use bridge::{attach, bridge_down, bridge_up, detach, Lease, Subnet};
pub use netlink::Netlink;
pub use ports::PortMap;

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/net/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}

/// For `labctl doctor`: which firewall tool NAT and port mapping will use (`nft` preferred,
/// then `iptables`), or `None` when neither is in PATH.
pub fn firewall_backend() -> Option<&'static str> {
    firewall::detect().map(|b| b.name())
}

/// For `labctl doctor`: can this host create a bridge and a veth pair and enslave one to the
/// other? Tried in a throwaway network namespace on a helper thread, so nothing is left.
pub fn probe_veth_bridge() -> Result<(), String> {
    labkit::sys::in_new_namespaces(nix::sched::CloneFlags::CLONE_NEWNET, || -> Result<(), String> {
        let mut nl = Netlink::open().map_err(|e| e.to_string())?;
        nl.add_bridge("lcprobe0").map_err(|e| format!("{e} (is the bridge module available?)"))?;
        nl.add_veth("lcprobe1", "lcprobe2", None::<&std::fs::File>)
            .map_err(|e| format!("{e} (is the veth module available?)"))?;
        nl.set_master("lcprobe1", Some("lcprobe0")).map_err(|e| e.to_string())?;
        Ok(())
    })
    .map_err(|e| format!("cannot create a throwaway network namespace: {e} (needs root)"))?
}
