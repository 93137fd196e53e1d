//! NAT and port mapping through the nftables (`nft`) or iptables binary, as Docker does.
//! Everything lives in labctl's own table (`table inet labctl`) or chains (`LABCTL-*`), in the
//! network namespace the firewall object was made for.

use crate::ports::PortMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The nftables table labctl owns.
pub const NFT_TABLE: &str = "labctl";
/// Chains labctl owns in the iptables `nat` table.
pub const IPT_PREROUTING: &str = "LABCTL-PREROUTING";
pub const IPT_OUTPUT: &str = "LABCTL-OUTPUT";
pub const IPT_POSTROUTING: &str = "LABCTL-POSTROUTING";
/// The chain labctl owns in the iptables `filter` table (the FORWARD demo).
pub const IPT_FORWARD: &str = "LABCTL-FORWARD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Iptables,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Nft => "nft",
            Backend::Iptables => "iptables",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("neither nft nor iptables was found in PATH: NAT and port mapping need one of them (Debian/Ubuntu: apt-get install nftables)")]
    Missing,
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("`{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, FirewallError>;

/// Finds `program` in `$PATH` (so tests can hide a binary by narrowing PATH).
pub fn which(program: &str) -> Option<PathBuf> {
    which_in(program, &std::env::var_os("PATH")?)
}

/// Finds `program` in a PATH-style list of directories.
pub fn which_in(program: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path).map(|d| d.join(program)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// Which firewall tool this host has: `nft` preferred, `iptables` as the fallback.
pub fn detect() -> Option<Backend> {
    if which("nft").is_some() {
        Some(Backend::Nft)
    } else if which("iptables").is_some() {
        Some(Backend::Iptables)
    } else {
        None
    }
}

/// The firewall of one network namespace (`None`: the calling thread's).
#[derive(Debug, Clone)]
pub struct Firewall {
    pub backend: Backend,
    netns: Option<PathBuf>,
}

impl Firewall {
    /// The detected backend, acting in the calling thread's network namespace.
    pub fn here() -> Result<Firewall> {
        Ok(Firewall { backend: detect().ok_or(FirewallError::Missing)?, netns: None })
    }

    /// The detected backend, acting in the network namespace at `netns`.
    pub fn in_netns(netns: &Path) -> Result<Firewall> {
        Ok(Firewall { backend: detect().ok_or(FirewallError::Missing)?, netns: Some(netns.to_path_buf()) })
    }

    /// Runs the backend's binary with `args` (and `stdin`), in our namespace; returns stdout.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let program = self.backend.name();
        let command = format!("{program} {}", args.join(" "));
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = match &self.netns {
            None => cmd.spawn(),
            Some(ns) => std::fs::File::open(ns).and_then(|f| {
                labkit::sys::spawn_in_namespaces(&mut cmd, vec![(f, nix::sched::CloneFlags::CLONE_NEWNET)])
            }),
        };
        let mut child = spawned.map_err(|source| FirewallError::Spawn { command: command.clone(), source })?;
        if let Some(input) = stdin {
            if let Some(mut pipe) = child.stdin.take() {
                let _ = pipe.write_all(input.as_bytes());
            }
        }
        let out =
            child.wait_with_output().map_err(|source| FirewallError::Spawn { command: command.clone(), source })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(FirewallError::Failed { command, stderr });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ipt(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-w"];
        full.extend_from_slice(args);
        self.run(&full, None)
    }

    /// Does labctl's table / chains exist here?
    pub fn installed(&self) -> bool {
        match self.backend {
            Backend::Nft => self.run(&["list", "table", "inet", NFT_TABLE], None).is_ok(),
            Backend::Iptables => self.ipt(&["-t", "nat", "-S", IPT_POSTROUTING]).is_ok(),
        }
    }

    /// Creates labctl's NAT table: masquerade for `subnet` leaving through anything but
    /// `bridge`, and empty port-mapping chains for traffic to a local address (from outside,
    /// prerouting; from this host, output). Idempotent.
    pub fn install(&self, subnet: &str, bridge: &str) -> Result<()> {
        if self.installed() {
            return Ok(());
        }
        match self.backend {
            Backend::Nft => {
                let script = format!(
                    "table inet {NFT_TABLE} {{\n\
                     \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}}\n\
                     \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t}}\n\
                     \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                     \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\t}}\n}}\n"
                );
                self.run(&["-f", "-"], Some(&script))?;
            }
            Backend::Iptables => {
                for chain in [IPT_PREROUTING, IPT_OUTPUT, IPT_POSTROUTING] {
                    self.ipt(&["-t", "nat", "-N", chain])?;
                }
                self.ipt(&[
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    IPT_PREROUTING,
                ])?;
                self.ipt(&[
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "!",
                    "-d",
                    "127.0.0.0/8",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    IPT_OUTPUT,
                ])?;
                self.ipt(&["-t", "nat", "-A", "POSTROUTING", "-j", IPT_POSTROUTING])?;
                self.ipt(&["-t", "nat", "-A", IPT_POSTROUTING, "-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"])?;
            }
        }
        Ok(())
    }

    /// Removes everything labctl put here (idempotent).
    pub fn uninstall(&self) -> Result<()> {
        for argv in self.uninstall_argv() {
            let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
            let _ = self.run(&args, None);
        }
        if self.installed() {
            return Err(FirewallError::Failed {
                command: format!("{} (remove labctl rules)", self.backend.name()),
                stderr: "labctl's rules are still present".into(),
            });
        }
        Ok(())
    }

    /// The commands that remove labctl's rules, for `Undo::Command` (run in the namespace the
    /// undo runs in: only register these for the namespace labctl itself runs in).
    pub fn uninstall_argv(&self) -> Vec<Vec<String>> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        match self.backend {
            Backend::Nft => vec![v(&["nft", "delete", "table", "inet", NFT_TABLE])],
            Backend::Iptables => vec![
                v(&[
                    "iptables",
                    "-w",
                    "-t",
                    "nat",
                    "-D",
                    "PREROUTING",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    IPT_PREROUTING,
                ]),
                v(&[
                    "iptables",
                    "-w",
                    "-t",
                    "nat",
                    "-D",
                    "OUTPUT",
                    "!",
                    "-d",
                    "127.0.0.0/8",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    IPT_OUTPUT,
                ]),
                v(&["iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-j", IPT_POSTROUTING]),
                v(&["iptables", "-w", "-t", "nat", "-F", IPT_PREROUTING]),
                v(&["iptables", "-w", "-t", "nat", "-X", IPT_PREROUTING]),
                v(&["iptables", "-w", "-t", "nat", "-F", IPT_OUTPUT]),
                v(&["iptables", "-w", "-t", "nat", "-X", IPT_OUTPUT]),
                v(&["iptables", "-w", "-t", "nat", "-F", IPT_POSTROUTING]),
                v(&["iptables", "-w", "-t", "nat", "-X", IPT_POSTROUTING]),
                v(&["iptables", "-w", "-D", "FORWARD", "-j", IPT_FORWARD]),
                v(&["iptables", "-w", "-F", IPT_FORWARD]),
                v(&["iptables", "-w", "-X", IPT_FORWARD]),
            ],
        }
    }

    /// Maps `map.host` on every local address to `to:map.container` (DNAT), tagged with
    /// `tag` so it can be removed alone.
    pub fn add_port_map(&self, map: &PortMap, to: Ipv4Addr, tag: &str) -> Result<()> {
        let dest = format!("{to}:{}", map.container);
        let (proto, host) = (map.proto.to_string(), map.host.to_string());
        match self.backend {
            Backend::Nft => {
                // Both rules in one `nft -f -`: one transaction, one process (each spawn of nft
                // is most of a port map's cost).
                let mut script = String::new();
                for chain in ["prerouting", "output"] {
                    let local = if chain == "output" { "ip daddr != 127.0.0.0/8 " } else { "" };
                    script.push_str(&format!(
                        "add rule inet {NFT_TABLE} {chain} {local}fib daddr type local {proto} dport {host} dnat ip to \
                         {dest} comment \"{tag}\"\n"
                    ));
                }
                self.run(&["-f", "-"], Some(&script))?;
            }
            Backend::Iptables => {
                for chain in [IPT_PREROUTING, IPT_OUTPUT] {
                    self.ipt(&ipt_map_rule("-A", chain, &proto, &host, &dest, tag))?;
                }
            }
        }
        Ok(())
    }

    /// Removes a mapping added by [`Firewall::add_port_map`] (idempotent).
    pub fn remove_port_map(&self, map: &PortMap, to: Ipv4Addr, tag: &str) -> Result<()> {
        match self.backend {
            Backend::Nft => {
                // One listing of the table and one transaction deleting every rule of the tag.
                let Ok(listing) = self.run(&["-a", "-j", "list", "table", "inet", NFT_TABLE], None) else {
                    return Ok(());
                };
                let script: String = rules_with_comment(&listing, tag)
                    .into_iter()
                    .filter(|(chain, _)| chain == "prerouting" || chain == "output")
                    .map(|(chain, handle)| format!("delete rule inet {NFT_TABLE} {chain} handle {handle}\n"))
                    .collect();
                if !script.is_empty() {
                    self.run(&["-f", "-"], Some(&script))?;
                }
            }
            Backend::Iptables => {
                let dest = format!("{to}:{}", map.container);
                let (proto, host) = (map.proto.to_string(), map.host.to_string());
                for chain in [IPT_PREROUTING, IPT_OUTPUT] {
                    let _ = self.ipt(&ipt_map_rule("-D", chain, &proto, &host, &dest, tag));
                }
            }
        }
        Ok(())
    }

    /// Adds a filter on forwarded traffic with a DROP policy, the way Docker hosts have one
    /// (lab only: this is labctl's own chain, in a namespace labctl made).
    pub fn forward_drop(&self) -> Result<()> {
        match self.backend {
            Backend::Nft => {
                let script = format!(
                    "table inet {NFT_TABLE} {{\n\tchain forward {{\n\t\ttype filter hook forward priority filter; policy drop;\n\t}}\n}}\n"
                );
                self.run(&["-f", "-"], Some(&script))?;
            }
            Backend::Iptables => {
                self.ipt(&["-N", IPT_FORWARD])?;
                self.ipt(&["-A", IPT_FORWARD, "-j", "DROP"])?;
                self.ipt(&["-I", "FORWARD", "-j", IPT_FORWARD])?;
            }
        }
        Ok(())
    }

    /// Lets forwarded traffic from `bridge`, and replies to it, through the DROP filter.
    pub fn forward_allow(&self, bridge: &str) -> Result<()> {
        match self.backend {
            Backend::Nft => {
                self.run(
                    &["add", "rule", "inet", NFT_TABLE, "forward", "ct", "state", "established,related", "accept"],
                    None,
                )?;
                self.run(&["add", "rule", "inet", NFT_TABLE, "forward", "ct", "status", "dnat", "accept"], None)?;
                self.run(&["add", "rule", "inet", NFT_TABLE, "forward", "iifname", bridge, "accept"], None)?;
            }
            Backend::Iptables => {
                self.ipt(&["-I", IPT_FORWARD, "-i", bridge, "-j", "ACCEPT"])?;
                self.ipt(&["-I", IPT_FORWARD, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"])?;
                self.ipt(&["-I", IPT_FORWARD, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"])?;
            }
        }
        Ok(())
    }

    /// labctl's rules as the tool lists them (`nft list table inet labctl`, or `iptables -S`
    /// of labctl's chains).
    pub fn listing(&self) -> Result<String> {
        match self.backend {
            Backend::Nft => self.run(&["list", "table", "inet", NFT_TABLE], None),
            Backend::Iptables => {
                let mut out = String::new();
                for (table, chain) in
                    [("nat", IPT_PREROUTING), ("nat", IPT_OUTPUT), ("nat", IPT_POSTROUTING), ("filter", IPT_FORWARD)]
                {
                    if let Ok(s) = self.ipt(&["-t", table, "-S", chain]) {
                        out.push_str(&s);
                    }
                }
                Ok(out)
            }
        }
    }
}

fn ipt_map_rule<'a>(
    op: &'a str,
    chain: &'a str,
    proto: &'a str,
    host: &'a str,
    dest: &'a str,
    tag: &'a str,
) -> Vec<&'a str> {
    vec![
        "-t",
        "nat",
        op,
        chain,
        "-p",
        proto,
        "--dport",
        host,
        "-m",
        "comment",
        "--comment",
        tag,
        "-j",
        "DNAT",
        "--to-destination",
        dest,
    ]
}

/// Handles of the rules in an `nft -a -j list chain` listing whose comment is `tag`.
pub fn rule_handles_with_comment(json: &str, tag: &str) -> Vec<u64> {
    rules_with_comment(json, tag).into_iter().map(|(_, handle)| handle).collect()
}

/// The (chain, handle) of every rule tagged `tag` in `nft -a -j list table …` output.
pub fn rules_with_comment(json: &str, tag: &str) -> Vec<(String, u64)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    value["nftables"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("rule"))
                .filter(|r| r["comment"].as_str() == Some(tag))
                .filter_map(|r| Some((r["chain"].as_str()?.to_string(), r["handle"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_handles_are_found_by_comment() {
        let json = r#"{"nftables":[{"metainfo":{}},{"chain":{"name":"prerouting"}},
            {"rule":{"chain":"prerouting","handle":4,"comment":"labctl-a"}},
            {"rule":{"chain":"prerouting","handle":7,"comment":"labctl-b"}}]}"#;
        assert_eq!(rule_handles_with_comment(json, "labctl-b"), vec![7]);
        assert!(rule_handles_with_comment("not json", "x").is_empty());
    }

    #[test]
    fn a_table_listing_gives_each_tagged_rule_with_its_chain() {
        let json = r#"{"nftables":[{"table":{"name":"labctl"}},
            {"rule":{"chain":"prerouting","handle":4,"comment":"labctl-a"}},
            {"rule":{"chain":"postrouting","handle":5}},
            {"rule":{"chain":"output","handle":9,"comment":"labctl-a"}}]}"#;
        assert_eq!(
            rules_with_comment(json, "labctl-a"),
            vec![("prerouting".to_string(), 4), ("output".to_string(), 9)]
        );
    }

    #[test]
    fn which_finds_nothing_on_an_empty_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(which_in("nft", dir.path().as_os_str()), None);
        assert!(which_in("sh", std::ffi::OsStr::new("/bin:/usr/bin")).is_some());
    }
}
