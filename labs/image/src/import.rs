//! Images without internet: a rootfs from the host's static busybox, one from host programs
//! and their shared libraries, or one from a rootfs tarball.

use crate::error::{io, ImageError, Result};
use crate::layer::{self, clean_path, LayerBuilder};
use crate::store::Store;
use anyhow::Context;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const BUSYBOX_NAME: &str = "busybox:latest";
pub const HOST_NAME: &str = "host-tools:latest";

/// The programs `import --from-host` takes by default.
pub const HOST_PROGRAMS: &[&str] = &[
    "sh", "ls", "cat", "ps", "ip", "echo", "mkdir", "rm", "cp", "mv", "env", "id", "hostname", "mount", "sleep",
    "grep", "touch", "ln", "readlink", "stat", "uname",
];

/// Where the host's busybox lives, if it is statically linked (a dynamic one would need the
/// host's libc inside the image).
pub fn find_static_busybox() -> anyhow::Result<PathBuf> {
    let path = ["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no busybox on this host: install it with `apt-get install busybox-static`")?;
    if !shared_libraries(&path)?.is_empty() {
        anyhow::bail!(
            "{} is dynamically linked: install the static one with `apt-get install busybox-static`",
            path.display()
        );
    }
    Ok(path)
}

/// Base files every imported rootfs gets: the directories a container runtime mounts over,
/// a root user and group.
fn base_rootfs(b: &mut LayerBuilder) {
    for d in ["dev", "proc", "sys", "etc", "var", "usr/bin", "usr/sbin", "bin", "sbin"] {
        b.add_dir(d, 0o755);
    }
    b.add_dir("tmp", 0o1777);
    b.add_dir("root", 0o700);
    b.add_bytes(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_vec(),
        0o644,
    );
    b.add_bytes("etc/group", b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644);
}

/// The layer of `import --busybox`: /bin/busybox and a symlink per applet.
pub fn busybox_layer(busybox: &Path) -> anyhow::Result<LayerBuilder> {
    let out = std::process::Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("run {} --list-full", busybox.display()))?;
    let mut b = LayerBuilder::new();
    base_rootfs(&mut b);
    b.add_file("bin/busybox", busybox, 0o755);
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        b.add_symlink(applet, "/bin/busybox");
    }
    Ok(b)
}

/// The shared libraries `ldd` names for `program` (empty for a static binary).
pub fn shared_libraries(program: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd").arg(program).output().context("run ldd (part of libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let candidate = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = candidate.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// Adds a host path to the layer at the same place, replicating every symlink met on the way
/// (`/lib64` → `usr/lib64`, `ld-linux…` → `../lib/…`) so the dynamic loader finds it.
pub fn add_host_path(b: &mut LayerBuilder, path: &Path) -> anyhow::Result<()> {
    add_host_path_depth(b, path, 0)
}

fn add_host_path_depth(b: &mut LayerBuilder, path: &Path, depth: usize) -> anyhow::Result<()> {
    anyhow::ensure!(depth < 40, "too many symlinks resolving {}", path.display());
    let comps: Vec<Component> = path.components().collect();
    let mut cur = PathBuf::from("/");
    for (i, comp) in comps.iter().enumerate() {
        let Component::Normal(name) = comp else {
            continue;
        };
        let next = cur.join(name);
        let meta = std::fs::symlink_metadata(&next).with_context(|| format!("stat {}", next.display()))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&next)?;
            b.add_symlink(&next.to_string_lossy(), &target.to_string_lossy());
            let mut resolved = if target.is_absolute() { target } else { cur.join(target) };
            for rest in &comps[i + 1..] {
                resolved.push(rest);
            }
            let normal = PathBuf::from(format!("/{}", layer::resolve_in_root(&resolved.to_string_lossy())));
            return add_host_path_depth(b, &normal, depth + 1);
        }
        cur = next;
    }
    let meta = std::fs::metadata(&cur).with_context(|| format!("stat {}", cur.display()))?;
    use std::os::unix::fs::PermissionsExt;
    b.add_file(&cur.to_string_lossy(), &cur, meta.permissions().mode());
    Ok(())
}

/// Finds a program on the host PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| p.exists());
    }
    ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// The layer of `import --from-host`: the programs, their libraries and the loader.
pub fn host_layer(programs: &[String]) -> anyhow::Result<LayerBuilder> {
    let mut b = LayerBuilder::new();
    base_rootfs(&mut b);
    for p in programs {
        let path = which(p).with_context(|| format!("program {p:?} is not on this host"))?;
        add_host_path(&mut b, &path)?;
        for lib in shared_libraries(&path)? {
            add_host_path(&mut b, &lib)?;
        }
        // Reachable as /bin/NAME too, whatever the host's layout.
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let in_bin = format!("bin/{name}");
        if !b.paths().any(|x| x == in_bin) {
            b.add_symlink(&in_bin, &path.to_string_lossy());
        }
    }
    Ok(b)
}

