//! The engine's one error type. Each message names the container, image or flag and says what
//! to do; [`Error::exit_code`] gives docker's exit codes (125 for the engine, 126 and 127 for a
//! command that cannot be run).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or argument the engine refuses (before anything is created).
    #[error("{0}")]
    Usage(String),
    #[error("no such container: {0} (list them with `labctl container ps -a`)")]
    NoSuchContainer(String),
    #[error("container {name}: {why}")]
    State { name: String, why: String },
    #[error("image {name:?}: {why}")]
    Image { name: String, why: String },
    /// The container's command is not there (127) or cannot be executed (126).
    #[error("container {name}: {why}")]
    Command { name: String, why: String, code: i32 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(#[from] labruntime::Error),
    #[error("{0}")]
    Overlay(#[from] laboverlay::Error),
    /// A `--format` template that does not parse or does not apply.
    #[error("--format {template:?}: {why}")]
    Template { template: String, why: String },
}

impl Error {
    pub fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> Error {
        Error::Io { what: what.into(), source: source.into() }
    }

    pub fn state(name: impl Into<String>, why: impl Into<String>) -> Error {
        Error::State { name: name.into(), why: why.into() }
    }

    /// docker's: 126 or 127 for the command, 125 for everything the engine itself refused.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Command { code, .. } => *code,
            _ => 125,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
