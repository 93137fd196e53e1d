//! Reproducible layer tars for files that come from outside a running container (ADD/COPY,
//! imports): entries sorted by path, one fixed mtime (SOURCE_DATE_EPOCH, else 0), ownership
//! normalised to root (or `--chown`), no user/group names. A layer made from a container's
//! changes (RUN) is the OverlayFS upper diff instead; that translation lives in laboverlay.

use crate::digest::{self, HashingWriter};
use crate::error::{io, Result};
use crate::store::Store;
use oci_spec::image::{Descriptor, Digest, MediaType};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The fixed timestamp of every entry we write: `$SOURCE_DATE_EPOCH`, else the epoch.
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// `created` timestamps (RFC 3339) for configs and history.
pub fn created_timestamp() -> String {
    let secs = source_date_epoch() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Vec<u8>),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub enum Kind {
    Dir,
    File(Content),
    Symlink(String),
    /// A hard link to another entry of the same layer (path inside the layer).
    Hardlink(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// Collects entries by path and writes them as a reproducible tar.
#[derive(Debug, Default, Clone)]
pub struct LayerBuilder {
    entries: BTreeMap<String, Entry>,
    owner: (u64, u64),
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// Ownership for entries added from now on (`COPY --chown`).
    pub fn set_owner(&mut self, uid: u64, gid: u64) {
        self.owner = (uid, gid);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Adds an entry at `path` (absolute or relative to the image root), creating missing
    /// parent directories (0755, root). A later entry at the same path replaces the earlier.
    pub fn add(&mut self, path: &str, kind: Kind, mode: u32) {
        let Some(path) = clean_path(path) else {
            return;
        };
        if path.is_empty() {
            return;
        }
        let mut parent = String::new();
        for comp in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            self.entries.entry(parent.clone()).or_insert(Entry { kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0 });
        }
        let (uid, gid) = self.owner;
        self.entries.insert(path, Entry { kind, mode: mode & 0o7777, uid, gid });
    }

    pub fn add_dir(&mut self, path: &str, mode: u32) {
        self.add(path, Kind::Dir, mode);
    }

    pub fn add_bytes(&mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u32) {
        self.add(path, Kind::File(Content::Bytes(bytes.into())), mode);
    }

    pub fn add_file(&mut self, path: &str, source: &Path, mode: u32) {
        self.add(path, Kind::File(Content::File(source.to_path_buf())), mode);
    }

    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.add(path, Kind::Symlink(target.to_string()), 0o777);
    }

    /// Writes the tar: sorted entries, fixed mtime, numeric ownership only.
    pub fn write_tar<W: Write>(&self, out: W) -> std::io::Result<W> {
        let mtime = source_date_epoch();
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(mtime);
            h.set_uid(entry.uid);
            h.set_gid(entry.gid);
            h.set_mode(entry.mode);
            match &entry.kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Kind::File(Content::Bytes(b)) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(b.len() as u64);
                    tar.append_data(&mut h, path, b.as_slice())?;
                }
                Kind::File(Content::File(src)) => {
                    let f = std::fs::File::open(src)
                        .map_err(|e| std::io::Error::new(e.kind(), format!("open {}: {e}", src.display())))?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(f.metadata()?.len());
                    tar.append_data(&mut h, path, std::io::BufReader::new(f))?;
                }
                Kind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, path, target)?;
                }
                Kind::Hardlink(target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    tar.append_link(&mut h, path, target)?;
                }
            }
        }
        tar.into_inner()
    }

    pub fn to_tar(&self) -> std::io::Result<Vec<u8>> {
        self.write_tar(Vec::new())
    }
}

/// A layer stored as a blob: its descriptor (compressed) and diff id (uncompressed digest).
#[derive(Debug, Clone)]
pub struct StoredLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

