//! A deterministic walk of a directory tree: parents before children, siblings in byte order,
//! symlinks never followed.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) struct Node {
    /// Relative to the walked root, never empty.
    pub rel: PathBuf,
    pub abs: PathBuf,
    pub meta: std::fs::Metadata,
}

/// Every entry under `root` (not `root` itself), depth first. `descend` decides whether to
/// enter a directory (the whiteout logic never needs to look inside some).
pub(crate) fn walk(root: &Path, visit: &mut dyn FnMut(&Node) -> Result<bool>) -> Result<()> {
    walk_dir(root, Path::new(""), visit)
}

fn walk_dir(dir: &Path, rel: &Path, visit: &mut dyn FnMut(&Node) -> Result<bool>) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(Error::io("read directory", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(Error::io("read directory", dir))?;
    names.sort_by(|a, b| {
        use std::os::unix::ffi::OsStrExt;
        a.as_bytes().cmp(b.as_bytes())
    });
    for name in names {
        let abs = dir.join(&name);
        let meta = std::fs::symlink_metadata(&abs).map_err(Error::io("stat", &abs))?;
        let node = Node { rel: rel.join(&name), abs, meta };
        let descend = visit(&node)?;
        if descend && node.meta.is_dir() {
            walk_dir(&node.abs, &node.rel, visit)?;
        }
    }
    Ok(())
}
