//! RUN: a command in an isolated namespace sandbox over an overlay of the previous layers.
//! The new layer is the overlay's upper directory, written as an OCI layer by laboverlay
//! (whiteout devices → `.wh.` files, opaque directories → `.wh..wh..opq`).
//!
//! The sandbox is a thread of ours that unshares its mount, UTS, IPC, network and pid
//! namespaces (and its filesystem info), mounts a tmpfs for upper/work, the overlay over
//! the image's unpacked rootfs, a small /dev, then chroots into the overlay and starts the
//! command, which becomes pid 1 of the new pid namespace. When the thread ends, its mount
//! namespace and every mount in it disappear: nothing can leak onto the host.

use crate::digest;
use crate::layer::{self, StoredLayer};
use crate::store::Store;
use anyhow::{bail, Context};
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use oci_spec::image::{Descriptor, MediaType};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

/// What a RUN step runs.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: Option<String>,
    /// Gets each line the command prints as it prints it (a terminal shows a long RUN live).
    pub live: LiveOutput,
}

/// A receiver of a RUN's lines as they come (stdout and stderr, each line once).
#[derive(Clone, Default)]
pub struct LiveOutput(Option<std::sync::Arc<LineReceiver>>);

type LineReceiver = dyn Fn(&str) + Send + Sync;

impl LiveOutput {
    pub fn new(receive: impl Fn(&str) + Send + Sync + 'static) -> LiveOutput {
        LiveOutput(Some(std::sync::Arc::new(receive)))
    }

    fn line(&self, line: &str) {
        if let Some(receive) = &self.0 {
            receive(line);
        }
    }
}

impl std::fmt::Debug for LiveOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "LiveOutput(on)" } else { "LiveOutput(off)" })
    }
}

/// Reads a child's stdout and stderr to their ends at once (a full pipe would block it), passing
/// each line to `live`; returns stdout then stderr, as `Command::output` would. With poll, not
/// threads: the sandbox thread has its own pid namespace for children and cannot make threads.
fn read_both(child: &mut std::process::Child, live: &LiveOutput) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Read;
    use std::os::fd::AsFd;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let mut all = [Vec::new(), Vec::new()];
    let mut pending = [Vec::new(), Vec::new()];
    let mut open = [stdout.is_some(), stderr.is_some()];
    let mut chunk = [0u8; 8192];
    while open.iter().any(|o| *o) {
        let mut ready = [false, false];
        {
            let mut fds = Vec::new();
            let mut which = Vec::new();
            if let (true, Some(p)) = (open[0], stdout.as_ref()) {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                which.push(0);
            }
            if let (true, Some(p)) = (open[1], stderr.as_ref()) {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                which.push(1);
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            for (fd, i) in fds.iter().zip(which) {
                ready[i] = fd.revents().is_some_and(|r| !r.is_empty());
            }
        }
        for i in 0..2 {
            if !ready[i] {
                continue;
            }
            let n = match i {
                0 => stdout.as_mut().map_or(Ok(0), |p| p.read(&mut chunk)),
                _ => stderr.as_mut().map_or(Ok(0), |p| p.read(&mut chunk)),
            };
            let n = match n {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            if n == 0 {
                open[i] = false;
                if !pending[i].is_empty() {
                    live.line(&String::from_utf8_lossy(&pending[i]));
                    pending[i].clear();
                }
                continue;
            }
            all[i].extend_from_slice(&chunk[..n]);
            pending[i].extend_from_slice(&chunk[..n]);
            while let Some(end) = pending[i].iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending[i].drain(..=end).collect();
                live.line(String::from_utf8_lossy(&line[..end]).as_ref());
            }
        }
    }
    let [out, err] = all;
    Ok((out, err))
}

/// The OCI chain id of a layer stack (identifies an unpacked rootfs).
pub fn chain_id(diff_ids: &[String]) -> String {
    let mut chain = String::new();
    for (i, d) in diff_ids.iter().enumerate() {
        chain = if i == 0 {
            d.clone()
        } else {
            let mut h = Sha256::new();
            h.update(format!("{chain} {d}").as_bytes());
            digest::from_hasher(h).to_string()
        };
    }
    chain
}

