//! The library's one error type. Every variant names what went wrong and where (file, key,
//! frame, parameter) so the CLI and the OpenFX layer can show it to the artist as it is.
//! What the libtorch-free layer also knows (files, configuration, caller-supplied values,
//! the helper protocol) is its error, carried in [`Error::Core`]; the variants here are
//! the network's and the footage's own. Each error has a [`ErrorKind`], which crosses the
//! helper protocol with the message ([`EngineError`]).
use samurai_core::error::{is_out_of_memory, EngineError, ErrorKind};
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The checkpoint file is missing, truncated, corrupt or not a checkpoint at all.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },

    /// The checkpoint's tensors do not fit the network: every missing key, unexpected key,
    /// shape or dtype mismatch is listed by name.
    #[error("checkpoint {} does not fit the {model} model ({} problem(s)):\n  {}",
        path.display(), problems.len(), problems.join("\n  "))]
    WeightMismatch { path: PathBuf, model: String, problems: Vec<String> },

    /// An image could not be decoded or has an unsupported layout.
    #[error("image {}: {reason}", path.display())]
    Image { path: PathBuf, reason: String },

    /// The host (or a frame source) could not provide a frame, or gave one of the wrong size.
    #[error("frame {frame}: {reason}")]
    Frame { frame: i64, reason: String },

    /// The requested device or precision cannot be used on this machine.
    #[error("device: {0}")]
    Device(String),

    /// The caller cancelled a long operation (what was finished is kept).
    #[error("cancelled: {0}")]
    Cancelled(String),

    /// An error of the libtorch-free layer: a file that could not be read or written, a
    /// configuration or caller-supplied value that is invalid, the helper protocol.
    #[error(transparent)]
    Core(#[from] samurai_core::Error),

    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    /// What the failure means (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Checkpoint { .. } | Error::WeightMismatch { .. } => ErrorKind::Model,
            Error::Image { .. } | Error::Frame { .. } => ErrorKind::Footage,
            Error::Device(_) => ErrorKind::Device,
            Error::Cancelled(_) => ErrorKind::Cancelled,
            Error::Core(e) => e.kind(),
            Error::Torch(e) if is_out_of_memory(&e.to_string().to_ascii_lowercase()) => ErrorKind::OutOfMemory,
            Error::Torch(_) => ErrorKind::Device,
        }
    }

    /// A caller-supplied value that is out of range or malformed (box, image size, frame, ...).
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Core(samurai_core::Error::invalid(what, reason))
    }

    /// A file that could not be read or written.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Core(samurai_core::Error::io(path, source))
    }

    /// A configuration file or value that is invalid (unknown key, bad value, ...).
    pub fn config(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Core(samurai_core::Error::config(origin, reason))
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), reason: reason.into() }
    }
}

/// An error as the engine's boundary carries it: its kind and its message.
impl From<Error> for EngineError {
    fn from(e: Error) -> Self {
        EngineError::new(e.kind(), e.to_string())
    }
}
