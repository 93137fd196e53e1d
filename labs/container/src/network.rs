//! `--network`: docker's four modes on labnet's parts. `bridge` (the default) gives the
//! container an address on labctl0 from labnet's allocator, a veth, NAT and the `-p` DNAT
//! rules; `container:NAME` joins that container's network namespace; `host` shares ours;
//! `none` leaves only lo; `cni:NAME` hands the namespace to CNI plugins (the net-remote lab's
//! runtime, the reference plugins in /usr/lib/cni): ADD when it starts, DEL when it stops.
//! What bridge and CNI modes take is given back when the container stops.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::{HostConfig, Network, Record};
use labnet::bridge::{DEFAULT_BRIDGE, DEFAULT_SUBNET};
use labnet::ports::{PortMap, Proto};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;

/// The `--network` value checked, as the record keeps it (`container:<full id>`).
pub fn mode(engine: &Engine, network: &str, publish: &[PortMap]) -> Result<String> {
    let mode = match network {
        "none" | "host" => network.to_string(),
        "bridge" | "default" => "bridge".to_string(),
        other if other.starts_with("container:") => {
            let target = joined(engine, other)?;
            format!("container:{}", target.id)
        }
        other if other.starts_with("cni:") => {
            cni_list(other)?;
            other.to_string()
        }
        other => {
            return Err(Error::Usage(format!(
                "--network {other:?}: unknown network; use bridge (the default), none, host, container:NAME or \
                 cni:NAME"
            )))
        }
    };
    if !publish.is_empty() && mode != "bridge" && !mode.starts_with("cni:") {
        return Err(Error::Usage(format!(
            "-p {}: publishing ports needs --network bridge (the default), not --network {network}",
            publish[0]
        )));
    }
    Ok(mode)
}

/// The running container whose network namespace `container:NAME` joins.
pub fn joined(engine: &Engine, network: &str) -> Result<Record> {
    let key = network.trim_start_matches("container:");
    let target = engine.find(key).map_err(|_| {
        Error::Usage(format!(
            "--network {network}: no such container {key:?}: start the container whose network you want to join \
             first, or name one from `labctl container ps`"
        ))
    })?;
    if !matches!(engine.live(&target), Live::Running | Live::Paused) {
        return Err(Error::Usage(format!(
            "--network {network}: container {} is not running, so it has no network namespace to join: start it \
             first (`labctl container start {}`)",
            target.bare_name(),
            target.bare_name()
        )));
    }
    Ok(target)
}

/// `-p` values parsed; a host port given twice is refused here, before anything is made.
pub fn parse_publish(specs: &[String]) -> Result<Vec<PortMap>> {
    let mut maps: Vec<PortMap> = Vec::new();
    for spec in specs {
        let map: PortMap = spec.parse().map_err(|e| Error::Usage(format!("-p {spec}: {e}")))?;
        if let Some(other) = maps.iter().find(|m| m.host == map.host && m.proto == map.proto) {
            return Err(Error::Usage(format!(
                "-p {spec}: host port {}/{} is already published by -p {other}; each host port can go to one \
                 container port only",
                map.host, map.proto
            )));
        }
        maps.push(map);
    }
    Ok(maps)
}

/// docker's `HostConfig.PortBindings`: `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
pub fn port_bindings(maps: &[PortMap]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for m in maps {
        let entry = out.entry(format!("{}/{}", m.container, m.proto)).or_insert_with(|| json!([]));
        entry.as_array_mut().expect("an array").push(json!({"HostIp": "", "HostPort": m.host.to_string()}));
    }
    out
}

/// The port maps of a record's `PortBindings`.
pub fn port_maps(host: &HostConfig) -> Vec<PortMap> {
    let mut out = Vec::new();
    for (key, bindings) in &host.port_bindings {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto = if proto == "udp" { Proto::Udp } else { Proto::Tcp };
        let Ok(container) = port.parse() else { continue };
        for b in bindings.as_array().into_iter().flatten() {
            if let Some(host) = b["HostPort"].as_str().and_then(|p| p.parse().ok()) {
                out.push(PortMap { host, container, proto });
            }
        }
    }
    out
}

fn net_error(record: &Record, e: labnet::bridge::Error) -> Error {
    use labnet::bridge::Error as E;
    let hint = match &e {
        E::PortMapped { .. } | E::PortInUse { .. } => ": publish another host port with -p, or stop what holds it",
        E::Exhausted { .. } => "",
        E::Firewall(_) => ": install nftables or iptables (`labctl doctor` checks it)",
        _ => "",
    };
    Error::state(record.bare_name(), format!("network bridge ({DEFAULT_BRIDGE}): {e}{hint}"))
}

