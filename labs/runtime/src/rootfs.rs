//! The container's filesystem, from config.json to mount(2) calls: the rootfs made a mount
//! point of its own, `mounts[]`, /dev, pivot_root, masked and read-only paths. Every call goes
//! through [`Kernel`], so the order is testable without root.

use crate::error::{Error, Result};
use crate::kernel::Kernel;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{makedev, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::path::{Component, Path, PathBuf};

/// `path` resolved inside `root` the way the container will see it: `..` stops at the root and
/// symlinks are followed relative to the root, so neither can lead outside (securejoin's rule).
/// The result need not exist; the part that does is fully resolved.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = components(path);
    pending.reverse();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::read_link(&full) {
            Ok(target) => {
                links += 1;
                if links > 255 {
                    return Err(Error::Path {
                        path: path.to_path_buf(),
                        why: "too many symlinks inside the rootfs".into(),
                    });
                }
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            Err(_) => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

fn components(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// A mount's options split into mount(2) flags, propagation flags and the data string.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> MountOptions {
        let mut out = MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
        };
        for option in options {
            let (set, clear) = match option.as_str() {
                "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
                "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
                other => {
                    if let Some(p) = propagation_flag(other) {
                        out.propagation.push(p);
                    } else {
                        out.data.push(other.to_string());
                    }
                    continue;
                }
            };
            out.flags = (out.flags | set) - clear;
            out.clear |= clear;
        }
        out
    }

    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// `shared`, `rslave`, … as mount(2) propagation flags.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> Error {
    let what = what.into();
    move |errno| Error::sys(what, errno)
}

/// Step 1: the mount tree made private (or as `linux.rootfsPropagation` says), and the rootfs
/// bind-mounted onto itself: pivot_root needs the new root to be a mount point whose parent is
/// not shared.
pub fn prepare_root(k: &dyn Kernel, spec: &Spec, rootfs: &Path) -> Result<()> {
    let propagation = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().clone());
    let flags = match propagation.as_deref() {
        None | Some("") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(name) => propagation_flag(name).map(|f| f | MsFlags::MS_REC).ok_or_else(|| {
            Error::config(
                "linux.rootfsPropagation",
                format!("{name:?} is not one of shared, slave, private, unbindable"),
            )
        })?,
    };
    k.mount(None, Path::new("/"), None, flags, None).map_err(sys("making / private (mount --make-rprivate /)"))?;
    // pivot_root refuses a new root whose parent mount is shared, and an unbindable parent
    // cannot be bound: make just that parent private (what runc does too).
    let parent = parent_mount(rootfs);
    if !flags.contains(MsFlags::MS_PRIVATE) {
        k.mount(None, &parent, None, MsFlags::MS_PRIVATE, None)
            .map_err(sys(format!("making {} (the rootfs's parent mount) private", parent.display())))?;
    }
    k.mount(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
        .map_err(sys(format!("bind-mounting the rootfs {} onto itself", rootfs.display())))
}

/// The mount point holding `path`: the longest mount point in /proc/self/mountinfo that is
/// `path` or one of its parents.
fn parent_mount(path: &Path) -> PathBuf {
    labkit::mountinfo::of_self()
        .into_iter()
        .map(|m| PathBuf::from(m.mount_point))
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Step 2: every entry of `mounts[]`, in order, with its destination resolved inside the rootfs.
pub fn mount_all(k: &dyn Kernel, spec: &Spec, rootfs: &Path) -> Result<()> {
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        mount_one(k, m, rootfs).map_err(|e| match e {
            Error::Sys { what, errno } => {
                Error::sys(format!("mounts[{index}] ({}): {what}", m.destination().display()), errno)
            }
            other => other,
        })?;
    }
    Ok(())
}

fn mount_one(k: &dyn Kernel, m: &Mount, rootfs: &Path) -> Result<()> {
    if !m.destination().is_absolute() {
        return Err(Error::config("mounts[].destination", format!("{} is not absolute", m.destination().display())));
    }
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    let fstype = m.typ().as_deref().unwrap_or(if opts.is_bind() { "bind" } else { "" });
    let dest = resolve_in_root(rootfs, m.destination())?;
    let source = m.source().clone();
    let bind = opts.is_bind() || fstype == "bind";
    if bind {
        let source = source.ok_or_else(|| Error::config("mounts[].source", "a bind mount needs a source"))?;
        if source.is_dir() {
            k.mkdir_all(&dest).map_err(sys(format!("creating {}", dest.display())))?;
        } else {
            k.touch(&dest).map_err(sys(format!("creating {}", dest.display())))?;
        }
        let rec = opts.flags & MsFlags::MS_REC;
        k.mount(Some(&source), &dest, None, MsFlags::MS_BIND | rec, None)
            .map_err(sys(format!("bind-mounting {}", source.display())))?;
        let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let kept = k.mount_flags_of(&dest).unwrap_or(MsFlags::empty()) - opts.clear;
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rec | extra | kept;
            k.mount(None, &dest, None, flags, None).map_err(sys("remounting the bind mount with its options"))?;
        }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        mount_cgroup(k, &dest, opts.flags)?;
    } else {
        k.mkdir_all(&dest).map_err(sys(format!("creating {}", dest.display())))?;
        let data = opts.data();
        let result = k.mount(source.as_deref(), &dest, Some(fstype), opts.flags, data.as_deref());
        match result {
            // Without a network namespace of its own, a user namespace may not mount sysfs:
            // give it the host's, read-only, as runc does.
            Err(Errno::EPERM) if fstype == "sysfs" => {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                k.mount(Some(Path::new("/sys")), &dest, None, flags, None).map_err(sys("bind-mounting /sys"))?;
                k.mount(None, &dest, None, flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None)
                    .map_err(sys("remounting /sys read-only"))?;
            }
            other => other.map_err(sys(format!("mount -t {fstype}")))?,
        }
    }
    for p in &opts.propagation {
        k.mount(None, &dest, None, *p, None).map_err(sys("setting the mount's propagation"))?;
    }
    Ok(())
}

