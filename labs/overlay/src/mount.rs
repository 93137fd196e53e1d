//! Mounting an overlay: ordered read-only lower layers, an optional writable upper layer and
//! its workdir, checked before the kernel sees them so mistakes get a specific message.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// mount(2) copies at most one page of options, including the terminating NUL.
pub const MAX_OPTIONS: usize = 4095;

/// Entries the kernel itself leaves in a workdir after a previous mount of the same overlay.
const KERNEL_WORK_ENTRIES: [&str; 2] = ["work", "index"];

/// An overlay to mount: `lowers` top-most first (as in `lowerdir=top:...:bottom`, the leftmost
/// wins), and an optional `upper` + `work` pair. Without an upper the mount is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    lowers: Vec<PathBuf>,
    upper: Option<(PathBuf, PathBuf)>,
    volatile: bool,
}

/// Something that works, but not fully, on this upper filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// No `trusted.*` xattrs under upper: no opaque directories, so deleting a directory that
    /// exists in a lower layer fails with EIO; the kernel also turns redirect_dir and the
    /// uuid features off. Files can still be deleted (whiteouts are device nodes).
    NoXattrs { upper: PathBuf, fs: String },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::NoXattrs { upper, fs } => write!(
                f,
                "upperdir {} is on {fs}, which has no trusted.* xattrs: overlayfs cannot mark opaque directories there, \
                 so removing a directory that exists in a lower layer will fail with EIO (deleting files still works). \
                 Use ext4, xfs, btrfs or tmpfs for upper to get everything",
                upper.display()
            ),
        }
    }
}

impl Overlay {
    /// A read-only overlay of `lowers`, top-most first.
    pub fn new<P: Into<PathBuf>>(lowers: impl IntoIterator<Item = P>) -> Overlay {
        Overlay { lowers: lowers.into_iter().map(Into::into).collect(), upper: None, volatile: false }
    }

    /// Adds the writable layer: `upper` receives every change, `work` is overlayfs's scratch
    /// directory (empty, on the same filesystem as `upper`).
    pub fn with_upper(mut self, upper: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Overlay {
        self.upper = Some((upper.into(), work.into()));
        self
    }

    /// Mounts with `volatile`: no sync of the upper filesystem, not at unmount either (which
    /// otherwise writes back the whole filesystem holding upper, everyone's dirty data). For
    /// an upper that is thrown away after one use (`run --rm`): after a crash its content may
    /// be incomplete, and the kernel refuses to mount this workdir again until its
    /// `work/incompat/volatile` marker is removed.
    pub fn volatile(mut self) -> Overlay {
        self.volatile = true;
        self
    }

    pub fn lowers(&self) -> &[PathBuf] {
        &self.lowers
    }

    pub fn upper(&self) -> Option<&Path> {
        self.upper.as_ref().map(|(u, _)| u.as_path())
    }

    pub fn work(&self) -> Option<&Path> {
        self.upper.as_ref().map(|(_, w)| w.as_path())
    }

    /// The `-o` string: `lowerdir=A:B,upperdir=U,workdir=W` with absolute paths, and `\`,
    /// `:` and `,` inside a path escaped with a backslash (overlayfs unescapes them).
    pub fn options(&self) -> Result<OsString> {
        if self.lowers.is_empty() {
            return Err(Error::NoLowers);
        }
        let mut out: Vec<u8> = b"lowerdir=".to_vec();
        for (i, lower) in self.lowers.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            escape_into(&absolute(lower)?, &mut out)?;
        }
        if let Some((upper, work)) = &self.upper {
            out.extend_from_slice(b",upperdir=");
            escape_into(&absolute(upper)?, &mut out)?;
            out.extend_from_slice(b",workdir=");
            escape_into(&absolute(work)?, &mut out)?;
            if self.volatile {
                out.extend_from_slice(b",volatile");
            }
        }
        if out.len() > MAX_OPTIONS {
            return Err(Error::OptionsTooLong { len: out.len(), max: MAX_OPTIONS });
        }
        Ok(OsString::from_vec(out))
    }