/// Bridge mode, once the runtime made the container's network namespace (init `pid`, not yet
/// started): labctl0 up if it is not, a lease (veth, address, route, DNAT), and the
/// container's /etc/hosts given its address. Returns what `inspect` shows.
pub fn connect(engine: &Engine, record: &Record, pid: i32) -> Result<Network> {
    let sandbox = format!("/proc/{pid}/ns/net");
    let maps = port_maps(&record.host_config);
    let lease = match labnet::bridge::attach(DEFAULT_BRIDGE, &sandbox, &maps) {
        Err(labnet::bridge::Error::NoBridge(_)) => {
            let subnet = DEFAULT_SUBNET.parse().expect("the default subnet parses");
            labnet::bridge::bridge_up(DEFAULT_BRIDGE, subnet).map_err(|e| net_error(record, e))?;
            labnet::bridge::attach(DEFAULT_BRIDGE, &sandbox, &maps)
        }
        other => other,
    }
    .map_err(|e| net_error(record, e))?;
    let network = (|| -> Result<Network> {
        let subnet = labnet::bridge::list(DEFAULT_BRIDGE)
            .map_err(|e| net_error(record, e))?
            .map(|s| s.subnet)
            .unwrap_or_else(|| DEFAULT_SUBNET.parse().expect("the default subnet parses"));
        let mac = labnet::Netlink::open_in(std::path::Path::new(&sandbox))
            .and_then(|mut nl| nl.link(labnet::bridge::CONTAINER_IF))
            .map_err(|e| Error::state(record.bare_name(), format!("reading its eth0: {e}")))?
            .and_then(|l| l.mac)
            .unwrap_or_default();
        // The runtime bind-mounted this file already: write the same inode, not a new one.
        let hosts = engine.dir(&record.id).join("hosts");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&hosts)
            .and_then(|mut f| writeln!(f, "{}\t{}", lease.ip, record.config.hostname))
            .map_err(|e| Error::io(format!("writing {}", hosts.display()), e))?;
        Ok(Network {
            bridge: DEFAULT_BRIDGE.to_string(),
            sandbox_key: sandbox.clone(),
            ip_address: lease.ip.to_string(),
            ip_prefix_len: subnet.prefix,
            gateway: subnet.gateway().to_string(),
            mac_address: mac,
            ports: lease.ports.clone(),
        })
    })();
    if network.is_err() {
        let _ = labnet::bridge::detach(DEFAULT_BRIDGE, &sandbox);
    }
    network
}

/// Gives back a bridge-mode container's lease (DNAT rules, veth, address) and clears it from
/// the record. Reads the record on disk: the caller's copy may predate the lease. Fine to
/// call when nothing is held.
pub fn disconnect(engine: &Engine, id: &str) -> Result<()> {
    let path = engine.record_path(id);
    let Ok(record) = Record::load(&path) else { return Ok(()) };
    if record.network.sandbox_key.is_empty() {
        return Ok(());
    }
    if record.network.bridge.starts_with("cni:") {
        // The namespace is gone by now (the init exited): the plugins delete by container id
        // and their cached result, as the CNI spec asks of DEL.
        let list = cni_list(&record.network.bridge)?;
        labnet::cni::Runtime::new(None).del(&list, &cni_attachment(&record, &record.network.sandbox_key)).map_err(
            |e| Error::state(record.bare_name(), format!("network {}: CNI DEL failed: {e}", record.network.bridge)),
        )?;
        engine.update(id, |r| r.network = Network::default())?;
        return Ok(());
    }
    match labnet::bridge::detach(&record.network.bridge, &record.network.sandbox_key) {
        Ok(_) | Err(labnet::bridge::Error::NotAttached { .. }) => {}
        Err(e) => return Err(net_error(&record, e)),
    }
    engine.update(id, |r| r.network = Network::default())?;
    Ok(())
}

/// Where `cni:NAME` looks for NAME's `.conflist`: `$CNI_CONF_DIR`, else /etc/cni/net.d.
fn cni_conf_dir() -> std::path::PathBuf {
    std::env::var_os("CNI_CONF_DIR").map(Into::into).unwrap_or_else(|| "/etc/cni/net.d".into())
}

