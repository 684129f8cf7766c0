//! The engine behind the helper process: tracker sessions driven by requests, one per
//! effect instance, sharing the networks they use (each (checkpoint, size, device,
//! precision) is loaded once per process, however many instances use it).
//!
//! A session's model is a published size or a checkpoint file; a published size absent
//! from the model folders is downloaded by [`Engine::prepare`] (with progress and cancel)
//! before the request that needs it, never while a model table or session lock is held.
//!
//! A request names its session; frames are pulled through the request's [`HostFrames`]
//! (the plugin answers from the host; the tracker's word on the frame it loads next goes
//! out through [`HostFrames::ahead`] when the session's `frame_prefetch` is on), and
//! progress goes out through its `progress` callback (`false` cancels between pass steps).
//! The settings' GPU memory limit becomes the tracker's offload policy (a change keeps
//! what was tracked: results are the same with any). Results are each frame's
//! blended low-resolution logits ([`LowResFrame`]); turning them into mattes, keeping
//! finished frames and track-cache files are the plugin's business (pure Rust, no
//! network needed).
//!
//! Keyframes are [`KeyframePrompt`]s (box, points, both, or a mask) and go to the tracker
//! unchanged; an edit touches only the passes of the keyframe it changes. Each session keeps
//! the image features of the frames most recently asked for (the frame on screen), so a
//! keyframe edit there re-renders with the prompt encoder and mask decoder alone.
//!
//! Locking: the session table and the model table are held briefly; each session has its
//! own lock, held for a whole propagation, so instances track concurrently. A panic inside
//! a request (libtorch out of memory, say) drops that session's tracker and network, so
//! the next request starts clean.
use crate::config::ModelSize;
use crate::image::Rgb8Image;
use crate::model::{LoadOptions, Precision, Sam2Model, SharedModel};
use crate::tracker::offload::OffloadPolicy;
use crate::tracker::{FrameSource, LowResFrame, ObjectBatch, Session, TrackerOptions};
use crate::{Error, Result};
use parking_lot::Mutex;
use samurai_core::error::{EngineError, EngineResult, ErrorKind};
use samurai_core::models::{file_name, where_to_put, ModelSource};
use samurai_core::protocol::HelperStats;
use samurai_core::settings::{EngineSettings, FrameImage, KeyframePrompt, ObjectKeys};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where a request's host frames come from. Any `FnMut(i64) -> Result<FrameImage>` is one
/// (it ignores the tracker's hints).
pub trait HostFrames {
    /// Pulls one host frame (`Err` carries the host's reason, usually an [`Error::Frame`]).
    fn fetch(&mut self, frame: i64) -> Result<FrameImage>;
    /// The tracker will fetch `frame` next, after computing on the frame just fetched: a
    /// source may start getting it now (the helper asks the plugin ahead, see
    /// `samurai_core::protocol`). Only a hint: the next fetch may name another frame.
    fn ahead(&mut self, _frame: i64) {}
}

impl<F: FnMut(i64) -> Result<FrameImage>> HostFrames for F {
    fn fetch(&mut self, frame: i64) -> Result<FrameImage> {
        self(frame)
    }
}

/// A request's host frames.
pub type Fetch<'a> = &'a mut dyn HostFrames;
/// Reports `(done, total)` pass steps; `false` cancels.
pub type ProgressFn<'a> = &'a mut dyn FnMut(usize, usize) -> bool;
/// Reports a model download: `(file name, bytes so far, bytes in all when known)`;
/// `false` cancels it.
pub type DownloadFn<'a> = &'a mut dyn FnMut(&str, u64, Option<u64>) -> bool;

/// The identity of a loaded network: model, input size, device, precision.
type ModelKey = (ModelSource, i64, samurai_core::settings::DeviceChoice, Option<Precision>);

/// One instance's tracker.
#[derive(Default)]
struct SessionState {
    /// Settings, host frame range, frame size.
    configured: Option<(EngineSettings, (i64, i64), (u32, u32))>,
    /// The precision `configured` resolves to here, resolved (and logged) once per change
    /// of settings rather than per request; `None` where it could not be (the request says
    /// why).
    precision: Option<Precision>,
    objects: Vec<ObjectKeys>,
    model: Option<(SharedModel, ModelSize)>,
    /// Built on first need from `configured` and `objects`.
    session: Option<Session>,
    /// Why the next tracker is built (logged with the session id: every start of tracking
    /// from scratch is in the helper log with its reason).
    rebuild: Option<&'static str>,
}

