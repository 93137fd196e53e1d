//! Root tests of the network building block and labs. Hermetic: each test runs the `labnet`
//! binary inside a network namespace made for it (which plays the host), with the allocator's
//! state in a temporary directory; traffic stays inside our namespaces.

use labkit::testing::{kernel_lock, require_root};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace for one test ("the host"), plus a private run dir. Removed on drop.
struct Host {
    name: String,
    run_dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Host {
    fn new() -> Host {
        let name = format!("labctl-nettest-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        run_ok("ip", &["netns", "add", &name]);
        Host { name, run_dir: tempfile::tempdir().unwrap(), extra: Vec::new() }
    }

    /// Another named namespace (a "container"), removed with the host.
    fn container(&mut self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.name);
        run_ok("ip", &["netns", "add", &name]);
        self.extra.push(name.clone());
        name
    }

    fn labnet(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(env!("CARGO_BIN_EXE_labnet")).args(args);
        cmd.env("LABCTL_RUN_DIR", self.run_dir.path()).stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.labnet(args).output().expect("run labnet")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "labnet {args:?} failed: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ip_json(&self, netns: &str, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["-n", netns, "-j"];
        full.extend_from_slice(args);
        serde_json::from_slice(&run_ok("ip", &full).stdout).expect("ip -j output")
    }

    fn path(&self) -> std::path::PathBuf {
        labnet::netns::path(&self.name)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for n in self.extra.iter().chain(std::iter::once(&self.name)) {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fails_with(out: Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure mentioning {needle:?}");
    let err = stderr(&out);
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
}

fn lab_netns_left() -> Vec<String> {
    [
        "labctl-host",
        "labctl-c1",
        "labctl-c2",
        "labctl-out",
        "labctl-h1",
        "labctl-h2",
        "labctl-h1-c1",
        "labctl-h2-c2",
        "labctl-cni",
        "labctl-cni-c1",
    ]
    .iter()
    .filter(|n| Path::new("/run/netns").join(n).exists())
    .map(|n| n.to_string())
    .collect()
}

#[test]
fn attach_is_seen_the_same_way_by_iproute2() {
    if !require_root("attach_is_seen_the_same_way_by_iproute2") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let c = host.container("c");
    host.ok(&["bridge", "up"]);
    let out = host.ok(&["attach", "--netns", &c, "-p", "8080:80"]);
    assert!(out.contains("10.213.0.2"), "{out}");

    // ip -j link / addr in the host: the bridge with its gateway, the veth on it.
    let links = host.ip_json(&host.name, &["link"]);
    let find = |name: &str| links.as_array().unwrap().iter().find(|l| l["ifname"] == name).cloned();
    let bridge = find("labctl0").expect("labctl0 in ip -j link");
    let veth = find("lc0ad50002").expect("host veth in ip -j link");
    assert_eq!(veth["master"], "labctl0");
    assert_eq!(bridge["ifalias"], labnet::bridge::BRIDGE_ALIAS);
    let addrs = host.ip_json(&host.name, &["addr", "show", "labctl0"]);
    assert!(addrs.to_string().contains("\"local\":\"10.213.0.1\""), "{addrs}");

    // Our netlink view equals iproute2's.
    let ours = labnet::netns::run_in(&host.path(), || {
        let mut nl = labnet::Netlink::open().unwrap();
        (nl.links().unwrap(), nl.fdb().unwrap())
    })
    .unwrap();
    let mut ip_names: Vec<(u64, String)> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["ifindex"].as_u64().unwrap(), l["ifname"].as_str().unwrap().to_string()))
        .collect();
    ip_names.sort();
    let our_names: Vec<(u64, String)> = ours.0.iter().map(|l| (l.index as u64, l.name.clone())).collect();
    assert_eq!(our_names, ip_names);
    let fdb =
        serde_json::from_slice::<serde_json::Value>(&run_ok("bridge", &["-n", &host.name, "-j", "fdb", "show"]).stdout)
            .unwrap();
    let entry = |e: &serde_json::Value| format!("{} {}", e["mac"].as_str().unwrap(), e["ifname"].as_str().unwrap());
    let mut theirs: Vec<String> = fdb.as_array().unwrap().iter().map(entry).collect();
    // The bridge keeps learning from traffic (IPv6 autoconfiguration on the veth) between our read
    // and iproute2's: entries it learned in between carry no "permanent" state.
    let learned: Vec<String> =
        fdb.as_array().unwrap().iter().filter(|e| e["state"].as_str() != Some("permanent")).map(entry).collect();
    let mut mine: Vec<String> = ours
        .1
        .iter()
        .map(|e| {
            let dev = ours.0.iter().find(|l| l.index == e.ifindex).map(|l| l.name.clone()).unwrap_or_default();
            format!("{} {dev}", e.mac)
        })
        .collect();
    theirs.retain(|e| mine.contains(e) || !learned.contains(e));
    theirs.sort();
    mine.sort();
    assert_eq!(mine, theirs, "bridge -j fdb show");

    // Inside the container: eth0 with its address, a default route via the gateway.
    let caddrs = host.ip_json(&c, &["addr", "show", "eth0"]);
    let v4: Vec<(String, u64)> = caddrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet")
        .map(|a| (a["local"].as_str().unwrap().to_string(), a["prefixlen"].as_u64().unwrap()))
        .collect();
    assert_eq!(v4, vec![("10.213.0.2".to_string(), 24)], "{caddrs}");
    let routes = host.ip_json(&c, &["route"]);
    let default = routes.as_array().unwrap().iter().find(|r| r["dst"] == "default").expect("default route");
    assert_eq!(default["gateway"], "10.213.0.1");
    let rules = String::from_utf8_lossy(
        &run_ok("ip", &["netns", "exec", &host.name, "nft", "list", "table", "inet", "labctl"]).stdout,
    )
    .into_owned();
    assert!(rules.contains("tcp dport 8080 dnat ip to 10.213.0.2:80"), "{rules}");

    // Detach releases the address: the next attach gets it again.
    host.ok(&["detach", "--netns", &c]);
    assert!(host.ip_json(&host.name, &["link", "show", "master", "labctl0"]).as_array().unwrap().is_empty());
    let out = host.ok(&["attach", "--netns", &c]);
    assert!(out.contains("10.213.0.2"), "{out}");

    // Teardown leaves no link, no rule, no state.
    host.ok(&["bridge", "down"]);
    let links = host.ip_json(&host.name, &["link"]);
    assert_eq!(links.as_array().unwrap().len(), 1, "only lo is left: {links}");
    let tables = run_ok("ip", &["netns", "exec", &host.name, "nft", "list", "tables"]);
    assert!(!String::from_utf8_lossy(&tables.stdout).contains("labctl"));
    let left: Vec<_> = std::fs::read_dir(host.run_dir.path().join("net")).unwrap().collect();
    assert!(left.is_empty(), "allocator state left: {left:?}");
}

#[test]
fn a_port_mapped_twice_is_refused() {
    if !require_root("a_port_mapped_twice_is_refused") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let (a, b) = (host.container("a"), host.container("b"));
    host.ok(&["bridge", "up"]);
    host.ok(&["attach", "--netns", &a, "-p", "8080:80"]);
    fails_with(
        host.run(&["attach", "--netns", &b, "-p", "8080:80"]),
        "host port 8080/tcp is already mapped to 10.213.0.2:80",
    );
    fails_with(
        host.run(&["attach", "--netns", &b, "-p", "9000:80", "-p", "9000:81"]),
        "host port 9000/tcp is given twice",
    );
    // The same port over udp is another port.
    host.ok(&["attach", "--netns", &b, "-p", "8080:80/udp"]);
    host.ok(&["bridge", "down"]);
}

#[test]
fn a_host_port_in_use_is_refused() {
    if !require_root("a_host_port_in_use_is_refused") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let a = host.container("a");
    host.ok(&["bridge", "up"]);
    let listener =
        labnet::netns::run_in(&host.path(), || std::net::TcpListener::bind("0.0.0.0:8088")).unwrap().unwrap();
    fails_with(host.run(&["attach", "--netns", &a, "-p", "8088:80"]), "host port 8088/tcp is already in use");
    drop(listener);
    // Nothing was half-made: the namespace attaches fine afterwards.
    host.ok(&["attach", "--netns", &a, "-p", "8088:80"]);
    host.ok(&["bridge", "down"]);
}

#[test]
fn invalid_port_specs_are_refused_by_name() {
    if !require_root("invalid_port_specs_are_refused_by_name") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let a = host.container("a");
    for (spec, needle) in [
        ("0:80", "host port 0 is outside 1-65535"),
        ("70000:80", "host port 70000 is outside 1-65535"),
        ("80:abc", "container port \"abc\" is not a number"),
        ("8080:80/sctp", "unsupported protocol \"sctp\""),
    ] {
        let out = host.run(&["attach", "--netns", &a, "-p", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{spec}: {}", stderr(&out));
    }
}

#[test]
fn an_exhausted_subnet_is_refused() {
    if !require_root("an_exhausted_subnet_is_refused") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let (a, b) = (host.container("a"), host.container("b"));
    // A /30 has one container address.
    host.ok(&["bridge", "up", "--subnet", "10.213.7.0/30"]);
    host.ok(&["attach", "--netns", &a]);
    fails_with(host.run(&["attach", "--netns", &b]), "subnet 10.213.7.0/30 is exhausted");
    // Deleting the attached namespace frees its address (its veth dies with it).
    run_ok("ip", &["netns", "del", &a]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    host.ok(&["attach", "--netns", &b]);
    host.ok(&["bridge", "down"]);
}

#[test]
fn a_bridge_name_taken_by_another_device_is_refused() {
    if !require_root("a_bridge_name_taken_by_another_device_is_refused") {
        return;
    }
    let _guard = kernel_lock();
    let host = Host::new();
    run_ok("ip", &["-n", &host.name, "link", "add", "labctl0", "type", "veth", "peer", "name", "lcpeer"]);
    fails_with(host.run(&["bridge", "up"]), "labctl did not create it (a veth device)");
    fails_with(host.run(&["bridge", "down"]), "labctl did not create it");
    let links = host.ip_json(&host.name, &["link", "show", "labctl0"]);
    assert!(links[0]["master"].is_null() && links[0]["addr_info"].is_null(), "the veth is untouched: {links}");
    run_ok("ip", &["-n", &host.name, "link", "add", "lcforeign", "type", "bridge"]);
    fails_with(host.run(&["bridge", "up", "--bridge", "lcforeign"]), "a bridge without labctl's alias");
}

#[test]
fn no_firewall_tool_is_a_clear_error() {
    if !require_root("no_firewall_tool_is_a_clear_error") {
        return;
    }
    let _guard = kernel_lock();
    let host = Host::new();
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &host.name, "env"])
        .arg(format!("PATH={}", empty.path().display()))
        .arg(env!("CARGO_BIN_EXE_labnet"))
        .args(["bridge", "up"])
        .env("LABCTL_RUN_DIR", host.run_dir.path());
    fails_with(cmd.output().unwrap(), "neither nft nor iptables was found in PATH");
    assert_eq!(host.ip_json(&host.name, &["link"]).as_array().unwrap().len(), 1, "nothing was created");
}

#[test]
fn doctor_probes_answer() {
    if !require_root("doctor_probes_answer") {
        return;
    }
    let _guard = kernel_lock();
    assert_eq!(labnet::probe_veth_bridge(), Ok(()));
    assert!(labnet::firewall_backend().is_some(), "nft or iptables is installed here (.ci/run installs nftables)");
}

#[test]
fn the_bridge_lab_leaves_nothing_after_sigint() {
    if !require_root("the_bridge_lab_leaves_nothing_after_sigint") {
        return;
    }
    let _guard = kernel_lock();
    assert!(lab_netns_left().is_empty(), "lab namespaces exist before the test: {:?}", lab_netns_left());
    let host = Host::new();
    let child = host.labnet(&["lab", "net-bridge"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait until the lab is deep inside (the outside namespace exists), then Ctrl-C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !Path::new("/run/netns/labctl-out").exists() {
        assert!(std::time::Instant::now() < deadline, "the lab never reached step outside");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // `ip netns exec` execs labnet, so the child pid is labnet itself.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(lab_netns_left().is_empty(), "left after SIGINT: {:?}", lab_netns_left());
    assert_eq!(host.ip_json(&host.name, &["link"]).as_array().unwrap().len(), 1, "only lo in the host");
}

#[test]
fn the_labs_leave_nothing_after_a_full_run() {
    if !require_root("the_labs_leave_nothing_after_a_full_run") {
        return;
    }
    let _guard = kernel_lock();
    let host = Host::new();
    for lab in ["net-modes", "net-bridge", "net-overlay", "net-remote"] {
        let out = host.run(&["lab", lab]);
        assert!(out.status.success(), "{lab}: {}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(lab_netns_left().is_empty(), "{lab} left {:?}", lab_netns_left());
    }
    let cni_left: Vec<_> = ["cni/networks/labctl-remote", "cni/results/labctl-remote"]
        .iter()
        .map(|p| host.run_dir.path().join(p))
        .filter(|p| p.exists())
        .collect();
    assert!(cni_left.is_empty(), "net-remote left {cni_left:?}");
    assert_eq!(host.ip_json(&host.name, &["link"]).as_array().unwrap().len(), 1, "only lo in the host");
    let tables = run_ok("ip", &["netns", "exec", &host.name, "nft", "list", "tables"]);
    assert!(String::from_utf8_lossy(&tables.stdout).trim().is_empty());
}

/// Ctrl-C once `marker` (a namespace the lab makes late) exists: exit 130, nothing left.
fn interrupt_when(lab: &str, marker: &str) {
    assert!(lab_netns_left().is_empty(), "lab namespaces exist before the test: {:?}", lab_netns_left());
    let host = Host::new();
    let child = host.labnet(&["lab", lab]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !Path::new("/run/netns").join(marker).exists() {
        assert!(std::time::Instant::now() < deadline, "{lab} never created {marker}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{lab}: {}", stderr(&out));
    assert!(lab_netns_left().is_empty(), "{lab} left after SIGINT: {:?}", lab_netns_left());
    let cni = host.run_dir.path().join("cni/networks/labctl-remote");
    assert!(!cni.exists(), "{lab} left {}", cni.display());
}

#[test]
fn the_overlay_lab_leaves_nothing_after_sigint() {
    if !require_root("the_overlay_lab_leaves_nothing_after_sigint") {
        return;
    }
    let _guard = kernel_lock();
    interrupt_when("net-overlay", "labctl-h2-c2");
}

#[test]
fn the_remote_lab_leaves_nothing_after_sigint() {
    if !require_root("the_remote_lab_leaves_nothing_after_sigint") {
        return;
    }
    let _guard = kernel_lock();
    interrupt_when("net-remote", "labctl-cni-c1");
}

#[test]
fn a_vxlan_device_is_seen_the_same_way_by_iproute2() {
    if !require_root("a_vxlan_device_is_seen_the_same_way_by_iproute2") {
        return;
    }
    let _guard = kernel_lock();
    let host = Host::new();
    run_ok("ip", &["-n", &host.name, "link", "add", "lcul0", "type", "veth", "peer", "name", "lcul1"]);
    run_ok("ip", &["-n", &host.name, "link", "set", "lcul0", "mtu", "9000", "up"]);
    host.ok(&[
        "vxlan",
        "add",
        "--vni",
        "4242",
        "--local",
        "192.0.2.1",
        "--remote",
        "192.0.2.2",
        "--dev",
        "lcul0",
        "--fdb",
        "02:42:0a:d6:00:09=192.0.2.9",
    ]);
    let links = host.ip_json(&host.name, &["-d", "link", "show", "lcvx0"]);
    let data = &links[0]["linkinfo"]["info_data"];
    let ours = labnet::netns::run_in(&host.path(), || {
        let mut nl = labnet::Netlink::open().unwrap();
        (nl.link("lcvx0").unwrap().unwrap(), nl.fdb().unwrap())
    })
    .unwrap();
    let v = ours.0.vxlan.clone().expect("vxlan data read over netlink");
    assert_eq!(data["id"], v.vni);
    assert_eq!(data["port"], v.port);
    assert_eq!(data["local"], v.local.unwrap().to_string());
    assert_eq!(data["remote"], v.remote.unwrap().to_string());
    assert_eq!(data["learning"], v.learning);
    assert_eq!(links[0]["mtu"], ours.0.mtu);
    assert_eq!(ours.0.mtu, 9000 - 50, "the kernel derives the MTU from the underlay");
    let fdb = serde_json::from_slice::<serde_json::Value>(
        &run_ok("bridge", &["-n", &host.name, "-j", "fdb", "show", "dev", "lcvx0"]).stdout,
    )
    .unwrap();
    let mut theirs: Vec<String> = fdb
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["dst"].is_string())
        .map(|e| format!("{} {}", e["mac"].as_str().unwrap(), e["dst"].as_str().unwrap()))
        .collect();
    let mut mine: Vec<String> = ours
        .1
        .iter()
        .filter(|e| e.ifindex == ours.0.index && e.dst.is_some())
        .map(|e| format!("{} {}", e.mac, e.dst.unwrap()))
        .collect();
    theirs.sort();
    mine.sort();
    assert_eq!(mine, vec!["00:00:00:00:00:00 192.0.2.2".to_string(), "02:42:0a:d6:00:09 192.0.2.9".to_string()]);
    assert_eq!(mine, theirs, "bridge -j fdb show dev lcvx0");
    host.ok(&["vxlan", "del"]);
    assert!(host.ip_json(&host.name, &["link", "show", "type", "vxlan"]).as_array().unwrap().is_empty());
}

#[test]
fn bad_vxlan_input_is_refused_by_name() {
    if !require_root("bad_vxlan_input_is_refused_by_name") {
        return;
    }
    let _guard = kernel_lock();
    let host = Host::new();
    fails_with(host.run(&["vxlan", "add", "--vni", "0", "--local", "192.0.2.1"]), "VNI 0 is outside 1-16777215");
    fails_with(
        host.run(&["vxlan", "add", "--vni", "16777216", "--local", "192.0.2.1"]),
        "VNI 16777216 is outside 1-16777215",
    );
    fails_with(
        host.run(&["vxlan", "add", "--vni", "7", "--local", "192.0.2.1", "--remote", "192.0.2.300"]),
        "remote address \"192.0.2.300\" is not an IPv4 address",
    );
    fails_with(
        host.run(&["vxlan", "add", "--vni", "7", "--local", "192.0.2.1", "--remote", "192.0.2.1"]),
        "remote address 192.0.2.1 cannot be a VTEP",
    );
    // A program holds UDP 4789 in the namespace: the device cannot open its socket.
    let socket = labnet::netns::run_in(&host.path(), || std::net::UdpSocket::bind("0.0.0.0:4789")).unwrap().unwrap();
    fails_with(
        host.run(&["vxlan", "add", "--vni", "7", "--local", "192.0.2.1"]),
        "UDP port 4789 is already in use in this network namespace",
    );
    drop(socket);
    assert!(
        host.ip_json(&host.name, &["link", "show", "type", "vxlan"]).as_array().unwrap().is_empty(),
        "nothing half-made"
    );
}

/// A container namespace and a conflist written to the host's temp dir.
fn cni_fixture(host: &mut Host, conflist: &str) -> (String, std::path::PathBuf) {
    let c = host.container("c");
    let path = host.run_dir.path().join("test.conflist");
    std::fs::write(&path, conflist).unwrap();
    (c, path)
}

fn bridge_conflist(subnet: &str, ipam_type: &str, data_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "labctl-test",
        "plugins": [{
            "type": "bridge", "bridge": "lctest0", "isGateway": true,
            "ipam": { "type": ipam_type, "ranges": [[{ "subnet": subnet }]], "dataDir": data_dir.display().to_string() }
        }]
    })
    .to_string()
}

#[test]
fn cni_add_check_del_agree_with_iproute2() {
    if !require_root("cni_add_check_del_agree_with_iproute2") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let c = host.container("c");
    let out = host.ok(&["cni", "add", "--netns", &c, "-p", "8080:80", "--json"]);
    let result: labnet::cni::CniResult = serde_json::from_str(&out).expect("typed result");
    let (iface, ip) = result.container_address().expect("an address in the container");
    assert_eq!(iface.name, "eth0");
    let addrs = host.ip_json(&c, &["addr", "show", "eth0"]);
    assert!(addrs.to_string().contains(&format!("\"local\":\"{}\"", ip.address.ip)), "{addrs}");
    let nat =
        String::from_utf8_lossy(&run_ok("ip", &["netns", "exec", &host.name, "iptables-save", "-t", "nat"]).stdout)
            .into_owned();
    assert!(nat.contains(&format!("--to-destination {}:80", ip.address.ip)), "{nat}");
    host.ok(&["cni", "del", "--netns", &c]);
    let nat =
        String::from_utf8_lossy(&run_ok("ip", &["netns", "exec", &host.name, "iptables-save", "-t", "nat"]).stdout)
            .into_owned();
    assert!(!nat.contains(&ip.address.ip.to_string()), "DEL left rules: {nat}");
    assert_eq!(host.ip_json(&c, &["link"]).as_array().unwrap().len(), 1, "only lo in the container");
    let lease = host.run_dir.path().join("cni/networks/labctl-cni").join(ip.address.ip.to_string());
    assert!(!lease.exists(), "lease left: {}", lease.display());
}

#[test]
fn cni_failures_are_reported_by_name() {
    if !require_root("cni_failures_are_reported_by_name") {
        return;
    }
    let _guard = kernel_lock();
    let mut host = Host::new();
    let data = host.run_dir.path().join("ipam");
    // A plugin binary that is not there.
    let empty = tempfile::tempdir().unwrap();
    let (c, conflist) = cni_fixture(&mut host, &bridge_conflist("10.215.7.0/30", "host-local", &data));
    let mut cmd = host.labnet(&["cni", "add", "--netns", &c, "--conflist", conflist.to_str().unwrap()]);
    cmd.env("CNI_PATH", empty.path());
    fails_with(cmd.output().unwrap(), "apt-get install containernetworking-plugins");
    // A plugin that answers with a CNI error: code and msg are shown.
    std::fs::write(&conflist, bridge_conflist("10.215.7.0/30", "lcnope", &data)).unwrap();
    fails_with(
        host.run(&["cni", "add", "--netns", &c, "--conflist", conflist.to_str().unwrap()]),
        "failed with CNI error code 999: failed to find plugin \"lcnope\"",
    );
    assert_eq!(host.ip_json(&c, &["link"]).as_array().unwrap().len(), 1, "the failed ADD was undone by DEL");
    // A plugin that prints garbage.
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("lcgarbage");
    std::fs::write(&fake, "#!/bin/sh\necho 'this is not json'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let garbage = host.run_dir.path().join("garbage.conflist");
    std::fs::write(&garbage, r#"{"cniVersion":"1.0.0","name":"labctl-g","plugins":[{"type":"lcgarbage"}]}"#).unwrap();
    let mut cmd = host.labnet(&["cni", "add", "--netns", &c, "--conflist", garbage.to_str().unwrap()]);
    cmd.env("CNI_PATH", bin.path());
    fails_with(cmd.output().unwrap(), "CNI plugin lcgarbage (ADD) printed no valid result");
    // An exhausted range: a /30 has one address after the gateway. (A fresh host: the bridge
    // plugin 1.1.1 cannot reuse the portless bridge a failed ADD left.)
    let mut host = Host::new();
    let (c, conflist) = cni_fixture(&mut host, &bridge_conflist("10.215.7.0/30", "host-local", &data));
    let list = conflist.to_str().unwrap();
    host.ok(&["cni", "add", "--netns", &c, "--conflist", list]);
    let check = host.ok(&["cni", "check", "--netns", &c, "--conflist", list]);
    assert!(check.contains("bridge: ok"), "{check}");
    let d = host.container("d");
    let out = host.run(&["cni", "add", "--netns", &d, "--conflist", list]);
    fails_with(out, "no IP addresses available in range set");
    host.ok(&["cni", "del", "--netns", &c, "--conflist", list]);
    // CHECK before ADD names what to do.
    fails_with(host.run(&["cni", "check", "--netns", &d, "--conflist", list]), "add it first with labctl net cni add");
}
