//! The one error type of the cgroup building block. Every message says what was attempted, on
//! which file, and what to do about it.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad cgroup name {name:?}: {why} (use letters, digits, '-', '_' or '.'; groups live under labctl/)")]
    BadName { name: String, why: &'static str },

    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("needs root: writing {} was refused ({source}); run with sudo", path.display())]
    NeedsRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no cgroup filesystem is mounted (looked in {}); mount one: `mount -t cgroup2 none /sys/fs/cgroup` \
             (inside `ip netns exec`, /sys is remounted without its cgroup mounts: use `nsenter --net=/run/netns/NAME` instead)", mountinfo.display())]
    NoCgroupFs { mountinfo: PathBuf },

    #[error("cgroup v1 controller \"{controller}\" is not mounted; mount it: `mkdir -p /sys/fs/cgroup/{controller} && mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}`")]
    V1NotMounted { controller: &'static str },

    #[error("cgroup v2 controller \"{controller}\" is not available in {} (it lists: {available:?}): {why}", path.display())]
    V2Unavailable { controller: &'static str, path: PathBuf, available: String, why: &'static str },

    #[error("cgroup v2 controller \"{controller}\" is not enabled in {} and enabling it failed ({source}); delegate it as root: `echo +{controller} > {}`", path.display(), path.display())]
    V2NotDelegated {
        controller: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} is not available on cgroup {version}: {why}")]
    Unsupported { what: &'static str, version: &'static str, why: &'static str },

    #[error("process {pid} does not exist (it has already exited?): nothing to move into {}", path.display())]
    NoSuchProcess { pid: i32, path: PathBuf },

    #[error("cgroup labctl/{name} does not exist (looked for {})", path.display())]
    NotFound { name: String, path: PathBuf },

    #[error("{}: unexpected content {content:?}: {why}", path.display())]
    Format { path: PathBuf, content: String, why: String },

    #[error("refusing to write {}: outside the labctl subtree", path.display())]
    Outside { path: PathBuf },

    /// A limit this machine's cgroup world cannot express, with the field and what to do.
    #[error("{what}: {why}")]
    Unavailable { what: String, why: String },

    /// The kernel refused a value written to a control file.
    #[error("the kernel refused {value:?} for {}: {source}{}", path.display(), if hint.is_empty() { String::new() } else { format!(" ({hint})") })]
    Rejected {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },

    /// A cgroup path given to the runtime's entry point that cannot be used.
    #[error("bad cgroup path {path:?}: {why}")]
    BadPath { path: String, why: String },

    /// A bad command-line value (`--cpu`, `--memory`, ...), with the fix in the message.
    #[error("{0}")]
    BadValue(String),
}