/// Every session and loaded network of the process.
#[derive(Default)]
pub struct Engine {
    sessions: Mutex<HashMap<u64, Arc<Mutex<SessionState>>>>,
    models: Mutex<HashMap<ModelKey, (SharedModel, ModelSize)>>,
    loads: AtomicU64,
}

/// Host frames seen as a [`FrameSource`] for one request.
struct FetchSource<'a> {
    fetch: std::cell::RefCell<Fetch<'a>>,
    first: i64,
    len: usize,
    size: (u32, u32),
    /// Whether the tracker's hints are passed on (the session's `frame_prefetch`).
    prefetch: bool,
    /// The frame the tracker said it will load after the one it loads next.
    next: std::cell::Cell<Option<usize>>,
}

impl<'a> FetchSource<'a> {
    fn new(fetch: Fetch<'a>, settings: &EngineSettings, range: (i64, i64), len: usize, size: (u32, u32)) -> Self {
        let fetch = std::cell::RefCell::new(fetch);
        FetchSource { fetch, first: range.0, len, size, prefetch: settings.frame_prefetch, next: std::cell::Cell::new(None) }
    }
}

impl FrameSource for FetchSource<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn frame_size(&self) -> (u32, u32) {
        self.size
    }
    fn load(&self, index: usize) -> Result<Rgb8Image> {
        let frame = self.first + index as i64;
        let next = self.next.take();
        let mut fetch = self.fetch.borrow_mut();
        let img = fetch.fetch(frame)?;
        // Asked for now, after this frame arrived and before the network computes on it,
        // so the host fetches it meanwhile.
        if let Some(next) = next.filter(|n| self.prefetch && *n < self.len && *n != index) {
            fetch.ahead(self.first + next as i64);
        }
        drop(fetch);
        if (img.width, img.height) != self.size || img.rgb8.len() != self.size.0 as usize * self.size.1 as usize * 3 {
            let reason = format!("the host gave {}x{} pixels, the clip is {}x{}", img.width, img.height, self.size.0, self.size.1);
            return Err(Error::Frame { frame, reason });
        }
        Ok(Rgb8Image { width: img.width, height: img.height, data: img.rgb8 })
    }
    fn identity(&self) -> String {
        format!("host frames {}..{}", self.first, self.first + self.len as i64)
    }
    fn will_load_next(&self, next: Option<usize>) {
        self.next.set(next);
    }
}

/// The GPU memory limit of `s` for the log.
fn limit_text(s: &EngineSettings) -> String {
    if s.gpu_memory_limit_mb > 0 {
        format!("{} MB", s.gpu_memory_limit_mb)
    } else {
        "off".into()
    }
}

/// The tracker's options for a session's settings.
pub fn tracker_options(s: &EngineSettings) -> TrackerOptions {
    TrackerOptions {
        mode: s.mode,
        non_overlap: s.non_overlap,
        offload: (s.gpu_memory_limit_mb > 0).then(|| OffloadPolicy::cuda(s.gpu_memory_limit_mb.saturating_mul(1 << 20))),
        // An artist's session must give the same bits whatever was edited before (after an
        // edit only the edited object's passes run again). Batches are bit-exact on the CPU,
        // where they do not pay; on CUDA their bits are not measured yet.
        object_batch: ObjectBatch::ONE_BY_ONE,
        ..TrackerOptions::default()
    }
}

impl Engine {
    /// Counters for tests and the log.
    pub fn stats(&self) -> HelperStats {
        HelperStats { pid: std::process::id(), model_loads: self.loads.load(Ordering::SeqCst), sessions: self.sessions.lock().len() as u32 }
    }

    fn session(&self, id: u64) -> Arc<Mutex<SessionState>> {
        self.sessions.lock().entry(id).or_default().clone()
    }

