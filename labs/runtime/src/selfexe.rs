//! Protection of the runtime's own binary (CVE-2019-5736). A process inside the container
//! that can open `/proc/PID/exe` of an `lcrun` process that has joined its namespaces reaches
//! the host's lcrun binary, and could overwrite it once lcrun exits. Two defences:
//! every child lcrun forks towards the container is made non-dumpable at once (so
//! /proc/PID/exe needs CAP_SYS_PTRACE over it), and when the container's processes may hold
//! CAP_SYS_PTRACE, `exec` — the one path where container processes already exist — first
//! re-executes itself from a sealed in-memory copy, so the only binary a container could reach
//! is that copy, which the kernel will not let anyone write. (The copy costs a few ms, which is
//! why it is kept for the containers the first defence does not cover.)

use crate::error::{Error, Result};
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use std::ffi::CString;

const MEMFD_NAME: &str = "lcrun-sealed";

/// True when this process runs from the sealed copy.
pub fn running_sealed() -> bool {
    std::fs::read_link("/proc/self/exe").is_ok_and(|p| p.to_string_lossy().starts_with(&format!("/memfd:{MEMFD_NAME}")))
}

/// Re-executes this program, with the same arguments and environment, from a sealed memfd
/// copy of itself. Returns only on failure; a no-op when already sealed.
pub fn reexec_sealed() -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let name = CString::new(MEMFD_NAME).expect("no NUL");
    let fd = memfd_create(&name, MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING)
        .map_err(|e| Error::sys("memfd_create for a sealed copy of lcrun", e))?;
    let mut copy = std::fs::File::from(fd);
    let mut exe = std::fs::File::open("/proc/self/exe").map_err(|e| Error::io("opening /proc/self/exe", e))?;
    std::io::copy(&mut exe, &mut copy).map_err(|e| Error::io("copying lcrun into the memfd", e))?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(std::os::fd::AsRawFd::as_raw_fd(&copy), FcntlArg::F_ADD_SEALS(seals))
        .map_err(|e| Error::sys("sealing the memfd copy", e))?;
    let c = |s: std::ffi::OsString| CString::new(std::os::unix::ffi::OsStringExt::into_vec(s)).ok();
    let args: Vec<CString> = std::env::args_os().filter_map(c).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut pair = k;
            pair.push("=");
            pair.push(v);
            c(pair)
        })
        .collect();
    let errno = nix::unistd::fexecve(std::os::fd::AsRawFd::as_raw_fd(&copy), &args, &env).unwrap_err();
    Err(Error::sys("re-executing lcrun from its sealed copy", errno))
}

/// Whether a process of this container may hold CAP_SYS_PTRACE: it is in the bounding set, or
/// the config leaves the capabilities as they are (all of them, as runc does).
pub fn ptrace_possible(spec: &oci_spec::runtime::Spec) -> bool {
    let caps = spec.process().as_ref().and_then(|p| p.capabilities().as_ref());
    caps.is_none_or(|c| c.bounding().as_ref().is_some_and(|b| b.contains(&oci_spec::runtime::Capability::SysPtrace)))
}

/// Called first in every child forked towards the container.
pub fn make_undumpable() {
    let _ = nix::sys::prctl::set_dumpable(false);
}