/// A `cgroup` mount: cgroup2 on a unified host; on v1 a tmpfs holding each hierarchy the
/// host has, read-only unless the options say rw. With a cgroup namespace each shows the
/// container's own group as its root.
fn mount_cgroup(k: &dyn Kernel, dest: &Path, flags: MsFlags) -> Result<()> {
    k.mkdir_all(dest).map_err(sys(format!("creating {}", dest.display())))?;
    let flags = flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return k
            .mount(Some(Path::new("cgroup2")), dest, Some("cgroup2"), flags, None)
            .map_err(sys("mount -t cgroup2"));
    }
    k.mount(Some(Path::new("tmpfs")), dest, Some("tmpfs"), flags - MsFlags::MS_RDONLY, Some("mode=755"))
        .map_err(sys("mount -t tmpfs (the cgroup v1 directory)"))?;
    // The tmpfs stays writable (as runc and crun leave it); the hierarchies take the options.
    for (name, options) in v1_hierarchies() {
        let sub = dest.join(&name);
        k.mkdir_all(&sub).map_err(sys(format!("creating {}", sub.display())))?;
        k.mount(Some(Path::new("cgroup")), &sub, Some("cgroup"), flags, Some(options.as_str()))
            .map_err(sys(format!("mount -t cgroup -o {options} at {}", sub.display())))?;
    }
    Ok(())
}

/// The host's cgroup v1 hierarchies as (directory name, mount options), from /proc/self/mountinfo.
/// A hybrid host's cgroup2 at `unified` is left out, as runc leaves it out.
fn v1_hierarchies() -> Vec<(String, String)> {
    labkit::mountinfo::of_self()
        .into_iter()
        .filter(|m| m.fstype == "cgroup")
        .filter_map(|m| {
            let name = m.mount_point.strip_prefix("/sys/fs/cgroup/")?.to_string();
            let options: Vec<&str> = m.super_options.split(',').filter(|o| !matches!(*o, "rw" | "ro")).collect();
            Some((name, options.join(",")))
        })
        .collect()
}

/// The device nodes every container gets (the OCI spec's list), as (path, major, minor).
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Step 3: device nodes (mknod, or a bind mount of the host's node where mknod is not allowed,
/// as in a user namespace) and the standard /dev symlinks.
pub fn create_devices(k: &dyn Kernel, spec: &Spec, rootfs: &Path, in_userns: bool) -> Result<()> {
    let dev_is_ours = spec.mounts().iter().flatten().any(|m| m.destination() == Path::new("/dev"));
    let mut nodes: Vec<(PathBuf, SFlag, u64, u64, u32, u32, u32)> = Vec::new();
    if dev_is_ours {
        for (path, major, minor) in DEFAULT_DEVICES {
            nodes.push((path.into(), SFlag::S_IFCHR, major, minor, 0o666, 0, 0));
        }
    }
    for d in spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default() {
        let (kind, mode) = device_kind(&d)?;
        nodes.retain(|n| n.0 != *d.path());
        nodes.push((
            d.path().clone(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            d.file_mode().unwrap_or(mode),
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        ));
    }
    for (path, kind, major, minor, mode, uid, gid) in nodes {
        let dest = resolve_in_root(rootfs, &path)?;
        if let Some(parent) = dest.parent() {
            k.mkdir_all(parent).map_err(sys(format!("creating {}", parent.display())))?;
        }
        if in_userns {
            k.touch(&dest).map_err(sys(format!("creating {}", dest.display())))?;
            k.mount(Some(&path), &dest, None, MsFlags::MS_BIND, None)
                .map_err(sys(format!("bind-mounting the host's {}", path.display())))?;
            continue;
        }
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        match k.mknod(&dest, kind, perm, makedev(major, minor)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("mknod {} {major}:{minor}", path.display()), e)),
        }
        k.chown(&dest, uid, gid).map_err(sys(format!("chown {}", path.display())))?;
    }
    if dev_is_ours {
        let links = [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
            ("pts/ptmx", "/dev/ptmx"),
        ];
        for (target, link) in links {
            let dest = resolve_in_root(rootfs, Path::new(link))?;
            match k.symlink(Path::new(target), &dest) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("ln -s {target} {link}"), e)),
            }
        }
        if Path::new("/proc/kcore").exists() {
            let dest = resolve_in_root(rootfs, Path::new("/dev/core"))?;
            let _ = k.symlink(Path::new("/proc/kcore"), &dest);
        }
    }
    Ok(())
}

