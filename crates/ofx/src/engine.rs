//! The narrow boundary between the OpenFX layer and the tracking engine (SAM 2.1 +
//! SAMURAI). The OFX layer only ever talks to a [`MatteEngine`]: in production the
//! [`HelperEngine`](crate::helper_engine::HelperEngine), which runs the network in the
//! helper process (Nuke ships its own libtorch; two copies in one process clash) and
//! everything else (finished frames, track caches, mattes) here in pure Rust; in tests of
//! the host plumbing the box-matte engine (`test_engine`, only in test builds).
//!
//! Pixel coordinates here are those of the frames handed to the engine: x right, y down,
//! origin at the top-left of the source image (at the current render scale).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use samurai_core::finish::{finish_frame, FrameRows};
use samurai_core::lowres::LowResFrame;
pub use samurai_core::settings::{EngineSettings, FrameImage, ObjectKeys};

/// First and last host frame.
pub type FrameRange = (i64, i64);

/// A frame's per-object logits at the frame's resolution, in object order: either whole
/// planes, or a tracker result (low-resolution logits) finished a row at a time when read
/// (`samurai_core::finish`, the same bits as whole planes), so a render streams rows
/// into the output without holding full-resolution planes.
#[derive(Clone, Debug)]
pub enum Mattes {
    Planes(Vec<(String, Vec<f32>)>),
    Low { low: Arc<LowResFrame>, size: (u32, u32), non_overlap: bool },
}

/// Reads a [`Mattes`] a row at a time.
pub enum MatteRows<'a> {
    Planes(&'a [(String, Vec<f32>)], usize),
    Low(FrameRows<'a>),
}

impl MatteRows<'_> {
    /// Row `y` (top-down) of every object into `rows` (one buffer per object).
    pub fn row(&self, y: usize, rows: &mut [Vec<f32>]) {
        match self {
            MatteRows::Planes(planes, w) => {
                for (r, (_, p)) in rows.iter_mut().zip(planes.iter()) {
                    r.clear();
                    r.extend_from_slice(&p[y * w..(y + 1) * w]);
                }
            }
            MatteRows::Low(f) => f.row(y, rows),
        }
    }
}

impl Mattes {
    /// Object names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Mattes::Planes(p) => p.iter().map(|(n, _)| n.as_str()).collect(),
            Mattes::Low { low, .. } => low.objects.iter().map(|(n, _)| n.as_str()).collect(),
        }
    }

    /// A row reader; `width` is the frame's.
    pub fn rows(&self, width: usize) -> MatteRows<'_> {
        match self {
            Mattes::Planes(p) => MatteRows::Planes(p, width),
            Mattes::Low { low, size, non_overlap } => MatteRows::Low(FrameRows::new(low, *size, *non_overlap)),
        }
    }

    /// Whole planes (the overlay's tracked boxes, tests).
    pub fn planes(&self) -> Vec<(String, Vec<f32>)> {
        match self {
            Mattes::Planes(p) => p.clone(),
            Mattes::Low { low, size, non_overlap } => finish_frame(low, *size, *non_overlap),
        }
    }
}

impl PartialEq for Mattes {
    fn eq(&self, other: &Self) -> bool {
        self.planes() == other.planes()
    }
}

/// What "Analyse" did.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyseReport {
    /// Frames tracked (the whole range).
    pub frames: usize,
    /// The track cache written and its size in bytes (none when no path is set).
    pub written: Option<(PathBuf, u64)>,
}

/// What an engine failure means for the artist: the node maps each kind to whether it
/// shows a message (`suites::Cause`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Stopped on request: the host aborted the render, or the artist cancelled. Nothing
    /// went wrong; what was finished is kept.
    Cancelled,
    /// The helper process died, hung, or was stopped and killed: shown even when the host
    /// aborted (the artist or the farm log needs to know).
    Helper,
    /// Anything else: settings, model, footage, the tracker's own failure.
    Failed,
}

/// An engine failure: its kind and the message for the artist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError { kind, message: message.into() }
    }
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
}