    /// Sets a session's settings, range, frame size and objects. Keyframe edits go through
    /// the tracker (only the passes they touch are recomputed); other changes rebuild it.
    pub fn configure(&self, id: u64, settings: &EngineSettings, range: (i64, i64), size: (u32, u32), objects: &[ObjectKeys]) -> Result<()> {
        if let ModelSource::File(path) = &settings.model {
            if !path.is_file() {
                return Err(checkpoint_not_found(path));
            }
        }
        let cell = self.session(id);
        let mut st = cell.lock();
        let wanted = Some((settings.clone(), range, size));
        if st.configured != wanted {
            let same_results = st.configured.as_ref().is_some_and(|(s, r, z)| s.same_results(settings) && (*r, *z) == (range, size));
            match st.session.as_mut() {
                // Only how the tracker computes changed: its passes and results stay.
                Some(session) if same_results => {
                    session.set_offload(tracker_options(settings).offload);
                    tracing::info!("session {id}: GPU memory limit {}", limit_text(settings));
                }
                _ => {
                    let was = st.configured.is_some();
                    st.drop_tracker(if was { "settings, frame range or frame size changed" } else { "first configuration" });
                }
            }
            st.configured = wanted;
            st.precision = load_options(settings).ok().map(|o| o.precision);
        }
        if st.objects != objects {
            let renamed = st
                .session
                .as_ref()
                .is_some_and(|s| s.objects().len() > objects.len() || s.objects().iter().zip(objects).any(|(a, b)| a.name != b.name));
            if renamed {
                st.drop_tracker("objects removed or renamed");
            }
            st.apply_objects(objects)?;
        }
        Ok(())
    }

    /// Makes sure the model of session `id` is on this machine: a published size absent
    /// from the model folders is downloaded into the user cache, reporting through
    /// `download` (`false` cancels; the partial file is removed). Nothing to do for a
    /// checkpoint file, a model already present or loaded, or a session not configured.
    pub fn prepare(&self, id: u64, download: DownloadFn<'_>) -> EngineResult<()> {
        let Some(settings) = self.session(id).lock().configured.as_ref().map(|(s, _, _)| s.clone()) else { return Ok(()) };
        let ModelSource::Preset(size) = settings.model else { return Ok(()) };
        if self.models.lock().contains_key(&settings.model_key()) || samurai_core::models::find_present(size).is_some() {
            return Ok(());
        }
        let name = file_name(size);
        samurai_fetch::ensure(size, &mut |done, total| download(&name, done, total)).map(|_| ()).map_err(|e| match e.kind() {
            // A declined download leaves the request without its model: the artist is told
            // so (why the node has no matte), not stopped quietly as after the host's abort.
            ErrorKind::Cancelled => EngineError::new(ErrorKind::Model, e.to_string()),
            _ => e.into(),
        })
    }

    /// The precision session `id`'s network runs at (what its settings resolve to here);
    /// an error before it is configured or where its device is absent.
    pub fn precision_of(&self, id: u64) -> EngineResult<Precision> {
        let cell = self.session(id);
        let st = cell.lock();
        if let Some(p) = st.precision {
            return Ok(p);
        }
        let (settings, _, _) = st.configured.as_ref().ok_or_else(|| EngineError::setup("tracking asked for before configuring"))?;
        Ok(load_options(settings)?.precision)
    }

