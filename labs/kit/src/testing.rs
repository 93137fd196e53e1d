//! Helpers for tests that touch the kernel (root tests in every crate).

use std::fs::File;

/// Serialises tests that create kernel objects or look for leftovers, across threads and
/// processes (every crate's tests take the same lock), so one test never sees another's
/// objects as leaks and `labctl clean` never removes a running test's objects.
pub fn kernel_lock() -> nix::fcntl::Flock<File> {
    let path = std::env::temp_dir().join("labctl-kernel-tests.lock");
    let file = File::options().create(true).append(true).open(&path).expect("open the test lock file");
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).expect("flock")
}

/// Root tests must not skip in CI; elsewhere (a developer without root) they say why and skip.
/// Returns true when the test should run.
pub fn require_root(test: &str) -> bool {
    if crate::sys::is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root and CI runs as root: refusing to skip");
    }
    eprintln!("skipping {test}: needs root");
    false
}
