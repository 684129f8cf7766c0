//! The narrow boundary between the OpenFX layer and the tracking engine (SAM 2.1 +
//! SAMURAI). The OFX layer only ever talks to a [`MatteEngine`]; which one a new instance
//! gets is decided in one place, the composition root (`wiring`): in production the helper
//! engine, which runs the network in the helper process (Nuke ships its own libtorch; two
//! copies in one process clash) and everything else (finished frames, track caches,
//! mattes) here in pure Rust; in tests of the host plumbing the box-matte engine (only in
//! test builds). This module names none of them.
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

/// An engine failure: its [`ErrorKind`] (the same from the tracker, through the helper
/// protocol, to here) and the message for the artist.
pub use samurai_core::error::{EngineError, EngineResult, ErrorKind};

/// An engine failure as the node's action result. Each kind has its OpenFX status and
/// says whether the artist sees it (`suites::Cause`):
/// - cancelled: `kOfxStatFailed`, shown to nobody (the host aborted, the artist stopped);
/// - the helper: `kOfxStatFailed`, always shown, with where the helper's log is (the artist
///   or the farm log needs to know, even when the host aborted meanwhile);
/// - out of memory: `kOfxStatErrMemory`, the status OpenFX has for it, with its message;
/// - anything else (settings, model, footage, files, the device, an internal fault):
///   `kOfxStatFailed` with its message.
impl From<EngineError> for crate::suites::OfxError {
    fn from(e: EngineError) -> Self {
        use crate::suites::{Cause, OfxError};
        let (status, cause, message) = match e.kind {
            ErrorKind::Cancelled => (crate::sys::kOfxStatFailed, Cause::Stopped, e.message),
            // Where the helper's side of the story is.
            ErrorKind::Helper => (
                crate::sys::kOfxStatFailed,
                Cause::Helper,
                format!("{} (the helper's log: {})", e.message, samurai_core::launch::log_path().display()),
            ),
            ErrorKind::OutOfMemory => (crate::sys::kOfxStatErrMemory, Cause::Failure, e.message),
            ErrorKind::Setup | ErrorKind::Model | ErrorKind::Footage | ErrorKind::Io | ErrorKind::Device | ErrorKind::Internal => {
                (crate::sys::kOfxStatFailed, Cause::Failure, e.message)
            }
        };
        OfxError { cause, ..OfxError::new(status, message) }
    }
}

/// Reports a model download: `(file name, bytes so far, bytes in all when known)`;
/// `false` cancels it.
pub type DownloadFn<'a> = &'a dyn Fn(&str, u64, Option<u64>) -> bool;

/// The host's frames, asked for by frame number (an engine may ask for any frame it needs).
/// `Err` says why the host could not provide it (a footage error, or a cancel when the
/// host aborted).
pub type FetchFn<'a> = &'a dyn Fn(i64) -> EngineResult<FrameImage>;

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
    /// Decodes frame files exactly as the command line's frame folders do (the farm's
    /// tasks read them so): each file's size and `track_cache::frame_hash`, and with
    /// `checkpoint` that SAM 2.1 checkpoint's model size (read from its tensors). The
    /// plugin links no decoder for EXR and no libtorch: the helper does it.
    fn hash_frame_files(&self, paths: &[PathBuf], checkpoint: Option<&Path>) -> EngineResult<FrameFiles> {
        let _ = (paths, checkpoint);
        Err(EngineError::new(ErrorKind::Internal, "this engine cannot decode frame files"))
    }
}

/// What [`MatteEngine::hash_frame_files`] says: one entry per file, and the checkpoint's size.
pub type FrameFiles = (Vec<samurai_core::protocol::FrameFileHash>, Option<samurai_core::config::ModelSize>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suites::{Cause, OfxError};
    use crate::sys;

    /// Each kind of engine failure becomes the node's status, cause and message: a cancel
    /// is quiet, the helper's failure always shown with its log, out of memory has its own
    /// status, the rest fail with their message as it is.
    #[test]
    fn each_kind_has_its_status_and_message() {
        for kind in ErrorKind::ALL {
            let e = OfxError::from(EngineError::new(kind, "frame 12: disk offline"));
            let (status, cause) = match kind {
                ErrorKind::Cancelled => (sys::kOfxStatFailed, Cause::Stopped),
                ErrorKind::Helper => (sys::kOfxStatFailed, Cause::Helper),
                ErrorKind::OutOfMemory => (sys::kOfxStatErrMemory, Cause::Failure),
                ErrorKind::Setup | ErrorKind::Model | ErrorKind::Footage | ErrorKind::Io | ErrorKind::Device | ErrorKind::Internal => {
                    (sys::kOfxStatFailed, Cause::Failure)
                }
            };
            assert_eq!((e.status, e.cause), (status, cause), "{kind:?}");
            assert!(e.message.starts_with("frame 12: disk offline"), "{kind:?}: {}", e.message);
            let names_log = e.message.contains(&samurai_core::launch::log_path().display().to_string());
            assert_eq!(names_log, kind == ErrorKind::Helper, "{kind:?}: {}", e.message);
        }
    }
}
