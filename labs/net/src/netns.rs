//! Named network namespaces, the `ip netns add` way: a bind mount of a namespace file onto
//! `/run/netns/NAME` keeps the namespace alive without any process in it.

use labkit::paths::NETNS_DIR;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// `/run/netns/NAME`
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Does the named namespace exist (a bind mount at `/run/netns/NAME`)?
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Resolves a `--netns` argument: a name under /run/netns, or a path (`/proc/PID/ns/net`).
pub fn resolve(name_or_path: &str) -> PathBuf {
    if name_or_path.contains('/') {
        PathBuf::from(name_or_path)
    } else {
        path(name_or_path)
    }
}

/// Opens a namespace file (to pass its fd to netlink or setns).
pub fn open(name_or_path: &str) -> io::Result<File> {
    let p = resolve(name_or_path);
    File::open(&p).map_err(|e| io::Error::new(e.kind(), format!("open netns {}: {e}", p.display())))
}

/// `ip netns add NAME`. Register `Undo::Netns { name }` before calling it.
///
/// Like iproute2: make /run/netns a shared mount (so the bind mounts propagate to other mount
/// namespaces), create an empty file, unshare a network namespace on a helper thread and bind
/// mount that thread's `/proc/thread-self/ns/net` onto the file. The caller's namespace is
/// never changed.
pub fn add(name: &str) -> io::Result<PathBuf> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad netns name {name:?}")));
    }
    let dir = Path::new(NETNS_DIR);
    std::fs::create_dir_all(dir)?;
    make_shared(dir)?;
    let target = path(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", target.display())))?;
    let bound = labkit::sys::in_new_namespaces(CloneFlags::CLONE_NEWNET, || {
        mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
    })
    .and_then(|r| r.map_err(io::Error::from));
    if let Err(e) = bound {
        let _ = std::fs::remove_file(&target);
        return Err(io::Error::new(
            e.kind(),
            format!("bind mount a new network namespace on {}: {e}", target.display()),
        ));
    }
    Ok(target)
}

/// `ip netns del NAME` (idempotent).
pub fn delete(name: &str) -> Result<(), String> {
    labkit::Undo::Netns { name: name.to_string() }.run()
}

/// What ip netns does: /run/netns is a shared mount point, bind mounted onto itself first if
/// it is not a mount point yet.
fn make_shared(dir: &Path) -> io::Result<()> {
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
            mount(None::<&str>, dir, None::<&str>, flags, None::<&str>)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `f` on a thread inside the network namespace `netns` (a path).
pub fn run_in<T: Send>(netns: &Path, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    labkit::sys::in_namespaces(&[(netns, CloneFlags::CLONE_NEWNET)], f)
}

/// The inode of the calling thread's network namespace.
pub fn current_inode() -> io::Result<u64> {
    Ok(labkit::probe::thread_ns_link("net")?.inode)
}

/// The inode of a namespace file.
pub fn inode_of(p: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(p)?.ino())
}