fn device_kind(d: &LinuxDevice) -> Result<(SFlag, u32)> {
    Ok(match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => (SFlag::S_IFCHR, 0o666),
        LinuxDeviceType::B => (SFlag::S_IFBLK, 0o660),
        LinuxDeviceType::P => (SFlag::S_IFIFO, 0o666),
        LinuxDeviceType::A => {
            return Err(Error::config(
                "linux.devices[].type",
                format!("{}: \"a\" is for cgroup rules", d.path().display()),
            ))
        }
    })
}

/// Step 4: the rootfs becomes `/`. pivot_root(".", ".") stacks the old root on top of the new
/// one; detaching it leaves only the container's tree (no path back to the host's). With
/// `no_pivot` (a rootfs on a ramfs, where pivot_root fails) the rootfs is moved onto / and
/// chroot'ed into, which leaves the old root reachable to anyone with CAP_SYS_CHROOT.
pub fn enter_root(k: &dyn Kernel, rootfs: &Path, no_pivot: bool) -> Result<()> {
    k.chdir(rootfs).map_err(sys(format!("chdir {}", rootfs.display())))?;
    if no_pivot {
        k.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None).map_err(sys("mount --move rootfs /"))?;
        k.chroot(Path::new(".")).map_err(sys("chroot ."))?;
    } else {
        k.pivot_root(Path::new("."), Path::new(".")).map_err(sys("pivot_root . ."))?;
        // The old root, now on top: make it a slave so detaching it cannot reach the host's mounts.
        k.mount(None, Path::new("."), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
            .map_err(sys("making the old root a slave"))?;
        k.umount(Path::new("."), MntFlags::MNT_DETACH).map_err(sys("umount -l the old root"))?;
    }
    k.chdir(Path::new("/")).map_err(sys("chdir /"))
}

/// Step 4b: `linux.rootfsPropagation` applied to the new `/` itself (the bind mount made in
/// step 1 started out private under its private parent).
pub fn apply_root_propagation(k: &dyn Kernel, spec: &Spec) -> Result<()> {
    let propagation = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().clone());
    let Some(flag) = propagation.as_deref().and_then(propagation_flag) else { return Ok(()) };
    k.mount(None, Path::new("/"), None, flag | MsFlags::MS_REC, None).map_err(sys("setting the propagation of /"))
}

/// Step 5 (after entering the root): masked paths hidden (a file under /dev/null, a directory
/// under an empty read-only tmpfs), read-only paths remounted read-only, and `root.readonly`.
pub fn protect_paths(k: &dyn Kernel, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for path in linux.and_then(|l| l.masked_paths().clone()).unwrap_or_default() {
        mask(k, Path::new(&path))?;
    }
    for path in linux.and_then(|l| l.readonly_paths().clone()).unwrap_or_default() {
        let path = Path::new(&path);
        match k.mount(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None) {
            Err(Errno::ENOENT) => continue,
            other => other.map_err(sys(format!("bind-mounting readonly path {}", path.display())))?,
        }
        remount_readonly(k, path, true)?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        remount_readonly(k, Path::new("/"), false)?;
    }
    Ok(())
}

fn remount_readonly(k: &dyn Kernel, path: &Path, recursive: bool) -> Result<()> {
    let kept = k.mount_flags_of(path).unwrap_or(MsFlags::empty());
    let rec = if recursive { MsFlags::MS_REC } else { MsFlags::empty() };
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | rec | kept;
    k.mount(None, path, None, flags, None).map_err(sys(format!("remounting {} read-only", path.display())))
}

