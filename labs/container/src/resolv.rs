//! The container's /etc/resolv.conf, by docker's rules: the host's file, read from systemd-resolved's
//! upstream list when /etc/resolv.conf names only its stub (127.0.0.53); a container with a network
//! namespace of its own cannot reach the host's loopback, so loopback nameservers are dropped there,
//! and when none is left (or the host has no resolv.conf at all) Google's public servers are used.

use std::path::Path;

/// The host's resolver configuration.
pub const HOST: &str = "/etc/resolv.conf";
/// Where systemd-resolved lists the real upstream servers (Ubuntu's /etc/resolv.conf names its stub).
pub const SYSTEMD_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
/// docker's fallback when no usable nameserver is left.
pub const DEFAULT_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// The text of the container's resolv.conf, read from this host.
pub fn for_container(host_network: bool) -> String {
    let read = |p: &str| std::fs::read_to_string(Path::new(p)).ok();
    render(host_network, read(HOST).as_deref(), || read(SYSTEMD_UPSTREAM))
}

/// [`for_container`] on given file contents: `host` is /etc/resolv.conf (None: missing),
/// `upstream` reads systemd-resolved's list when the stub is all the host names.
pub fn render(host_network: bool, host: Option<&str>, upstream: impl FnOnce() -> Option<String>) -> String {
    let host = host.unwrap_or_default();
    if host_network {
        // The host's own namespace: its loopback resolver works as it is.
        return host.to_string();
    }
    let upstream_text;
    let source = if nameservers(host) == ["127.0.0.53"] {
        match upstream() {
            Some(text) => {
                upstream_text = text;
                upstream_text.as_str()
            }
            None => host,
        }
    } else {
        host
    };
    let mut out = String::new();
    for line in source.lines() {
        if nameserver(line).is_some_and(is_loopback) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers(&out).is_empty() {
        for ns in DEFAULT_NAMESERVERS {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    out
}

/// The address of a `nameserver ADDR` line.
fn nameserver(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    (words.next() == Some("nameserver")).then(|| words.next()).flatten()
}

fn nameservers(text: &str) -> Vec<&str> {
    text.lines().filter_map(nameserver).collect()
}

fn is_loopback(addr: &str) -> bool {
    // An IPv6 server may carry a zone (fe80::1%eth0): only the address counts.
    let addr = addr.split('%').next().unwrap_or(addr);
    addr.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Option<String> {
        None
    }

    #[test]
    fn a_plain_host_file_is_copied() {
        let host = "# from DHCP\nsearch lab.example\nnameserver 10.0.0.2\noptions edns0\n";
        assert_eq!(render(false, Some(host), none), host);
    }

    #[test]
    fn loopback_servers_are_dropped_and_the_defaults_fill_in() {
        let host = "nameserver 127.0.0.1\nnameserver ::1\nsearch lab\n";
        assert_eq!(render(false, Some(host), none), "search lab\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let host = "nameserver 127.0.0.1\nnameserver 192.0.2.1\n";
        assert_eq!(render(false, Some(host), none), "nameserver 192.0.2.1\n");
    }

    #[test]
    fn the_systemd_stub_is_replaced_by_its_upstream_list() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        let upstream = || Some("nameserver 192.0.2.53\nsearch corp\n".to_string());
        assert_eq!(render(false, Some(stub), upstream), "nameserver 192.0.2.53\nsearch corp\n");
        // resolved not running: the stub is dropped like any loopback server.
        assert_eq!(
            render(false, Some(stub), none),
            "options edns0 trust-ad\nsearch .\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn no_host_file_gives_the_defaults_and_host_network_takes_the_file_as_it_is() {
        assert_eq!(render(false, None, none), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert_eq!(render(true, None, none), "");
        let stub = "nameserver 127.0.0.53\n";
        assert_eq!(render(true, Some(stub), || Some("nameserver 192.0.2.53\n".into())), stub);
    }
}
