//! The seam between the init sequence and the kernel: every filesystem-changing call the
//! rootfs setup makes goes through [`Kernel`], so the config → operations mapping can be
//! tested without root against [`Recorder`], which writes down each call in order (youki's
//! `Syscall` trait and its test double are the model).

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use std::cell::RefCell;
use std::path::Path;

pub type KResult<T = ()> = std::result::Result<T, Errno>;

pub trait Kernel {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> KResult;
    fn umount(&self, target: &Path, flags: MntFlags) -> KResult;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> KResult;
    fn chroot(&self, path: &Path) -> KResult;
    fn chdir(&self, path: &Path) -> KResult;
    fn mkdir_all(&self, path: &Path) -> KResult;
    /// Creates an empty regular file (the target of a file bind mount) if none exists.
    fn touch(&self, path: &Path) -> KResult;
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> KResult;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> KResult;
    fn symlink(&self, target: &Path, link: &Path) -> KResult;
    fn sethostname(&self, name: &str) -> KResult;
    fn write_file(&self, path: &Path, contents: &str) -> KResult;
    /// The mount flags (statvfs) of the mount holding `path`, kept when remounting a bind
    /// mount: a user namespace may not clear nosuid/nodev/noexec that its owner set.
    fn mount_flags_of(&self, path: &Path) -> KResult<MsFlags>;
    /// (file type, rdev) of `path` without following a final symlink.
    fn lstat(&self, path: &Path) -> KResult<(SFlag, u64)>;
}

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The real kernel.
pub struct Linux;

impl Kernel for Linux {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> KResult {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> KResult {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> KResult {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> KResult {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> KResult {
        nix::unistd::chdir(path)
    }

    fn mkdir_all(&self, path: &Path) -> KResult {
        std::fs::create_dir_all(path).map_err(errno_of)
    }

    fn touch(&self, path: &Path) -> KResult {
        if path.exists() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(errno_of)?;
        }
        std::fs::File::options().create(true).truncate(false).write(true).open(path).map(drop).map_err(errno_of)
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> KResult {
        nix::sys::stat::mknod(path, kind, perm, dev)
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> KResult {
        nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
    }

    fn symlink(&self, target: &Path, link: &Path) -> KResult {
        std::os::unix::fs::symlink(target, link).map_err(errno_of)
    }

    fn sethostname(&self, name: &str) -> KResult {
        nix::unistd::sethostname(name)
    }

    fn write_file(&self, path: &Path, contents: &str) -> KResult {
        std::fs::write(path, contents).map_err(errno_of)
    }

    fn mount_flags_of(&self, path: &Path) -> KResult<MsFlags> {
        use nix::sys::statvfs::FsFlags;
        let flags = nix::sys::statvfs::statvfs(path)?.flags();
        let table = [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ];
        Ok(table.iter().filter(|(fs, _)| flags.contains(*fs)).fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
    }

    fn lstat(&self, path: &Path) -> KResult<(SFlag, u64)> {
        let st = nix::sys::stat::lstat(path)?;
        Ok((SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT), st.st_rdev))
    }
}

/// A kernel that performs nothing and records each call as one line, for tests of the order
/// and arguments of the setup without root. Paths under `strip` are shown relative to it.
#[derive(Default)]
pub struct Recorder {
    pub calls: RefCell<Vec<String>>,
    /// Calls whose line starts with one of these prefixes fail with the given errno.
    pub failing: Vec<(String, Errno)>,
    /// Paths `lstat` reports as character devices (path, rdev); everything else is a file.
    pub char_devices: Vec<(String, u64)>,
}

impl Recorder {
    fn record(&self, line: String) -> KResult {
        let failure = self.failing.iter().find(|(prefix, _)| line.starts_with(prefix.as_str())).map(|(_, e)| *e);
        self.calls.borrow_mut().push(line);
        failure.map_or(Ok(()), Err)
    }

    pub fn lines(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

fn flag_names(flags: MsFlags) -> String {
    let names: Vec<String> =
        flags.iter_names().map(|(name, _)| name.trim_start_matches("MS_").to_lowercase()).collect();
    names.join(",")
}

impl Kernel for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> KResult {
        let source = source.map_or("none".into(), |s| s.display().to_string());
        self.record(format!(
            "mount {source} {} type={} flags={} data={}",
            target.display(),
            fstype.unwrap_or("-"),
            flag_names(flags),
            data.unwrap_or("-")
        ))
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> KResult {
        self.record(format!("umount {} {flags:?}", target.display()))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> KResult {
        self.record(format!("pivot_root {} {}", new_root.display(), put_old.display()))
    }

    fn chroot(&self, path: &Path) -> KResult {
        self.record(format!("chroot {}", path.display()))
    }

    fn chdir(&self, path: &Path) -> KResult {
        self.record(format!("chdir {}", path.display()))
    }

    fn mkdir_all(&self, path: &Path) -> KResult {
        self.record(format!("mkdir {}", path.display()))
    }

    fn touch(&self, path: &Path) -> KResult {
        self.record(format!("touch {}", path.display()))
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> KResult {
        let kind = if kind == SFlag::S_IFBLK { "b" } else { "c" };
        let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
        self.record(format!("mknod {} {kind} {major}:{minor} {:o}", path.display(), perm.bits()))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> KResult {
        self.record(format!("chown {} {uid}:{gid}", path.display()))
    }

    fn symlink(&self, target: &Path, link: &Path) -> KResult {
        self.record(format!("symlink {} -> {}", link.display(), target.display()))
    }

    fn sethostname(&self, name: &str) -> KResult {
        self.record(format!("sethostname {name}"))
    }

    fn write_file(&self, path: &Path, contents: &str) -> KResult {
        self.record(format!("write {} {contents}", path.display()))
    }

    fn mount_flags_of(&self, _path: &Path) -> KResult<MsFlags> {
        Ok(MsFlags::empty())
    }

    fn lstat(&self, path: &Path) -> KResult<(SFlag, u64)> {
        let path = path.display().to_string();
        match self.char_devices.iter().find(|(p, _)| *p == path) {
            Some((_, rdev)) => Ok((SFlag::S_IFCHR, *rdev)),
            None => Ok((SFlag::S_IFREG, 0)),
        }
    }
}
