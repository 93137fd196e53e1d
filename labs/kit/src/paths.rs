//! Where labctl keeps things. Overridable by environment for tests and unusual hosts.

use std::path::PathBuf;

/// Runtime state (journals, locks): `/run/labctl` for root, `$XDG_RUNTIME_DIR/labctl` for a
/// user (labs that need no root, such as a user namespace made unprivileged), or
/// `$LABCTL_RUN_DIR`.
pub fn run_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LABCTL_RUN_DIR") {
        return PathBuf::from(dir);
    }
    if crate::sys::is_root() {
        return PathBuf::from("/run/labctl");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("labctl"),
        None => std::env::temp_dir().join(format!("labctl-{}", nix::unistd::geteuid())),
    }
}

/// Persistent state (progress, images): `/var/lib/labctl`, or `$LABCTL_STATE_DIR`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("LABCTL_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/lib/labctl"))
}

/// The learner's own state (progress): `~/.local/state/labctl` of the user who ran labctl,
/// also under sudo (`SUDO_USER`), so `sudo labctl run` and `labctl quiz` add to one record.
/// `$LABCTL_LEARNER_DIR` overrides it (tests point it into a scratch dir, so running the suite
/// never marks the machine's learner as done), then `$LABCTL_STATE_DIR`, as it does `state_dir`.
pub fn learner_dir() -> PathBuf {
    for var in ["LABCTL_LEARNER_DIR", "LABCTL_STATE_DIR"] {
        if let Some(dir) = std::env::var_os(var) {
            return PathBuf::from(dir);
        }
    }
    let home = std::env::var("SUDO_USER")
        .ok()
        .filter(|_| crate::sys::is_root())
        .and_then(|user| nix::unistd::User::from_name(&user).ok().flatten())
        .map(|user| user.dir)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from));
    match (std::env::var_os("XDG_STATE_HOME"), home) {
        (Some(state), _) if std::env::var_os("SUDO_USER").is_none() => PathBuf::from(state).join("labctl"),
        (_, Some(home)) => home.join(".local/state/labctl"),
        _ => state_dir(),
    }
}

/// Under sudo, files written for the learner belong to the learner, not to root.
pub fn give_to_learner(path: &std::path::Path) {
    let id = |var| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok());
    if let (true, Some(uid), Some(gid)) = (crate::sys::is_root(), id("SUDO_UID"), id("SUDO_GID")) {
        let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    }
}

pub fn journal_dir() -> PathBuf {
    run_dir().join("journal")
}

pub fn lock_dir() -> PathBuf {
    run_dir().join("lock")
}

/// Named network namespaces live here (the `ip netns` convention).
pub const NETNS_DIR: &str = "/run/netns";

/// The prefix of every kernel object labctl names.
pub const PREFIXES: [&str; 2] = ["labctl", "lc"];

/// Does `name` carry a labctl prefix?
pub fn is_ours(name: &str) -> bool {
    PREFIXES.iter().any(|p| name.starts_with(p))
}