    /// Checks everything the kernel would reject, and what it would only half support, before
    /// mounting: lowers exist, upper and work exist, work is empty and on upper's filesystem,
    /// and upper's filesystem can hold whiteouts (and xattrs, else a [`Warning`]).
    pub fn check(&self) -> Result<Vec<Warning>> {
        self.options()?;
        for lower in &self.lowers {
            dir_exists(lower, "lowerdir", Error::LowerMissing)?;
        }
        let Some((upper, work)) = &self.upper else {
            return Ok(Vec::new());
        };
        dir_exists(upper, "upperdir", Error::UpperMissing)?;
        dir_exists(work, "workdir", Error::WorkMissing)?;
        let upper_fs = fs_name(upper);
        if upper_fs == "overlay" {
            return Err(Error::UpperOnOverlay(upper.clone()));
        }
        let upper_dev = std::fs::metadata(upper).map_err(Error::io("stat", upper))?.dev();
        let work_dev = std::fs::metadata(work).map_err(Error::io("stat", work))?.dev();
        if upper_dev != work_dev {
            return Err(Error::DifferentFilesystems {
                upper: upper.clone(),
                upper_fs,
                work: work.clone(),
                work_fs: fs_name(work),
            });
        }
        for entry in std::fs::read_dir(work).map_err(Error::io("read", work))? {
            let entry = entry.map_err(Error::io("read", work))?;
            let name = entry.file_name();
            if !KERNEL_WORK_ENTRIES.iter().any(|k| OsStr::new(k) == name) {
                return Err(Error::WorkNotEmpty { path: work.clone(), entry: name.to_string_lossy().into_owned() });
            }
        }
        let support = probe_support(work);
        if let Err(reason) = support.whiteouts {
            return Err(Error::NoWhiteouts { path: upper.clone(), fs: upper_fs, reason });
        }
        let mut warnings = Vec::new();
        if !support.xattrs {
            warnings.push(Warning::NoXattrs { upper: upper.clone(), fs: upper_fs });
        }
        Ok(warnings)
    }

    /// Checks ([`Overlay::check`]) and mounts at `target` (mount(2), type `overlay`, source
    /// `overlay`). Returns the warnings of the check. Unmount with [`unmount`].
    pub fn mount(&self, target: &Path) -> Result<Vec<Warning>> {
        let warnings = self.check()?;
        dir_exists(target, "mount point", |p| Error::Io {
            op: "mount on",
            path: p,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        self.mount_unchecked(target)?;
        Ok(warnings)
    }

    /// mount(2) without the checks: for showing what the kernel itself says.
    pub fn mount_unchecked(&self, target: &Path) -> Result<()> {
        let options = self.options()?;
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(options.as_os_str()),
        )
        .map_err(|errno| match errno {
            Errno::ENODEV => Error::NoOverlayFs,
            Errno::EPERM if !labkit::sys::is_root() => Error::NeedsRoot,
            errno => Error::Mount {
                target: target.to_path_buf(),
                options: options.to_string_lossy().into_owned(),
                errno,
                hint: mount_hint(errno).to_string(),
            },
        })
    }
}

/// Detaches the overlay mounted at `target` (umount2 with MNT_DETACH).
pub fn unmount(target: &Path) -> Result<()> {
    labkit::sys::unmount(target).map_err(|errno| Error::Unmount { path: target.to_path_buf(), errno })
}

fn mount_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::EINVAL => " (the kernel log, `dmesg | tail`, names the overlayfs option it refused)",
        Errno::EBUSY => " (upperdir or workdir is already in use by another overlay mount)",
        Errno::ENOENT => " (a layer directory or the mount point does not exist)",
        Errno::ENOTDIR => " (a layer path or the mount point is not a directory)",
        _ => "",
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(Error::io("resolve", path))
}

/// Appends `path` to mount options, escaping the separators overlayfs splits on.
fn escape_into(path: &Path, out: &mut Vec<u8>) -> Result<()> {
    for &b in path.as_os_str().as_bytes() {
        match b {
            0 => return Err(Error::BadPath { path: path.to_path_buf(), what: "a NUL byte" }),
            b'\\' | b':' | b',' => {
                out.push(b'\\');
                out.push(b);
            }
            _ => out.push(b),
        }
    }
    Ok(())
}

fn dir_exists(path: &Path, what: &'static str, missing: impl FnOnce(PathBuf) -> Error) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADirectory { what, path: path.to_path_buf() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(path.to_path_buf())),
        Err(e) => Err(Error::Io { op: "stat", path: path.to_path_buf(), source: e }),
    }
}

