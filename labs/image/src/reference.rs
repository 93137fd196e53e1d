//! Image references: `NAME[:TAG]` for the local store, `[REGISTRY/]REPO[:TAG|@DIGEST]` for pulls.
//! The grammar is the one of the OCI distribution spec (lowercase path components separated
//! by `.`, `_`, `__` or `-`; tags up to 128 characters of `[A-Za-z0-9_.-]`, not starting
//! with `.` or `-`).

use crate::error::{ImageError, Result};
use std::fmt;

pub const DEFAULT_TAG: &str = "latest";
pub const DOCKER_HUB: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `localhost:5000`, `docker.io`; `None` when the reference names no registry.
    pub registry: Option<String>,
    /// `library/ubuntu`, `httpserver` (as written, without the registry).
    pub repository: String,
    pub tag: String,
    /// `sha256:...` when pulled by digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference, with `latest` as the default tag.
    pub fn parse(input: &str) -> Result<Reference> {
        let bad = |reason: &str| ImageError::BadReference { input: input.to_string(), reason: reason.to_string() };
        if input.is_empty() {
            return Err(bad("empty name"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                crate::digest::parse(d).map_err(|e| bad(&e))?;
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], &rest[last_slash + i + 1..]),
            None => (rest, DEFAULT_TAG),
        };
        if !valid_tag(tag) {
            return Err(bad(&format!(
                "tag {tag:?} must be 1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'"
            )));
        }
        let mut components: Vec<&str> = name.split('/').collect();
        let registry = if components.len() > 1
            && (components[0].contains('.') || components[0].contains(':') || components[0] == "localhost")
        {
            let host = components.remove(0);
            if !valid_host(host) {
                return Err(bad(&format!("registry {host:?} is not HOST[:PORT]")));
            }
            Some(host.to_string())
        } else {
            None
        };
        for c in &components {
            if !valid_component(c) {
                return Err(bad(&format!(
                    "name component {c:?} must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
                )));
            }
        }
        Ok(Reference { registry, repository: components.join("/"), tag: tag.to_string(), digest })
    }

    /// The key in the local store: `[REGISTRY/]REPO:TAG` (as written, tag defaulted).
    pub fn local_name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}:{}", self.repository, self.tag),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }

    /// The registry host to talk to (Docker Hub when none is named).
    pub fn registry_host(&self) -> String {
        match self.registry.as_deref() {
            None | Some("docker.io") | Some("index.docker.io") => DOCKER_HUB.to_string(),
            Some(r) => r.to_string(),
        }
    }

    /// The repository path on the registry (`library/` is implied for Docker Hub).
    pub fn remote_repository(&self) -> String {
        if self.registry_host() == DOCKER_HUB && !self.repository.contains('/') {
            format!("library/{}", self.repository)
        } else {
            self.repository.clone()
        }
    }

    /// Tag or digest, as the registry's manifest endpoint wants it.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().unwrap_or(&self.tag)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.local_name())?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Normalises a local name: `httpserver` → `httpserver:latest`; errors on bad syntax.
pub fn normalize(name: &str) -> Result<String> {
    let r = Reference::parse(name)?;
    if r.digest.is_some() {
        return Err(ImageError::BadReference {
            input: name.to_string(),
            reason: "a local image name cannot carry a digest".into(),
        });
    }
    Ok(r.local_name())
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_component(c: &str) -> bool {
    if c.is_empty() {
        return false;
    }
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    if !c.starts_with(alnum) || !c.ends_with(alnum) {
        return false;
    }
    // separators: '.', '_', '__', '-'+ between alphanumerics
    let bytes = c.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let ch = bytes[i] as char;
        if alnum(ch) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i] as char) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|s| s == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_gets_the_latest_tag() {
        assert_eq!(normalize("httpserver").unwrap(), "httpserver:latest");
        assert_eq!(normalize("a/b:v1.0").unwrap(), "a/b:v1.0");
    }

    #[test]
    fn a_registry_with_a_port_is_not_a_tag() {
        let r = Reference::parse("localhost:5000/demo/app:1").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.repository, "demo/app");
        assert_eq!(r.tag, "1");
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.tag, "latest");
    }

    #[test]
    fn docker_hub_names_get_library() {
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(r.registry_host(), DOCKER_HUB);
        assert_eq!(r.remote_repository(), "library/ubuntu");
    }

    #[test]
    fn bad_tag_syntax_is_refused_with_the_rule() {
        for bad in ["Upper:1", "a:-x", "a:", "a::b", "a b", "a/:x", "a:t@sha256:12"] {
            let err = Reference::parse(bad).unwrap_err().to_string();
            assert!(err.contains("bad image reference"), "{bad}: {err}");
        }
        let err = Reference::parse("x:has space").unwrap_err().to_string();
        assert!(err.contains("tag \"has space\""), "{err}");
    }
}
