//! `labctl image pull`: the Docker Registry HTTP API v2 / OCI distribution spec, read side.
//!
//! GET /v2/REPO/manifests/REF (an index is resolved to linux/amd64), then the config and every
//! layer from /v2/REPO/blobs/DIGEST. A 401 with `WWW-Authenticate: Bearer realm=..,service=..,
//! scope=..` is answered with an anonymous token from the realm (Docker Hub's flow). Plain http
//! is used for localhost and 127.0.0.1 (or with --insecure). Every blob is verified against
//! its digest before it enters the store; an interrupted layer download is kept as
//! `blobs/sha256/.partial-HEX` and resumed with a Range request by the next pull.

use crate::digest;
use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::Store;
use anyhow::Context;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};
use std::io::{Read, Write};
use std::time::Duration;

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A registry error with the status and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {host} refused access to {what} (401 Unauthorized): labctl pulls anonymously, so the image must be public")]
    Unauthorized { host: String, what: String },
    #[error("{what} not found on registry {host} (404): check the name and the tag")]
    NotFound { host: String, what: String },
    #[error("registry {host} failed on {what} with HTTP {status}: {body}; try again later")]
    Server { host: String, what: String, status: u16, body: String },
    #[error(
        "cannot reach registry {host} at {url}: {detail}. Without a network (a course VM is often offline), \
         bring the image in another way: `labctl image import` makes one from busybox or the host's programs, \
         `labctl image load -i FILE.tar` reads one saved elsewhere (`labctl image save`, `docker save`)"
    )]
    Unreachable { host: String, url: String, detail: String },
    #[error("download of {digest} stopped after {got} of {total} bytes ({detail}); run the pull again to resume it")]
    Truncated { digest: String, got: u64, total: u64, detail: String },
}

/// What a pull reports about each layer as it goes; the caller renders it (or not).
#[derive(Debug, Clone, Copy)]
pub enum PullEvent<'a> {
    /// Layer `index` of `total` is in the store already.
    Present { index: usize, total: usize, digest: &'a Digest },
    /// `got` of `size` bytes of the layer are downloaded (after every read).
    Progress { index: usize, total: usize, digest: &'a Digest, got: u64, size: u64 },
    /// The layer is downloaded and verified; `resumed` when an earlier partial download continued.
    Done { index: usize, total: usize, digest: &'a Digest, size: u64, resumed: bool },
}

struct Client<'p> {
    agent: ureq::Agent,
    base: String,
    host: String,
    repo: String,
    token: Option<String>,
    progress: &'p mut dyn FnMut(PullEvent),
}

/// Pulls `reference` into the store, reporting each layer to `progress`; returns the local
/// name and the manifest digest.
pub fn pull(
    store: &Store,
    reference: &str,
    insecure: bool,
    progress: &mut dyn FnMut(PullEvent),
) -> anyhow::Result<(String, String)> {
    let r = Reference::parse(reference)?;
    let host = r.registry_host();
    let plain = insecure || host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let mut client = Client {
        agent: ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(30))
            .redirects(5)
            .build(),
        base: format!("{}://{host}", if plain { "http" } else { "https" }),
        host: host.clone(),
        repo: r.remote_repository(),
        token: None,
        progress,
    };
    let (bytes, media_type) = client.manifest(r.manifest_ref())?;
    if let Some(d) = &r.digest {
        check_digest(d, &bytes)?;
    }
    let (bytes, media_type) = if is_index(&media_type, &bytes) {
        let index: ImageIndex = serde_json::from_slice(&bytes).context("the registry's index is not valid JSON")?;
        let pick = crate::store::linux_amd64(&index).cloned().context("the image has no linux/amd64 variant")?;
        let (b, m) = client.manifest(pick.digest().as_ref())?;
        check_digest(pick.digest().as_ref(), &b)?;
        (b, m)
    } else {
        (bytes, media_type)
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).context("the registry's manifest is not an image manifest")?;
    client.blob(store, manifest.config())?;
    let total = manifest.layers().len();
    for (i, layer) in manifest.layers().iter().enumerate() {
        client.blob_with_progress(store, layer, i + 1, total)?;
    }
    let (digest, size) = store.write_blob(&bytes)?;
    let name = r.local_name();
    store.tag(&name, &Descriptor::new(MediaType::from(media_type.as_str()), size, digest.clone()))?;
    Ok((name, digest.to_string()))
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    media_type.contains("index") || media_type.contains("manifest.list") || {
        serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.get("manifests").is_some())
    }
}

