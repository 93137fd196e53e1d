//! `cp SRC CONTAINER:DST` and `cp CONTAINER:SRC DST`, docker's rules: a directory is copied
//! whole; a DST that is an existing directory receives SRC inside it. The container side is
//! `/proc/PID/root` while it runs (volumes included), its overlay mounted for the copy when
//! stopped. Every container path is resolved inside that root (labruntime's securejoin rule:
//! symlinks are followed relative to the root, `..` stops there), so a link to /etc reaches
//! the container's /etc, never the host's; a path that climbs above / is refused outright.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::Record;
use std::path::{Component, Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A host path or CONTAINER:PATH
    pub source: String,
    /// A host path or CONTAINER:PATH
    pub destination: String,
}

fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':')
}

/// A container path made absolute (relative to /) and refused if `..` climbs above /.
fn inside(spec: &str, path: &str) -> Result<PathBuf> {
    let mut depth: i32 = 0;
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(Error::Usage(format!(
                "cp {spec}: {path:?} climbs above the container's / (with ..): give a path inside it, from its /"
            )));
        }
    }
    Ok(Path::new("/").join(path))
}

/// The container's root for the copy, and whether we mounted it (and unmount after).
fn root_of(engine: &Engine, record: &Record) -> Result<(PathBuf, bool)> {
    if matches!(engine.live(record), Live::Running | Live::Paused) && record.state.pid > 0 {
        return Ok((PathBuf::from(format!("/proc/{}/root", record.state.pid)), false));
    }
    let merged = engine.merged(&record.id);
    if crate::host::is_mounted(&merged) {
        return Ok((merged, false));
    }
    crate::host::mount_rootfs(engine, record)?;
    Ok((merged, true))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(target, to)
    } else if meta.is_dir() {
        if !to.is_dir() {
            std::fs::create_dir(to)?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

/// docker's DST rule: into an existing directory, else as that name (its parent must exist).
fn target(dst: &Path, src: &Path, shown: &str) -> Result<PathBuf> {
    if dst.is_dir() {
        let name = src.file_name().ok_or_else(|| Error::Usage(format!("cp: {} has no name", src.display())))?;
        return Ok(dst.join(name));
    }
    match dst.parent() {
        Some(p) if p.is_dir() => Ok(dst.to_path_buf()),
        _ => Err(Error::Usage(format!("cp: the directory of {shown} does not exist: create it first"))),
    }
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let (to_container, name, path, host) = match (split(&args.source), split(&args.destination)) {
        (None, Some((c, p))) => (true, c, p, args.source.as_str()),
        (Some((c, p)), None) => (false, c, p, args.destination.as_str()),
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "cp: copying between two containers is not supported: copy through the host".into(),
            ))
        }
        (None, None) => {
            return Err(Error::Usage(
                "cp: one side must be CONTAINER:PATH (e.g. `labctl container cp web:/etc/hosts .`)".into(),
            ))
        }
    };
    let spec = format!("{} {}", args.source, args.destination);
    let record = engine.find(name)?;
    let in_container = inside(&spec, path)?;
    let (root, mounted) = root_of(engine, &record)?;
    let resolved = labruntime::rootfs::resolve_in_root(&root, &in_container)?;
    let shown = format!("{}:{}", record.bare_name(), in_container.display());
    let result = if to_container {
        let src = PathBuf::from(host);
        if !src.exists() {
            Err(Error::Usage(format!("cp: {host}: no such file or directory on the host")))
        } else {
            target(&resolved, &src, &shown)
                .and_then(|to| copy_tree(&src, &to).map_err(|e| Error::io(format!("copying {host} to {shown}"), e)))
        }
    } else if std::fs::symlink_metadata(&resolved).is_err() {
        Err(Error::Usage(format!("cp: {shown}: no such file or directory in the container")))
    } else {
        let dst = PathBuf::from(host);
        target(&dst, &resolved, host)
            .and_then(|to| copy_tree(&resolved, &to).map_err(|e| Error::io(format!("copying {shown} to {host}"), e)))
    };
    if mounted {
        laboverlay::unmount(&engine.merged(&record.id))?;
    }
    result.map(|()| 0)
}
