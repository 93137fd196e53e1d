//! A small CNI runtime: runs the plugins of a network configuration list by the CNI protocol
//! (CNI_COMMAND ADD/CHECK/DEL/VERSION, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH in the
//! environment, the plugin's configuration on stdin, a result or an error as JSON on stdout),
//! caches each ADD's result for CHECK and DEL as the spec asks, and parses results into types.
//!
//! Docker's "remote" network driver meant a plugin outside the engine; CNI is that interface
//! today (containerd, CRI-O, podman and Kubernetes use it). The plugins themselves come from
//! Debian's `containernetworking-plugins` (/usr/lib/cni).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where plugins are looked for when CNI_PATH is not set: Debian's package, then the upstream
/// tarball's usual place.
pub const DEFAULT_CNI_PATH: &str = "/usr/lib/cni:/opt/cni/bin";
/// The CNI spec version labctl speaks.
pub const CNI_VERSION: &str = "1.0.0";
/// The network `labctl net cni` uses when no --conflist is given.
pub const DEFAULT_NETWORK: &str = "labctl-cni";

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("CNI plugin {plugin:?} not found in {path} (Debian/Ubuntu: apt-get install containernetworking-plugins; or set CNI_PATH)")]
    PluginMissing { plugin: String, path: String },
    #[error("CNI plugin {plugin} ({command}) failed with CNI error code {code}: {msg}{}", details.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Plugin { plugin: String, command: String, code: u32, msg: String, details: Option<String> },
    #[error("CNI plugin {plugin} ({command}) printed no valid result: {reason}; its output began with {excerpt:?}")]
    Malformed { plugin: String, command: String, reason: String, excerpt: String },
    #[error("network configuration {origin}: {reason}")]
    Config { origin: String, reason: String },
    #[error("no cached ADD result for container {id:?} ifname {ifname} on network {network} ({path}): add it first with labctl net cni add")]
    NotAdded { network: String, id: String, ifname: String, path: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, CniError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CniError {
    let what = what.into();
    move |source| CniError::Io { what, source }
}

/// A network configuration list (`*.conflist`): a name, a version and a chain of plugins.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    /// Each plugin's own configuration (its `type` names the binary).
    pub plugins: Vec<Value>,
}

impl ConfList {
    /// Parses a conflist's JSON text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ConfList> {
        let bad = |reason: String| CniError::Config { origin: origin.to_string(), reason };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let name = v["name"].as_str().ok_or_else(|| bad("no \"name\"".into()))?.to_string();
        let cni_version = v["cniVersion"].as_str().unwrap_or(CNI_VERSION).to_string();
        let plugins = v["plugins"].as_array().ok_or_else(|| bad("no \"plugins\" list".into()))?.clone();
        if plugins.is_empty() {
            return Err(bad("\"plugins\" is empty".into()));
        }
        for (i, p) in plugins.iter().enumerate() {
            if p["type"].as_str().is_none_or(|t| t.is_empty() || t.contains('/')) {
                return Err(bad(format!("plugin {i} has no valid \"type\"")));
            }
        }
        Ok(ConfList { name, cni_version, plugins })
    }

    /// The list as JSON (what a `.conflist` file holds).
    pub fn to_json(&self) -> Value {
        json!({ "cniVersion": self.cni_version, "name": self.name, "plugins": self.plugins })
    }

    /// labctl's own network: a bridge `bridge` with `subnet` (host-local addresses, a default
    /// route, masquerade), port mapping, and loopback; IPAM state under `data_dir`.
    pub fn labctl(name: &str, bridge: &str, subnet: &str, data_dir: &Path) -> ConfList {
        ConfList {
            name: name.to_string(),
            cni_version: CNI_VERSION.to_string(),
            plugins: vec![
                json!({
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": true,
                    "ipMasq": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{ "subnet": subnet }]],
                        "routes": [{ "dst": "0.0.0.0/0" }],
                        "dataDir": data_dir.display().to_string(),
                    },
                }),
                json!({ "type": "portmap", "capabilities": { "portMappings": true } }),
                json!({ "type": "loopback" }),
            ],
        }
    }
}

/// One `-p HOST:CONTAINER/PROTO`, as the portmap plugin takes it in runtimeConfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

impl From<&crate::ports::PortMap> for PortMapping {
    fn from(p: &crate::ports::PortMap) -> PortMapping {
        PortMapping { host_port: p.host, container_port: p.container, protocol: p.proto.to_string() }
    }
}

/// Which container a call is about: the CNI_* variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    /// CNI_NETNS: the container's network namespace file.
    pub netns: PathBuf,
    pub ifname: String,
    pub port_mappings: Vec<PortMapping>,
}

