//! Writing an OCI image-spec layer tarball from an overlay upper directory.

use crate::error::{Error, Result};
use crate::walk::walk;
use crate::whiteout::{is_opaque, is_overlay_xattr, is_whiteout, OPAQUE_MARKER, WHITEOUT_PREFIX};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// How to make a layer reproducible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Clamp every entry's mtime to at most this many seconds since the epoch (the
    /// `SOURCE_DATE_EPOCH` convention of reproducible builds, like `tar --clamp-mtime`).
    pub source_date_epoch: Option<u64>,
    /// Record every entry as owned by this uid/gid instead of the file's own.
    pub owner: Option<(u32, u32)>,
}

impl LayerOptions {
    /// Options from the environment: `SOURCE_DATE_EPOCH` when set to a number.
    pub fn from_env() -> LayerOptions {
        LayerOptions {
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok()),
            owner: None,
        }
    }
}

/// What went into a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerSummary {
    /// Tar entries written (whiteout and opaque markers included).
    pub entries: usize,
    /// `.wh.<name>` entries (deleted paths).
    pub whiteouts: usize,
    /// `.wh..wh..opq` entries (opaque directories).
    pub opaque_dirs: usize,
    /// File content bytes.
    pub bytes: u64,
}

/// Writes `upper` as an OCI layer tar to `out`: parents before children, siblings in byte
/// order, whiteout devices as empty `.wh.<name>` files, opaque directories followed by a
/// `.wh..wh..opq` entry, hard links as links, xattrs (except overlay's own) as PAX
/// `SCHILY.xattr.*` records. Sockets are skipped (a tar cannot hold them).
pub fn write_layer(upper: &Path, out: impl Write, opts: &LayerOptions) -> Result<LayerSummary> {
    let mut tar = tar::Builder::new(out);
    let mut summary = LayerSummary::default();
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let tar_err = |path: &Path| Error::io("write layer entry for", path.to_path_buf());
    walk(upper, &mut |node| {
        let meta = &node.meta;
        let ft = meta.file_type();
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        let (uid, gid) = opts.owner.unwrap_or((meta.uid(), meta.gid()));
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        let mtime = meta.mtime().max(0) as u64;
        header.set_mtime(opts.source_date_epoch.map_or(mtime, |e| mtime.min(e)));
        header.set_size(0);

        if is_whiteout(&node.abs, meta) {
            let mut name = node.rel.parent().unwrap_or(Path::new("")).to_path_buf();
            let mut file = WHITEOUT_PREFIX.as_bytes().to_vec();
            file.extend_from_slice(node.rel.file_name().unwrap_or_default().as_bytes());
            name.push(std::ffi::OsStr::from_bytes(&file));
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o600);
            tar.append_data(&mut header, &name, std::io::empty()).map_err(tar_err(&node.abs))?;
            summary.entries += 1;
            summary.whiteouts += 1;
            return Ok(false);
        }

        let xattrs = user_xattrs(&node.abs);
        if !xattrs.is_empty() {
            let records: Vec<(String, &[u8])> =
                xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
            tar.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v))).map_err(tar_err(&node.abs))?;
        }

        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            let mut name = node.rel.as_os_str().to_owned();
            name.push("/");
            tar.append_data(&mut header, Path::new(&name), std::io::empty()).map_err(tar_err(&node.abs))?;
            summary.entries += 1;
            if is_opaque(&node.abs) {
                let mut marker = tar::Header::new_gnu();
                marker.set_entry_type(tar::EntryType::Regular);
                marker.set_mode(0o600);
                marker.set_uid(uid.into());
                marker.set_gid(gid.into());
                marker.set_mtime(header.mtime().unwrap_or(0));
                marker.set_size(0);
                tar.append_data(&mut marker, node.rel.join(OPAQUE_MARKER), std::io::empty())
                    .map_err(tar_err(&node.abs))?;
                summary.entries += 1;
                summary.opaque_dirs += 1;
            }
            return Ok(true);
        }
        if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = links.get(&key) {
                    header.set_entry_type(tar::EntryType::Link);
                    tar.append_link(&mut header, &node.rel, first).map_err(tar_err(&node.abs))?;
                    summary.entries += 1;
                    return Ok(false);
                }
                links.insert(key, node.rel.clone());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = std::fs::File::open(&node.abs).map_err(Error::io("open", &node.abs))?;
            tar.append_data(&mut header, &node.rel, file).map_err(tar_err(&node.abs))?;
            summary.bytes += meta.len();
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&node.abs).map_err(Error::io("readlink", &node.abs))?;
            header.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut header, &node.rel, &target).map_err(tar_err(&node.abs))?;
        } else if ft.is_fifo() {
            header.set_entry_type(tar::EntryType::Fifo);
            header.set_device_major(0).and_then(|()| header.set_device_minor(0)).map_err(tar_err(&node.abs))?;
            tar.append_data(&mut header, &node.rel, std::io::empty()).map_err(tar_err(&node.abs))?;
        } else if ft.is_char_device() || ft.is_block_device() {
            header.set_entry_type(if ft.is_char_device() { tar::EntryType::Char } else { tar::EntryType::Block });
            let rdev = meta.rdev();
            header
                .set_device_major(nix::sys::stat::major(rdev) as u32)
                .and_then(|()| header.set_device_minor(nix::sys::stat::minor(rdev) as u32))
                .map_err(tar_err(&node.abs))?;
            tar.append_data(&mut header, &node.rel, std::io::empty()).map_err(tar_err(&node.abs))?;
        } else {
            // A socket: nothing a layer can carry.
            return Ok(false);
        }
        summary.entries += 1;
        Ok(false)
    })?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(Error::io("finish layer for", upper))?;
    Ok(summary)
}

/// The xattrs of `path` worth carrying in a layer, sorted by name.
fn user_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = names
        .filter_map(|n| n.to_str().map(str::to_string))
        .filter(|n| !is_overlay_xattr(n))
        .filter_map(|n| match xattr::get(path, &n) {
            Ok(Some(v)) => Some((n, v)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}