/// Gzips an uncompressed layer tar into the store; the diff id is the tar's own digest.
pub fn store_tar(store: &Store, tar: &[u8]) -> Result<StoredLayer> {
    let diff_id = digest::sha256(tar);
    let mut gz = flate2::GzBuilder::new().mtime(0).write(store.blob_writer()?, flate2::Compression::fast());
    gz.write_all(tar).map_err(io("compress a layer"))?;
    let writer = gz.finish().map_err(io("compress a layer"))?;
    let (digest, size) = writer.commit(None)?;
    Ok(StoredLayer { descriptor: Descriptor::new(MediaType::ImageLayerGzip, size, digest), diff_id })
}

/// Streams a layer tar into the store uncompressed-hashing on the way (for big imports).
pub fn hashing<W: Write>(w: W) -> HashingWriter<W> {
    HashingWriter::new(w)
}

/// Normalises a path found in an archive or a Dockerfile to a relative path inside the
/// image root (`/a/./b/` → `a/b`). `None` when it climbs out with `..`.
pub fn clean_path(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Like [`clean_path`] but resolves `..` inside the path the way a shell would on an
/// absolute path, never going above the root (Dockerfile destinations).
pub fn resolve_in_root(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_sorted_with_parents_and_fixed_metadata() {
        let mut b = LayerBuilder::new();
        b.add_bytes("/usr/bin/z", b"z".to_vec(), 0o755);
        b.add_bytes("/a", b"a".to_vec(), 0o644);
        let tar = b.to_tar().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let listing: Vec<(String, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mtime().unwrap(), h.uid().unwrap())
            })
            .collect();
        let names: Vec<&str> = listing.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(names, ["a", "usr/", "usr/bin/", "usr/bin/z"]);
        assert!(listing.iter().all(|(_, m, u)| *m == 0 && *u == 0));
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        let make = |order: &[&str]| {
            let mut b = LayerBuilder::new();
            for p in order {
                b.add_bytes(p, p.as_bytes().to_vec(), 0o644);
            }
            b.to_tar().unwrap()
        };
        assert_eq!(make(&["x", "y/z", "a"]), make(&["a", "y/z", "x"]));
    }

    #[test]
    fn clean_path_refuses_parent_components() {
        assert_eq!(clean_path("/a/./b/").as_deref(), Some("a/b"));
        assert_eq!(clean_path("../etc/passwd"), None);
        assert_eq!(clean_path("a/../../b"), None);
        assert_eq!(resolve_in_root("/a/../../b"), "b");
    }

    #[test]
    fn epoch_zero_is_1970() {
        assert_eq!(created_timestamp(), "1970-01-01T00:00:00Z");
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}

/// One line of a layer's `tar tv` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `drwxr-xr-x`, `-rwxr-xr-x`, `lrwxrwxrwx`, `hrw-r--r--`, `crw-------`.
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: u64,
    pub path: String,
    /// Symlink or hard link target.
    pub link: Option<String>,
}

/// Lists an uncompressed layer tar stream.
pub fn list_tar(reader: impl std::io::Read) -> std::io::Result<Vec<Listed>> {
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for e in archive.entries()? {
        let e = e?;
        let h = e.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            _ => '-',
        };
        let mode = h.mode().unwrap_or(0);
        let mut s = String::from(kind);
        for (bit, c) in [
            (0o400, 'r'),
            (0o200, 'w'),
            (0o100, 'x'),
            (0o040, 'r'),
            (0o020, 'w'),
            (0o010, 'x'),
            (0o004, 'r'),
            (0o002, 'w'),
            (0o001, 'x'),
        ] {
            s.push(if mode & bit != 0 { c } else { '-' });
        }
        out.push(Listed {
            mode: s,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            size: h.size().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            path: String::from_utf8_lossy(&e.path_bytes()).to_string(),
            link: e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).to_string()),
        });
    }
    Ok(out)
}

/// `1970-01-01 00:00` for a listing's mtime.
pub fn date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}
