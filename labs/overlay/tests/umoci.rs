//! umoci, an independent OCI implementation, unpacks an image made of our layers and honours
//! our whiteouts and opaque markers. The OCI layout is built by hand here (the image lab
//! builds the real store).

use laboverlay::{write_layer, LayerOptions};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// Writes `data` as a blob and returns its descriptor fields (digest, size).
fn blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let hex = format!("{:x}", Sha256::digest(data));
    std::fs::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    (format!("sha256:{hex}"), data.len())
}

fn whiteout(path: &Path) {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .unwrap();
}

#[test]
fn umoci_unpacks_our_layers_honouring_whiteouts() {
    if !labkit::testing::require_root("umoci_unpacks_our_layers_honouring_whiteouts") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("labctl-umoci-").tempdir().unwrap();
    let (base, top, layout) = (dir.path().join("base"), dir.path().join("top"), dir.path().join("layout"));
    // Base layer: an ordinary tree.
    std::fs::create_dir_all(base.join("etc/app")).unwrap();
    std::fs::write(base.join("etc/app/old.conf"), "old").unwrap();
    std::fs::write(base.join("etc/hostname"), "base").unwrap();
    std::fs::write(base.join("gone.txt"), "bye").unwrap();
    // Top layer: an overlay upper that deleted gone.txt, replaced etc/app, changed hostname.
    std::fs::create_dir_all(top.join("etc/app")).unwrap();
    std::fs::write(top.join("etc/app/new.conf"), "new").unwrap();
    xattr::set(top.join("etc/app"), "trusted.overlay.opaque", b"y").unwrap();
    std::fs::write(top.join("etc/hostname"), "top").unwrap();
    whiteout(&top.join("gone.txt"));

    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let opts = LayerOptions { source_date_epoch: Some(0), owner: Some((0, 0)) };
    let mut layers = Vec::new();
    for upper in [&base, &top] {
        let mut tar = Vec::new();
        write_layer(upper, &mut tar, &opts).unwrap();
        layers.push(blob(&layout, &tar));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.0).collect::<Vec<_>>()},
    });
    let (config_digest, config_size) = blob(&layout, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    });
    let (manifest_digest, manifest_size) = blob(&layout, manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": "test"}
        }]
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();

    let bundle = dir.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:test", layout.display()))
        .arg(&bundle)
        .output()
        .expect("umoci is installed (apt-get install umoci)");
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    let rootfs = bundle.join("rootfs");
    assert!(!rootfs.join("gone.txt").exists(), "the .wh.gone.txt whiteout was ignored");
    assert!(!rootfs.join(".wh.gone.txt").exists());
    assert!(!rootfs.join("etc/app/old.conf").exists(), "the opaque marker was ignored");
    assert!(!rootfs.join("etc/app/.wh..wh..opq").exists());
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/app/new.conf")).unwrap(), "new");
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/hostname")).unwrap(), "top");
}
