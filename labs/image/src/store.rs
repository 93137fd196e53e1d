//! The image store: an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`). Every blob is named by the sha256 of its bytes, written through a
//! temp file renamed into place (a reader never sees half a blob), and verified when read.
//! Tags are `org.opencontainers.image.ref.name` annotations on the index's manifest entries.

use crate::digest::{self, HashingWriter};
use crate::error::{io, ImageError, Result};
use crate::reference;
use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The annotation that names an image in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An image resolved from the store, its manifest and config read and verified.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl Image {
    pub fn digest(&self) -> &Digest {
        self.manifest_descriptor.digest()
    }
}

/// JSON with sorted keys and no whitespace: the same value always gives the same bytes, so
/// the same image always gets the same digest (maps inside oci-spec types are HashMaps).
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("OCI types serialise");
    serde_json::to_vec(&v).expect("a JSON value serialises")
}

/// The same, indented, for people (index.json, `image inspect`).
pub fn pretty_json<T: Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).expect("OCI types serialise");
    serde_json::to_string_pretty(&v).expect("a JSON value serialises")
}

impl Store {
    /// `$LABCTL_STATE_DIR/images` (default `/var/lib/labctl/images`).
    pub fn default_root() -> PathBuf {
        labkit::paths::state_dir().join("images")
    }

    pub fn open_default() -> Result<Store> {
        Store::open(Store::default_root())
    }