/// What the filesystem holding `dir` can store for overlayfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Support {
    pub xattrs: bool,
    pub whiteouts: std::result::Result<(), String>,
}

/// Tries a `trusted.*` xattr on `dir` and a character device 0/0 inside it, removing both.
pub(crate) fn probe_support(dir: &Path) -> Support {
    let name = "trusted.labctl.probe";
    let xattrs = match xattr::set(dir, name, b"1") {
        Ok(()) => {
            let _ = xattr::remove(dir, name);
            true
        }
        Err(_) => false,
    };
    let node = dir.join(".labctl-whiteout-probe");
    let whiteouts = match nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    ) {
        Ok(()) => {
            let _ = std::fs::remove_file(&node);
            Ok(())
        }
        // Without root mknod is refused everywhere; the mount itself will say root is needed.
        Err(Errno::EPERM) if !labkit::sys::is_root() => Ok(()),
        Err(e) => Err(e.desc().to_string()),
    };
    Support { xattrs, whiteouts }
}

/// A short name of the filesystem type holding `path` (`ext4`, `tmpfs`, ...), from statfs.
pub fn fs_name(path: &Path) -> String {
    use nix::sys::statfs as s;
    let Ok(st) = s::statfs(path) else {
        return "unknown filesystem".into();
    };
    let t = st.filesystem_type();
    let known = [
        (s::EXT4_SUPER_MAGIC, "ext4"),
        (s::TMPFS_MAGIC, "tmpfs"),
        (s::XFS_SUPER_MAGIC, "xfs"),
        (s::BTRFS_SUPER_MAGIC, "btrfs"),
        (s::OVERLAYFS_SUPER_MAGIC, "overlay"),
        (s::FsType(0x858458f6), "ramfs"),
        (s::MSDOS_SUPER_MAGIC, "vfat"),
        (s::NFS_SUPER_MAGIC, "nfs"),
        (s::FUSE_SUPER_MAGIC, "fuse"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == t)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("filesystem type {:#x}", t.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_list_lowers_top_first_then_upper_and_work() {
        let o = Overlay::new(["/l3", "/l2", "/l1"]).with_upper("/u", "/w");
        assert_eq!(o.options().unwrap(), "lowerdir=/l3:/l2:/l1,upperdir=/u,workdir=/w");
        let v = Overlay::new(["/l"]).with_upper("/u", "/w").volatile();
        assert_eq!(v.options().unwrap(), "lowerdir=/l,upperdir=/u,workdir=/w,volatile");
        // Without an upper nothing is written, so there is nothing to sync.
        assert_eq!(Overlay::new(["/l"]).volatile().options().unwrap(), "lowerdir=/l");
    }

    #[test]
    fn separators_inside_paths_are_escaped() {
        let o = Overlay::new(["/a:b,c\\d"]);
        assert_eq!(o.options().unwrap(), r"lowerdir=/a\:b\,c\\d");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let o = Overlay::new(["lower"]);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(o.options().unwrap(), OsString::from(format!("lowerdir={}/lower", cwd.display())));
    }

    #[test]
    fn no_lowers_is_an_error() {
        assert!(matches!(Overlay::new(Vec::<PathBuf>::new()).options(), Err(Error::NoLowers)));
    }

    #[test]
    fn too_long_options_are_refused_before_the_kernel() {
        let long = format!("/{}", "x".repeat(250));
        let o = Overlay::new(vec![long; 20]);
        let err = o.options().unwrap_err();
        assert!(matches!(err, Error::OptionsTooLong { .. }), "{err}");
    }

    #[test]
    fn a_missing_lower_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let o = Overlay::new([dir.path().join("nope")]);
        let err = o.check().unwrap_err();
        assert!(matches!(err, Error::LowerMissing(_)), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn a_missing_or_busy_workdir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (l, u, w) = (dir.path().join("l"), dir.path().join("u"), dir.path().join("w"));
        std::fs::create_dir(&l).unwrap();
        std::fs::create_dir(&u).unwrap();
        let o = Overlay::new([&l]).with_upper(&u, &w);
        assert!(matches!(o.check().unwrap_err(), Error::WorkMissing(_)));
        std::fs::create_dir(&w).unwrap();
        std::fs::write(w.join("notes.txt"), "mine").unwrap();
        let err = o.check().unwrap_err();
        assert!(matches!(err, Error::WorkNotEmpty { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }
}
