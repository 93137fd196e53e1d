//! `-v` and `--tmpfs`, and named volumes (`volume create|ls|rm`), with docker's rules:
//!
//! - `-v /host/path:/ctr[:ro]` bind-mounts a host path. A host path that does not exist is
//!   created as a directory (what `docker run -v` does; only `--mount` refuses it).
//! - `-v NAME:/ctr` mounts the named volume `<lib>/volumes/NAME/_data`, created on first use;
//!   `-v /ctr` an anonymous one (a random name). A source that is neither absolute nor a valid
//!   volume name (`./data`, `data/x`) is refused, as docker refuses it: relative host paths
//!   are ambiguous, so give an absolute path.
//! - The mode is `ro` or `rw` (default); `rw,ro` contradicts itself and is refused.
//! - `--tmpfs /ctr[:OPTIONS]` mounts a fresh tmpfs (default `rw,nosuid,nodev,noexec`).
//! - A volume that is empty when a container first mounts it gets the image's content at that
//!   path copied in first (owners, modes and links kept), as docker does; a bind never does.
//! - Every `VOLUME` of the image not covered by `-v`/`--tmpfs` becomes an anonymous volume.
//!   Anonymous volumes carry a marker file and go with their container on `rm -v` and `--rm`.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One `-v`, resolved (docker's `Mounts[]` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind` or `volume`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// The volume's name (empty for a bind).
    pub name: String,
    pub source: PathBuf,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub mode: String,
}

/// docker's rule for volume names (the same as for container names).
fn valid_volume_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn volumes_dir(engine: &Engine) -> PathBuf {
    engine.lib.parent().unwrap_or(Path::new("/")).join("volumes")
}

pub fn volume_data(engine: &Engine, name: &str) -> PathBuf {
    volumes_dir(engine).join(name).join("_data")
}

fn check_destination(spec: &str, flag: &str, dest: &str) -> Result<()> {
    if !dest.starts_with('/') {
        return Err(Error::Usage(format!(
            "{flag} {spec}: the container path {dest:?} is not absolute: give it from the container's /, e.g. /data"
        )));
    }
    if Path::new(dest).components().all(|c| matches!(c, std::path::Component::RootDir)) {
        return Err(Error::Usage(format!("{flag} {spec}: cannot mount over the container's / (give a directory)")));
    }
    Ok(())
}

/// Parses one `-v` without touching anything (so bad input leaves nothing behind).
pub fn parse(engine: &Engine, spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, mode) = match parts.as_slice() {
        [dest] => ("", *dest, ""),
        [source, dest] => (*source, *dest, ""),
        [source, dest, mode] => (*source, *dest, *mode),
        _ => {
            return Err(Error::Usage(format!(
                "-v {spec}: too many ':'; give HOST_PATH:CONTAINER_PATH[:ro] or VOLUME:CONTAINER_PATH[:ro]"
            )))
        }
    };
    check_destination(spec, "-v", dest)?;
    let mut rw = true;
    let (mut said_ro, mut said_rw) = (false, false);
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => said_ro = true,
            "rw" => said_rw = true,
            other => {
                return Err(Error::Usage(format!(
                    "-v {spec}: unknown mode {other:?}: use ro (read-only) or rw (read-write, the default)"
                )))
            }
        }
    }
    if said_ro && said_rw {
        return Err(Error::Usage(format!(
            "-v {spec}: invalid mode {mode:?}: ro and rw contradict each other; give one"
        )));
    }
    if said_ro {
        rw = false;
    }
    let mode = mode.to_string();
    if source.starts_with('/') {
        return Ok(MountPoint {
            typ: "bind".into(),
            name: String::new(),
            source: source.into(),
            destination: dest.into(),
            rw,
            mode,
        });
    }
    let name = if source.is_empty() { crate::engine::new_id()? } else { source.to_string() };
    if !valid_volume_name(&name) {
        return Err(Error::Usage(format!(
            "-v {spec}: {source:?} is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+): \
             a relative host path is ambiguous, so give it absolute (e.g. -v \"$PWD/{}:{dest}\")",
            source.trim_start_matches("./")
        )));
    }
    Ok(MountPoint {
        typ: "volume".into(),
        source: volume_data(engine, &name),
        name,
        destination: dest.into(),
        rw,
        mode,
    })
}

/// The marker docker keeps as a label: this volume was made for one container (`-v /ctr`, an
/// image's VOLUME) and is removed with it.
const ANONYMOUS: &str = "anonymous";

/// An anonymous volume at `dest` (a fresh random name), for `-v /ctr` and image VOLUMEs.
pub fn anonymous(engine: &Engine, dest: &str) -> Result<MountPoint> {
    let name = crate::engine::new_id()?;
    Ok(MountPoint {
        typ: "volume".into(),
        source: volume_data(engine, &name),
        name,
        destination: dest.into(),
        rw: true,
        mode: String::new(),
    })
}

