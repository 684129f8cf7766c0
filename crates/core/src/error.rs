//! The libtorch-free layer's error type. Every variant names what went wrong and where
//! (file, key, frame, parameter) so the CLI and the plugin can show it as it is.
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A configuration file or value is invalid (unknown key, bad value, ...).
    #[error("config {origin}: {reason}")]
    Config { origin: String, reason: String },

    /// A caller-supplied value is out of range or malformed (box, image size, frame, ...).
    #[error("invalid {what}: {reason}")]
    InvalidInput { what: String, reason: String },

    /// A message between the plugin and the helper is malformed, oversized or unexpected,
    /// or the connection broke.
    #[error("helper protocol: {0}")]
    Protocol(String),

    /// The helper program could not be started or reached (a whole sentence for the
    /// artist, naming the program or the log).
    #[error("{0}")]
    Helper(String),
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
}

/// An artist-readable message for a panic caught at a boundary (libtorch reports
/// allocation failures and device errors by panicking through tch).
pub fn explain_panic(what: &str) -> String {
    let lower = what.to_ascii_lowercase();
    if lower.contains("out of memory") || lower.contains("can't allocate memory") || lower.contains("cannot allocate memory") {
        format!("SamuraiRoto ran out of memory: lower Quality, track fewer objects at once, or free memory (Clear cache on other nodes). Details: {what}")
    } else if lower.contains("cuda") {
        format!("SamuraiRoto: CUDA failed (set Device to CPU to work without it). Details: {what}")
    } else {
        format!("SamuraiRoto internal error: {what}")
    }
}

/// The text of a caught panic's payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