    /// Opens a layout, creating an empty one if `root` does not hold one yet.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(io(format!("create {}", blobs.display())))?;
        let store = Store { root };
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, OCI_LAYOUT.as_bytes())?;
        }
        if !store.index_path().exists() {
            let index = oci_spec::image::ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(Vec::<Descriptor>::new())
                .build()
                .expect("an empty index");
            store.write_index(&index)?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().as_ref()).join(digest.digest())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// Writes a blob (if it is not there already) and returns its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = digest::sha256(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok((digest, bytes.len() as u64))
    }

    /// A streaming blob writer: bytes go to a temp file in the blob directory while being
    /// hashed; `commit` renames it to its digest (or checks it against an expected one).
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let dir = self.root.join("blobs/sha256");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(io(format!("create a temp file in {}", dir.display())))?;
        Ok(BlobWriter { store: self.clone(), inner: HashingWriter::new(tmp) })
    }

    /// Reads a whole blob, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(|e| self.missing_or(digest, &path, e))?;
        let actual = digest::sha256(&bytes);
        if &actual != digest {
            return Err(ImageError::CorruptBlob { digest: digest.to_string(), path, actual: actual.to_string() });
        }
        Ok(bytes)
    }

    /// Verifies a blob on disk (hashing it) and opens it for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| self.missing_or(digest, &path, e))?;
        let (actual, _) =
            digest::sha256_reader(BufReader::new(&file)).map_err(io(format!("read {}", path.display())))?;
        if &actual != digest {
            return Err(ImageError::CorruptBlob { digest: digest.to_string(), path, actual: actual.to_string() });
        }
        File::open(&path).map_err(io(format!("open {}", path.display())))
    }

    fn missing_or(&self, digest: &Digest, path: &Path, e: std::io::Error) -> ImageError {
        if e.kind() == std::io::ErrorKind::NotFound {
            ImageError::MissingBlob { digest: digest.to_string(), path: path.to_path_buf() }
        } else {
            io(format!("read {}", path.display()))(e)
        }
    }

    /// Reads and parses a JSON blob.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest, what: &str) -> Result<T> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadFormat {
            what: format!("{what} {digest}"),
            path: self.blob_path(digest),
            detail: e.to_string(),
        })
    }

    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(io(format!("read {}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadFormat {
            what: "index.json".into(),
            path,
            detail: e.to_string(),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let mut text = pretty_json(index);
        text.push('\n');
        self.write_atomic(&self.index_path(), text.as_bytes())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().expect("a path inside the store");
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io(format!("create a temp file in {}", dir.display())))?;
        tmp.write_all(bytes).map_err(io(format!("write {}", tmp.path().display())))?;
        tmp.persist(path).map_err(|e| io(format!("rename into {}", path.display()))(e.error))?;
        Ok(())
    }

    /// Takes the store's lock for an index update (flock on `.lock`, released on drop).
    fn lock(&self) -> Result<nix::fcntl::Flock<File>> {
        let path = self.root.join(".lock");
        let file =
            File::options().create(true).append(true).open(&path).map_err(io(format!("open {}", path.display())))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(format!("lock {}", path.display()))(e.into()))
    }

    /// All tagged images: (name, manifest descriptor), sorted by name.
    pub fn list(&self) -> Result<Vec<(String, Descriptor)>> {
        let index = self.index()?;
        let mut out: Vec<(String, Descriptor)> =
            index.manifests().iter().filter_map(|d| ref_name(d).map(|n| (n.to_string(), d.clone()))).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Points `name` at a manifest. Returns false when it already pointed there (and nothing
    /// was written).
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> Result<bool> {
        let name = reference::normalize(name)?;
        let _lock = self.lock()?;
        let mut index = self.index()?;
        if index.manifests().iter().any(|d| ref_name(d) == Some(name.as_str()) && d.digest() == manifest.digest()) {
            return Ok(false);
        }
        let mut manifests: Vec<Descriptor> =
            index.manifests().iter().filter(|d| ref_name(d) != Some(name.as_str())).cloned().collect();
        let mut entry = manifest.clone();
        entry.set_annotations(Some(HashMap::from([(REF_NAME.to_string(), name)])));
        manifests.push(entry);
        manifests.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        index.set_manifests(manifests);
        self.write_index(&index)?;
        Ok(true)
    }

    /// Finds an image by name (`httpserver` means `httpserver:latest`).
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let key = reference::normalize(name)?;
        let (name, descriptor) = self
            .list()?
            .into_iter()
            .find(|(n, _)| *n == key)
            .ok_or_else(|| ImageError::NotFound { name: key.clone(), store: self.root.clone() })?;
        let manifest: ImageManifest = self.read_json(descriptor.digest(), "manifest")?;
        let mut config: ImageConfiguration = self.read_json(manifest.config().digest(), "image config")?;
        sort_config_sets(&mut config);
        Ok(Image { name, manifest_descriptor: descriptor, manifest, config })
    }

    /// Writes config and manifest blobs for `layers` and tags the result as `name`.
    /// Returns the manifest descriptor and whether the tag changed.
    pub fn commit_image(
        &self,
        name: &str,
        config: &ImageConfiguration,
        layers: Vec<Descriptor>,
    ) -> Result<(Descriptor, bool)> {
        let manifest = self.write_manifest(config, layers)?;
        let changed = self.tag(name, &manifest)?;
        Ok((manifest, changed))
    }

    /// Writes config and manifest blobs; returns the manifest's descriptor (untagged).
    pub fn write_manifest(&self, config: &ImageConfiguration, layers: Vec<Descriptor>) -> Result<Descriptor> {
        let (config_digest, config_size) = self.write_blob(&canonical_json(config))?;
        let manifest = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, config_size, config_digest))
            .layers(layers)
            .build()
            .expect("a manifest with config and layers");
        let (digest, size) = self.write_blob(&canonical_json(&manifest))?;
        Ok(Descriptor::new(MediaType::ImageManifest, size, digest))
    }

    /// Removes a tag and every blob no remaining image needs. Returns the removed blobs.
    pub fn remove(&self, name: &str) -> Result<Vec<Digest>> {
        let key = reference::normalize(name)?;
        {
            let _lock = self.lock()?;
            let mut index = self.index()?;
            let before = index.manifests().len();
            let manifests: Vec<Descriptor> =
                index.manifests().iter().filter(|d| ref_name(d) != Some(key.as_str())).cloned().collect();
            if manifests.len() == before {
                return Err(ImageError::NotFound { name: key, store: self.root.clone() });
            }
            index.set_manifests(manifests);
            self.write_index(&index)?;
        }
        self.gc()
    }

    /// Deletes blobs not reachable from index.json. A blob that cannot be read as a manifest
    /// while walking is kept (never delete on doubt).
    pub fn gc(&self) -> Result<Vec<Digest>> {
        let _lock = self.lock()?;
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for d in self.index()?.manifests() {
            keep.insert(d.digest().to_string());
            if let Ok(m) = self.read_json::<ImageManifest>(d.digest(), "manifest") {
                keep.insert(m.config().digest().to_string());
                for l in m.layers() {
                    keep.insert(l.digest().to_string());
                }
            }
        }
        let dir = self.root.join("blobs/sha256");
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(format!("list {}", dir.display())))? {
            let entry = entry.map_err(io(format!("list {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let Ok(d) = digest::parse(&format!("sha256:{name}")) else {
                continue;
            };
            if !keep.contains(&d.to_string()) {
                std::fs::remove_file(entry.path()).map_err(io(format!("remove {}", entry.path().display())))?;
                removed.push(d);
            }
        }
        Ok(removed)
    }
}

