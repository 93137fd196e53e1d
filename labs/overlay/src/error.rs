//! One error type for the building block. Every message says what was attempted, on which
//! path, and what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- mounting -----
    #[error("an overlay needs at least one lower directory")]
    NoLowers,
    #[error("lowerdir {0} does not exist: create it, or check the order and spelling of --lower")]
    LowerMissing(PathBuf),
    #[error("{what} {path} is not a directory")]
    NotADirectory { what: &'static str, path: PathBuf },
    #[error("upperdir {0} does not exist: create an empty directory for the container's writes")]
    UpperMissing(PathBuf),
    #[error("workdir {0} does not exist: create an empty directory next to the upperdir (same filesystem)")]
    WorkMissing(PathBuf),
    #[error("workdir {path} is not empty (it contains {entry:?}): overlayfs prepares copy-ups and whiteouts there and needs an empty directory of its own; use a fresh one")]
    WorkNotEmpty { path: PathBuf, entry: String },
    #[error("upperdir {upper} ({upper_fs}) and workdir {work} ({work_fs}) are on different filesystems: overlayfs moves files from work to upper with rename(2), which cannot cross filesystems; put both on the same one")]
    DifferentFilesystems { upper: PathBuf, upper_fs: String, work: PathBuf, work_fs: String },
    #[error("upperdir {path} is on {fs}, which cannot hold whiteouts (creating a character device 0/0 failed: {reason}): deleted files could not be hidden. Put upper and work on ext4, xfs, btrfs or tmpfs, or mount read-only without --upper/--work")]
    NoWhiteouts { path: PathBuf, fs: String, reason: String },
    #[error("upperdir {0} is itself on an overlay: overlayfs cannot use an overlay as upper layer; use a directory on a real filesystem (e.g. a tmpfs under /run/labctl)")]
    UpperOnOverlay(PathBuf),
    #[error("path {path} contains {what}, which the overlay mount options cannot carry")]
    BadPath { path: PathBuf, what: &'static str },
    #[error("the overlay mount options are {len} bytes long; mount(2) takes at most {max}: use fewer or shorter layer paths")]
    OptionsTooLong { len: usize, max: usize },
    #[error("this kernel has no overlay filesystem (mount: ENODEV): load it with `modprobe overlay`")]
    NoOverlayFs,
    #[error("mounting an overlay needs root (CAP_SYS_ADMIN): run with sudo")]
    NeedsRoot,
    #[error("mount -t overlay overlay -o {options} {target}: {errno}{hint}")]
    Mount { target: PathBuf, options: String, errno: nix::errno::Errno, hint: String },
    #[error("umount {path}: {errno}")]
    Unmount { path: PathBuf, errno: nix::errno::Errno },

    // ----- layers -----
    #[error("layer entry {entry:?} is an absolute path: layers hold paths relative to the root; refusing to write outside the target")]
    AbsolutePath { entry: String },
    #[error("layer entry {entry:?} contains '..': refusing path traversal out of the target")]
    ParentTraversal { entry: String },
    #[error("layer entry {entry:?} goes through the symlink {link} -> {dest}, which leads outside the target: refusing path traversal")]
    SymlinkEscape { entry: String, link: String, dest: String },
    #[error("layer entry {entry:?} goes through {link}, which is not a directory")]
    ParentNotDirectory { entry: String, link: String },
    #[error("layer entry {entry:?} needs too many symlink lookups (a loop?)")]
    SymlinkLoop { entry: String },
    #[error("layer entry {entry:?} is a hard link to {target:?}, which does not exist in the target")]
    HardlinkMissing { entry: String, target: String },
    #[error("layer entry {entry:?} is a {kind} device node: creating it needs root (mknod); run as root or remove it from the layer")]
    DeviceNeedsRoot { entry: String, kind: &'static str },
    #[error("layer entry {entry:?} has an unsupported type {kind:?}")]
    UnsupportedEntry { entry: String, kind: String },
    #[error("reading the layer tarball: {0}")]
    Tar(std::io::Error),

    // ----- anything else -----
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
