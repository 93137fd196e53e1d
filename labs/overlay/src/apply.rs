//! Applying an OCI layer tarball onto a directory, honouring whiteouts, refusing traversal.
//!
//! Every entry's path is checked before anything is written: absolute paths and `..` are
//! refused, and parent directories are resolved by hand, one component at a time, so a
//! symlink placed by an earlier entry (or already in the target) can never lead a later entry
//! outside the target: relative symlinks that stay inside are followed (as the container
//! will see them), absolute ones and ones that climb out are refused.

use crate::error::{Error, Result};
use crate::whiteout::{OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Flatten: a whiteout deletes the path below it, an opaque marker empties its directory
    /// of what lower layers put there (unpacking an image into one rootfs, like umoci).
    #[default]
    Remove,
    /// Keep the layer stackable: a whiteout becomes a character device 0/0 and an opaque
    /// marker the `trusted.overlay.opaque=y` xattr, so the target can serve as an overlay
    /// lowerdir (one directory per layer, like containerd's overlay snapshotter). Needs root.
    Overlay,
}

/// How to apply a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Give entries the layer's uid/gid (root only; otherwise files are the caller's).
    pub same_owner: bool,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions { whiteouts: WhiteoutMode::Remove, same_owner: labkit::sys::is_root() }
    }
}

/// What applying a layer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub hardlinks: usize,
    /// Device nodes and FIFOs.
    pub specials: usize,
    /// `.wh.<name>` entries handled.
    pub whiteouts: usize,
    /// `.wh..wh..opq` entries handled.
    pub opaque_dirs: usize,
    /// File content bytes written.
    pub bytes: u64,
    /// `SCHILY.xattr.*` records the target filesystem or our privileges refused.
    pub xattrs_skipped: usize,
}

/// Applies the layer tar read from `reader` onto `target` (an existing directory).
pub fn apply_layer(reader: impl Read, target: &Path, opts: &ApplyOptions) -> Result<ApplyStats> {
    let meta = std::fs::metadata(target).map_err(Error::io("open target", target))?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory { what: "target", path: target.to_path_buf() });
    }
    let mut applier = Applier {
        root: target.to_path_buf(),
        opts: opts.clone(),
        stats: ApplyStats::default(),
        created: HashSet::new(),
        dirs: HashMap::new(),
        dir_times: Vec::new(),
        euid: nix::unistd::geteuid().as_raw(),
        egid: nix::unistd::getegid().as_raw(),
        umask: current_umask(),
        root_user: labkit::sys::is_root(),
        buf: vec![0; 128 * 1024],
        open_dir: None,
    };
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, reader));
    for entry in archive.entries().map_err(Error::Tar)? {
        let entry = entry.map_err(Error::Tar)?;
        applier.entry(entry)?;
    }
    applier.finish()?;
    Ok(applier.stats)
}

struct Applier {
    root: PathBuf,
    opts: ApplyOptions,
    stats: ApplyStats,
    /// Real paths this layer created: whiteouts only hide what lower layers made.
    created: HashSet<PathBuf>,
    /// Entry directory (relative, as in the tar) -> real directory, resolved safely.
    dirs: HashMap<PathBuf, PathBuf>,
    /// Directory mtimes, set last (writing children changes them).
    dir_times: Vec<(PathBuf, i64)>,
    euid: u32,
    egid: u32,
    umask: u32,
    root_user: bool,
    /// One reusable copy buffer (io::copy would zero a fresh one for every small file).
    buf: Vec<u8>,
    /// The directory files were last created in, open: sorted layers put siblings together, and
    /// openat(2) relative to it spares the kernel a walk of the whole path for every file.
    open_dir: Option<(PathBuf, std::os::fd::OwnedFd)>,
}

/// Symlinks followed while resolving one path before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