/// Opens a layer blob (verified) as an uncompressed tar stream.
pub fn layer_reader(store: &Store, layer: &Descriptor) -> anyhow::Result<Box<dyn Read>> {
    let file = store.open_blob(layer.digest())?;
    let buffered = std::io::BufReader::with_capacity(256 * 1024, file);
    Ok(match layer.media_type() {
        MediaType::ImageLayerGzip => Box::new(flate2::read::GzDecoder::new(buffered)),
        MediaType::ImageLayer => Box::new(buffered),
        MediaType::Other(m) if m.ends_with("tar.gzip") || m.ends_with("tar+gzip") => {
            Box::new(flate2::read::GzDecoder::new(buffered))
        }
        MediaType::Other(m) if m.ends_with(".tar") => Box::new(buffered),
        other => bail!("layer {} has media type {other}, which labctl cannot unpack", layer.digest()),
    })
}

/// Unpacks `layers` into one directory (whiteouts applied), cached by chain id under
/// `<state>/images-rootfs/`. Returns the directory.
pub fn unpack_rootfs(store: &Store, layers: &[Descriptor], diff_ids: &[String]) -> anyhow::Result<PathBuf> {
    let base = crate::prune::rootfs_cache_dir(store);
    std::fs::create_dir_all(&base).with_context(|| format!("create {}", base.display()))?;
    let id = chain_id(diff_ids);
    let name = id.strip_prefix("sha256:").unwrap_or("empty").to_string();
    let dir = base.join(if name.is_empty() { "empty".into() } else { name });
    if dir.is_dir() {
        return Ok(dir);
    }
    let tmp = tempfile::Builder::new().prefix(".tmp-").tempdir_in(&base)?;
    let opts = laboverlay::ApplyOptions { whiteouts: laboverlay::WhiteoutMode::Remove, same_owner: true };
    for layer in layers {
        laboverlay::apply_layer(layer_reader(store, layer)?, tmp.path(), &opts)
            .with_context(|| format!("unpack layer {}", layer.digest()))?;
    }
    let path = tmp.keep();
    if let Err(e) = std::fs::rename(&path, &dir) {
        let _ = std::fs::remove_dir_all(&path);
        if !dir.is_dir() {
            return Err(e).with_context(|| format!("rename into {}", dir.display()));
        }
    }
    Ok(dir)
}

/// Runs `spec` over the image made of `parents` and returns the layer of its changes and
/// the command's output (stdout then stderr).
pub fn run_to_layer(
    store: &Store,
    parents: &[Descriptor],
    diff_ids: &[String],
    spec: &RunSpec,
) -> anyhow::Result<(StoredLayer, String)> {
    let (tar, output) = run_in_sandbox(store, parents, diff_ids, spec)?;
    Ok((layer::store_tar(store, &tar)?, output))
}

/// Runs `spec` over the image made of `parents`; returns the tar of its changes (not stored)
/// and the command's output.
pub fn run_in_sandbox(
    store: &Store,
    parents: &[Descriptor],
    diff_ids: &[String],
    spec: &RunSpec,
) -> anyhow::Result<(Vec<u8>, String)> {
    if !labkit::sys::is_root() {
        bail!("RUN needs root (namespaces and an overlay mount): run the build with sudo");
    }
    let lower = unpack_rootfs(store, parents, diff_ids)?;
    let scratch = tempfile::Builder::new().prefix(".run-").tempdir_in(lower.parent().unwrap())?;
    let scratch_path = scratch.path().to_path_buf();
    let spec = spec.clone();
    let (tar, output) = labkit::sys::in_new_namespaces(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_FS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWPID,
        move || in_sandbox(&lower, &scratch_path, &spec),
    )
    .context("create the RUN sandbox's namespaces")??;
    drop(scratch);
    Ok((tar, output))
}