/// An address with its prefix, `10.215.0.2/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    pub ip: IpAddr,
    pub prefix: u8,
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Cidr, String> {
        let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("{s:?} is not ADDRESS/PREFIX"))?;
        Ok(Cidr {
            ip: ip.parse().map_err(|e| format!("{ip:?}: {e}"))?,
            prefix: prefix.parse().map_err(|e| format!("{prefix:?}: {e}"))?,
        })
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// A plugin's ADD result (CNI spec 1.0.0, "Success").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    pub cni_version: String,
    #[serde(default)]
    pub interfaces: Vec<ResultInterface>,
    #[serde(default)]
    pub ips: Vec<ResultIp>,
    #[serde(default)]
    pub routes: Vec<ResultRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInterface {
    pub name: String,
    #[serde(default)]
    pub mac: Option<String>,
    /// The container's namespace for interfaces inside it; absent for the host's.
    #[serde(default)]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultIp {
    /// Index into `interfaces`.
    #[serde(default)]
    pub interface: Option<usize>,
    pub address: Cidr,
    #[serde(default)]
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRoute {
    pub dst: Cidr,
    #[serde(default)]
    pub gw: Option<IpAddr>,
}

impl CniResult {
    /// The container's interface (the one with a sandbox) and its first address.
    pub fn container_address(&self) -> Option<(&ResultInterface, &ResultIp)> {
        self.ips.iter().find_map(|ip| {
            let i = self.interfaces.get(ip.interface?)?;
            i.sandbox.as_ref().map(|_| (i, ip))
        })
    }
}

/// A cache entry: the last plugin's ADD result and the port mappings it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached {
    pub result: Value,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Where the plugins ran (the host side), so CHECK and DEL can run them there again.
    #[serde(default)]
    pub host_netns: Option<PathBuf>,
}

/// A plugin's answer to VERSION.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub cni_version: String,
    pub supported_versions: Vec<String>,
}

/// Runs plugins: where to find them, where they run, where results are cached.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// CNI_PATH, colon-separated.
    pub cni_path: String,
    /// The network namespace the plugins run in (the "host" side); `None`: the caller's.
    pub host_netns: Option<PathBuf>,
    /// Cached ADD results, one file per network, container and interface.
    pub cache_dir: PathBuf,
}

impl Runtime {
    /// CNI_PATH from the environment or [`DEFAULT_CNI_PATH`]; the cache under labctl's run dir.
    pub fn new(host_netns: Option<PathBuf>) -> Runtime {
        Runtime {
            cni_path: std::env::var("CNI_PATH").unwrap_or_else(|_| DEFAULT_CNI_PATH.to_string()),
            host_netns,
            cache_dir: results_dir(),
        }
    }

