//! The bundle: `config.json` read through oci-spec's types, and the checks made before anything
//! is created (a missing rootfs, another major ociVersion, a bad container id).

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// The runtime spec version lcrun implements (what `lcrun --version` and `features` report).
pub const OCI_VERSION: &str = "1.2.0";

/// A loaded bundle: its directory, the parsed config and the rootfs as an absolute path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| {
            Error::io(format!("bundle {}: no such directory (give the bundle with --bundle DIR)", dir.display()), e)
        })?;
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::io(format!("{}: cannot read the bundle's config (make one with `lcrun spec`)", path.display()), e)
        })?;
        let spec = match parse_spec(&text) {
            Ok(spec) => spec,
            Err(why) => {
                // oci-spec's message for an unknown capability names neither the set nor a fix.
                if let Ok(raw) = serde_json::from_str::<serde_json::Value>(&text) {
                    crate::caps::check_names(&raw)?;
                }
                return Err(Error::Path { path, why });
            }
        };
        check_version(spec.version())?;
        let root = spec.root().as_ref().ok_or_else(|| Error::config("root", "missing: the config names no rootfs"))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { dir.join(root.path()) };
        if !rootfs.is_dir() {
            return Err(Error::config(
                "root.path",
                format!("{} is not a directory: unpack the image's root filesystem there", rootfs.display()),
            ));
        }
        let rootfs =
            std::fs::canonicalize(&rootfs).map_err(|e| Error::io(format!("resolving {}", rootfs.display()), e))?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// serde_json's errors carry line and column; keep them in our words.
pub fn parse_spec(text: &str) -> std::result::Result<Spec, String> {
    serde_json::from_str(text).map_err(|e| format!("invalid config at line {} column {}: {e}", e.line(), e.column()))
}

fn check_version(version: &str) -> Result<()> {
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        return Err(Error::config(
            "ociVersion",
            format!("{version:?} is not a 1.x runtime spec version; lcrun implements {OCI_VERSION}"),
        ));
    }
    Ok(())
}

/// Container ids name a directory under the state root: no path separators, no `..`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid container id {id:?}: use letters, digits and - _ . + @ : (no '/' and not '..')"
        )))
    }
}

/// What `lcrun spec` writes: runc's default config (a shell, the usual mounts, namespaces and
/// masked paths), or its rootless variant with a user namespace mapping the caller to root.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        Spec::default()
    };
    spec.set_version(OCI_VERSION.to_string());
    spec.set_hostname(Some("lcrun".to_string()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(true));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_slashes_or_dots_are_refused() {
        for bad in ["", "..", ".", "a/b", "../x", "a b"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        for good in ["c1", "libpod-0123abcd", "k8s_pod.1", "a:b@c+d"] {
            check_id(good).unwrap();
        }
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let err = parse_spec("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": [}\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn another_major_version_is_refused() {
        let err = check_version("2.0.0").unwrap_err().to_string();
        assert!(err.contains("ociVersion") && err.contains("2.0.0"), "{err}");
        check_version("1.0.2-dev").unwrap();
    }

    #[test]
    fn the_default_spec_round_trips() {
        let spec = default_spec(false);
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(parse_spec(&text).unwrap(), spec);
    }
}