/// Our name for an index entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).map(String::as_str)
}

/// oci-spec reads ExposedPorts and Volumes (JSON objects) into vectors in hash order; sort
/// them so equal configs compare and print equal.
pub fn sort_config_sets(config: &mut ImageConfiguration) {
    if let Some(mut c) = config.config().clone() {
        if let Some(mut p) = c.exposed_ports().clone() {
            p.sort();
            c.set_exposed_ports(Some(p));
        }
        if let Some(mut v) = c.volumes().clone() {
            v.sort();
            c.set_volumes(Some(v));
        }
        config.set_config(Some(c));
    }
}

/// A blob being written; see [`Store::blob_writer`].
pub struct BlobWriter {
    store: Store,
    inner: HashingWriter<tempfile::NamedTempFile>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Moves the blob into place under its digest. With `expected`, a different digest is a
    /// corrupted download/archive: the temp file is deleted and nothing is stored.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (digest, size, tmp) = self.inner.finish();
        if let Some(expected) = expected {
            if &digest != expected {
                return Err(ImageError::CorruptBlob {
                    digest: expected.to_string(),
                    path: tmp.path().to_path_buf(),
                    actual: digest.to_string(),
                });
            }
        }
        let path = self.store.blob_path(&digest);
        if path.exists() {
            return Ok((digest, size));
        }
        tmp.persist(&path).map_err(|e| io(format!("rename into {}", path.display()))(e.error))?;
        Ok((digest, size))
    }
}

/// Reads a file fully (small helper for archives).
pub fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

/// The linux/amd64 entry of a multi-platform index (what labctl runs).
pub fn linux_amd64(index: &ImageIndex) -> Option<&Descriptor> {
    index.manifests().iter().find(|m| {
        m.platform().as_ref().is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == "amd64")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ImageConfiguration {
        ImageConfiguration::default()
    }

    #[test]
    fn a_new_store_is_an_oci_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("images")).unwrap();
        let layout = std::fs::read_to_string(store.root().join("oci-layout")).unwrap();
        assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
        assert!(store.index().unwrap().manifests().is_empty());
    }

    #[test]
    fn blobs_are_named_by_their_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (d, n) = store.write_blob(b"hello").unwrap();
        assert_eq!(n, 5);
        assert_eq!(d, digest::sha256(b"hello"));
        assert_eq!(std::fs::read(store.blob_path(&d)).unwrap(), b"hello");
    }

    #[test]
    fn a_corrupted_blob_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, _) = store.commit_image("demo", &config(), vec![]).unwrap();
        let manifest: ImageManifest = store.read_json(m.digest(), "manifest").unwrap();
        std::fs::write(store.blob_path(manifest.config().digest()), b"{}").unwrap();
        let err = store.resolve("demo").unwrap_err().to_string();
        assert!(err.contains("is corrupted"), "{err}");
        assert!(err.contains(&manifest.config().digest().to_string()), "{err}");
    }

    #[test]
    fn tags_are_ref_name_annotations_and_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (m, changed) = store.commit_image("demo:v1", &config(), vec![]).unwrap();
        assert!(changed);
        let (_, again) = store.commit_image("demo:v1", &config(), vec![]).unwrap();
        assert!(!again, "the same image under the same tag writes nothing");
        let index = std::fs::read_to_string(store.index_path()).unwrap();
        assert!(index.contains(r#""org.opencontainers.image.ref.name": "demo:v1""#), "{index}");
        assert_eq!(store.resolve("demo:v1").unwrap().digest(), m.digest());
    }

    #[test]
    fn an_unknown_image_is_not_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = store.resolve("nope").unwrap_err().to_string();
        assert!(err.contains("\"nope:latest\" not found"), "{err}");
    }

    #[test]
    fn remove_deletes_unshared_blobs_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (layer, _) = store.write_blob(b"layer").unwrap();
        let l = Descriptor::new(MediaType::ImageLayer, 5, layer.clone());
        store.commit_image("a", &config(), vec![l.clone()]).unwrap();
        let mut c2 = config();
        c2.set_author(Some("b".into()));
        store.commit_image("b", &c2, vec![l]).unwrap();
        let removed = store.remove("a").unwrap();
        assert!(!removed.contains(&layer));
        assert!(store.has_blob(&layer));
        store.remove("b").unwrap();
        assert!(!store.has_blob(&layer));
        assert!(store.remove("b").is_err());
    }
}
