//! The one error type of the namespace tools: each says what was attempted, on what, and what
//! to do about it.

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("invalid PID {0}: a PID is a positive number (see labctl ns ls)")]
    InvalidPid(i64),
    #[error(
        "no process with PID {0}: list namespaces and their processes with `labctl ns ls`; \
         for a Docker container the PID is `docker inspect --format '{{{{.State.Pid}}}}' NAME`"
    )]
    NoSuchProcess(i32),
    #[error(
        "process {0} has exited (it is a zombie waiting for its parent to reap it): \
         its namespaces are gone, so there is nothing to enter"
    )]
    Exited(i32),
    #[error(
        "PID {pid} is a kernel thread ([{comm}]): kernel threads have no namespaces of their own \
         to enter (they stay in the initial ones); pick a user-space process, e.g. from `labctl ns ls`"
    )]
    KernelThread { pid: i32, comm: String },
    #[error("{0}")]
    Usage(String),
    #[error("command not found: {0:?} (no executable of that name in PATH)")]
    CommandNotFound(String),
    #[error("cannot create a user namespace: {0}")]
    UserNsBlocked(String),
    #[error("creating {what} needs root (CAP_SYS_ADMIN): try sudo, or add --user to make a user namespace first, which an ordinary user may create")]
    NeedsRoot { what: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("in the new namespaces, {stage} failed: {errno}{hint}")]
    Child { stage: &'static str, errno: Errno, hint: String },
}

impl NsError {
    pub fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> NsError {
        NsError::Io { what: what.into(), source: source.into() }
    }
}

pub type Result<T, E = NsError> = std::result::Result<T, E>;