/// The sandbox thread's work; returns the layer tar of the upper directory.
fn in_sandbox(lower: &Path, scratch: &Path, spec: &RunSpec) -> anyhow::Result<(Vec<u8>, String)> {
    // Our mounts stay in this namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("make / private in the sandbox")?;
    mount(Some("tmpfs"), scratch, Some("tmpfs"), MsFlags::empty(), Some("mode=0755"))
        .context("mount the sandbox tmpfs")?;
    let (upper, work, merged) = (scratch.join("upper"), scratch.join("work"), scratch.join("merged"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir(d)?;
    }
    laboverlay::Overlay::new([lower]).with_upper(&upper, &work).mount(&merged).context("mount the overlay for RUN")?;
    let made = provide_system_dirs(lower, &merged)?;
    nix::unistd::sethostname("labctl-build").context("set the sandbox hostname")?;
    let (uid, gid) = resolve_user(&merged, spec.user.as_deref())?;
    // Kept to come back out of the chroot afterwards (fchdir + chroot("."), this thread only).
    let old_root = std::fs::File::open("/").context("open /")?;
    nix::unistd::chroot(&merged).context("chroot into the overlay")?;
    let workdir = if spec.workdir.is_empty() { "/" } else { spec.workdir.as_str() };
    std::fs::create_dir_all(workdir).with_context(|| format!("create WORKDIR {workdir}"))?;
    std::env::set_current_dir(workdir)?;
    let (program, args) = spec.argv.split_first().context("RUN needs a command")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(std::process::Stdio::null());
    // The command is pid 1 of the new pid namespace: it mounts its own /proc, then drops to USER.
    labkit::sys::mount_proc_then_set_ids(&mut cmd, Path::new("/proc"), uid, gid).context("prepare /proc for RUN")?;
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = cmd.spawn().with_context(|| format!("start {program:?} in the sandbox")).and_then(|mut child| {
        let (stdout, stderr) = read_both(&mut child, &spec.live).context("read the RUN command's output")?;
        let status = child.wait().context("wait for the RUN command")?;
        Ok(std::process::Output { status, stdout, stderr })
    });
    // Back out of the chroot to read upper (the tmpfs is still mounted in this namespace).
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&old_root)).context("leave the chroot")?;
    nix::unistd::chroot(".").context("leave the chroot")?;
    let out = out?;
    let status = out.status;
    let mut output = String::from_utf8_lossy(&out.stdout).to_string();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if !status.success() {
        let tail: String =
            output.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        let tail = if tail.is_empty() { String::new() } else { format!(":\n{tail}") };
        match (status.code(), status.signal()) {
            (Some(code), _) => bail!("RUN {:?} exited with code {code}{tail}", spec.argv),
            (_, Some(sig)) => bail!("RUN {:?} was killed by signal {sig}{tail}", spec.argv),
            _ => bail!("RUN {:?} failed{tail}", spec.argv),
        }
    }
    // The runtime's mounts and the mount points made for them are not the command's changes.
    let _ = laboverlay::unmount(&merged.join("proc"));
    for m in SYSTEM_MOUNTS.iter().rev() {
        let _ = laboverlay::unmount(&merged.join(m.path));
    }
    laboverlay::unmount(&merged).context("unmount the RUN overlay")?;
    for dir in made.iter().rev() {
        let in_upper = upper.join(dir);
        // Only the empty directory we made; anything the command put there stays.
        if std::fs::read_dir(&in_upper).is_ok_and(|mut d| d.next().is_none()) {
            std::fs::remove_dir(&in_upper).with_context(|| format!("remove {}", in_upper.display()))?;
        }
    }
    let opts = laboverlay::LayerOptions { source_date_epoch: Some(layer::source_date_epoch()), owner: None };
    let mut tar = Vec::new();
    laboverlay::write_layer(&upper, &mut tar, &opts).context("write the RUN layer")?;
    Ok((tar, output))
}

/// A mount the RUN sandbox provides whatever the image holds, as runc does for a container.
struct SystemMount {
    path: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: &'static str,
    /// Only when the image has no such directory (an image's own /tmp stays part of it).
    only_if_missing: bool,
}

