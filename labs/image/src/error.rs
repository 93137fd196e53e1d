//! One error type for the image crate. Each message says what was attempted, on what, and
//! what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {name:?} not found in {store}: `labctl image ls` lists what is there")]
    NotFound { name: String, store: PathBuf },

    #[error("bad image reference {input:?}: {reason}")]
    BadReference { input: String, reason: String },

    #[error("blob {digest} is corrupted: {path} hashes to {actual}; remove the image (`labctl image rm`) and build, import or pull it again")]
    CorruptBlob { digest: String, path: PathBuf, actual: String },

    #[error("blob {digest} is missing from {path}; the store is incomplete: build, import or pull the image again")]
    MissingBlob { digest: String, path: PathBuf },

    #[error("{what} in {path} is not valid: {detail}")]
    BadFormat { what: String, path: PathBuf, detail: String },

    #[error(
        "archive {archive}: entry {entry:?} would be written outside the target (path traversal); refusing the archive"
    )]
    PathTraversal { archive: String, entry: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Attaches a context to io errors: `io(ctx)(e)`.
pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
