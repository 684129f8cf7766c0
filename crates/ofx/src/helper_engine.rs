//! The production [`MatteEngine`]: the network runs in the helper process
//! ([`crate::client`]); everything else runs here in pure Rust. Finished frames are kept
//! as low-resolution logits (so they survive a helper that dies) and turned into mattes by
//! `samurai_core::finish`, bit-identical to the libtorch path; track-cache files are read
//! and written here, so a farm render from a cache never starts a helper.
//!
//! The model: a published size absent from this machine's model folders is downloaded by
//! the helper at the first Track or Analyse (progress and cancel through `download`). The
//! track-cache key hashes the model file's contents, so it is known only once the file is
//! here; a render with a track cache file present and the model absent fails with a message
//! saying where to put the file, and never downloads (farm renders stay offline).
//!
//! Faults: a helper that dies or is declared hung while computing a frame is replaced and
//! the frame computed once more (the results are deterministic, so the new helper gives
//! the same bits); a second loss of the same frame fails it with a message saying both.
//! The host's abort ends any wait at once (see [`crate::client`]).
//!
//! Locking (any render thread may call any method): `state` (configuration, what the
//! helper was told) and `store`/`baked` are held only briefly; a propagation holds a
//! helper connection, not a lock of ours, so a render of a finished or cached frame never
//! waits behind it.
use crate::client::{self, Fault, Lease};
use crate::engine::{
    AnalyseReport, DownloadFn, EngineError, EngineResult, EngineSettings, ErrorKind, FetchFn, FrameFiles, FrameImage, MatteEngine, Mattes,
    ObjectKeys,
};
use parking_lot::Mutex;
use samurai_core::lowres::LowResFrame;
use samurai_core::models::{file_name, where_to_put, ModelSource};
use samurai_core::protocol::{self as proto, Reply, Request};
use samurai_core::settings::Precision;
use samurai_core::track_cache::{cache_key, frame_hash, CacheProblem, TrackCache, TrackCacheHeader};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Byte budget of the finished-frame store (low-resolution logits; 256 KiB per object and
/// frame at quality 1024).
const STORE_BYTES: usize = 1 << 30;

/// Session ids, unique within the host process (the helper keeps one tracker per id).
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Settings, host frame range, frame size and objects.
type Applied = (EngineSettings, (i64, i64), (u32, u32), Vec<ObjectKeys>);

#[derive(Default)]
struct State {
    configured: Option<(EngineSettings, (i64, i64), (u32, u32))>,
    objects: Vec<ObjectKeys>,
    /// What the helper of which generation was last told for this session.
    told: Option<(u64, Applied)>,
}

impl State {
    fn applied(&self) -> EngineResult<Applied> {
        let (s, range, size) = self.configured.clone().ok_or_else(not_configured)?;
        Ok((s, range, size, self.objects.clone()))
    }
}

/// Finished frames, least recently inserted evicted first beyond the byte budget.
#[derive(Default)]
struct Store {
    frames: HashMap<i64, Arc<LowResFrame>>,
    order: VecDeque<i64>,
    bytes: usize,
    /// What finishing needs: frame size and non-overlap of the current configuration.
    finish: Option<((u32, u32), bool)>,
}

impl Store {
    fn clear(&mut self) {
        self.frames.clear();
        self.order.clear();
        self.bytes = 0;
    }

    fn insert(&mut self, frame: i64, low: Arc<LowResFrame>) {
        if let Some(old) = self.frames.insert(frame, low.clone()) {
            self.bytes -= old.bytes();
            self.order.retain(|f| *f != frame);
        }
        self.bytes += low.bytes();
        self.order.push_back(frame);
        while self.bytes > STORE_BYTES && self.order.len() > 1 {
            let Some(f) = self.order.pop_front() else { break };
            if let Some(old) = self.frames.remove(&f) {
                self.bytes -= old.bytes();
            }
        }
    }

    /// A finished frame with what finishing needs (finish it after unlocking).
    fn get(&self, frame: i64) -> Option<(Arc<LowResFrame>, (u32, u32), bool)> {
        let (size, non_overlap) = self.finish?;
        Some((self.frames.get(&frame)?.clone(), size, non_overlap))
    }
}

/// Finished frames shared by every engine of the process whose results are the same
/// (render clones, a host's several instances of one node, two nodes on the same inputs):
/// keyed by the track-cache key with the device and precision (what else decides the
/// helper's results), each frame with the hash of the host frame it was computed from.
/// Another engine is served a frame only when its own image of that frame has that hash,
/// the check a track cache file's frames get; so the same node with the same inputs does
/// not track a frame twice in one process.
#[derive(Default)]
struct SharedFrames {
    frames: Mutex<Store>,
    hashes: Mutex<HashMap<i64, String>>,
}

/// Every [`SharedFrames`] in use, by key; an entry lives while an engine holds it.
static SHARED: Mutex<BTreeMap<String, std::sync::Weak<SharedFrames>>> = Mutex::new(BTreeMap::new());

impl SharedFrames {
    /// The shared frames of `key`, made when no engine holds them.
    fn of(key: &str) -> Arc<SharedFrames> {
        let mut all = SHARED.lock();
        all.retain(|_, w| w.strong_count() > 0);
        if let Some(shared) = all.get(key).and_then(std::sync::Weak::upgrade) {
            return shared;
        }
        let shared = Arc::new(SharedFrames::default());
        all.insert(key.to_owned(), Arc::downgrade(&shared));
        shared
    }

    fn publish(&self, frame: i64, low: &Arc<LowResFrame>, hash: String) {
        self.frames.lock().insert(frame, low.clone());
        self.hashes.lock().insert(frame, hash);
    }

    /// The frame, when it was computed from an image with `hash`.
    fn get(&self, frame: i64, hash: &str) -> Option<Arc<LowResFrame>> {
        if self.hashes.lock().get(&frame).map(String::as_str) != Some(hash) {
            return None;
        }
        self.frames.lock().frames.get(&frame).cloned()
    }
}

/// The track cache file in use.
#[derive(Default)]
struct Baked {
    path: Option<PathBuf>,
    /// Key of the current configuration and objects (`None` until both are set).
    key: Option<String>,
    /// Whether `path` has been read for `key`.
    read: bool,
    cache: Option<Arc<TrackCache>>,
    /// Why a set file is not used, for the artist.
    notice: Option<String>,
}

impl Baked {
    /// Forgets the loaded file (the next use reads it again).
    fn reset(&mut self) {
        self.read = false;
        self.cache = None;
        self.notice = None;
    }

    /// The cache for the current key, reading the file on first use.
    fn cache(&mut self) -> Option<Arc<TrackCache>> {
        if !self.read {
            self.read = true;
            if let (Some(path), Some(key)) = (&self.path, &self.key) {
                match TrackCache::read(path, key) {
                    Ok(c) => {
                        tracing::info!("SamuraiRoto: using track cache {} ({} frames)", path.display(), c.header.frames);
                        self.cache = Some(Arc::new(c));
                    }
                    Err(CacheProblem::Missing) => {}
                    Err(problem) => self.set_unusable(format!("track cache {} is {problem}", path.display())),
                }
            }
        }
        self.cache.clone()
    }

    fn set_unusable(&mut self, why: String) {
        let notice = format!("{why}; tracking live instead. Press Analyse to write it again.");
        tracing::warn!("SamuraiRoto: {notice}");
        self.cache = None;
        self.notice = Some(notice);
    }
}

/// The plugin's engine: results and caches here, the network in the helper.
pub struct HelperEngine {
    session: u64,
    state: Mutex<State>,
    store: Mutex<Store>,
    baked: Mutex<Baked>,
    /// A frame computed again in a new helper after the first one failed: said once, after
    /// the render that did it.
    recovered: Mutex<Option<String>>,
    /// `Progress` messages received from the helper (tests follow a dialogue's order by it:
    /// `abort` is polled at each one and between the slices of every wait).
    progress: AtomicU64,
    /// The frames finished by every engine with this one's results (`None` until the
    /// track-cache key is known).
    shared: Mutex<Option<Arc<SharedFrames>>>,
    /// Whether this engine shares finished frames with others in the process.
    sharing: bool,
}

impl Default for HelperEngine {
    fn default() -> Self {
        Self::new()
    }
}

fn to_mattes(low: &Arc<LowResFrame>, size: (u32, u32), non_overlap: bool) -> Mattes {
    Mattes::Low { low: low.clone(), size, non_overlap }
}

impl HelperEngine {
    pub fn new() -> Self {
        Self::with_sharing(true)
    }

    /// An engine that shares no finished frames with the others of its process, as if it
    /// ran in a process of its own (tests of track cache files standing for farm processes).
    pub fn without_sharing() -> Self {
        Self::with_sharing(false)
    }

    fn with_sharing(sharing: bool) -> Self {
        HelperEngine {
            session: NEXT_SESSION.fetch_add(1, Ordering::SeqCst),
            state: Mutex::default(),
            store: Mutex::default(),
            baked: Mutex::default(),
            recovered: Mutex::default(),
            progress: AtomicU64::new(0),
            shared: Mutex::default(),
            sharing,
        }
    }

    /// How many `Progress` messages this engine's requests received from the helper.
    pub fn progress_seen(&self) -> u64 {
        self.progress.load(Ordering::SeqCst)
    }

    /// Recomputes the track-cache key after a configuration or object change.
    fn rekey(&self, st: &State) -> EngineResult<()> {
        let key = key_of(st)?;
        let mut b = self.baked.lock();
        if b.key != key {
            // Results also depend on where and in what precision the network runs.
            let shared = key
                .as_ref()
                .zip(st.configured.as_ref())
                .filter(|_| self.sharing)
                .map(|(k, (s, _, _))| SharedFrames::of(&format!("{k} device {:?} precision {:?}", s.device, s.precision)));
            *self.shared.lock() = shared;
            b.key = key;
            b.reset();
        }
        Ok(())
    }

    /// Frames another engine with the same results finished, when `current` is the image
    /// they were computed from. Like a track cache file, the shared frames are given up
    /// for good once a frame of this engine's footage differs from theirs (other frames'
    /// results depend on it through the tracker's memory).
    fn shared_mattes(&self, frame: i64, current: &FrameImage) -> Option<Mattes> {
        let shared = self.shared.lock().clone()?;
        let hash = host_frame_hash(current);
        if shared.hashes.lock().get(&frame).is_some_and(|h| *h != hash) {
            self.leave_shared(frame);
            return None;
        }
        let low = shared.get(frame, &hash)?;
        let (size, non_overlap) = {
            let mut store = self.store.lock();
            store.insert(frame, low.clone());
            store.finish?
        };
        tracing::debug!("SamuraiRoto: session {}: frame {frame} finished by another instance with the same results", self.session);
        Some(to_mattes(&low, size, non_overlap))
    }

    /// Offers a finished frame (computed from a host image of hash `hash`) to the engines
    /// with the same results; gives the shared frames up when theirs differs.
    fn publish_to(&self, shared: &SharedFrames, frame: i64, low: &Arc<LowResFrame>, hash: String) {
        if shared.hashes.lock().get(&frame).is_some_and(|h| *h != hash) {
            self.leave_shared(frame);
            return;
        }
        shared.publish(frame, low, hash);
    }

    fn leave_shared(&self, frame: i64) {
        tracing::info!(
            "SamuraiRoto: session {}: frame {frame} differs from another instance's with the same settings: this one tracks its own footage",
            self.session
        );
        *self.shared.lock() = None;
    }

    /// Computes the track-cache key once the model is on this machine (a published size
    /// downloaded since configuring); nothing to do when it is known.
    fn refresh_key(&self) -> EngineResult<()> {
        if self.baked.lock().key.is_some() {
            return Ok(());
        }
        let st = self.state.lock();
        self.rekey(&st)
    }

    /// A render never downloads the model while a track cache file is there (a farm render
    /// from a cache stays offline): with a published size absent from this machine, the
    /// cache cannot be checked (its key hashes the model file), so this says where to put
    /// the file instead.
    fn check_cache_needs_no_download(&self) -> EngineResult<()> {
        let model = match &self.state.lock().configured {
            Some((s, _, _)) => s.model.clone(),
            None => return Ok(()),
        };
        let ModelSource::Preset(size) = model else { return Ok(()) };
        let cache = self.baked.lock().path.clone();
        match cache {
            Some(cache) if cache.exists() && model.present_file().is_none() => Err(EngineError::new(
                ErrorKind::Model,
                format!(
                    "the {size} model ({}) is not on this machine, and a render with a track cache file ({}) never downloads it: \
                     without the model the cache cannot be checked (its key is the model file's contents). {}; or press Analyse \
                     to download it and track again.",
                    file_name(size),
                    cache.display(),
                    where_to_put(size)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Mattes of `frame` from the track cache file, when it holds the frame and the
    /// host's current frame is the one the cache was made from.
    fn baked_mattes(&self, frame: i64, current: &FrameImage) -> Option<Mattes> {
        let mut b = self.baked.lock();
        let cache = b.cache()?;
        let low = cache.frame(frame)?;
        if cache.frame_hash(frame) != Some(host_frame_hash(current).as_str()) {
            let path = b.path.clone().unwrap_or_default();
            b.set_unusable(format!(
                "track cache {} is stale (frame {frame} of the source differs from the analysed footage)",
                path.display()
            ));
            return None;
        }
        let low = Arc::new(low.clone());
        drop(b);
        let (size, non_overlap) = {
            let mut store = self.store.lock();
            store.insert(frame, low.clone()); // for the overlay's tracked boxes
            store.finish?
        };
        Some(to_mattes(&low, size, non_overlap))
    }

    /// A connection to the helper on which this session is configured as it is here.
    fn connect(&self, abort: &dyn Fn() -> bool) -> Result<Lease, Fault> {
        let applied = self.state.lock().applied()?;
        let helper = client::helper()?;
        let mut lease = helper.connect(abort)?;
        let generation = lease.helper().generation;
        if self.state.lock().told.as_ref() != Some(&(generation, applied.clone())) {
            let (settings, range, frame_size, objects) = applied.clone();
            let request = Request::Configure { session: self.session, settings, range, frame_size, objects };
            match lease.call(&request, "configuring", abort)? {
                Reply::Done => self.state.lock().told = Some((generation, applied)),
                Reply::Failed(failure) => return Err(failure.into()),
                other => return Err(unexpected(&mut lease, &other)),
            }
        }
        Ok(lease)
    }

    /// One try at `frame` in the current helper (started if there is none): its result,
    /// with the hash of the host's image of `frame` when this dialogue served it.
    fn track_once(
        &self,
        frame: i64,
        fetch: FetchFn<'_>,
        abort: &dyn Fn() -> bool,
        download: DownloadFn<'_>,
    ) -> Result<(LowResFrame, Option<String>), Fault> {
        let during = format!("tracking frame {frame}");
        let mut lease = self.connect(abort)?;
        lease.send(&Request::Track { session: self.session, frame }, &during, abort)?;
        let mut serve = Serve { fetch, hashes: BTreeMap::new() };
        loop {
            match lease.receive(&during, abort)? {
                Reply::NeedFrame { frame: f } => serve.frame(&mut lease, f, &during, abort)?,
                Reply::Progress { .. } => {
                    self.progress.fetch_add(1, Ordering::SeqCst);
                    lease.send(&Request::Go { on: !abort() }, &during, abort)?
                }
                Reply::Fetching { file, done, total } => {
                    lease.send(&Request::Go { on: download(&file, done, total) && !abort() }, &during, abort)?
                }
                Reply::Result { frame: f, side, objects, .. } if f == frame => {
                    return Ok((read_result(&mut lease, side, objects)?, serve.hashes.remove(&frame)))
                }
                Reply::Failed(failure) => return Err(failure.into()),
                other => return Err(unexpected(&mut lease, &other)),
            }
        }
    }

    /// `track_once`, and once more in a new helper when the helper was lost on the way.
    fn track_with_retry(
        &self,
        frame: i64,
        fetch: FetchFn<'_>,
        abort: &dyn Fn() -> bool,
        download: DownloadFn<'_>,
    ) -> EngineResult<(LowResFrame, Option<String>)> {
        let first = match self.track_once(frame, fetch, abort, download) {
            Err(Fault::Lost(first)) => first,
            other => return other.map_err(EngineError::from),
        };
        let log = samurai_core::launch::log_path();
        let note = format!("{first}; the node starts a new helper and computes frame {frame} again");
        tracing::warn!("SamuraiRoto: {note}");
        client::note_in_log(&log, &note);
        match self.track_once(frame, fetch, abort, download) {
            Ok(low) => {
                let pid = client::current().map(|h| h.pid.to_string()).unwrap_or_else(|_| "?".into());
                let said = format!("frame {frame} was computed again in a new helper (pid {pid}) after this: {first}");
                client::note_in_log(&log, &said);
                *self.recovered.lock() = Some(said);
                Ok(low)
            }
            Err(Fault::Lost(second)) => {
                let message = format!(
                    "{second}. That was the second helper lost on frame {frame}: after the first ({first}) the node had started \
                     a new helper and computed the frame again. Frame {frame} failed; frames finished so far are kept, and the \
                     next render starts a new helper."
                );
                client::note_in_log(&log, &message);
                Err(EngineError::new(ErrorKind::Helper, message))
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// The hash a track cache keeps of a host frame (`track_cache::frame_hash` of the RGB8
/// pixels the helper is served): what Analyse writes, renders check, and the farm export
/// puts in its plan.
pub fn host_frame_hash(img: &FrameImage) -> String {
    frame_hash(img.width, img.height, &img.rgb8)
}

/// The track-cache key the node computes for `settings`, the host frame range and size
/// and `objects` (what Analyse writes and renders check); `None` while the model is a
/// published size not yet on this machine.
pub fn node_cache_key(
    settings: &EngineSettings,
    range: (i64, i64),
    size: (u32, u32),
    objects: &[ObjectKeys],
) -> EngineResult<Option<String>> {
    let Some(model) = settings.model.present_file() else { return Ok(None) };
    Ok(cache_key(&model, settings, range, size, objects).map(Some)?)
}

/// The track-cache key of a configuration and its objects; `None` before configuring, or
/// while the model is a published size not yet on this machine (the key hashes the model
/// file's contents, so a downloaded model and the same file chosen by path give one key).
fn key_of(st: &State) -> EngineResult<Option<String>> {
    let Some((s, range, size)) = &st.configured else { return Ok(None) };
    node_cache_key(s, *range, *size, &st.objects)
}

/// The engine asked for results before its configuration (a bug of the node's).
fn not_configured() -> EngineError {
    EngineError::new(ErrorKind::Internal, "engine used before configure")
}

/// An answer out of turn: the connection is dropped.
fn unexpected(lease: &mut Lease, reply: &Reply) -> Fault {
    lease.discard();
    Fault::helper(format!("SamuraiRoto's helper answered out of turn ({reply:?}); the connection was dropped"))
}

/// The plugin's side of a tracking dialogue: serves frames, answers progress. Every
/// message is answered in order; a `NeedFrame` may come for the frame the helper will need
/// next while it computes (see `samurai_core::protocol`), so the host fetch here overlaps
/// the network there.
struct Serve<'a> {
    fetch: FetchFn<'a>,
    /// Hashes of the frames served (track caches store them).
    hashes: BTreeMap<i64, String>,
}

impl Serve<'_> {
    /// Answers one `NeedFrame`.
    fn frame(&mut self, lease: &mut Lease, frame: i64, during: &str, abort: &dyn Fn() -> bool) -> Result<(), Fault> {
        let request = match (self.fetch)(frame) {
            Ok(img) => {
                self.hashes.insert(frame, host_frame_hash(&img));
                let len = proto::frame_bytes(frame, img.width, img.height)?;
                if img.rgb8.len() != len {
                    return Err(Fault::Failed(EngineError::new(
                        ErrorKind::Internal,
                        format!("frame {frame}: {} bytes for a {}x{} RGB frame", img.rgb8.len(), img.width, img.height),
                    )));
                }
                // The frame area: the helper reads it only after this answer, and may be
                // writing a result into the (disjoint) result area meanwhile.
                lease.shm().get_mut(proto::FRAME_OFFSET, len)?.copy_from_slice(&img.rgb8);
                Request::Frame { frame, width: img.width, height: img.height }
            }
            Err(e) => Request::FrameUnavailable { frame, reason: e.message },
        };
        lease.send(&request, during, abort)
    }
}

/// Reads a `Result` reply's logits out of the shared region.
fn read_result(lease: &mut Lease, side: u32, objects: Vec<String>) -> Result<LowResFrame, Fault> {
    let cells = side as usize * side as usize;
    let bytes = lease.shm().get(proto::RESULT_OFFSET, Reply::result_bytes(side, objects.len()))?;
    let values = bytes.chunks_exact(cells * 4).map(|c| c.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect());
    Ok(LowResFrame { side: side as i64, objects: objects.into_iter().zip(values).collect() })
}

impl MatteEngine for HelperEngine {
    fn configure(&self, settings: &EngineSettings, frame_range: (i64, i64), frame_size: (u32, u32)) -> EngineResult<()> {
        if let ModelSource::File(path) = &settings.model {
            if !path.is_file() {
                return Err(EngineError::new(ErrorKind::Model, format!("checkpoint {} not found", path.display())));
            }
        }
        let mut st = self.state.lock();
        let wanted = Some((settings.clone(), frame_range, frame_size));
        if st.configured != wanted {
            // The GPU memory limit and frames asked for ahead change how, not what, the
            // helper computes: finished frames stay.
            let same_results =
                st.configured.as_ref().is_some_and(|(s, r, z)| s.same_results(settings) && (*r, *z) == (frame_range, frame_size));
            if !same_results {
                self.store.lock().clear();
            }
            st.configured = wanted;
            self.store.lock().finish = Some((frame_size, settings.non_overlap));
            self.rekey(&st)?;
        }
        Ok(())
    }

    fn set_objects(&self, objects: &[ObjectKeys]) -> EngineResult<()> {
        let mut st = self.state.lock();
        if st.objects != objects {
            self.store.lock().clear();
            st.objects = objects.to_vec();
            self.rekey(&st)?;
        }
        Ok(())
    }

    fn set_track_cache(&self, path: Option<&Path>) -> EngineResult<()> {
        let mut b = self.baked.lock();
        if b.path.as_deref() != path {
            b.path = path.map(Path::to_path_buf);
            b.reset();
        }
        Ok(())
    }

    fn notice(&self) -> Option<String> {
        let baked = self.baked.lock().notice.clone();
        match (baked, self.recovered.lock().take()) {
            (Some(b), Some(r)) => Some(format!("{b} Also: {r}")),
            (b, r) => b.or(r),
        }
    }

    fn mattes(&self, frame: i64, fetch: FetchFn<'_>, abort: &dyn Fn() -> bool, download: DownloadFn<'_>) -> EngineResult<Mattes> {
        if let Some(m) = self.cached_mattes(frame, None) {
            return Ok(m);
        }
        let (_, range, _) = self.state.lock().configured.clone().ok_or_else(not_configured)?;
        if frame < range.0 || frame > range.1 {
            return Err(EngineError::setup(format!("frame {frame} is outside the clip's range {}–{}", range.0, range.1)));
        }
        self.check_cache_needs_no_download()?;
        if self.baked.lock().cache().is_some_and(|c| c.frame(frame).is_some()) {
            let current = fetch(frame)?;
            if let Some(m) = self.baked_mattes(frame, &current) {
                return Ok(m);
            }
        }
        let (low, hash) = self.track_with_retry(frame, fetch, abort, download)?;
        let low = Arc::new(low);
        if let Some(shared) = self.shared.lock().clone() {
            // The hash of the host's image of the frame: from the dialogue, else (the helper
            // had the frame already) the render's own image, which costs no host fetch.
            let hash = hash.or_else(|| fetch(frame).ok().map(|img| host_frame_hash(&img)));
            if let Some(hash) = hash {
                self.publish_to(&shared, frame, &low, hash);
            }
        }
        let (size, non_overlap) = {
            let mut store = self.store.lock();
            store.insert(frame, low.clone());
            store.finish.ok_or_else(not_configured)?
        };
        Ok(to_mattes(&low, size, non_overlap))
    }

    fn cached_mattes(&self, frame: i64, current: Option<&FrameImage>) -> Option<Mattes> {
        if let Err(e) = self.refresh_key() {
            tracing::warn!("SamuraiRoto: no track-cache key: {e}");
        }
        let finished = self.store.lock().get(frame);
        if let Some((low, size, non_overlap)) = finished {
            return Some(to_mattes(&low, size, non_overlap));
        }
        let current = current?;
        self.baked_mattes(frame, current).or_else(|| self.shared_mattes(frame, current))
    }

    fn analyse(&self, fetch: FetchFn<'_>, progress: &dyn Fn(f64) -> bool, download: DownloadFn<'_>) -> EngineResult<AnalyseReport> {
        let (_, range, size) = self.state.lock().configured.clone().ok_or_else(not_configured)?;
        let mut serve = Serve { fetch, hashes: BTreeMap::new() };
        let mut frames: BTreeMap<i64, Arc<LowResFrame>> = BTreeMap::new();
        let mut precision = None;
        // Analyse is the artist's, from a button, not the host's render: the artist's cancel
        // goes through `progress`, and a lost helper fails it (pressing again starts anew).
        self.analyse_in_helper(&mut serve, &mut frames, &mut precision, progress, download).map_err(|fault| match fault {
            Fault::Lost(what) => EngineError::new(
                ErrorKind::Helper,
                format!("{what}. Frames finished so far are kept; press Analyse again to start a new helper."),
            ),
            other => other.into(),
        })?;
        if let Some(shared) = self.shared.lock().clone() {
            for (f, low) in &frames {
                if let Some(hash) = serve.hashes.get(f) {
                    self.publish_to(&shared, *f, low, hash.clone());
                }
            }
        }
        let n = (range.1 - range.0 + 1) as usize;
        if frames.len() != n || frames.keys().next() != Some(&range.0) {
            return Err(EngineError::new(
                ErrorKind::Helper,
                format!("SamuraiRoto's helper returned {} of the {n} frames of the range", frames.len()),
            ));
        }
        // The model is here now (downloaded by this Analyse, perhaps): the key can be known.
        self.refresh_key()?;
        let mut report = AnalyseReport { frames: n, written: None };
        let path = self.baked.lock().path.clone();
        if let Some(path) = path {
            report.written = Some(self.write_cache(&path, range, size, &frames, precision, &mut serve)?);
        }
        Ok(report)
    }

    fn clear_cache(&self) {
        self.store.lock().clear();
        self.baked.lock().reset();
        // The helper's tracker forgets its passes (the network stays loaded there); no
        // helper is started for that.
        self.tell_running_helper(Request::Clear { session: self.session }, "clearing");
    }

    fn hash_frame_files(&self, paths: &[PathBuf], checkpoint: Option<&Path>) -> EngineResult<FrameFiles> {
        let (during, never) = ("decoding frame files", &|| false);
        let request = Request::HashFrameFiles { paths: paths.to_vec(), checkpoint: checkpoint.map(Path::to_path_buf) };
        let ask = || -> Result<FrameFiles, Fault> {
            let mut lease = client::helper()?.connect(never)?;
            match lease.call(&request, during, never)? {
                Reply::FrameFiles { frames, model_size } if frames.len() == paths.len() => Ok((frames, model_size)),
                Reply::Failed(failure) => Err(failure.into()),
                other => Err(unexpected(&mut lease, &other)),
            }
        };
        Ok(ask()?)
    }
}

impl HelperEngine {
    /// The Analyse dialogue: every frame's result into `frames` (and the store).
    fn analyse_in_helper(
        &self,
        serve: &mut Serve<'_>,
        frames: &mut BTreeMap<i64, Arc<LowResFrame>>,
        analysed: &mut Option<Precision>,
        progress: &dyn Fn(f64) -> bool,
        download: DownloadFn<'_>,
    ) -> Result<(), Fault> {
        let (during, never) = ("analysing", &|| false);
        let mut lease = self.connect(never)?;
        lease.send(&Request::Analyse { session: self.session }, during, never)?;
        loop {
            match lease.receive(during, never)? {
                Reply::NeedFrame { frame } => serve.frame(&mut lease, frame, during, never)?,
                Reply::Progress { done, total } => {
                    lease.send(&Request::Go { on: progress(done as f64 / total.max(1) as f64) }, during, never)?
                }
                Reply::Fetching { file, done, total } => lease.send(&Request::Go { on: download(&file, done, total) }, during, never)?,
                Reply::Result { frame, side, objects, precision } => {
                    // One analysis, one precision: a cache never mixes them.
                    let first = *analysed.get_or_insert(precision);
                    if first != precision {
                        return Err(Fault::Failed(EngineError::new(
                            ErrorKind::Helper,
                            format!("frame {frame} came back in {precision}, the frames before it in {first}"),
                        )));
                    }
                    let low = Arc::new(read_result(&mut lease, side, objects)?);
                    self.store.lock().insert(frame, low.clone());
                    frames.insert(frame, low);
                    lease.send(&Request::Go { on: true }, during, never)?;
                }
                Reply::Done => return Ok(()),
                Reply::Failed(failure) => return Err(failure.into()),
                other => return Err(unexpected(&mut lease, &other)),
            }
        }
    }

    /// Writes the track cache file for the analysed frames (fetching, for their hashes,
    /// the frames no pass needed).
    fn write_cache(
        &self,
        path: &Path,
        range: (i64, i64),
        size: (u32, u32),
        frames: &BTreeMap<i64, Arc<LowResFrame>>,
        precision: Option<Precision>,
        serve: &mut Serve<'_>,
    ) -> EngineResult<(PathBuf, u64)> {
        for f in range.0..=range.1 {
            if !serve.hashes.contains_key(&f) {
                let img = (serve.fetch)(f)?;
                serve.hashes.insert(f, host_frame_hash(&img));
            }
        }
        let key = self
            .baked
            .lock()
            .key
            .clone()
            .ok_or_else(|| EngineError::new(ErrorKind::Model, "no track-cache key: the model file is not on this machine"))?;
        let first = frames.values().next().ok_or_else(|| EngineError::new(ErrorKind::Helper, "no frames analysed"))?;
        let header = TrackCacheHeader {
            key,
            first_frame: range.0,
            frames: frames.len(),
            frame_size: size,
            side: first.side,
            objects: first.objects.iter().map(|(n, _)| n.clone()).collect(),
            frame_hashes: (range.0..=range.1).map(|f| serve.hashes[&f].clone()).collect(),
            precision,
        };
        let cache = TrackCache { header, frames: frames.values().map(|f| (**f).clone()).collect() };
        cache.write_atomic(path).map_err(|e| EngineError::from(e).context("could not write the track cache"))?;
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        tracing::info!("SamuraiRoto: wrote track cache {} ({} frames, {bytes} bytes)", path.display(), frames.len());
        let mut b = self.baked.lock();
        b.cache = Some(Arc::new(cache));
        b.read = true;
        b.notice = None;
        Ok((path.to_path_buf(), bytes))
    }
}

impl HelperEngine {
    /// Sends `request` to the running helper if it knows this session (never starts one).
    fn tell_running_helper(&self, request: Request, during: &str) {
        let told = self.state.lock().told.as_ref().map(|(g, _)| *g);
        if let (Some(generation), Ok(helper)) = (told, client::current()) {
            if helper.generation == generation {
                if let Ok(mut lease) = helper.connect(&|| false) {
                    let _ = lease.call_briefly(&request, during);
                }
            }
        }
    }
}

impl Drop for HelperEngine {
    /// Tells a running helper that this session is gone.
    fn drop(&mut self) {
        self.tell_running_helper(Request::Close { session: self.session }, "closing a session");
    }
}