/// In mount order; unmounted in reverse. /proc is mounted by the command itself (see run).
const SYSTEM_MOUNTS: &[SystemMount] = &[
    SystemMount {
        path: "dev",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID,
        data: "mode=0755,size=64k",
        only_if_missing: false,
    },
    SystemMount {
        path: "dev/shm",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC),
        data: "mode=1777,size=64m",
        only_if_missing: false,
    },
    SystemMount {
        path: "sys",
        fstype: "sysfs",
        flags: MsFlags::MS_RDONLY.union(MsFlags::MS_NOSUID).union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC),
        data: "",
        only_if_missing: false,
    },
    SystemMount {
        path: "tmp",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: "mode=1777",
        only_if_missing: true,
    },
];

/// Device nodes bound from the host's /dev into the sandbox's.
const DEVICES: [&str; 6] = ["null", "zero", "random", "urandom", "full", "tty"];

/// Gives the sandbox /dev (with the usual nodes and links), /dev/shm, a read-only /sys, a /proc
/// mount point and /tmp when the image has none. Returns the directories it had to create in
/// the overlay (relative, parents first), to take out of the layer afterwards.
fn provide_system_dirs(lower: &Path, merged: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for dir in ["dev", "proc", "sys", "tmp"] {
        if !lower.join(dir).exists() {
            std::fs::create_dir(merged.join(dir)).with_context(|| format!("create /{dir} for RUN"))?;
            made.push(PathBuf::from(dir));
        }
    }
    for m in SYSTEM_MOUNTS {
        if m.only_if_missing && !made.iter().any(|d| d == Path::new(m.path)) {
            continue;
        }
        let target = merged.join(m.path);
        if m.path == "dev/shm" {
            // Inside our /dev tmpfs: not in the overlay.
            std::fs::create_dir(&target).context("create /dev/shm")?;
        }
        mount(Some(m.fstype), &target, Some(m.fstype), m.flags, Some(m.data))
            .with_context(|| format!("mount {} on /{} for RUN", m.fstype, m.path))?;
        if m.path == "dev" {
            for node in DEVICES {
                let node_target = target.join(node);
                std::fs::write(&node_target, b"")?;
                let source = Path::new("/dev").join(node);
                mount(Some(source.as_path()), &node_target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .with_context(|| format!("bind /dev/{node}"))?;
            }
            for (link, to) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
            ] {
                std::os::unix::fs::symlink(to, target.join(link))?;
            }
        }
    }
    Ok(made)
}

/// `USER` → uid/gid: numbers, or names from the image's /etc/passwd and /etc/group.
fn resolve_user(root: &Path, user: Option<&str>) -> anyhow::Result<(u32, u32)> {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return Ok((0, 0));
    };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<(u32, Option<u32>)> {
        let text = std::fs::read_to_string(root.join(file)).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                (f.get(field).and_then(|x| x.parse().ok()).unwrap_or(0), f.get(3).and_then(|x| x.parse().ok()))
            })
        })
    };
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (n, lookup_by_uid(root, n)),
        Err(_) => {
            lookup("etc/passwd", u, 2).with_context(|| format!("USER {u}: no such user in the image's /etc/passwd"))?
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("etc/group", g, 2)
                .map(|(n, _)| n)
                .with_context(|| format!("USER {user}: no such group in the image's /etc/group"))?,
        },
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

fn lookup_by_uid(root: &Path, uid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(root.join("etc/passwd")).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2).and_then(|x| x.parse::<u32>().ok()) == Some(uid))
            .then(|| f.get(3).and_then(|x| x.parse().ok()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id() {
        let d = digest::sha256(b"a").to_string();
        assert_eq!(chain_id(std::slice::from_ref(&d)), d);
        assert_ne!(chain_id(&[d.clone(), d.clone()]), d);
    }

    #[test]
    fn users_resolve_from_the_image_passwd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nweb:x:33:44::/:/bin/false\n")
            .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nwww:x:55:\n").unwrap();
        assert_eq!(resolve_user(dir.path(), None).unwrap(), (0, 0));
        assert_eq!(resolve_user(dir.path(), Some("web")).unwrap(), (33, 44));
        assert_eq!(resolve_user(dir.path(), Some("web:www")).unwrap(), (33, 55));
        assert_eq!(resolve_user(dir.path(), Some("1000")).unwrap(), (1000, 1000));
        assert!(resolve_user(dir.path(), Some("nobody")).is_err());
    }
}
