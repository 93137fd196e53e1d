//! The building block: a bridge, network namespaces attached to it with addresses from a
//! persistent allocator, port mappings, and teardown — what Docker's bridge driver does for
//! `docker run -p 8080:80`.
//!
//! Everything acts in the calling thread's network namespace ("the host"); the allocator's
//! state lives in `/run/labctl/net/BRIDGE-NETNSINODE.json`, guarded by flock, so two labctl
//! processes never hand out the same address.

use crate::firewall::{Firewall, FirewallError};
use crate::netlink::{Netlink, NetlinkError};
use crate::netns;
use crate::ports::{PortMap, Proto};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

/// The default bridge name (Docker's is `docker0`).
pub const DEFAULT_BRIDGE: &str = "labctl0";
/// The default subnet of the default bridge.
pub const DEFAULT_SUBNET: &str = "10.213.0.0/24";
/// The alias labctl writes on bridges it made: how it recognises them later.
pub const BRIDGE_ALIAS: &str = "labctl bridge";
/// The interface name of a container's end of its veth pair.
pub const CONTAINER_IF: &str = "eth0";

/// Everything that can go wrong, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    PortSpec(#[from] crate::ports::PortSpecError),
    #[error("invalid subnet {0:?}: expected an IPv4 network like 10.213.0.0/24 with a prefix from /16 to /30")]
    Subnet(String),
    #[error("a device named {name} already exists and labctl did not create it ({what}): refusing to touch it; pick another name with --bridge")]
    NameTaken { name: String, what: String },
    #[error("bridge {0} is not up in this network namespace: run `labctl net bridge up` first")]
    NoBridge(String),
    #[error("network namespace {0} does not exist (create one with `ip netns add {0}`)")]
    NoNetns(String),
    #[error("network namespace {netns} is already attached to {bridge} as {ip}")]
    AlreadyAttached { netns: String, bridge: String, ip: Ipv4Addr },
    #[error("network namespace {netns} is not attached to {bridge}")]
    NotAttached { netns: String, bridge: String },
    #[error("subnet {subnet} is exhausted: all {count} container addresses are in use (detach one with `labctl net detach --netns NAME`, or use a larger --subnet)")]
    Exhausted { subnet: Subnet, count: u32 },
    #[error("host port {port} is already mapped to {to} (network namespace {netns})")]
    PortMapped { port: String, to: String, netns: String },
    #[error("host port {port} is given twice in this request")]
    PortTwice { port: String },
    #[error("host port {port} is already in use in this network namespace (another program listens on it)")]
    PortInUse { port: String },
    #[error("subnet {subnet} overlaps address {address} on {device}: pick another --subnet")]
    SubnetOverlap { subnet: Subnet, address: String, device: String },
    #[error("bridge {bridge} already has subnet {existing}; take it down first to change it")]
    SubnetMismatch { bridge: String, existing: Subnet },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// An IPv4 network: the gateway (the bridge) takes the first address, containers the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn base(&self) -> u32 {
        u32::from(self.network)
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The bridge's address: the first one.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base() + 1)
    }

    /// Addresses containers can get: all but network, gateway and broadcast.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = self.base();
        (2..self.size() - 1).map(move |i| Ipv4Addr::from(base + i))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == self.base()
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || Error::Subnet(s.to_string());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(16..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        if u32::from(ip) & !mask != 0 {
            return Err(bad());
        }
        Ok(Subnet { network: ip, prefix })
    }
}

/// One attached namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The `--netns` argument: a name under /run/netns or a path.
    pub netns: String,
    pub ip: Ipv4Addr,
    /// The host end of the veth pair, attached to the bridge.
    pub host_veth: String,
    pub ports: Vec<PortMap>,
}

impl Lease {
    fn tag(&self) -> String {
        format!("labctl {}", self.host_veth)
    }
}

/// The allocator's state for one bridge in one network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub bridge: String,
    pub subnet: Subnet,
    pub leases: Vec<Lease>,
}

/// The host end of the veth pair of a container with address `ip` (`lc` + hex of the address):
/// unique per address, at most 15 characters.
pub fn host_veth_name(ip: Ipv4Addr) -> String {
    format!("lc{:08x}", u32::from(ip))
}

/// The state file and lock of `bridge` in the calling thread's network namespace.
fn state_paths(bridge: &str) -> Result<(PathBuf, PathBuf)> {
    let ino = netns::current_inode().map_err(io("read /proc/thread-self/ns/net"))?;
    let dir = labkit::paths::run_dir().join("net");
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    Ok((dir.join(format!("{bridge}-{ino}.json")), dir.join(format!("{bridge}-{ino}.lock"))))
}

