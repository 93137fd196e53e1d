//! `save` and `load`: images as single tarballs.
//!
//! - oci-archive: a tar of an OCI image layout (what `skopeo copy ... oci-archive:x.tar` and
//!   `buildah push ... oci-archive:` write). `save` writes this, reproducibly.
//! - docker-archive: what `docker save` writes: `manifest.json` (Config, RepoTags, Layers),
//!   the config JSON and one uncompressed tar per layer. `load` converts it to an OCI manifest.
//!
//! Every entry name is checked before anything is extracted: an archive naming a path outside
//! itself (`../x`, or a symlink leading out) is refused as a whole.

use crate::digest;
use crate::error::{io, ImageError};
use crate::layer::{self, clean_path};
use crate::store::{self, Store};
use anyhow::{bail, Context};
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Writes `name` as an oci-archive at `output` (temp file + rename).
pub fn save(store: &Store, name: &str, output: &Path) -> anyhow::Result<()> {
    let image = store.resolve(name)?;
    let mut descriptor = image.manifest_descriptor.clone();
    descriptor.set_annotations(Some(HashMap::from([(store::REF_NAME.to_string(), image.name.clone())])));
    let index: ImageIndex = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![descriptor])
        .build()?;
    let mut blobs: Vec<Digest> = vec![image.digest().clone(), image.manifest.config().digest().clone()];
    blobs.extend(image.manifest.layers().iter().map(|l| l.digest().clone()));
    blobs.sort_by_key(|d| d.to_string());
    blobs.dedup();

    let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new().prefix(".labctl-save-").tempfile_in(dir)?;
    let mtime = layer::source_date_epoch();
    let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.reopen()?));
    let add_dir = |tar: &mut tar::Builder<_>, path: &str| -> std::io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(mtime);
        h.set_size(0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    let add_file =
        |tar: &mut tar::Builder<std::io::BufWriter<std::fs::File>>, path: &str, size: u64, r: &mut dyn Read| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_size(size);
            tar.append_data(&mut h, path, r)
        };
    add_dir(&mut tar, "blobs/")?;
    add_dir(&mut tar, "blobs/sha256/")?;
    for d in &blobs {
        let f = store.open_blob(d)?;
        let size = f.metadata()?.len();
        add_file(&mut tar, &format!("blobs/sha256/{}", d.digest()), size, &mut std::io::BufReader::new(f))?;
    }
    let mut index_json = store::pretty_json(&index).into_bytes();
    index_json.push(b'\n');
    add_file(&mut tar, "index.json", index_json.len() as u64, &mut index_json.as_slice())?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    add_file(&mut tar, "oci-layout", layout.len() as u64, &mut &layout[..])?;
    let mut w = tar.into_inner()?;
    w.flush()?;
    drop(w);
    tmp.persist(output).with_context(|| format!("write {}", output.display()))?;
    Ok(())
}

/// An archive extracted into a temp dir: regular files by their (checked) archive path.
struct Extracted {
    dir: tempfile::TempDir,
    /// archive path → extracted file (symlinks inside the archive resolved).
    files: BTreeMap<String, PathBuf>,
    name: String,
}

impl Extracted {
    fn path(&self, rel: &str) -> anyhow::Result<&PathBuf> {
        let key = clean_path(rel)
            .ok_or_else(|| ImageError::PathTraversal { archive: self.name.clone(), entry: rel.to_string() })?;
        self.files.get(&key).with_context(|| format!("{}: the archive has no {rel}", self.name))
    }

    fn read(&self, rel: &str) -> anyhow::Result<Vec<u8>> {
        let p = self.path(rel)?;
        std::fs::read(p).with_context(|| format!("read {rel} from {}", self.name))
    }
}

