//! `labctl net ...` (and the `labnet` binary): the building block as a tool.

use crate::bridge::{self, DEFAULT_BRIDGE, DEFAULT_SUBNET};
use crate::ports::PortMap;
use anyhow::bail;

/// `labctl net ...`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create or remove the bridge (labctl0) and labctl's NAT table.
    Bridge {
        #[command(subcommand)]
        action: BridgeAction,
    },
    /// Attach a network namespace to the bridge: veth pair, address, default route, port maps.
    Attach {
        /// A named network namespace (/run/netns/NAME) or a path such as /proc/PID/ns/net.
        #[arg(long)]
        netns: String,
        /// Map a host port to a port in the namespace, like `docker run -p 8080:80`.
        #[arg(short = 'p', long = "publish", value_name = "HOST:CONTAINER[/PROTO]")]
        publish: Vec<PortMap>,
        /// The bridge (labctl0 unless you made another)
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
    /// Detach a namespace: remove its port maps and veth pair, release its address.
    Detach {
        /// The network namespace to detach, as given to attach
        #[arg(long)]
        netns: String,
        /// The bridge (labctl0 unless you made another)
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
    /// List the attached namespaces.
    Ls {
        /// The bridge (labctl0 unless you made another)
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or delete a named network namespace (like `ip netns add|del`).
    Netns {
        #[command(subcommand)]
        action: NetnsAction,
    },
    /// Attach a namespace with CNI plugins (the reference plugins in /usr/lib/cni), by the CNI
    /// protocol: ADD, CHECK, DEL.
    Cni {
        #[command(subcommand)]
        action: CniAction,
    },
    /// Create or delete a VXLAN device (a VTEP) with static FDB entries.
    Vxlan {
        #[command(subcommand)]
        action: VxlanAction,
    },
}

/// Which container a CNI call is about, and with which network.
#[derive(clap::Args, Debug)]
pub struct CniTarget {
    /// The container's network namespace: a name under /run/netns or a path.
    #[arg(long)]
    netns: String,
    /// CNI_CONTAINERID (default: the namespace's name).
    #[arg(long)]
    id: Option<String>,
    /// CNI_IFNAME: the interface to create inside the namespace.
    #[arg(long, default_value = "eth0")]
    ifname: String,
    /// A network configuration list (.conflist); default: labctl's own network labctl-cni
    /// (bridge lccni0, 10.215.0.0/24, host-local, portmap, loopback).
    #[arg(long)]
    conflist: Option<std::path::PathBuf>,
    /// Run the plugins inside this network namespace (the "host" side) instead of this one.
    #[arg(long)]
    host_netns: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum CniAction {
    /// CNI_COMMAND=ADD with every plugin of the list; prints the result.
    Add {
        #[command(flatten)]
        target: CniTarget,
        /// Map a host port (the portmap plugin's portMappings capability).
        #[arg(short = 'p', long = "publish", value_name = "HOST:CONTAINER[/PROTO]")]
        publish: Vec<PortMap>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// CNI_COMMAND=CHECK against the cached ADD result.
    Check {
        #[command(flatten)]
        target: CniTarget,
    },
    /// CNI_COMMAND=DEL with every plugin, in reverse order.
    Del {
        #[command(flatten)]
        target: CniTarget,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum VxlanAction {
    /// `ip link add NAME type vxlan id VNI dstport PORT local IP [remote IP] [dev LOWER] nolearning`, up.
    Add {
        /// The device name (must start with lc).
        #[arg(long, default_value = "lcvx0")]
        name: String,
        /// The VXLAN network identifier, 1-16777215.
        #[arg(long)]
        vni: u32,
        /// The UDP port.
        #[arg(long, default_value_t = 4789)]
        port: u16,
        /// This host's underlay address (the VTEP's source)
        #[arg(long)]
        local: String,
        /// The other VTEP's address, for one peer; or give --fdb entries instead
        #[arg(long)]
        remote: Option<String>,
        /// The underlay device (sets the MTU: its own minus 50).
        #[arg(long)]
        dev: Option<String>,
        /// Static FDB entries MAC=REMOTE_IP (`bridge fdb append MAC dev NAME dst IP`).
        #[arg(long = "fdb", value_name = "MAC=IP")]
        fdb: Vec<String>,
    },
    /// Delete a VXLAN device labctl made.
    Del {
        /// The device name (must start with lc)
        #[arg(long, default_value = "lcvx0")]
        name: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum BridgeAction {
    /// Ensure the bridge, its gateway address and labctl's NAT table.
    Up {
        /// The bridge (labctl0 unless you made another)
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
        /// The bridge's subnet; the gateway takes its first address
        #[arg(long, default_value = DEFAULT_SUBNET)]
        subnet: String,
    },
    /// Detach everything, remove labctl's rules and the bridge.
    Down {
        /// The bridge (labctl0 unless you made another)
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum NetnsAction {
    /// Create a named network namespace (`ip netns add NAME`)
    Add {
        /// Its name, under /run/netns
        name: String,
    },
    /// Delete a named network namespace labctl made (`ip netns del NAME`)
    Del {
        /// Its name, under /run/netns
        name: String,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    if !labkit::sys::is_root() {
        bail!("needs root: run with sudo (network namespaces, links and firewall rules are privileged)");
    }
    match cmd {
        Command::Bridge { action: BridgeAction::Up { bridge, subnet } } => {
            let subnet: bridge::Subnet = subnet.parse()?;
            let info = bridge::bridge_up(&bridge, subnet)?;
            let verb = if info.created { "created" } else { "already up:" };
            println!(
                "bridge {} {verb} gateway {}/{} (firewall: {})",
                info.name,
                info.subnet.gateway(),
                info.subnet.prefix,
                info.firewall
            );
            if !info.ip_forward {
                println!("note: net.ipv4.ip_forward is 0 in this network namespace: containers reach the host and each other, not beyond it. labctl does not change it; `sysctl -w net.ipv4.ip_forward=1` does.");
            }
        }
        Command::Bridge { action: BridgeAction::Down { bridge } } => {
            let leases = bridge::bridge_down(&bridge)?;
            for l in &leases {
                println!("detached {} ({})", l.netns, l.ip);
            }
            println!("bridge {bridge} removed");
        }
        Command::Attach { netns, publish, bridge } => {
            let lease = bridge::attach(&bridge, &netns, &publish)?;
            let ports: Vec<String> = lease.ports.iter().map(|p| p.to_string()).collect();
            println!(
                "attached {} as {} via {} (default route via {}){}",
                lease.netns,
                lease.ip,
                lease.host_veth,
                bridge::list(&bridge)?.map(|s| s.subnet.gateway().to_string()).unwrap_or_default(),
                if ports.is_empty() { String::new() } else { format!(", ports {}", ports.join(", ")) }
            );
        }
        Command::Detach { netns, bridge } => {
            let lease = bridge::detach(&bridge, &netns)?;
            println!("detached {} ({} released)", lease.netns, lease.ip);
        }
        Command::Ls { bridge, json } => {
            let state = bridge::list(&bridge)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&state)?);
            } else {
                match state {
                    None => println!("bridge {bridge} is not up"),
                    Some(s) => {
                        println!("bridge {} subnet {} gateway {}", s.bridge, s.subnet, s.subnet.gateway());
                        println!("{:<24} {:<16} {:<12} PORTS", "NETNS", "ADDRESS", "VETH");
                        for l in s.leases {
                            let ports: Vec<String> = l.ports.iter().map(|p| p.to_string()).collect();
                            println!("{:<24} {:<16} {:<12} {}", l.netns, l.ip, l.host_veth, ports.join(","));
                        }
                    }
                }
            }
        }
        Command::Netns { action: NetnsAction::Add { name } } => {
            crate::netns::add(&name)?;
            println!("netns {name} created ({})", crate::netns::path(&name).display());
        }
        Command::Cni { action } => return cni(action),
        Command::Vxlan { action } => return vxlan(action),
        Command::Netns { action: NetnsAction::Del { name } } => {
            crate::netns::delete(&name).map_err(anyhow::Error::msg)?;
            println!("netns {name} deleted");
        }
    }
    Ok(0)
}

fn cni_setup(t: &CniTarget) -> anyhow::Result<(crate::cni::Runtime, crate::cni::ConfList, crate::cni::Attachment)> {
    use crate::cni;
    let netns = crate::netns::resolve(&t.netns);
    if !netns.exists() {
        bail!("network namespace {} does not exist: create it first (labctl net netns add NAME)", netns.display());
    }
    let list = match &t.conflist {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read conflist {}: {e}", path.display()))?;
            cni::ConfList::parse(&text, &path.display().to_string())?
        }
        None => cni::ConfList::labctl(cni::DEFAULT_NETWORK, "lccni0", "10.215.0.0/24", &cni::ipam_dir()),
    };
    let host = t.host_netns.as_deref().map(crate::netns::resolve);
    if let Some(h) = &host {
        if !h.exists() {
            bail!("host network namespace {} does not exist", h.display());
        }
    }
    let id = t.id.clone().unwrap_or_else(|| {
        std::path::Path::new(&t.netns).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    });
    let att = cni::Attachment { container_id: id, netns, ifname: t.ifname.clone(), port_mappings: Vec::new() };
    Ok((cni::Runtime::new(host), list, att))
}

fn cni(action: CniAction) -> anyhow::Result<i32> {
    match action {
        CniAction::Add { target, publish, json } => {
            let (rt, list, mut att) = cni_setup(&target)?;
            att.port_mappings = publish.iter().map(Into::into).collect();
            let result = rt.add(&list, &att)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
                return Ok(0);
            }
            match result.container_address() {
                Some((i, ip)) => println!(
                    "added {} to network {}: {} {}{}",
                    att.container_id,
                    list.name,
                    i.name,
                    ip.address,
                    ip.gateway.map(|g| format!(" gateway {g}")).unwrap_or_default()
                ),
                None => println!("added {} to network {} (no address in the result)", att.container_id, list.name),
            }
            for r in &result.routes {
                println!("route {}{}", r.dst, r.gw.map(|g| format!(" via {g}")).unwrap_or_default());
            }
        }
        CniAction::Check { target } => {
            let (rt, list, att) = cni_setup(&target)?;
            // Each plugin's verdict (a runtime would stop at the first objection).
            let verdicts = rt.check_each(&list, &att)?;
            let mut failed = 0;
            for (plugin, verdict) in &verdicts {
                match verdict {
                    Ok(()) => println!("{plugin}: ok"),
                    Err(e) => {
                        failed += 1;
                        println!("{plugin}: {e}");
                    }
                }
            }
            if failed > 0 {
                eprintln!("labctl net cni check: {failed} plugin(s) of network {} object", list.name);
                return Ok(1);
            }
            println!("{} on network {}: every plugin agrees", att.container_id, list.name);
        }
        CniAction::Del { target } => {
            let (rt, list, att) = cni_setup(&target)?;
            rt.del(&list, &att)?;
            println!("deleted {} from network {}", att.container_id, list.name);
        }
    }
    Ok(0)
}

fn vxlan(action: VxlanAction) -> anyhow::Result<i32> {
    use crate::netlink::{Netlink, Vxlan, VNI_MAX};
    let mut nl = Netlink::open()?;
    match action {
        VxlanAction::Add { name, vni, port, local, remote, dev, fdb } => {
            if !name.starts_with("lc") {
                bail!("vxlan device name {name:?} must start with lc (labctl only touches its own devices)");
            }
            if vni == 0 || vni > VNI_MAX {
                bail!("VNI {vni} is outside 1-{VNI_MAX}: the VXLAN header has 24 bits for it");
            }
            let addr = |what: &str, s: &str| -> anyhow::Result<std::net::Ipv4Addr> {
                s.parse().map_err(|_| anyhow::anyhow!("{what} address {s:?} is not an IPv4 address"))
            };
            let local = addr("local", &local)?;
            let remote = remote.as_deref().map(|r| addr("remote", r)).transpose()?;
            if let Some(r) = remote {
                if r.is_unspecified() || r.is_broadcast() || r == local {
                    bail!("remote address {r} cannot be a VTEP: give the other host's underlay address");
                }
            }
            let mut entries = Vec::new();
            for f in &fdb {
                let (mac, ip) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("--fdb {f:?}: expected MAC=IP"))?;
                entries.push((parse_mac(mac)?, addr("fdb destination", ip)?));
            }
            let lower = dev.as_deref().map(|d| nl.index_of(d)).transpose()?;
            let spec = Vxlan { vni, port, local: Some(local), remote, lower, learning: false };
            nl.add_vxlan(&name, &spec)?;
            let up = nl.set_up(&name, true);
            if let Err(e) = up {
                let _ = nl.delete_link(&name);
                if e.errno() == Some(libc::EADDRINUSE) {
                    bail!("UDP port {port} is already in use in this network namespace (another VXLAN device or a program bound to it): choose another --port or remove the other user");
                }
                return Err(e.into());
            }
            for (mac, ip) in entries {
                nl.fdb_append(&name, mac, ip)?;
            }
            let mtu = nl.link(&name)?.map(|l| l.mtu).unwrap_or(0);
            println!("vxlan {name} up: vni {vni} dstport {port} local {local} mtu {mtu}");
        }
        VxlanAction::Del { name } => {
            let link = nl.link(&name)?.ok_or_else(|| anyhow::anyhow!("no device {name} in this network namespace"))?;
            if link.vxlan.is_none() || !name.starts_with("lc") {
                bail!("{name} is not a labctl vxlan device: leaving it alone");
            }
            nl.delete_link(&name)?;
            println!("vxlan {name} deleted");
        }
    }
    Ok(0)
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))?;
    parts.try_into().map_err(|_| anyhow::anyhow!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))
}
