//! Where labctl keeps things. Overridable by environment for tests and unusual hosts.

use std::path::PathBuf;

/// Runtime state (journals, locks): `/run/labctl`, or `$LABCTL_RUN_DIR`.
pub fn run_dir() -> PathBuf {
    std::env::var_os("LABCTL_RUN_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/labctl"))
}

/// Persistent state (progress, images): `/var/lib/labctl`, or `$LABCTL_STATE_DIR`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("LABCTL_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/lib/labctl"))
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