fn extract(store: &Store, input: &Path) -> anyhow::Result<Extracted> {
    let name = input.display().to_string();
    let file = std::fs::File::open(input).map_err(io(format!("open {name}")))?;
    let mut head = [0u8; 2];
    let gz = std::fs::File::open(input)?.read(&mut head)? == 2 && head == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let base = store.root().parent().unwrap_or(store.root()).to_path_buf();
    let dir = tempfile::Builder::new().prefix(".labctl-load-").tempdir_in(&base)?;
    let mut files = BTreeMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut archive = tar::Archive::new(reader);
    let mut n = 0usize;
    for entry in archive.entries().with_context(|| format!("read {name} as a tar archive"))? {
        let mut entry = entry.with_context(|| format!("read {name} as a tar archive"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        let rel =
            clean_path(&raw).ok_or_else(|| ImageError::PathTraversal { archive: name.clone(), entry: raw.clone() })?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                n += 1;
                let out = dir.path().join(format!("{n}"));
                let mut f = std::fs::File::create(&out)?;
                std::io::copy(&mut entry, &mut f).with_context(|| format!("extract {raw} from {name}"))?;
                files.insert(rel, out);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).to_string()).unwrap_or_default();
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink && !target.starts_with('/') {
                    let parent = Path::new(&rel).parent().map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
                    format!("{parent}/{target}")
                } else {
                    target.clone()
                };
                // Climbing out of the archive through a link is traversal too.
                let mut depth: i64 = 0;
                for c in joined.split('/') {
                    match c {
                        "" | "." => {}
                        ".." => depth -= 1,
                        _ => depth += 1,
                    }
                    if depth < 0 || target.starts_with('/') {
                        return Err(ImageError::PathTraversal {
                            archive: name.clone(),
                            entry: format!("{raw} -> {target}"),
                        }
                        .into());
                    }
                }
                links.push((rel, layer::resolve_in_root(&joined)));
            }
            _ => {}
        }
    }
    for (rel, target) in links {
        if let Some(p) = files.get(&target).cloned() {
            files.insert(rel, p);
        }
    }
    Ok(Extracted { dir, files, name })
}

/// Loads an oci-archive or docker-archive; returns (name, manifest digest) per image.
pub fn load(store: &Store, input: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let ex = extract(store, input)?;
    let out = if ex.files.contains_key("oci-layout") && ex.files.contains_key("index.json") {
        load_oci(store, &ex, input)?
    } else if ex.files.contains_key("manifest.json") {
        load_docker(store, &ex)?
    } else {
        bail!(
            "{} is neither an oci-archive (no oci-layout + index.json) nor a docker-archive (no manifest.json)",
            input.display()
        );
    };
    drop(ex.dir);
    Ok(out)
}

/// Copies a blob from the archive into the store, checking its digest.
fn import_blob(store: &Store, ex: &Extracted, rel: &str, expected: Option<&Digest>) -> anyhow::Result<(Digest, u64)> {
    let path = ex.path(rel)?;
    let mut w = store.blob_writer()?;
    std::io::copy(&mut std::fs::File::open(path)?, &mut w)?;
    w.commit(expected).map_err(|e| anyhow::anyhow!("{}: {rel}: {e}", ex.name))
}

fn blob_rel(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_ref(), d.digest())
}

fn load_oci(store: &Store, ex: &Extracted, input: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let index: ImageIndex = serde_json::from_slice(&ex.read("index.json")?)
        .with_context(|| format!("{}: index.json is not an OCI index", ex.name))?;
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .filter(|s| crate::reference::normalize(s).is_ok())
        .unwrap_or_else(|| "loaded".into());
    let mut out = Vec::new();
    for (i, d) in index.manifests().iter().enumerate() {
        let d = resolve_platform(ex, d)?;
        let bytes = ex.read(&blob_rel(d.digest()))?;
        if &digest::sha256(&bytes) != d.digest() {
            return Err(ImageError::CorruptBlob {
                digest: d.digest().to_string(),
                path: PathBuf::from(format!("{}:{}", ex.name, blob_rel(d.digest()))),
                actual: digest::sha256(&bytes).to_string(),
            }
            .into());
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: manifest {} is not an image manifest", ex.name, d.digest()))?;
        import_blob(store, ex, &blob_rel(manifest.config().digest()), Some(manifest.config().digest()))?;
        for l in manifest.layers() {
            import_blob(store, ex, &blob_rel(l.digest()), Some(l.digest()))?;
        }
        let (digest, _) = store.write_blob(&bytes)?;
        let name = archive_name(&d, &stem, i);
        let name = crate::reference::normalize(&name)?;
        store.tag(&name, &Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest.clone()))?;
        out.push((name, digest.to_string()));
    }
    Ok(out)
}