    /// The low-resolution result of `frame`, tracking as needed.
    pub fn track(&self, id: u64, frame: i64, fetch: Fetch<'_>, progress: ProgressFn<'_>) -> EngineResult<LowResFrame> {
        let cell = self.session(id);
        let mut st = cell.lock();
        self.guarded(&mut st, |engine, st| {
            let (settings, range, size) =
                st.configured.clone().ok_or_else(|| EngineError::setup("tracking asked for before configuring"))?;
            if frame < range.0 || frame > range.1 {
                return Err(EngineError::setup(format!("frame {frame} is outside the clip's range {}–{}", range.0, range.1)));
            }
            let session = st.session(engine, id)?;
            let source = FetchSource::new(fetch, &settings, range, session.num_frames(), size);
            let mut report =
                |p: crate::tracker::Progress| if progress(p.done, p.total) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) };
            Ok(session.low_res_frame_from((frame - range.0) as usize, &source, &mut report)?)
        })
    }

    /// Tracks every frame of the range, then hands each frame's result to `on_frame`
    /// (`false` stops). A cancel keeps what was tracked for the session.
    pub fn analyse(
        &self,
        id: u64,
        fetch: Fetch<'_>,
        progress: ProgressFn<'_>,
        on_frame: &mut dyn FnMut(i64, LowResFrame) -> bool,
    ) -> EngineResult<()> {
        let cell = self.session(id);
        let mut st = cell.lock();
        self.guarded(&mut st, |engine, st| {
            let (settings, range, size) =
                st.configured.clone().ok_or_else(|| EngineError::setup("Analyse asked for before configuring"))?;
            if st.objects.iter().all(|o| o.keyframes.range(range.0..=range.1).next().is_none()) {
                return Err(EngineError::setup(
                    "nothing to analyse: no enabled object has a keyframe (box, points or mask) inside the frame range",
                ));
            }
            let session = st.session(engine, id)?;
            let n = session.num_frames();
            let source = FetchSource::new(fetch, &settings, range, n, size);
            let mut report =
                |p: crate::tracker::Progress| if progress(p.done, p.total) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) };
            let cancelled = || {
                EngineError::cancelled("Analyse cancelled: the frames tracked so far are kept for this session; no track cache was written")
            };
            if !session.propagate_from(0..=n - 1, &source, &mut report)? {
                return Err(cancelled());
            }
            for i in 0..n {
                let low = session.low_res_frame_from(i, &source, &mut |_| ControlFlow::Continue(()))?;
                if !on_frame(range.0 + i as i64, low) {
                    return Err(cancelled());
                }
            }
            Ok(())
        })
    }

    /// The options of a session's tracker, once built (for tests and the log).
    pub fn tracker_options_of(&self, id: u64) -> Option<TrackerOptions> {
        let cell = self.sessions.lock().get(&id).cloned()?;
        let st = cell.lock();
        st.session.as_ref().map(|s| s.options().clone())
    }

    /// Forgets every tracked frame of a session (the network stays loaded).
    pub fn clear(&self, id: u64) {
        self.session(id).lock().drop_tracker("cleared (Clear cache)");
    }

    /// Drops a session.
    pub fn close(&self, id: u64) {
        self.sessions.lock().remove(&id);
    }

    /// Runs `f`; a panic inside it (libtorch out of memory, a CUDA failure) becomes an
    /// artist-readable error of its kind and drops the session's tracker and network.
    fn guarded<T>(&self, st: &mut SessionState, f: impl FnOnce(&Engine, &mut SessionState) -> EngineResult<T>) -> EngineResult<T> {
        match catch_unwind(AssertUnwindSafe(|| f(self, st))) {
            Ok(r) => r,
            Err(panic) => {
                let error = EngineError::from_panic(panic.as_ref());
                tracing::error!("{error}; the session's tracker and network are dropped");
                st.drop_tracker("the last request panicked");
                st.model = None;
                if let Some((s, _, _)) = &st.configured {
                    self.models.lock().remove(&s.model_key());
                }
                Err(error)
            }
        }
    }

    /// The network for `s`, loading it once per process.
    fn model(&self, s: &EngineSettings) -> Result<(SharedModel, ModelSize)> {
        let key = s.model_key();
        let mut models = self.models.lock();
        if let Some(m) = models.get(&key) {
            return Ok(m.clone());
        }
        // Networks no session uses any more make room for the new one.
        models.retain(|_, (m, _)| Arc::strong_count(m) > 1);
        let loaded = load_model(s)?;
        self.loads.fetch_add(1, Ordering::SeqCst);
        tracing::info!("model load: {} ({} model, {:?}, image size {})", s.model, loaded.1, s.device, s.image_size);
        models.insert(key, loaded.clone());
        Ok(loaded)
    }
}

/// A checkpoint file named in the settings that is not there.
fn checkpoint_not_found(path: &std::path::Path) -> Error {
    Error::checkpoint(path, format!("not found. {}", crate::model::checkpoint::OFFICIAL_CHECKPOINTS))
}

/// The file `s.model` stands for on this machine (never downloads: see [`Engine::prepare`]).
fn model_file(s: &EngineSettings) -> Result<std::path::PathBuf> {
    match &s.model {
        ModelSource::File(path) if path.is_file() => Ok(path.clone()),
        ModelSource::File(path) => Err(checkpoint_not_found(path)),
        ModelSource::Preset(size) => s.model.present_file().ok_or_else(|| {
            Error::checkpoint(file_name(*size), format!("the {size} model is not on this machine. {}", where_to_put(*size)))
        }),
    }
}