/// A config for an imported rootfs.
pub fn base_config(created_by: &str, cmd: &[&str], diff_ids: Vec<String>) -> ImageConfiguration {
    let history = HistoryBuilder::default()
        .created(layer::created_timestamp())
        .created_by(created_by.to_string())
        .build()
        .expect("history");
    ImageConfigurationBuilder::default()
        .created(layer::created_timestamp())
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .env(vec![DEFAULT_PATH.to_string()])
                .cmd(cmd.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .build()
                .expect("config"),
        )
        .rootfs(RootFsBuilder::default().typ("layers").diff_ids(diff_ids).build().expect("rootfs"))
        .history(vec![history])
        .build()
        .expect("image config")
}

/// Stores a one-layer image and tags it. Returns the manifest descriptor.
pub fn commit_single_layer(
    store: &Store,
    name: &str,
    tar: &[u8],
    created_by: &str,
    cmd: &[&str],
) -> Result<Descriptor> {
    let stored = layer::store_tar(store, tar)?;
    let config = base_config(created_by, cmd, vec![stored.diff_id.to_string()]);
    let (m, _) = store.commit_image(name, &config, vec![stored.descriptor])?;
    Ok(m)
}

pub fn import_busybox(store: &Store, name: &str) -> anyhow::Result<Descriptor> {
    let busybox = find_static_busybox()?;
    let tar = busybox_layer(&busybox)?.to_tar()?;
    Ok(commit_single_layer(store, name, &tar, "labctl image import --busybox", &["sh"])?)
}

pub fn import_host(store: &Store, name: &str, programs: &[String]) -> anyhow::Result<Descriptor> {
    let tar = host_layer(programs)?.to_tar()?;
    Ok(commit_single_layer(
        store,
        name,
        &tar,
        &format!("labctl image import --from-host {}", programs.join(" ")),
        &["/bin/sh"],
    )?)
}

/// Reads a possibly gzipped tar fully into memory (uncompressed).
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(io(format!("read {}", path.display())))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(io(format!("decompress {}", path.display())))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Checks that every entry of a tar stays inside its root (no `..`, hard links inside).
pub fn check_tar_paths(name: &str, tar: &[u8]) -> Result<usize> {
    let mut archive = tar::Archive::new(tar);
    let bad = |entry: String| ImageError::PathTraversal { archive: name.to_string(), entry };
    let mut count = 0;
    let entries = archive.entries().map_err(io(format!("read tar {name}")))?;
    for e in entries {
        let e = e.map_err(io(format!("read tar {name}")))?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
        if clean_path(&raw).is_none() {
            return Err(bad(raw));
        }
        if e.header().entry_type() == tar::EntryType::Link {
            if let Some(target) = e.link_name_bytes() {
                let t = String::from_utf8_lossy(&target).to_string();
                if clean_path(&t).is_none() {
                    return Err(bad(format!("{raw} (hard link to {t})")));
                }
            }
        }
        count += 1;
    }
    Ok(count)
}

/// `labctl image import ROOTFS.tar NAME`: the tarball becomes the image's only layer.
pub fn import_rootfs_tar(store: &Store, path: &Path, name: &str) -> anyhow::Result<Descriptor> {
    let tar = read_maybe_gzip(path)?;
    check_tar_paths(&path.display().to_string(), &tar)?;
    Ok(commit_single_layer(
        store,
        name,
        &tar,
        &format!("labctl image import {}", path.file_name().unwrap_or_default().to_string_lossy()),
        &["/bin/sh"],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tar_with_dot_dot_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses "..", so write the name bytes directly as a hostile archive would.
        h.as_gnu_mut().unwrap().name[..16].copy_from_slice(b"../../etc/passwd");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let err = check_tar_paths("evil.tar", &tar).unwrap_err().to_string();
        assert!(err.contains("path traversal") && err.contains("../../etc/passwd"), "{err}");
    }

    #[test]
    fn ldd_finds_libc_for_a_dynamic_program() {
        let libs = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libs:?}");
    }

    #[test]
    fn host_paths_keep_their_symlink_chain() {
        let mut b = LayerBuilder::new();
        let loader = Path::new("/lib64/ld-linux-x86-64.so.2");
        if !loader.exists() {
            return;
        }
        add_host_path(&mut b, loader).unwrap();
        let paths: Vec<&str> = b.paths().collect();
        assert!(paths.iter().any(|p| p.ends_with("ld-linux-x86-64.so.2")), "{paths:?}");
    }
}
