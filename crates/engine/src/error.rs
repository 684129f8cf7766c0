//! The library's one error type. Every variant names what went wrong and where (file, key,
//! frame, parameter) so the CLI and the OpenFX layer can show it to the artist as it is.
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The checkpoint file is missing, truncated, corrupt or not a checkpoint at all.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },

    /// The checkpoint's tensors do not fit the network: every missing key, unexpected key,
    /// shape or dtype mismatch is listed by name.
    #[error("checkpoint {} does not fit the {model} model ({} problem(s)):\n  {}",
        path.display(), problems.len(), problems.join("\n  "))]
    WeightMismatch { path: PathBuf, model: String, problems: Vec<String> },

    /// A configuration file or value is invalid (unknown key, bad value, ...).
    #[error("config {origin}: {reason}")]
    Config { origin: String, reason: String },

    /// An image could not be decoded or has an unsupported layout.
    #[error("image {}: {reason}", path.display())]
    Image { path: PathBuf, reason: String },

    /// A caller-supplied value is out of range or malformed (box, image size, frame, ...).
    #[error("invalid {what}: {reason}")]
    InvalidInput { what: String, reason: String },

    /// The requested device or precision cannot be used on this machine.
    #[error("device: {0}")]
    Device(String),

    /// The caller cancelled a long operation (what was finished is kept).
    #[error("cancelled: {0}")]
    Cancelled(String),

    /// An error of the libtorch-free layer (settings, track caches, the helper protocol).
    #[error(transparent)]
    Core(#[from] samurai_core::Error),

    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what: what.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), reason: reason.into() }
    }
}