/// Where and in which precision a session's network runs (its device and precision
/// choices resolved on this machine).
fn load_options(s: &EngineSettings) -> Result<LoadOptions> {
    Ok(LoadOptions::resolve(s.device, s.precision)?.0)
}

fn load_model(s: &EngineSettings) -> Result<(SharedModel, ModelSize)> {
    let options = load_options(s)?;
    let path = model_file(s)?;
    let model = Sam2Model::load_detect(&path, s.image_size, &options)?;
    if let Some(want) = s.model.size() {
        if want != model.size {
            return Err(Error::checkpoint(&path, format!("holds a {} model, not the {want} model its name promises", model.size)));
        }
    }
    let size = model.size;
    Ok((model.shared(), size))
}

impl SessionState {
    /// The tracker, building it (and getting the network) on first need.
    /// Drops the tracker (its results go with it); the next request builds a new one.
    fn drop_tracker(&mut self, why: &'static str) {
        if self.session.take().is_some() || self.rebuild.is_none() {
            self.rebuild = Some(why);
        }
    }

    fn session(&mut self, engine: &Engine, id: u64) -> Result<&mut Session> {
        if self.session.is_none() {
            let (s, range, frame_size) =
                self.configured.clone().ok_or_else(|| Error::invalid("request", "tracking asked for before configuring"))?;
            let (model, size) = engine.model(&s)?;
            self.model = Some((model.clone(), size));
            let options = tracker_options(&s);
            let frames = (range.1 - range.0 + 1).max(0) as usize;
            let tuning = s.samurai(size)?;
            tracing::info!("session {id}: tracking from scratch ({})", self.rebuild.take().unwrap_or("first request"));
            tracing::info!(
                "session tuning: {size} model, {} ({}): kf_score_weight {}, stable_frames_threshold {}, fill_hole_area {}; GPU memory limit {}; frame prefetch {}",
                s.model,
                if s.tuning.is_some() { "custom" } else { "preset" },
                tuning.kf_score_weight,
                tuning.stable_frames_threshold,
                tuning.fill_hole_area,
                limit_text(&s),
                if s.frame_prefetch { "on" } else { "off" }
            );
            self.session = Some(Session::with_geometry(model, tuning, frames, frame_size, options)?);
            let objects = std::mem::take(&mut self.objects);
            if let Err(e) = self.apply_objects(&objects) {
                self.session = None;
                self.objects = objects;
                return Err(e);
            }
        }
        Ok(self.session.as_mut().expect("built above"))
    }

    /// Brings the tracker's objects and keyframes in line with `objects`; keys outside the
    /// clip's frame range (hosts allow them) are ignored.
    fn apply_objects(&mut self, objects: &[ObjectKeys]) -> Result<()> {
        self.objects = objects.to_vec();
        let (Some(session), Some((_, range, _))) = (self.session.as_mut(), &self.configured) else { return Ok(()) };
        let (first, frames) = (range.0, session.num_frames() as i64);
        let names: Vec<String> = session.objects().iter().map(|o| o.name.clone()).collect();
        for o in objects.iter().filter(|o| !names.contains(&o.name)) {
            session.add_object(&o.name)?;
        }
        for o in objects {
            let current: BTreeMap<usize, Arc<KeyframePrompt>> =
                session.objects().iter().find(|x| x.name == o.name).map(|x| x.keyframes.clone()).unwrap_or_default();
            let target: BTreeMap<usize, &KeyframePrompt> =
                o.keyframes.iter().filter(|(f, _)| **f >= first && **f < first + frames).map(|(f, p)| ((*f - first) as usize, p)).collect();
            for frame in current.keys().filter(|f| !target.contains_key(f)) {
                session.remove_keyframe(&o.name, *frame)?;
            }
            for (frame, p) in &target {
                if current.get(frame).map(|c| c.as_ref()) != Some(*p) {
                    session.set_prompt(&o.name, *frame, (*p).clone())?;
                }
            }
        }
        Ok(())
    }
}