/// Makes what the mount points need: a missing host directory (docker's `-v` rule), a
/// volume not created yet; an empty volume gets what the image has at its destination.
/// `anonymous` names the volumes made for this container (`-v /ctr`, image VOLUMEs).
pub fn prepare(mounts: &[MountPoint], image_root: &Path, anonymous: &[String]) -> Result<()> {
    for m in mounts {
        if !m.source.exists() {
            std::fs::create_dir_all(&m.source).map_err(|e| Error::io(format!("creating {}", m.source.display()), e))?;
            if m.typ == "volume" && anonymous.contains(&m.name) {
                let marker = m.source.parent().unwrap_or(&m.source).join(ANONYMOUS);
                std::fs::write(&marker, b"").map_err(|e| Error::io(format!("writing {}", marker.display()), e))?;
            }
        }
        if m.typ == "volume" {
            populate(image_root, m)?;
        }
    }
    Ok(())
}

/// docker's copy-up: an empty volume receives the image's files at its destination.
fn populate(image_root: &Path, m: &MountPoint) -> Result<()> {
    let empty = std::fs::read_dir(&m.source).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let Ok(from) = labruntime::rootfs::resolve_in_root(image_root, Path::new(&m.destination)) else {
        return Ok(());
    };
    if !from.is_dir() {
        return Ok(());
    }
    copy_owned(&from, &m.source).map_err(|e| {
        Error::io(format!("copying the image's {} into volume {} (docker's copy-up)", m.destination, m.name), e)
    })
}

/// A copy of `from` at `to` keeping owner, mode and symlinks (`to` may exist as a directory).
fn copy_owned(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if meta.is_dir() {
        if !to.is_dir() {
            std::fs::create_dir(to)?;
        }
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_owned(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if meta.file_type().is_file() {
        std::fs::copy(from, to)?;
    } else {
        // Device nodes, fifos and sockets in an image's volume dir are left out.
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, meta.permissions())?;
    }
    Ok(())
}

/// Whether volume `name` was made for one container (`-v /ctr`, an image VOLUME).
pub fn is_anonymous(engine: &Engine, name: &str) -> bool {
    volumes_dir(engine).join(name).join(ANONYMOUS).exists()
}

/// `rm -v` and `--rm`: the container's anonymous volumes go with it (named ones stay, and so
/// does one another container still mounts).
pub fn remove_anonymous(engine: &Engine, record: &Record) -> Result<()> {
    for m in record.mounts.iter().filter(|m| m.typ == "volume" && is_anonymous(engine, &m.name)) {
        if users(engine, &m.name).iter().any(|r| r.id != record.id) {
            continue;
        }
        let dir = volumes_dir(engine).join(&m.name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing volume {}", dir.display()), e)),
        }
    }
    Ok(())
}

/// `--tmpfs /ctr[:OPTIONS]`: the destination and the mount options.
pub fn parse_tmpfs(spec: &str) -> Result<(String, Vec<String>)> {
    let (dest, options) = spec.split_once(':').unwrap_or((spec, ""));
    check_destination(spec, "--tmpfs", dest)?;
    let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    for o in options.split(',').filter(|o| !o.is_empty()) {
        let known = ["ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"];
        let key = o.split('=').next().unwrap_or(o);
        if !known.contains(&o) && !["size", "mode", "uid", "gid", "nr_inodes"].contains(&key) {
            return Err(Error::Usage(format!(
                "--tmpfs {spec}: unknown option {o:?}: use ro, exec, size=64m, mode=1777, uid=N, gid=N"
            )));
        }
        let opposite = |a: &str| match a {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        if let Some(off) = opposite(o) {
            opts.retain(|x| x != off);
        }
        opts.push(o.to_string());
    }
    Ok((dest.to_string(), opts))
}

/// The containers (any state) that mount volume `name`.
pub fn users(engine: &Engine, name: &str) -> Vec<Record> {
    engine.records().into_iter().filter(|r| r.mounts.iter().any(|m| m.typ == "volume" && m.name == name)).collect()
}

/// `volume create [NAME]`.
pub fn create(engine: &Engine, name: Option<&str>) -> Result<String> {
    let name = match name {
        Some(n) => n.to_string(),
        None => crate::engine::new_id()?,
    };
    if !valid_volume_name(&name) {
        return Err(Error::Usage(format!(
            "invalid volume name {name:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two or more letters, digits, _ . -)"
        )));
    }
    let data = volume_data(engine, &name);
    std::fs::create_dir_all(&data).map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
    Ok(name)
}

/// Every volume's name, sorted.
pub fn list(engine: &Engine) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(volumes_dir(engine))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("_data").is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `volume rm NAME`: refused while a container (running or not) uses it, as docker does.
pub fn remove(engine: &Engine, name: &str) -> Result<()> {
    let dir = volumes_dir(engine).join(name);
    if !valid_volume_name(name) || !dir.join("_data").is_dir() {
        return Err(Error::Usage(format!("no such volume: {name} (list them with `labctl container volume ls`)")));
    }
    let using = users(engine, name);
    if let Some(r) = using.first() {
        return Err(Error::Usage(format!(
            "volume {name} is in use by container {} ({}): remove the container first (`labctl container rm {}`)",
            r.bare_name(),
            r.short_id(),
            r.bare_name()
        )));
    }
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(format!("removing {}", dir.display()), e))
}