    /// The binary for plugin `kind`, looked up along CNI_PATH.
    pub fn find(&self, kind: &str) -> Result<PathBuf> {
        self.cni_path
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| CniError::PluginMissing { plugin: kind.to_string(), path: self.cni_path.clone() })
    }

    /// Runs one plugin and returns its stdout when it exited 0; a CNI error otherwise.
    fn exec(&self, kind: &str, command: &str, att: Option<&Attachment>, config: &Value) -> Result<Vec<u8>> {
        let binary = self.find(kind)?;
        let mut cmd = Command::new(&binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()))
            .env("CNI_COMMAND", command)
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(a) = att {
            cmd.env("CNI_CONTAINERID", &a.container_id).env("CNI_NETNS", &a.netns).env("CNI_IFNAME", &a.ifname);
        }
        let what = format!("run CNI plugin {}", binary.display());
        let mut child = match &self.host_netns {
            Some(ns) => {
                let file = std::fs::File::open(ns).map_err(io(format!("open {}", ns.display())))?;
                labkit::sys::spawn_in_namespaces(&mut cmd, vec![(file, nix::sched::CloneFlags::CLONE_NEWNET)])
            }
            None => cmd.spawn(),
        }
        .map_err(io(what.clone()))?;
        let input = serde_json::to_vec(config).expect("JSON values serialise");
        if let Some(mut stdin) = child.stdin.take() {
            // A plugin may exit without reading (VERSION): its answer decides, not our write.
            match stdin.write_all(&input) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(io(format!("write the configuration to {kind}"))(e))
                }
                _ => {}
            }
        }
        let out = child.wait_with_output().map_err(io(what))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let err: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        match (err["code"].as_u64(), err["msg"].as_str()) {
            (Some(code), Some(msg)) => Err(CniError::Plugin {
                plugin: kind.to_string(),
                command: command.to_string(),
                code: code as u32,
                msg: msg.to_string(),
                details: err["details"].as_str().filter(|d| !d.is_empty()).map(String::from),
            }),
            _ => Err(CniError::Malformed {
                plugin: kind.to_string(),
                command: command.to_string(),
                reason: format!("it exited with {} and no CNI error on stdout", out.status),
                excerpt: excerpt(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }),
            }),
        }
    }

    /// CNI_COMMAND=VERSION: which spec versions the plugin speaks.
    pub fn version(&self, kind: &str) -> Result<VersionInfo> {
        let out = self.exec(kind, "VERSION", None, &json!({ "cniVersion": CNI_VERSION }))?;
        serde_json::from_slice(&out).map_err(|e| malformed(kind, "VERSION", e, &out))
    }

    /// The configuration one plugin of `list` gets on stdin.
    fn plugin_config(list: &ConfList, plugin: &Value, att: &Attachment, prev: Option<&Value>) -> Value {
        let mut conf = plugin.clone();
        conf["name"] = json!(list.name);
        conf["cniVersion"] = json!(list.cni_version);
        if let Some(prev) = prev {
            conf["prevResult"] = prev.clone();
        }
        if plugin["capabilities"]["portMappings"].as_bool() == Some(true) {
            conf["runtimeConfig"] = json!({ "portMappings": att.port_mappings });
        }
        conf
    }

    fn cache_path(&self, list: &ConfList, att: &Attachment) -> PathBuf {
        self.cache_dir.join(&list.name).join(format!("{}-{}.json", att.container_id, att.ifname))
    }

    /// ADD: each plugin in order, each given the previous one's result; the last result is
    /// cached and returned. When a plugin fails, DEL runs over the whole list (what kubelet and
    /// containerd do), so a half-made attachment does not stay behind.
    pub fn add(&self, list: &ConfList, att: &Attachment) -> Result<CniResult> {
        self.add_chain(list, att).inspect_err(|_| {
            let _ = self.del(list, att);
        })
    }

    fn add_chain(&self, list: &ConfList, att: &Attachment) -> Result<CniResult> {
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let kind = plugin["type"].as_str().unwrap_or_default();
            let conf = Self::plugin_config(list, plugin, att, prev.as_ref());
            let out = self.exec(kind, "ADD", Some(att), &conf)?;
            let value: Value = serde_json::from_slice(&out).map_err(|e| malformed(kind, "ADD", e, &out))?;
            serde_json::from_value::<CniResult>(value.clone()).map_err(|e| malformed(kind, "ADD", e, &out))?;
            prev = Some(value);
        }
        let value = prev.expect("a conflist has at least one plugin");
        let path = self.cache_path(list, att);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        }
        // The runtime config goes with the result: DEL must hand portmap the same mappings.
        let cached = Cached {
            result: value.clone(),
            port_mappings: att.port_mappings.clone(),
            host_netns: self.host_netns.clone(),
        };
        std::fs::write(&path, serde_json::to_vec_pretty(&cached).expect("JSON values serialise"))
            .map_err(io(format!("write {}", path.display())))?;
        Ok(serde_json::from_value(value).expect("checked above"))
    }

    /// What ADD left for CHECK and DEL: the result and the runtime config it was given.
    pub fn cached(&self, list: &ConfList, att: &Attachment) -> Result<Cached> {
        let path = self.cache_path(list, att);
        let text = std::fs::read(&path).map_err(|_| CniError::NotAdded {
            network: list.name.clone(),
            id: att.container_id.clone(),
            ifname: att.ifname.clone(),
            path: path.display().to_string(),
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| CniError::Config { origin: path.display().to_string(), reason: format!("not JSON: {e}") })
    }

    /// CHECK: each plugin in order with the cached result as prevResult; Ok when all agree
    /// that the container is still set up as they left it.
    pub fn check(&self, list: &ConfList, att: &Attachment) -> Result<()> {
        let cached = self.cached(list, att)?;
        let att = Attachment { port_mappings: cached.port_mappings, ..att.clone() };
        for plugin in &list.plugins {
            let kind = plugin["type"].as_str().unwrap_or_default();
            self.exec(kind, "CHECK", Some(&att), &Self::plugin_config(list, plugin, &att, Some(&cached.result)))?;
        }
        Ok(())
    }

    /// CHECK with every plugin, each verdict kept (a runtime stops at the first error; this is
    /// for showing which plugin objects to what).
    pub fn check_each(&self, list: &ConfList, att: &Attachment) -> Result<Vec<(String, Result<()>)>> {
        let cached = self.cached(list, att)?;
        let att = Attachment { port_mappings: cached.port_mappings, ..att.clone() };
        Ok(list
            .plugins
            .iter()
            .map(|plugin| {
                let kind = plugin["type"].as_str().unwrap_or_default().to_string();
                let conf = Self::plugin_config(list, plugin, &att, Some(&cached.result));
                let verdict = self.exec(&kind, "CHECK", Some(&att), &conf).map(|_| ());
                (kind, verdict)
            })
            .collect())
    }

    /// DEL: each plugin in reverse order with the cached result and runtime config (if any),
    /// then the cache entry goes. Deleting what is already gone succeeds, as the spec asks.
    pub fn del(&self, list: &ConfList, att: &Attachment) -> Result<()> {
        let cached = self.cached(list, att).ok();
        let mut att = att.clone();
        if let Some(c) = &cached {
            att.port_mappings = c.port_mappings.clone();
        }
        let prev = cached.map(|c| c.result);
        for plugin in list.plugins.iter().rev() {
            let kind = plugin["type"].as_str().unwrap_or_default();
            self.exec(kind, "DEL", Some(&att), &Self::plugin_config(list, plugin, &att, prev.as_ref()))?;
        }
        let path = self.cache_path(list, &att);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(format!("remove {}", path.display()))(e)),
            _ => Ok(()),
        }
    }
}