fn mask(k: &dyn Kernel, path: &Path) -> Result<()> {
    let Ok((kind, _)) = k.lstat(path) else { return Ok(()) };
    if kind == SFlag::S_IFDIR {
        return k
            .mount(Some(Path::new("tmpfs")), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)
            .map_err(sys(format!("masking {} with a read-only tmpfs", path.display())));
    }
    // CVE-2025-31133: a container could replace /dev/null with a symlink to a host file, and
    // the mask would then bind that file writable. Bind only a real null device.
    let null = Path::new("/dev/null");
    match k.lstat(null) {
        Ok((SFlag::S_IFCHR, rdev)) if rdev == makedev(1, 3) => {}
        _ => {
            return Err(Error::Path {
                path: null.into(),
                why: format!("is not the null character device (1:3), so it cannot mask {}", path.display()),
            })
        }
    }
    k.mount(Some(null), path, None, MsFlags::MS_BIND, None).map_err(sys(format!("masking {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Recorder;

    fn spec(json: &str) -> Spec {
        crate::config::parse_spec(json).unwrap()
    }

    #[test]
    fn dotdot_and_absolute_symlinks_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("hostetc")).unwrap();
        std::os::unix::fs::symlink("../../..", root.path().join("up")).unwrap();
        let r = root.path();
        assert_eq!(resolve_in_root(r, Path::new("/../../etc/passwd")).unwrap(), r.join("etc/passwd"));
        assert_eq!(resolve_in_root(r, Path::new("/hostetc/shadow")).unwrap(), r.join("etc/shadow"));
        assert_eq!(resolve_in_root(r, Path::new("/up/tmp")).unwrap(), r.join("tmp"));
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o =
            MountOptions::parse(&["nosuid".into(), "ro".into(), "rslave".into(), "mode=755".into(), "size=1m".into()]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data().as_deref(), Some("mode=755,size=1m"));
        assert_eq!(MountOptions::parse(&["ro".into(), "rw".into()]).flags, MsFlags::empty());
    }

    #[test]
    fn a_read_only_bind_mount_is_a_bind_then_a_remount() {
        let k = Recorder::default();
        let s = spec(
            r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/data","source":"/tmp","options":["rbind","ro"]}]}"#,
        );
        mount_all(&k, &s, Path::new("/nonexistent-root")).unwrap();
        assert_eq!(
            k.lines(),
            [
                "mkdir /nonexistent-root/data",
                "mount /tmp /nonexistent-root/data type=- flags=bind,rec data=-",
                "mount none /nonexistent-root/data type=- flags=rdonly,remount,bind,rec data=-",
            ]
        );
    }

    #[test]
    fn the_root_is_made_private_before_it_is_bound_onto_itself() {
        let k = Recorder::default();
        prepare_root(&k, &spec(r#"{"ociVersion":"1.0.0"}"#), Path::new("/b/rootfs")).unwrap();
        assert_eq!(
            k.lines(),
            ["mount none / type=- flags=rec,private data=-", "mount /b/rootfs /b/rootfs type=- flags=bind,rec data=-"]
        );
    }

    #[test]
    fn pivot_root_detaches_the_old_root() {
        let k = Recorder::default();
        enter_root(&k, Path::new("/b/rootfs"), false).unwrap();
        assert_eq!(
            k.lines(),
            [
                "chdir /b/rootfs",
                "pivot_root . .",
                "mount none . type=- flags=rec,slave data=-",
                "umount . MntFlags(MNT_DETACH)",
                "chdir /"
            ]
        );
    }

    #[test]
    fn a_masked_file_is_refused_when_dev_null_is_not_the_null_device() {
        let k = Recorder::default();
        let s = spec(r#"{"ociVersion":"1.0.0","linux":{"maskedPaths":["/proc/kcore"]}}"#);
        let err = protect_paths(&k, &s).unwrap_err().to_string();
        assert!(err.contains("/dev/null") && err.contains("1:3"), "{err}");
        assert!(k.lines().iter().all(|l| !l.starts_with("mount")), "{:?}", k.lines());

        let k = Recorder { char_devices: vec![("/dev/null".into(), makedev(1, 3))], ..Default::default() };
        protect_paths(&k, &s).unwrap();
        assert_eq!(k.lines(), ["mount /dev/null /proc/kcore type=- flags=bind data=-"]);
    }

    #[test]
    fn default_devices_are_made_only_when_dev_is_the_containers_own() {
        let k = Recorder::default();
        let s = spec(r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs"}]}"#);
        create_devices(&k, &s, Path::new("/r"), false).unwrap();
        let lines = k.lines();
        assert!(lines.contains(&"mknod /r/dev/null c 1:3 666".to_string()), "{lines:?}");
        assert!(lines.contains(&"symlink /r/dev/ptmx -> pts/ptmx".to_string()), "{lines:?}");

        let k = Recorder::default();
        create_devices(&k, &spec(r#"{"ociVersion":"1.0.0"}"#), Path::new("/r"), false).unwrap();
        assert!(k.lines().is_empty());
    }
}
