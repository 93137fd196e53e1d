//! `inspect`'s document in docker's JSON shape (the fields people use), built from the record
//! and the live state; `BundlePath` (ours, not docker's) shows where the OCI bundle is.

use crate::engine::{Engine, Live};
use crate::record::Record;
use serde_json::{json, Value};

pub fn document(engine: &Engine, record: &Record) -> Value {
    let live = engine.live(record);
    let id = &record.id;
    let dir = engine.dir(id);
    let running = matches!(live, Live::Running | Live::Paused);
    let (pid, exit_code, error) = if running {
        (record.state.pid, 0, record.state.error.clone())
    } else if record.state.status == "running" {
        // The record says running but nothing is: the supervisor died with it.
        (
            0,
            if record.state.exit_code == 0 { 137 } else { record.state.exit_code },
            "the container's supervisor was gone".to_string(),
        )
    } else {
        (0, record.state.exit_code, record.state.error.clone())
    };
    let c = &record.config;
    let h = &record.host_config;
    json!({
        "Id": id,
        "Created": record.created,
        "Path": record.path,
        "Args": record.args,
        "State": {
            "Status": live.as_str(),
            "Running": running,
            "Paused": live == Live::Paused,
            "Restarting": false,
            "OOMKilled": record.state.oom_killed,
            "Dead": false,
            "Pid": pid,
            "ExitCode": exit_code,
            "Error": error,
            "StartedAt": record.state.started_at,
            "FinishedAt": record.state.finished_at,
        },
        "Image": record.image,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": engine.log_path(id),
        "Name": record.name,
        "RestartCount": record.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "BundlePath": engine.bundle(id),
        "HostConfig": {
            "Binds": if h.binds.is_empty() { Value::Null } else { json!(h.binds) },
            "NetworkMode": h.network_mode,
            "PortBindings": h.port_bindings,
            "AutoRemove": h.auto_remove,
            "CapAdd": if h.cap_add.is_empty() { Value::Null } else { json!(h.cap_add) },
            "CapDrop": if h.cap_drop.is_empty() { Value::Null } else { json!(h.cap_drop) },
            "Privileged": h.privileged,
            "ReadonlyRootfs": h.readonly_rootfs,
            "SecurityOpt": if h.security_opt.is_empty() { Value::Null } else { json!(h.security_opt) },
            "ShmSize": h.shm_size,
            "Tmpfs": if h.tmpfs.is_empty() { Value::Null } else { json!(h.tmpfs) },
            "Memory": h.memory,
            "MemorySwap": h.memory_swap,
            "NanoCpus": h.nano_cpus,
            "PidsLimit": h.pids_limit,
            "CpuShares": h.cpu_shares,
            "CpusetCpus": h.cpuset_cpus,
            "BlkioWeight": h.blkio_weight,
            "Init": h.init,
            "CgroupParent": "/labctl/containers",
        },
        "GraphDriver": {
            "Data": {
                "LowerDir": record.lower_dir,
                "MergedDir": engine.merged(id),
                "UpperDir": engine.upper(id),
                "WorkDir": engine.work(id),
            },
            "Name": "overlay2",
        },
        "Mounts": record.mounts.iter().map(|m| json!({
            "Type": m.typ,
            "Name": if m.typ == "volume" { json!(m.name) } else { Value::Null },
            "Source": m.source,
            "Destination": m.destination,
            "Driver": if m.typ == "volume" { json!("local") } else { Value::Null },
            "Mode": m.mode,
            "RW": m.rw,
            "Propagation": if m.typ == "bind" { "rprivate" } else { "" },
        })).collect::<Vec<_>>(),
        "Config": {
            "Hostname": c.hostname,
            "Domainname": "",
            "User": c.user,
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": if c.exposed_ports.is_empty() { Value::Null } else { json!(c.exposed_ports) },
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": c.env,
            "Cmd": c.cmd,
            "Image": c.image,
            "WorkingDir": c.working_dir,
            "Entrypoint": c.entrypoint,
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
        },
        "NetworkSettings": network_settings(record, running, pid),
    })
}

/// docker's `NetworkSettings`: bridge mode's address, gateway, MAC and published ports while
/// the container runs; empty otherwise (docker clears them at stop too).
fn network_settings(record: &Record, running: bool, pid: i32) -> Value {
    let n = &record.network;
    let mode = &record.host_config.network_mode;
    let bridged = running && mode == "bridge" && !n.ip_address.is_empty();
    let sandbox = if running && mode != "host" { json!(format!("/proc/{pid}/ns/net")) } else { json!("") };
    let ports = if bridged { crate::network::ports_document(n) } else { json!({}) };
    let (ip, gateway, prefix, mac) = if bridged {
        (n.ip_address.as_str(), n.gateway.as_str(), n.ip_prefix_len, n.mac_address.as_str())
    } else {
        ("", "", 0, "")
    };
    let networks = if mode == "bridge" {
        json!({"bridge": {"IPAddress": ip, "Gateway": gateway, "IPPrefixLen": prefix, "MacAddress": mac}})
    } else {
        json!({})
    };
    json!({
        "SandboxKey": sandbox,
        "Ports": ports,
        "Gateway": gateway,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "MacAddress": mac,
        "Networks": networks,
    })
}