/// Follows an index entry that is itself an index (multi-platform) to linux/amd64.
fn resolve_platform(ex: &Extracted, d: &Descriptor) -> anyhow::Result<Descriptor> {
    if !matches!(d.media_type(), MediaType::ImageIndex)
        && d.media_type().to_string() != "application/vnd.docker.distribution.manifest.list.v2+json"
    {
        return Ok(d.clone());
    }
    let nested: ImageIndex = serde_json::from_slice(&ex.read(&blob_rel(d.digest()))?)?;
    let pick =
        store::linux_amd64(&nested).or_else(|| nested.manifests().first()).cloned().context("an empty nested index")?;
    let mut pick = pick;
    pick.set_annotations(d.annotations().clone());
    Ok(pick)
}

/// The local name of an archived image: containerd's full name, a full ref.name, or the
/// archive's name with a tag-only ref.name.
fn archive_name(d: &Descriptor, stem: &str, i: usize) -> String {
    let ann = d.annotations().clone().unwrap_or_default();
    if let Some(full) = ann.get("io.containerd.image.name") {
        return short_hub_name(full);
    }
    match ann.get(store::REF_NAME) {
        Some(r) if r.contains(':') || r.contains('/') => r.clone(),
        Some(tag) => format!("{stem}:{tag}"),
        None if i == 0 => format!("{stem}:latest"),
        None => format!("{stem}:{i}"),
    }
}

/// `docker.io/library/ubuntu:22.04` → `ubuntu:22.04`, `docker.io/a/b:1` → `a/b:1`, as docker shows them.
fn short_hub_name(name: &str) -> String {
    name.strip_prefix("docker.io/library/").or_else(|| name.strip_prefix("docker.io/")).unwrap_or(name).to_string()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn load_docker(store: &Store, ex: &Extracted) -> anyhow::Result<Vec<(String, String)>> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(&ex.read("manifest.json")?)
        .with_context(|| format!("{}: manifest.json is not a docker-archive manifest", ex.name))?;
    let mut out = Vec::new();
    for entry in entries {
        let config_bytes = ex.read(&entry.config)?;
        let mut config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("{}: {} is not an image config", ex.name, entry.config))?;
        store::sort_config_sets(&mut config);
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != entry.layers.len() {
            bail!(
                "{}: the config lists {} layers (rootfs.diff_ids) but manifest.json {}",
                ex.name,
                diff_ids.len(),
                entry.layers.len()
            );
        }
        let mut layers = Vec::new();
        for (rel, diff_id) in entry.layers.iter().zip(&diff_ids) {
            let path = ex.path(rel)?;
            let mut head = [0u8; 2];
            let gz = std::fs::File::open(path)?.read(&mut head)? == 2 && head == [0x1f, 0x8b];
            let (d, size) = import_blob(store, ex, rel, None)?;
            if !gz && d.to_string() != *diff_id {
                bail!("{}: layer {rel} hashes to {d}, but the config says {diff_id}", ex.name);
            }
            let media = if gz { MediaType::ImageLayerGzip } else { MediaType::ImageLayer };
            layers.push(Descriptor::new(media, size, d));
        }
        let (config_digest, config_size) = store.write_blob(&config_bytes)?;
        let manifest = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, config_size, config_digest.clone()))
            .layers(layers)
            .build()?;
        let (digest, size) = store.write_blob(&store::canonical_json(&manifest))?;
        let descriptor = Descriptor::new(MediaType::ImageManifest, size, digest.clone());
        let tags = entry.repo_tags.clone().unwrap_or_default();
        let names: Vec<String> =
            if tags.is_empty() { vec![format!("loaded:{}", &config_digest.digest()[..12])] } else { tags };
        for n in names {
            let n = crate::reference::normalize(&short_hub_name(&n))?;
            store.tag(&n, &descriptor)?;
            out.push((n, digest.to_string()));
        }
    }
    Ok(out)
}
