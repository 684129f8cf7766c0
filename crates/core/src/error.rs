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
    /// What the failure means (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Config { .. } | Error::InvalidInput { .. } => ErrorKind::Setup,
            Error::Protocol(_) | Error::Helper(_) => ErrorKind::Helper,
        }
    }

    /// Shorthand for [`Error::Config`].
    pub fn config(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config { origin: origin.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what: what.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// What a failure means for whoever shows it. The engine's errors (this crate's
/// [`Error`], the engine crate's, the model download's) each name their kind; the kind
/// crosses the helper protocol with the message ([`EngineError`]), and the plugin maps
/// each kind to its OpenFX status and to whether the artist sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// Stopped on request (the host aborted the render, the artist cancelled): nothing went
    /// wrong, and what was finished is kept.
    Cancelled,
    /// The helper process could not start, died, hung or broke the protocol.
    Helper,
    /// A setting, prompt, configuration or frame range the engine cannot use.
    Setup,
    /// The model: a checkpoint missing, damaged or not fitting the network, a download that
    /// failed.
    Model,
    /// The footage: a frame the host could not provide, an image that cannot be read or has
    /// the wrong size.
    Footage,
    /// A file could not be read or written (a track cache, mattes, a log).
    Io,
    /// Out of memory, on the CPU or the GPU.
    OutOfMemory,
    /// The compute device or libtorch failed (a CUDA error, a device that is not there).
    Device,
    /// A fault in SamuraiRoto itself (a caught panic that is none of the above).
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (tests go through them all; the match in
    /// `all_kinds_are_listed` fails to compile when a kind is added and not listed here).
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Cancelled,
        ErrorKind::Helper,
        ErrorKind::Setup,
        ErrorKind::Model,
        ErrorKind::Footage,
        ErrorKind::Io,
        ErrorKind::OutOfMemory,
        ErrorKind::Device,
        ErrorKind::Internal,
    ];
}

/// A failure as it travels from the tracker through the helper protocol to the node: its
/// kind and the whole message for the artist (naming the file, key, frame or parameter).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Result of the engine's boundary (the helper's requests, the node's engine).
pub type EngineResult<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError { kind, message: message.into() }
    }

    /// Stopped on request.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// A setting, prompt or range the engine cannot use.
    pub fn setup(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Setup, message)
    }

    /// A panic caught at a boundary, explained (see [`explain_panic`]): out of memory, a
    /// device failure, or an internal fault.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let what = panic_text(payload);
        let lower = what.to_ascii_lowercase();
        let kind = if is_out_of_memory(&lower) {
            ErrorKind::OutOfMemory
        } else if lower.contains("cuda") {
            ErrorKind::Device
        } else {
            ErrorKind::Internal
        };
        Self::new(kind, explain_panic(&what))
    }

    /// The same failure with `context` in front of its message (the kind is kept).
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        EngineError { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl From<Error> for EngineError {
    fn from(e: Error) -> Self {
        EngineError::new(e.kind(), e.to_string())
    }
}

/// Whether a lower-cased message reports an allocation failure (libtorch's CPU and CUDA
/// wordings, the C library's).
pub fn is_out_of_memory(lower: &str) -> bool {
    lower.contains("out of memory") || lower.contains("can't allocate memory") || lower.contains("cannot allocate memory")
}

/// An artist-readable message for a panic caught at a boundary (libtorch reports
/// allocation failures and device errors by panicking through tch).
pub fn explain_panic(what: &str) -> String {
    let lower = what.to_ascii_lowercase();
    if is_out_of_memory(&lower) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds_are_listed() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            // Adding a kind breaks this match until the kind is placed in `ALL`.
            let position = match kind {
                ErrorKind::Cancelled => 0,
                ErrorKind::Helper => 1,
                ErrorKind::Setup => 2,
                ErrorKind::Model => 3,
                ErrorKind::Footage => 4,
                ErrorKind::Io => 5,
                ErrorKind::OutOfMemory => 6,
                ErrorKind::Device => 7,
                ErrorKind::Internal => 8,
            };
            assert_eq!(position, i, "{kind:?}");
        }
    }

    #[test]
    fn each_error_names_its_kind() {
        let io = Error::io("/shots/a.srtc", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(Error::config("samurai tuning", "kf_score_weight must be ≥ 0").kind(), ErrorKind::Setup);
        assert_eq!(Error::invalid("box", "x1 > x2").kind(), ErrorKind::Setup);
        assert_eq!(Error::Protocol("closed".into()).kind(), ErrorKind::Helper);
        assert_eq!(Error::Helper("not started".into()).kind(), ErrorKind::Helper);
        let carried = EngineError::from(io);
        assert!(carried.kind == ErrorKind::Io && carried.message.contains("/shots/a.srtc"), "{carried:?}");
    }

    #[test]
    fn a_caught_panic_is_explained_by_its_kind() {
        let oom: Box<dyn std::any::Any + Send> = Box::new("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB");
        let e = EngineError::from_panic(oom.as_ref());
        assert!(e.kind == ErrorKind::OutOfMemory && e.message.contains("ran out of memory"), "{e:?}");
        let cuda: Box<dyn std::any::Any + Send> = Box::new(String::from("CUDA error: an illegal memory access"));
        assert_eq!(EngineError::from_panic(cuda.as_ref()).kind, ErrorKind::Device);
        let bug: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
        let e = EngineError::from_panic(bug.as_ref());
        assert!(e.kind == ErrorKind::Internal && e.message.contains("index out of bounds"), "{e:?}");
        assert_eq!(e.clone().context("frame 4").message, format!("frame 4: {}", e.message));
    }
}