/// Plain messages are failures (settings, files, the tracker).
impl From<String> for EngineError {
    fn from(message: String) -> Self {
        Self::failed(message)
    }
}
impl From<&str> for EngineError {
    fn from(message: &str) -> Self {
        Self::failed(message)
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// An engine failure as the node's action result: `kOfxStatFailed`, with its cause.
impl From<EngineError> for crate::suites::OfxError {
    fn from(e: EngineError) -> Self {
        use crate::suites::{Cause, OfxError};
        let (cause, message) = match e.kind {
            ErrorKind::Cancelled => (Cause::Stopped, e.message),
            // Where the helper's side of the story is.
            ErrorKind::Helper => {
                (Cause::Helper, format!("{} (the helper's log: {})", e.message, samurai_core::launch::log_path().display()))
            }
            ErrorKind::Failed => (Cause::Failure, e.message),
        };
        OfxError { cause, ..OfxError::failed(message) }
    }
}

/// Reports a model download: `(file name, bytes so far, bytes in all when known)`;
/// `false` cancels it.
pub type DownloadFn<'a> = &'a dyn Fn(&str, u64, Option<u64>) -> bool;

/// The host's frames, asked for by frame number (an engine may ask for any frame it needs).
pub type FetchFn<'a> = &'a dyn Fn(i64) -> Result<FrameImage, String>;

pub trait MatteEngine: Send + Sync {
    fn configure(&self, settings: &EngineSettings, frame_range: (i64, i64), frame_size: (u32, u32)) -> EngineResult<()>;
    fn set_objects(&self, objects: &[ObjectKeys]) -> EngineResult<()>;
    /// Per-object f32 logits `[h*w]` at full resolution for `frame`, tracking as needed;
    /// `fetch` pulls other frames; `abort` polled between frames; `download` reports a
    /// model download (the helper's, before tracking) and may cancel it.
    fn mattes(&self, frame: i64, fetch: FetchFn<'_>, abort: &dyn Fn() -> bool, download: DownloadFn<'_>) -> EngineResult<Mattes>;
    /// Like `mattes` but only from what is already computed or in the track cache file
    /// (`current` = the host's image of `frame`, checked against the file), never
    /// blocking behind a running propagation.
    fn cached_mattes(&self, frame: i64, current: Option<&FrameImage>) -> Option<Mattes>;
    /// The track cache file to read (and that `analyse` writes); `None` for none.
    fn set_track_cache(&self, path: Option<&Path>) -> EngineResult<()>;
    /// Why the track cache file set is not used (stale or damaged), for the artist.
    fn notice(&self) -> Option<String>;
    /// Tracks every frame of the range (progress in 0..=1; `false` from `progress`
    /// cancels) and writes the track cache file when one is set; `download` as for
    /// [`Self::mattes`].
    fn analyse(&self, fetch: FetchFn<'_>, progress: &dyn Fn(f64) -> bool, download: DownloadFn<'_>) -> EngineResult<AnalyseReport>;
    fn clear_cache(&self);
}

/// Environment switch of test builds (the `test-engine` feature, which the crate's own
/// tests turn on and a release build lacks): `SAMURAI_ROTO_FAKE_ENGINE=1` selects the
/// box-matte engine ([`crate::test_engine::BoxMatteEngine`]).
#[cfg(feature = "test-engine")]
pub const FAKE_ENGINE_ENV: &str = "SAMURAI_ROTO_FAKE_ENGINE";

/// The engine a new instance uses: the helper-process engine; in a test build (feature
/// `test-engine`), the box-matte test engine when `SAMURAI_ROTO_FAKE_ENGINE=1` (tests of
/// the host plumbing only).
pub fn create_engine() -> Result<Arc<dyn MatteEngine>, String> {
    #[cfg(feature = "test-engine")]
    if std::env::var(FAKE_ENGINE_ENV).is_ok_and(|v| v == "1") {
        tracing::warn!("{FAKE_ENGINE_ENV}=1: using the box-matte test engine, not the tracker");
        return Ok(Arc::new(crate::test_engine::BoxMatteEngine::default()));
    }
    Ok(Arc::new(crate::helper_engine::HelperEngine::new()))
}
