//! `image prune`: what no image in the store needs any more. The store's blobs (gc), the
//! build cache entries whose layer is gone, and the unpacked rootfs directories (RUN's lower
//! layers) whose layer stack is no prefix of any image's.

use crate::sandbox::chain_id;
use crate::store::Store;
use anyhow::Context;
use oci_spec::image::Digest;
use oci_spec::image::{ImageConfiguration, ImageManifest};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub blobs: Vec<Digest>,
    /// Build cache entries (one per cached layer-making step).
    pub cache_entries: usize,
    /// Unpacked rootfs directories.
    pub rootfs_dirs: usize,
}

/// Where unpacked rootfs directories live: beside the store (`.../images` → `.../images-rootfs`).
pub fn rootfs_cache_dir(store: &Store) -> PathBuf {
    let root = store.root();
    root.with_file_name(format!("{}-rootfs", root.file_name().unwrap_or_default().to_string_lossy()))
}

/// Removes every blob, build cache entry and unpacked rootfs no image in `store` uses.
pub fn prune(store: &Store) -> anyhow::Result<Pruned> {
    let blobs = store.gc()?;
    let cache_entries = prune_build_cache(store)?;
    let rootfs_dirs = prune_rootfs(store)?;
    Ok(Pruned { blobs, cache_entries, rootfs_dirs })
}

/// Cache entries point at layer blobs; an entry whose blob is gone can never be a hit again.
fn prune_build_cache(store: &Store) -> anyhow::Result<usize> {
    let dir = crate::build::cache_dir(store);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let blob = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["digest"].as_str().and_then(|d| crate::digest::parse(d).ok()));
        if !blob.is_some_and(|d| store.has_blob(&d)) {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A rootfs directory is named by the chain id of the layers unpacked in it: keep those of
/// every prefix of every image's layers (what a RUN over that image, or FROM it, unpacks).
fn prune_rootfs(store: &Store) -> anyhow::Result<usize> {
    let dir = rootfs_cache_dir(store);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
    let mut keep: BTreeSet<String> = BTreeSet::from(["empty".to_string()]);
    for d in store.index()?.manifests() {
        let Ok(manifest) = store.read_json::<ImageManifest>(d.digest(), "manifest") else { continue };
        let Ok(config) = store.read_json::<ImageConfiguration>(manifest.config().digest(), "config") else {
            continue;
        };
        let diff_ids = config.rootfs().diff_ids();
        for n in 1..=diff_ids.len() {
            let id = chain_id(&diff_ids[..n]);
            keep.insert(id.strip_prefix("sha256:").unwrap_or(&id).to_string());
        }
    }
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // .run-* are the scratch dirs of builds running now; they remove themselves.
        if name.starts_with(".run-") || keep.contains(&name) {
            continue;
        }
        let path = entry.path();
        std::fs::remove_dir_all(&path).with_context(|| format!("remove {}", path.display()))?;
        removed += 1;
    }
    Ok(removed)
}
