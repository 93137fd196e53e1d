//! The one error type of the runtime: each message names the object (container id, file, field)
//! and says what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config.json field the runtime cannot honour, with the field's JSON path.
    #[error("config.json: {field}: {why}")]
    Config { field: String, why: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {errno}")]
    Sys { what: String, errno: nix::errno::Errno },
    /// A capability set the kernel refused to change (capset, prctl).
    #[error("{what}: {source}")]
    Caps {
        what: String,
        #[source]
        source: caps::errors::CapsError,
    },
    #[error(transparent)]
    Cgroup(#[from] labcgroup::Error),
    #[error("{path}: {why}")]
    Path { path: PathBuf, why: String },
    #[error("{0}")]
    Usage(String),
    /// The container's init (or the intermediate process) reported a failed setup step.
    #[error("container init: {0}")]
    Init(String),
    #[error("{name:?}: {why} (check process.args[0] and the PATH in process.env)")]
    NotExecutable { name: String, why: String },
    #[error("hook {path}: {why}")]
    Hook { path: PathBuf, why: String },
    #[error("container {id:?} does not exist (no state under {root}): list containers with `lcrun list`")]
    NotFound { id: String, root: PathBuf },
    #[error("container {id:?} already exists (state in {root}): pick another id or `lcrun delete {id}` first")]
    Exists { id: String, root: PathBuf },
    #[error("container {id:?} is {status}: {what}")]
    WrongStatus { id: String, status: crate::state::Status, what: String },
}

impl Error {
    pub fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> Error {
        Error::Io { what: what.into(), source: source.into() }
    }

    pub fn sys(what: impl Into<String>, errno: nix::errno::Errno) -> Error {
        Error::Sys { what: what.into(), errno }
    }

    pub fn caps(what: impl Into<String>, source: caps::errors::CapsError) -> Error {
        Error::Caps { what: what.into(), source }
    }

    pub fn config(field: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Config { field: field.into(), why: why.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
