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
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
    /// Detach a namespace: remove its port maps and veth pair, release its address.
    Detach {
        #[arg(long)]
        netns: String,
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
    /// List the attached namespaces.
    Ls {
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
}

#[derive(clap::Subcommand, Debug)]
pub enum BridgeAction {
    /// Ensure the bridge, its gateway address and labctl's NAT table.
    Up {
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
        #[arg(long, default_value = DEFAULT_SUBNET)]
        subnet: String,
    },
    /// Detach everything, remove labctl's rules and the bridge.
    Down {
        #[arg(long, default_value = DEFAULT_BRIDGE)]
        bridge: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum NetnsAction {
    Add { name: String },
    Del { name: String },
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
        Command::Netns { action: NetnsAction::Del { name } } => {
            crate::netns::delete(&name).map_err(anyhow::Error::msg)?;
            println!("netns {name} deleted");
        }
    }
    Ok(0)
}