/// The allocator, locked (flock) for the life of the value.
struct Locked {
    _lock: nix::fcntl::Flock<std::fs::File>,
    path: PathBuf,
    state: Option<State>,
}

impl Locked {
    fn open(bridge: &str) -> Result<Locked> {
        let (path, lock) = state_paths(bridge)?;
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&lock)
            .map_err(io(format!("open {}", lock.display())))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::Io { context: "flock the allocator".into(), source: e.into() })?;
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        Ok(Locked { _lock: lock, path, state })
    }

    fn save(&self) -> Result<()> {
        match &self.state {
            None => match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io(format!("rm {}", self.path.display()))(e)),
            },
            Some(state) => {
                let tmp = self.path.with_extension("tmp");
                let bytes = serde_json::to_vec_pretty(state).expect("state serialises");
                std::fs::write(&tmp, bytes).map_err(io(format!("write {}", tmp.display())))?;
                std::fs::rename(&tmp, &self.path).map_err(io(format!("rename {}", tmp.display())))
            }
        }
    }

    /// Drops leases whose host veth is gone (its namespace was deleted, which destroys the
    /// pair), with their port mappings: their addresses and ports can be handed out again.
    fn forget_stale(&mut self, nl: &mut Netlink) -> Result<()> {
        if let Some(state) = &mut self.state {
            let names: Vec<String> = nl.links()?.into_iter().map(|l| l.name).collect();
            let (kept, stale): (Vec<Lease>, Vec<Lease>) =
                state.leases.drain(..).partition(|l| names.contains(&l.host_veth));
            state.leases = kept;
            if stale.iter().any(|l| !l.ports.is_empty()) {
                let firewall = Firewall::here()?;
                for lease in &stale {
                    for map in &lease.ports {
                        firewall.remove_port_map(map, lease.ip, &lease.tag())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Is this link a bridge labctl made?
fn is_ours(link: &crate::netlink::Link) -> bool {
    link.kind.as_deref() == Some("bridge") && link.alias.as_deref() == Some(BRIDGE_ALIAS)
}

/// What `bridge up` found or did.
#[derive(Debug, Clone)]
pub struct BridgeInfo {
    pub name: String,
    pub subnet: Subnet,
    pub created: bool,
    pub firewall: &'static str,
    pub ip_forward: bool,
}

/// `labctl net bridge up`: ensures bridge `name` with the gateway address of `subnet`, up,
/// and labctl's NAT table. Refuses a device of that name labctl did not make.
pub fn bridge_up(name: &str, subnet: Subnet) -> Result<BridgeInfo> {
    let firewall = Firewall::here()?;
    let mut nl = Netlink::open()?;
    let mut locked = Locked::open(name)?;
    let existing = nl.link(name)?;
    let created = match &existing {
        Some(link) if !is_ours(link) => {
            let what = match (&link.kind, &link.alias) {
                (Some(k), _) if k != "bridge" => format!("a {k} device"),
                (None, _) => "a device without a kind".to_string(),
                _ => "a bridge without labctl's alias".to_string(),
            };
            return Err(Error::NameTaken { name: name.to_string(), what });
        }
        Some(_) => {
            if let Some(state) = &locked.state {
                if state.subnet != subnet {
                    return Err(Error::SubnetMismatch { bridge: name.to_string(), existing: state.subnet });
                }
            }
            false
        }
        None => {
            let links = nl.links()?;
            for a in nl.addresses()? {
                if let IpAddr::V4(v4) = a.ip {
                    if subnet.contains(v4) {
                        let device =
                            links.iter().find(|l| l.index == a.index).map(|l| l.name.clone()).unwrap_or_default();
                        return Err(Error::SubnetOverlap { subnet, address: format!("{}/{}", a.ip, a.prefix), device });
                    }
                }
            }
            nl.add_bridge(name)?;
            let configured = (|| -> Result<()> {
                nl.set_alias(name, BRIDGE_ALIAS)?;
                nl.add_address(name, IpAddr::V4(subnet.gateway()), subnet.prefix)?;
                nl.set_up(name, true)?;
                Ok(())
            })();
            if let Err(e) = configured {
                let _ = nl.delete_link(name);
                return Err(e);
            }
            locked.state = Some(State { bridge: name.to_string(), subnet, leases: Vec::new() });
            true
        }
    };
    if locked.state.is_none() {
        locked.state = Some(State { bridge: name.to_string(), subnet, leases: Vec::new() });
    }
    firewall.install(&subnet.to_string(), name)?;
    locked.save()?;
    Ok(BridgeInfo {
        name: name.to_string(),
        subnet,
        created,
        firewall: firewall.backend.name(),
        ip_forward: ip_forward().unwrap_or(false),
    })
}

/// `labctl net bridge down`: detaches everything, removes labctl's rules and the bridge.
/// A bridge labctl did not make is refused.
pub fn bridge_down(name: &str) -> Result<Vec<Lease>> {
    let mut nl = Netlink::open()?;
    let mut locked = Locked::open(name)?;
    if let Some(link) = nl.link(name)? {
        if !is_ours(&link) {
            return Err(Error::NameTaken { name: name.to_string(), what: "not made by labctl".into() });
        }
    }
    let firewall = Firewall::here().ok();
    let leases = locked.state.as_ref().map(|s| s.leases.clone()).unwrap_or_default();
    for lease in &leases {
        remove_lease_objects(&mut nl, firewall.as_ref(), lease)?;
    }
    if let Some(fw) = &firewall {
        fw.uninstall()?;
    }
    if nl.link(name)?.is_some() {
        nl.delete_link(name)?;
    }
    locked.state = None;
    locked.save()?;
    let (_, lock) = state_paths(name)?;
    drop(locked);
    let _ = std::fs::remove_file(lock);
    Ok(leases)
}

fn remove_lease_objects(nl: &mut Netlink, firewall: Option<&Firewall>, lease: &Lease) -> Result<()> {
    if let Some(fw) = firewall {
        for map in &lease.ports {
            fw.remove_port_map(map, lease.ip, &lease.tag())?;
        }
    }
    // The container's netns dying deletes the pair too, asynchronously: a veth that vanishes
    // between the lookup and the delete is gone, as asked.
    match nl.delete_link(&lease.host_veth) {
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// `net.ipv4.ip_forward` of the calling thread's network namespace.
pub fn ip_forward() -> std::io::Result<bool> {
    Ok(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?.trim() == "1")
}

/// Is `port` free for a listener in the calling thread's network namespace?
fn port_free(map: &PortMap) -> bool {
    let addr = (Ipv4Addr::UNSPECIFIED, map.host);
    match map.proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).is_ok(),
        Proto::Udp => std::net::UdpSocket::bind(addr).is_ok(),
    }
}

/// The netlink part of attaching: a veth pair whose far end is created inside `netns` as
/// eth0, the near end on `bridge`, the address, the default route via `gateway`, all up.
/// `host` and `container` are sockets in the host's and the container's namespace.
pub fn plumb(
    host: &mut Netlink,
    container: &mut Netlink,
    netns_file: &std::fs::File,
    bridge: &str,
    host_veth: &str,
    ip: Ipv4Addr,
    subnet: Subnet,
) -> std::result::Result<(), NetlinkError> {
    host.add_veth(host_veth, CONTAINER_IF, Some(netns_file))?;
    host.set_master(host_veth, Some(bridge))?;
    host.set_up(host_veth, true)?;
    container.set_up("lo", true)?;
    container.add_address(CONTAINER_IF, IpAddr::V4(ip), subnet.prefix)?;
    container.set_up(CONTAINER_IF, true)?;
    container.add_route(None, subnet.gateway())?;
    Ok(())
}

/// `labctl net attach --netns NAME -p 8080:80`: gives the namespace an address on the
/// bridge, a default route through it, and the port mappings.
pub fn attach(bridge: &str, netns_arg: &str, ports: &[PortMap]) -> Result<Lease> {
    let mut nl = Netlink::open()?;
    let mut locked = Locked::open(bridge)?;
    match nl.link(bridge)? {
        Some(link) if is_ours(&link) => {}
        Some(_) => return Err(Error::NameTaken { name: bridge.to_string(), what: "not made by labctl".into() }),
        None => return Err(Error::NoBridge(bridge.to_string())),
    }
    let Some(state) = locked.state.clone() else {
        return Err(Error::NoBridge(bridge.to_string()));
    };
    let netns_path = netns::resolve(netns_arg);
    let netns_file = std::fs::File::open(&netns_path).map_err(|_| Error::NoNetns(netns_arg.to_string()))?;
    locked.forget_stale(&mut nl)?;
    let state_now = locked.state.clone().unwrap_or(state);
    if let Some(l) = state_now.leases.iter().find(|l| l.netns == netns_arg) {
        return Err(Error::AlreadyAttached { netns: netns_arg.to_string(), bridge: bridge.to_string(), ip: l.ip });
    }
    // Ports: no duplicates in the request, none mapped already, none with a listener.
    for (i, map) in ports.iter().enumerate() {
        let port = format!("{}/{}", map.host, map.proto);
        if ports[..i].iter().any(|m| m.host == map.host && m.proto == map.proto) {
            return Err(Error::PortTwice { port });
        }
        for lease in &state_now.leases {
            if let Some(m) = lease.ports.iter().find(|m| m.host == map.host && m.proto == map.proto) {
                return Err(Error::PortMapped {
                    port,
                    to: format!("{}:{}", lease.ip, m.container),
                    netns: lease.netns.clone(),
                });
            }
        }
        if !port_free(map) {
            return Err(Error::PortInUse { port });
        }
    }
    let firewall = if ports.is_empty() { Firewall::here().ok() } else { Some(Firewall::here()?) };
    let taken: Vec<Ipv4Addr> = state_now.leases.iter().map(|l| l.ip).collect();
    let Some(ip) = state_now.subnet.hosts().find(|ip| !taken.contains(ip)) else {
        return Err(Error::Exhausted { subnet: state_now.subnet, count: state_now.subnet.hosts().count() as u32 });
    };
    let lease = Lease { netns: netns_arg.to_string(), ip, host_veth: host_veth_name(ip), ports: ports.to_vec() };
    let mut container = Netlink::open_in(&netns_path)?;
    let result = plumb(&mut nl, &mut container, &netns_file, bridge, &lease.host_veth, ip, state_now.subnet)
        .and_then(|()| {
            // Usable when we return: wait for the kernel to finish bringing the link up.
            container.wait_oper_up(CONTAINER_IF, std::time::Duration::from_secs(1)).map(|_| ())
        })
        .map_err(Error::from)
        .and_then(|()| {
            if let Some(fw) = &firewall {
                for map in ports {
                    fw.add_port_map(map, ip, &lease.tag())?;
                }
            }
            Ok(())
        });
    if let Err(e) = result {
        let _ = remove_lease_objects(&mut nl, firewall.as_ref(), &lease);
        return Err(e);
    }
    let mut state = state_now;
    state.leases.push(lease.clone());
    locked.state = Some(state);
    locked.save()?;
    Ok(lease)
}

/// `labctl net detach --netns NAME`: removes the port mappings and the veth pair, and
/// releases the address.
pub fn detach(bridge: &str, netns_arg: &str) -> Result<Lease> {
    let mut nl = Netlink::open()?;
    let mut locked = Locked::open(bridge)?;
    let Some(state) = locked.state.as_mut() else {
        return Err(Error::NotAttached { netns: netns_arg.to_string(), bridge: bridge.to_string() });
    };
    let Some(pos) = state.leases.iter().position(|l| l.netns == netns_arg) else {
        return Err(Error::NotAttached { netns: netns_arg.to_string(), bridge: bridge.to_string() });
    };
    let lease = state.leases[pos].clone();
    remove_lease_objects(&mut nl, Firewall::here().ok().as_ref(), &lease)?;
    if let Some(state) = locked.state.as_mut() {
        state.leases.remove(pos);
    }
    locked.save()?;
    Ok(lease)
}

/// `labctl net ls`: the bridge's state (after forgetting namespaces that are gone).
pub fn list(bridge: &str) -> Result<Option<State>> {
    let mut nl = Netlink::open()?;
    let mut locked = Locked::open(bridge)?;
    if nl.link(bridge)?.is_none() {
        return Ok(None);
    }
    let before = locked.state.clone();
    locked.forget_stale(&mut nl)?;
    if locked.state != before {
        locked.save()?;
    }
    Ok(locked.state.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_has_a_gateway_and_hosts() {
        let s: Subnet = "10.213.0.0/29".parse().unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        let hosts: Vec<_> = s.hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 213, 0, 2)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 213, 0, 6)));
        assert_eq!(hosts.len(), 5);
        assert!(s.contains(Ipv4Addr::new(10, 213, 0, 7)));
        assert!(!s.contains(Ipv4Addr::new(10, 213, 0, 8)));
    }

    #[test]
    fn bad_subnets_are_refused() {
        for bad in ["10.213.0.0", "10.213.0.1/24", "10.0.0.0/8", "10.213.0.0/31", "x/24"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_veth_names_fit_ifnamsiz() {
        let name = host_veth_name(Ipv4Addr::new(10, 213, 0, 2));
        assert_eq!(name, "lc0ad50002");
        assert!(name.len() < 16);
    }
}