fn malformed(kind: &str, command: &str, e: serde_json::Error, out: &[u8]) -> CniError {
    CniError::Malformed {
        plugin: kind.to_string(),
        command: command.to_string(),
        reason: e.to_string(),
        excerpt: excerpt(out),
    }
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().chars().take(120).collect()
}

/// labctl's CNI state: `/run/labctl/cni`.
pub fn state_dir() -> PathBuf {
    labkit::paths::run_dir().join("cni")
}

/// host-local's dataDir for labctl's networks: `/run/labctl/cni/networks` (one directory per
/// network inside, one file per leased address).
pub fn ipam_dir() -> PathBuf {
    state_dir().join("networks")
}

/// Cached ADD results: `/run/labctl/cni/results`.
pub fn results_dir() -> PathBuf {
    state_dir().join("results")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_parses_into_typed_values() {
        let r: CniResult = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","interfaces":[{"name":"lccni0","mac":"aa:bb:cc:dd:ee:ff"},
            {"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/x"}],
            "ips":[{"interface":2,"address":"10.215.0.2/24","gateway":"10.215.0.1"}],
            "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#,
        )
        .unwrap();
        let (i, ip) = r.container_address().unwrap();
        assert_eq!(i.name, "eth0");
        assert_eq!(ip.address.to_string(), "10.215.0.2/24");
        assert_eq!(ip.gateway, Some("10.215.0.1".parse().unwrap()));
        assert_eq!(r.routes[0].dst.prefix, 0);
    }

    #[test]
    fn a_bad_address_in_a_result_is_refused() {
        let e =
            serde_json::from_str::<CniResult>(r#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2"}]}"#).unwrap_err();
        assert!(e.to_string().contains("is not ADDRESS/PREFIX"), "{e}");
    }

    #[test]
    fn conflists_without_plugins_or_types_are_refused_by_name() {
        let e = ConfList::parse(r#"{"name":"n","plugins":[]}"#, "x.conflist").unwrap_err();
        assert_eq!(e.to_string(), "network configuration x.conflist: \"plugins\" is empty");
        let e = ConfList::parse(r#"{"name":"n","plugins":[{"type":"../bin/sh"}]}"#, "y").unwrap_err();
        assert!(e.to_string().contains("plugin 0 has no valid \"type\""), "{e}");
    }

    #[test]
    fn only_plugins_with_the_capability_get_port_mappings() {
        let list = ConfList::labctl("labctl-t", "lct0", "10.215.9.0/24", Path::new("/run/labctl/cni/networks"));
        let att = Attachment {
            container_id: "c".into(),
            netns: "/run/netns/c".into(),
            ifname: "eth0".into(),
            port_mappings: vec![PortMapping { host_port: 8080, container_port: 80, protocol: "tcp".into() }],
        };
        let bridge = Runtime::plugin_config(&list, &list.plugins[0], &att, None);
        let portmap = Runtime::plugin_config(&list, &list.plugins[1], &att, Some(&json!({"cniVersion":"1.0.0"})));
        assert!(bridge.get("runtimeConfig").is_none());
        assert_eq!(portmap["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(portmap["name"], "labctl-t");
        assert_eq!(portmap["prevResult"]["cniVersion"], "1.0.0");
    }
}