/// The network configuration list of `cni:NAME`: labctl's own `labctl-cni` (bridge lccni0,
/// 10.215.0.0/24, host-local, portmap, loopback), or the `.conflist` named NAME in the conf dir.
pub fn cni_list(mode: &str) -> Result<labnet::cni::ConfList> {
    let name = mode.trim_start_matches("cni:");
    if name == labnet::cni::DEFAULT_NETWORK {
        return Ok(labnet::cni::ConfList::labctl(name, "lccni0", "10.215.0.0/24", &labnet::cni::ipam_dir()));
    }
    let dir = cni_conf_dir();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "conflist") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if let Ok(list) = labnet::cni::ConfList::parse(&text, &path.display().to_string()) {
            if list.name == name {
                return Ok(list);
            }
        }
    }
    Err(Error::Usage(format!(
        "--network {mode}: no CNI network {name:?}: none of the .conflist files in {} is named so; use \
         cni:{} (labctl's own) or write a conflist there (CNI_CONF_DIR names another directory)",
        dir.display(),
        labnet::cni::DEFAULT_NETWORK
    )))
}

fn cni_attachment(record: &Record, netns: &str) -> labnet::cni::Attachment {
    labnet::cni::Attachment {
        container_id: record.id.clone(),
        netns: netns.into(),
        ifname: "eth0".into(),
        port_mappings: port_maps(&record.host_config).iter().map(Into::into).collect(),
    }
}

/// `cni:NAME`, once the runtime made the namespace: the plugins' ADD (their result cached for
/// DEL), the address in /etc/hosts. Returns what `inspect` shows.
pub fn connect_cni(engine: &Engine, record: &Record, pid: i32) -> Result<Network> {
    let mode = &record.host_config.network_mode;
    let list = cni_list(mode)?;
    let sandbox = format!("/proc/{pid}/ns/net");
    let runtime = labnet::cni::Runtime::new(None);
    let att = cni_attachment(record, &sandbox);
    let result = runtime
        .add(&list, &att)
        .map_err(|e| Error::state(record.bare_name(), format!("network {mode}: CNI ADD failed: {e}")))?;
    let Some((iface, ip)) = result.container_address() else {
        let _ = runtime.del(&list, &att);
        return Err(Error::state(record.bare_name(), format!("network {mode}: the plugins gave eth0 no address")));
    };
    let hosts = engine.dir(&record.id).join("hosts");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&hosts)
        .and_then(|mut f| writeln!(f, "{}\t{}", ip.address.ip, record.config.hostname))
        .map_err(|e| Error::io(format!("writing {}", hosts.display()), e))?;
    Ok(Network {
        bridge: mode.clone(),
        sandbox_key: sandbox,
        ip_address: ip.address.ip.to_string(),
        ip_prefix_len: ip.address.prefix,
        gateway: ip.gateway.map(|g| g.to_string()).unwrap_or_default(),
        mac_address: iface.mac.clone().unwrap_or_default(),
        ports: port_maps(&record.host_config),
    })
}

/// For `container:NAME`: the bundle's network namespace pointed at the target's, as it is now
/// (its init may have changed since `create`).
pub fn join_target(engine: &Engine, record: &Record) -> Result<()> {
    let mode = &record.host_config.network_mode;
    if !mode.starts_with("container:") {
        return Ok(());
    }
    let target = joined(engine, mode)?;
    let path = engine.bundle(&record.id).join("config.json");
    let mut spec = oci_spec::runtime::Spec::load(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), std::io::Error::other(e.to_string())))?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let namespaces = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mut ns| {
            if ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
                ns.set_path(Some(format!("/proc/{}/ns/net", target.state.pid).into()));
            }
            ns
        })
        .collect();
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    let text = serde_json::to_vec_pretty(&spec).expect("a spec serialises");
    crate::record::write_atomic(&path, &text)
}

/// docker's `NetworkSettings.Ports` of a running container: `{"80/tcp": [{"HostIp":
/// "0.0.0.0", "HostPort": "8080"}]}`.
pub fn ports_document(network: &Network) -> Value {
    let mut out = serde_json::Map::new();
    for m in &network.ports {
        let entry = out.entry(format!("{}/{}", m.container, m.proto)).or_insert_with(|| json!([]));
        entry.as_array_mut().expect("an array").push(json!({"HostIp": "0.0.0.0", "HostPort": m.host.to_string()}));
    }
    Value::Object(out)
}