fn check_digest(expected: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let actual = digest::sha256(bytes);
    if actual.as_ref() != expected {
        return Err(ImageError::CorruptBlob {
            digest: expected.to_string(),
            path: "(download)".into(),
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(())
}

impl Client<'_> {
    /// GET with the token (fetching one on a Bearer challenge), mapping error statuses.
    fn get(&mut self, path: &str, what: &str, headers: &[(&str, String)]) -> anyhow::Result<ureq::Response> {
        let url = format!("{}{path}", self.base);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            match req.call() {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if attempt == 0 => {
                    let challenge = resp.header("www-authenticate").unwrap_or("").to_string();
                    if !challenge.to_ascii_lowercase().starts_with("bearer") {
                        return Err(self.unauthorized(what));
                    }
                    self.token = Some(self.fetch_token(&challenge, what)?);
                }
                Err(ureq::Error::Status(401, _)) => return Err(self.unauthorized(what)),
                Err(ureq::Error::Status(404, _)) => {
                    return Err(RegistryError::NotFound { host: self.host.clone(), what: what.to_string() }.into())
                }
                Err(ureq::Error::Status(status, resp)) => {
                    let body: String = resp.into_string().unwrap_or_default().chars().take(200).collect();
                    return Err(RegistryError::Server {
                        host: self.host.clone(),
                        what: what.to_string(),
                        status,
                        body: body.trim().to_string(),
                    }
                    .into());
                }
                Err(e) => {
                    return Err(RegistryError::Unreachable {
                        host: self.host.clone(),
                        url,
                        detail: transport_detail(&e),
                    }
                    .into())
                }
            }
        }
        Err(self.unauthorized(what))
    }

    fn unauthorized(&self, what: &str) -> anyhow::Error {
        RegistryError::Unauthorized { host: self.host.clone(), what: what.to_string() }.into()
    }

    /// Docker's token flow: GET realm?service=..&scope=.. → {"token": ..} (or access_token).
    fn fetch_token(&self, challenge: &str, what: &str) -> anyhow::Result<String> {
        let params = parse_challenge(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .context("a Bearer challenge without realm")?;
        let mut req = self.agent.get(&realm);
        for (k, v) in &params {
            if k == "service" || k == "scope" {
                req = req.query(k, v);
            }
        }
        if !params.iter().any(|(k, _)| k == "scope") {
            req = req.query("scope", &format!("repository:{}:pull", self.repo));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, _)) => return Err(self.unauthorized(what)),
            Err(e) => {
                return Err(RegistryError::Unreachable {
                    host: self.host.clone(),
                    url: realm,
                    detail: transport_detail(&e),
                }
                .into())
            }
        };
        let json: serde_json::Value =
            serde_json::from_reader(resp.into_reader()).context("the token endpoint did not answer JSON")?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .map(String::from)
            .context("the token endpoint's answer has no token")
    }

    fn manifest(&mut self, reference: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let what = format!("manifest {}:{reference}", self.repo);
        let resp =
            self.get(&format!("/v2/{}/manifests/{reference}", self.repo), &what, &[("Accept", ACCEPT.to_string())])?;
        let media_type = resp.content_type().to_string();
        let header_digest = resp.header("docker-content-digest").map(String::from);
        let mut bytes = Vec::new();
        resp.into_reader().take(4 << 20).read_to_end(&mut bytes).context("read the manifest")?;
        if let Some(d) = header_digest {
            if d.starts_with("sha256:") {
                check_digest(&d, &bytes)?;
            }
        }
        let media_type = if media_type.is_empty() || media_type == "application/json" || media_type == "text/plain" {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(String::from))
                .unwrap_or_else(|| MediaType::ImageManifest.to_string())
        } else {
            media_type
        };
        Ok((bytes, media_type))
    }

    fn blob(&mut self, store: &Store, d: &Descriptor) -> anyhow::Result<()> {
        self.blob_with_progress(store, d, 0, 0)
    }

    /// Downloads a blob to `.partial-HEX` (resuming with Range), verifies, moves into place.
    fn blob_with_progress(&mut self, store: &Store, d: &Descriptor, n: usize, of: usize) -> anyhow::Result<()> {
        let digest: &Digest = d.digest();
        if store.has_blob(digest) {
            if n > 0 {
                (self.progress)(PullEvent::Present { index: n, total: of, digest });
            }
            return Ok(());
        }
        let final_path = store.blob_path(digest);
        let partial = final_path.with_file_name(format!(".partial-{}", digest.digest()));
        let have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        let what = format!("blob {digest}");
        let headers: Vec<(&str, String)> = if have > 0 { vec![("Range", format!("bytes={have}-"))] } else { vec![] };
        let resp = self.get(&format!("/v2/{}/blobs/{digest}", self.repo), &what, &headers)?;
        let resumed = resp.status() == 206;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(&partial)
            .with_context(|| format!("open {}", partial.display()))?;
        let mut got = if resumed { have } else { 0 };
        let total = d.size();
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let read = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) => {
                    file.flush().ok();
                    return Err(RegistryError::Truncated {
                        digest: digest.to_string(),
                        got,
                        total,
                        detail: e.to_string(),
                    }
                    .into());
                }
            };
            file.write_all(&buf[..read])?;
            got += read as u64;
            if n > 0 {
                (self.progress)(PullEvent::Progress { index: n, total: of, digest, got, size: total });
            }
        }
        file.flush()?;
        drop(file);
        if got < total {
            return Err(RegistryError::Truncated {
                digest: digest.to_string(),
                got,
                total,
                detail: "the connection closed early".into(),
            }
            .into());
        }
        let (actual, _) = digest::sha256_reader(std::io::BufReader::new(std::fs::File::open(&partial)?))?;
        if &actual != digest {
            let _ = std::fs::remove_file(&partial);
            return Err(ImageError::CorruptBlob {
                digest: digest.to_string(),
                path: partial,
                actual: actual.to_string(),
            }
            .into());
        }
        std::fs::rename(&partial, &final_path).with_context(|| format!("rename into {}", final_path.display()))?;
        if n > 0 {
            (self.progress)(PullEvent::Done { index: n, total: of, digest, size: total, resumed });
        }
        Ok(())
    }
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`.
pub fn parse_challenge(header: &str) -> Vec<(String, String)> {
    let rest = header.split_once(' ').map(|(_, r)| r).unwrap_or("");
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            chars.by_ref().take_while(|c| *c != '"').collect()
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        out.push((key.trim().to_string(), value));
    }
    out
}

/// Why a request never got an answer, in words, without the URL (the message has it once):
/// the innermost cause, such as "Connection refused (os error 111)".
fn transport_detail(e: &ureq::Error) -> String {
    let ureq::Error::Transport(t) = e else { return e.to_string() };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(t);
    let mut innermost = None;
    while let Some(c) = cause {
        innermost = Some(c.to_string());
        cause = c.source();
    }
    let what = match t.kind() {
        ureq::ErrorKind::Dns => "the name does not resolve",
        ureq::ErrorKind::ConnectionFailed => "the connection failed",
        ureq::ErrorKind::TooManyRedirects => "too many redirects",
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => "not a usable URL",
        ureq::ErrorKind::Io => "the connection broke",
        _ => "no answer",
    };
    match innermost.or_else(|| t.message().map(str::to_string)) {
        Some(detail) => format!("{what} ({detail})"),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_challenges_parse() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.docker.io/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(p[2], ("scope".into(), "repository:library/ubuntu:pull".into()));
    }
}