impl Applier {
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<R>) -> Result<()> {
        let header_type = entry.header().entry_type();
        if matches!(header_type, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            return Ok(());
        }
        let raw = entry.path().map_err(Error::Tar)?.into_owned();
        let shown = raw.display().to_string();
        let rel = normalize(&raw, &shown)?;
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            return Ok(()); // the root itself ("./")
        };
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")), &shown)?;
        let dst = parent.join(&name);

        let name_bytes = name.as_bytes();
        if name_bytes == OPAQUE_MARKER.as_bytes() {
            return self.opaque(&parent);
        }
        if name_bytes.starts_with(b".wh..wh.") {
            return Ok(()); // AUFS bookkeeping (.wh..wh.plnk, ...): not content
        }
        if let Some(hidden) = name_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&parent.join(OsStr::from_bytes(hidden)), &shown);
        }

        let header = entry.header();
        let mode = header.mode().map_err(Error::Tar)? & 0o7777;
        let uid = header.uid().map_err(Error::Tar)? as u32;
        let gid = header.gid().map_err(Error::Tar)? as u32;
        let mtime = header.mtime().map_err(Error::Tar)? as i64;
        match header_type {
            tar::EntryType::Directory => {
                match std::fs::symlink_metadata(&dst) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        self.remove(&dst)?;
                        mkdir(&dst)?;
                    }
                    Err(_) => mkdir(&dst)?,
                }
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))
                    .map_err(Error::io("chmod", &dst))?;
                self.chown(&dst, uid, gid)?;
                self.dir_times.push((dst.clone(), mtime));
                self.stats.dirs += 1;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dir_fd = self.dir_fd(&parent)?;
                let mut file = match create_file_at(dir_fd, &name, mode) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        self.remove(&dst)?;
                        let dir_fd = self.dir_fd(&parent)?;
                        create_file_at(dir_fd, &name, mode).map_err(Error::io("create", &dst))?
                    }
                    Err(e) => return Err(Error::io("create", &dst)(e)),
                };
                self.stats.bytes +=
                    copy_with(&mut self.buf, &mut entry, &mut file).map_err(Error::io("write", &dst))?;
                if self.opts.same_owner && (uid, gid) != (self.euid, self.egid) {
                    std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(Error::io("chown", &dst))?;
                }
                if mode & self.umask != 0 || mode & 0o7000 != 0 {
                    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", &dst))?;
                }
                let t = nix::sys::time::TimeSpec::new(mtime, 0);
                nix::sys::stat::futimens(file.as_raw_fd(), &t, &t).map_err(|e| Error::Io {
                    op: "set mtime of",
                    path: dst.clone(),
                    source: e.into(),
                })?;
                self.stats.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(Error::Tar)?
                    .ok_or_else(|| Error::UnsupportedEntry {
                        entry: shown.clone(),
                        kind: "symlink without a target".into(),
                    })?
                    .into_owned();
                self.replace(&dst)?;
                std::os::unix::fs::symlink(&target, &dst).map_err(Error::io("symlink", &dst))?;
                self.chown(&dst, uid, gid)?;
                set_mtime_nofollow(&dst, mtime)?;
                self.dirs.clear();
                self.open_dir = None;
                self.stats.symlinks += 1;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(Error::Tar)?
                    .ok_or_else(|| Error::UnsupportedEntry {
                        entry: shown.clone(),
                        kind: "hard link without a target".into(),
                    })?
                    .into_owned();
                let link_shown = link.display().to_string();
                let link_rel = normalize(&link, &link_shown)?;
                let link_name = link_rel
                    .file_name()
                    .ok_or_else(|| Error::HardlinkMissing { entry: shown.clone(), target: link_shown.clone() })?;
                let src = self.resolve_dir(link_rel.parent().unwrap_or(Path::new("")), &link_shown)?.join(link_name);
                if std::fs::symlink_metadata(&src).is_err() {
                    return Err(Error::HardlinkMissing { entry: shown, target: link_shown });
                }
                self.replace(&dst)?;
                std::fs::hard_link(&src, &dst).map_err(Error::io("link", &dst))?;
                self.dirs.clear();
                self.open_dir = None;
                self.stats.hardlinks += 1;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                use nix::sys::stat::SFlag;
                let (kind, flag) = match header_type {
                    tar::EntryType::Char => ("character", SFlag::S_IFCHR),
                    tar::EntryType::Block => ("block", SFlag::S_IFBLK),
                    _ => ("fifo", SFlag::S_IFIFO),
                };
                if flag != SFlag::S_IFIFO && !self.root_user {
                    return Err(Error::DeviceNeedsRoot { entry: shown, kind });
                }
                let (major, minor) = if flag == SFlag::S_IFIFO {
                    (0, 0) // many writers leave a FIFO's device fields empty
                } else {
                    (
                        header.device_major().map_err(Error::Tar)?.unwrap_or(0),
                        header.device_minor().map_err(Error::Tar)?.unwrap_or(0),
                    )
                };
                self.replace(&dst)?;
                mknod(&dst, flag, mode, major, minor)?;
                self.chown(&dst, uid, gid)?;
                set_mtime_nofollow(&dst, mtime)?;
                self.stats.specials += 1;
            }
            other => return Err(Error::UnsupportedEntry { entry: shown, kind: format!("{other:?}") }),
        }
        if let Some(ext) = entry.pax_extensions().map_err(Error::Tar)? {
            for ext in ext {
                let ext = ext.map_err(Error::Tar)?;
                let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                    continue;
                };
                if xattr::set(&dst, OsStr::from_bytes(name), ext.value_bytes()).is_err() {
                    self.stats.xattrs_skipped += 1;
                }
            }
        }
        if self.opts.whiteouts == WhiteoutMode::Remove {
            self.created.insert(dst);
        }
        Ok(())
    }

    /// `.wh.<name>`: hide `path` from lower layers.
    fn whiteout(&mut self, path: &Path, shown: &str) -> Result<()> {
        self.stats.whiteouts += 1;
        match self.opts.whiteouts {
            WhiteoutMode::Remove => {
                if !self.created.contains(path) {
                    self.remove(path)?;
                }
            }
            WhiteoutMode::Overlay => {
                if !self.root_user {
                    return Err(Error::DeviceNeedsRoot { entry: shown.to_string(), kind: "whiteout (character 0/0)" });
                }
                self.replace(path)?;
                mknod(path, nix::sys::stat::SFlag::S_IFCHR, 0, 0, 0)?;
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `dir`: lower layers' contents of `dir` are hidden.
    fn opaque(&mut self, dir: &Path) -> Result<()> {
        self.stats.opaque_dirs += 1;
        match self.opts.whiteouts {
            WhiteoutMode::Remove => {
                let children: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map_err(Error::io("read directory", dir))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect();
                for child in children {
                    if !self.created.contains(&child) {
                        self.remove(&child)?;
                    }
                }
                Ok(())
            }
            WhiteoutMode::Overlay => {
                xattr::set(dir, OPAQUE_XATTR, b"y").map_err(Error::io("set trusted.overlay.opaque on", dir))
            }
        }
    }

    /// The real directory for a relative entry directory, created if missing, never leaving
    /// the root.
    fn resolve_dir(&mut self, rel: &Path, shown: &str) -> Result<PathBuf> {
        if rel.as_os_str().is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(real) = self.dirs.get(rel) {
            return Ok(real.clone());
        }
        let parent = self.resolve_dir(rel.parent().unwrap_or(Path::new("")), shown)?;
        let name = rel.file_name().expect("normalized paths end in a name");
        let real = self.follow(&parent, name, shown)?;
        self.dirs.insert(rel.to_path_buf(), real.clone());
        Ok(real)
    }

    /// Steps from the real directory `from` into `name`, following symlinks inside the root.
    fn follow(&self, from: &Path, name: &OsStr, shown: &str) -> Result<PathBuf> {
        let mut stack: Vec<OsString> = from
            .strip_prefix(&self.root)
            .expect("resolved paths stay under the root")
            .iter()
            .map(OsStr::to_os_string)
            .collect();
        let mut pending: VecDeque<OsString> = VecDeque::from([name.to_os_string()]);
        let mut hops = 0;
        // The last symlink followed: `..` only ever reaches pending through one.
        let mut last_link = (String::new(), String::new());
        while let Some(c) = pending.pop_front() {
            let here = || self.root.join(stack.iter().collect::<PathBuf>());
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(Error::SymlinkEscape {
                        entry: shown.to_string(),
                        link: last_link.0,
                        dest: last_link.1,
                    });
                }
                continue;
            }
            if c == "." || c.is_empty() {
                continue;
            }
            let path = here().join(&c);
            match std::fs::symlink_metadata(&path) {
                Err(_) => {
                    mkdir(&path)?;
                    stack.push(c);
                }
                Ok(m) if m.is_dir() => stack.push(c),
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(Error::SymlinkLoop { entry: shown.to_string() });
                    }
                    let dest = std::fs::read_link(&path).map_err(Error::io("readlink", &path))?;
                    let link = path.strip_prefix(&self.root).unwrap_or(&path).display().to_string();
                    let escape = || Error::SymlinkEscape {
                        entry: shown.to_string(),
                        link: link.clone(),
                        dest: dest.display().to_string(),
                    };
                    if dest.is_absolute() {
                        return Err(escape());
                    }
                    // Lexical depth check: `..` may not climb above the root.
                    let mut depth = stack.len() as isize;
                    for part in dest.components() {
                        match part {
                            Component::ParentDir => depth -= 1,
                            Component::Normal(_) => depth += 1,
                            _ => {}
                        }
                        if depth < 0 {
                            return Err(escape());
                        }
                    }
                    last_link = (link.clone(), dest.display().to_string());
                    for part in dest.iter().rev() {
                        pending.push_front(part.to_os_string());
                    }
                }
                Ok(_) => {
                    return Err(Error::ParentNotDirectory {
                        entry: shown.to_string(),
                        link: path.strip_prefix(&self.root).unwrap_or(&path).display().to_string(),
                    })
                }
            }
        }
        Ok(self.root.join(stack.iter().collect::<PathBuf>()))
    }

    /// An open descriptor of `dir` (already resolved inside the root), reused while entries stay
    /// in the same directory.
    fn dir_fd(&mut self, dir: &Path) -> Result<std::os::fd::BorrowedFd<'_>> {
        use rustix::fs::{Mode, OFlags};
        use std::os::fd::AsFd;
        if self.open_dir.as_ref().is_none_or(|(open, _)| open != dir) {
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
            let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| Error::Io {
                op: "open directory",
                path: dir.to_path_buf(),
                source: e.into(),
            })?;
            self.open_dir = Some((dir.to_path_buf(), fd));
        }
        Ok(self.open_dir.as_ref().expect("just opened").1.as_fd())
    }

    /// Removes whatever is at `path` (a tree if it is a directory); missing is fine.
    fn remove(&mut self, path: &Path) -> Result<()> {
        let result = match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
            Ok(_) => std::fs::remove_file(path),
            Err(_) => return Ok(()),
        };
        self.dirs.clear();
        self.open_dir = None;
        result.map_err(Error::io("remove", path))
    }

    /// Makes room for a non-directory at `path`.
    fn replace(&mut self, path: &Path) -> Result<()> {
        self.remove(path)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        if self.opts.same_owner && (uid, gid) != (self.euid, self.egid) {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(Error::io("chown", path))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        for (dir, mtime) in self.dir_times.iter().rev() {
            set_mtime_nofollow(dir, *mtime)?;
        }
        Ok(())
    }
}

