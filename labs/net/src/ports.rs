//! Port mappings: `-p HOST:CONTAINER[/PROTO]`, what `docker run -p 8080:80` takes.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One mapping of a host port to a port inside a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    pub host: u16,
    pub container: u16,
    pub proto: Proto,
}

impl fmt::Display for PortMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.container, self.proto)
    }
}

/// Why a port spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port mapping {spec:?}: {reason} (expected HOST:CONTAINER[/tcp|/udp], e.g. 8080:80)")]
pub struct PortSpecError {
    pub spec: String,
    pub reason: String,
}

fn port(spec: &str, which: &str, text: &str) -> Result<u16, PortSpecError> {
    let bad = |reason: String| PortSpecError { spec: spec.to_string(), reason };
    if text.is_empty() {
        return Err(bad(format!("the {which} port is missing")));
    }
    let n: u64 = text.parse().map_err(|_| bad(format!("the {which} port {text:?} is not a number")))?;
    if n == 0 || n > 65535 {
        return Err(bad(format!("the {which} port {n} is outside 1-65535")));
    }
    Ok(n as u16)
}

impl FromStr for PortMap {
    type Err = PortSpecError;

    fn from_str(spec: &str) -> Result<PortMap, PortSpecError> {
        let bad = |reason: &str| PortSpecError { spec: spec.to_string(), reason: reason.to_string() };
        let (ports, proto) = match spec.split_once('/') {
            Some((p, proto)) => (p, proto),
            None => (spec, "tcp"),
        };
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => {
                return Err(PortSpecError {
                    spec: spec.to_string(),
                    reason: format!("unsupported protocol {other:?}: use tcp or udp"),
                })
            }
        };
        let Some((host, container)) = ports.split_once(':') else {
            return Err(bad("a host port is required"));
        };
        if container.contains(':') {
            return Err(bad("binding to a host address is not supported"));
        }
        Ok(PortMap { host: port(spec, "host", host)?, container: port(spec, "container", container)?, proto })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PortMap, PortSpecError> {
        s.parse()
    }

    #[test]
    fn host_to_container_defaults_to_tcp() {
        assert_eq!(parse("8080:80").unwrap(), PortMap { host: 8080, container: 80, proto: Proto::Tcp });
        assert_eq!(parse("5353:53/udp").unwrap().proto, Proto::Udp);
        assert_eq!(parse("8080:80/TCP").unwrap().to_string(), "8080:80/tcp");
    }

    #[test]
    fn port_zero_is_refused() {
        let e = parse("0:80").unwrap_err();
        assert!(e.to_string().contains("host port 0 is outside 1-65535"), "{e}");
        let e = parse("8080:0").unwrap_err();
        assert!(e.to_string().contains("container port 0"), "{e}");
    }

    #[test]
    fn port_70000_is_out_of_range() {
        let e = parse("70000:80").unwrap_err();
        assert!(e.to_string().contains("70000 is outside 1-65535"), "{e}");
    }

    #[test]
    fn a_non_numeric_port_is_named() {
        let e = parse("80:abc").unwrap_err();
        assert!(e.to_string().contains("container port \"abc\" is not a number"), "{e}");
    }

    #[test]
    fn an_unsupported_protocol_is_named() {
        let e = parse("8080:80/sctp").unwrap_err();
        assert!(e.to_string().contains("unsupported protocol \"sctp\""), "{e}");
    }

    #[test]
    fn a_missing_host_port_is_refused() {
        assert!(parse("80").unwrap_err().reason.contains("host port is required"));
        assert!(parse(":80").unwrap_err().reason.contains("host port is missing"));
    }
}