/// Entry path -> clean relative path; absolute paths and `..` are refused.
fn normalize(raw: &Path, shown: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Error::AbsolutePath { entry: shown.to_string() }),
            Component::ParentDir => return Err(Error::ParentTraversal { entry: shown.to_string() }),
        }
    }
    Ok(out)
}

/// Copies `from` to `to` through `buf`; returns the bytes copied.
fn copy_with(buf: &mut [u8], from: &mut impl Read, to: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Creates `name` in the directory `dir` (openat(2), O_EXCL and O_NOFOLLOW: never through a
/// symlink, never over an existing file).
fn create_file_at(dir: std::os::fd::BorrowedFd<'_>, name: &OsStr, mode: u32) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode))?;
    Ok(std::fs::File::from(fd))
}

fn mkdir(path: &Path) -> Result<()> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("mkdir", path)(e)),
    }
}

fn mknod(path: &Path, kind: nix::sys::stat::SFlag, mode: u32, major: u32, minor: u32) -> Result<()> {
    nix::sys::stat::mknod(
        path,
        kind,
        nix::sys::stat::Mode::from_bits_truncate(mode),
        nix::sys::stat::makedev(major.into(), minor.into()),
    )
    .map_err(|e| Error::Io { op: "mknod", path: path.to_path_buf(), source: e.into() })
}

fn set_mtime_nofollow(path: &Path, mtime: i64) -> Result<()> {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(None, path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::Io { op: "set mtime of", path: path.to_path_buf(), source: e.into() })
}

/// The process umask, read without changing it (/proc/self/status `Umask:`); 0o022 if unknown.
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_are_normalized_and_traversal_refused() {
        assert_eq!(normalize(Path::new("./a//b/./c"), "").unwrap(), Path::new("a/b/c"));
        assert!(matches!(normalize(Path::new("/etc/passwd"), "x"), Err(Error::AbsolutePath { .. })));
        assert!(matches!(normalize(Path::new("a/../../b"), "x"), Err(Error::ParentTraversal { .. })));
    }
}
