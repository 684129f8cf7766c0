//! The real [`MatteEngine`]: a tracker [`Session`] (SAM 2.1 + SAMURAI) behind the narrow
//! engine interface of the OFX layer. Frames are pulled from the host through the `fetch`
//! callback of each request (the session is built with the clip's geometry only).
//!
//! Results are kept as each frame's blended low-resolution logits ([`LowResFrame`]) and
//! turned into mattes by [`finish_frame`], whether they come from live tracking or from a
//! track cache file, so both give the same bits.
//!
//! Locking (any render thread may call any method):
//! - `state` (network, session, objects) is held for a whole propagation;
//! - `store` (finished frames) and `baked` (the track cache file) are only held briefly,
//!   so a render of a finished or cached frame never waits behind a running propagation.
//!
//! The network and session are built on first need: renders served from a track cache
//! never load the network.
use super::engine::{AnalyseReport, EngineSettings, FrameImage, MatteEngine, Mattes, ObjectKeys};
use crate::config::{ModelSize, Preset, SamuraiConfig};
use crate::image::Rgb8Image;
use crate::model::{DeviceChoice, LoadOptions, Precision, Sam2Model, SharedModel};
use crate::tracker::track_cache::{file_hash, frame_hash, CacheProblem, KeyBuilder, TrackCache, TrackCacheHeader};
use crate::tracker::{finish_frame, BlendMode, FrameSource, LowResFrame, Session, TrackerOptions};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What decides which network is loaded.
type ModelKey = (PathBuf, i64, String, String);
/// Settings, host frame range and frame size the engine was configured with.
type Configured = (EngineSettings, (i64, i64), (u32, u32));
/// A checkpoint file's identity for the hash memo: path, length, modification time.
type FileId = (PathBuf, u64, Option<std::time::SystemTime>);

/// Byte budget of the finished-frame store (low-resolution logits; 256 KiB per object and
/// frame at quality 1024).
const STORE_BYTES: usize = 1 << 30;

#[derive(Default)]
struct State {
    model: Option<(ModelKey, SharedModel, ModelSize)>,
    /// Built on first need from `configured` and `objects`.
    session: Option<Session>,
    /// First frame of the host's range (session frame 0).
    first: i64,
    configured: Option<Configured>,
    objects: Vec<ObjectKeys>,
}

/// Finished frames, least recently inserted evicted first beyond the byte budget.
#[derive(Default)]
struct Store {
    frames: HashMap<i64, Arc<LowResFrame>>,
    order: VecDeque<i64>,
    bytes: usize,
    /// What `finish_frame` needs: frame size and non-overlap of the current configuration.
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

    /// A finished frame with what `finish_frame` needs (finish it after unlocking).
    fn get(&self, frame: i64) -> Option<(Arc<LowResFrame>, (u32, u32), bool)> {
        let (size, non_overlap) = self.finish?;
        Some((self.frames.get(&frame)?.clone(), size, non_overlap))
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

/// The tracker behind the OFX layer.
#[derive(Default)]
pub struct TrackerEngine {
    state: Mutex<State>,
    store: Mutex<Store>,
    baked: Mutex<Baked>,
}

fn to_mattes(low: &LowResFrame, size: (u32, u32), non_overlap: bool) -> Mattes {
    finish_frame(low, size, non_overlap).into_iter().map(|m| (m.name, Vec::<f32>::try_from(m.logits.flatten(0, -1)).unwrap_or_default())).collect()
}

/// Host frames seen as a [`FrameSource`] for one request; remembers the hash of each
/// frame it hands out (for track caches).
struct FetchSource<'a> {
    fetch: &'a dyn Fn(i64) -> Result<FrameImage, String>,
    first: i64,
    len: usize,
    size: (u32, u32),
    hashes: Mutex<HashMap<i64, String>>,
}

impl<'a> FetchSource<'a> {
    fn new(fetch: &'a dyn Fn(i64) -> Result<FrameImage, String>, first: i64, len: usize, size: (u32, u32)) -> Self {
        FetchSource { fetch, first, len, size, hashes: Mutex::default() }
    }

    fn fetch(&self, frame: i64) -> crate::Result<FrameImage> {
        let img = (self.fetch)(frame).map_err(|reason| crate::Error::invalid("frame", format!("the host could not provide frame {frame}: {reason}")))?;
        if let Ok(mut h) = self.hashes.lock() {
            h.insert(frame, frame_hash(img.width, img.height, &img.rgb8));
        }
        Ok(img)
    }
}

impl FrameSource for FetchSource<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn frame_size(&self) -> (u32, u32) {
        self.size
    }
    fn load(&self, index: usize) -> crate::Result<Rgb8Image> {
        let img = self.fetch(self.first + index as i64)?;
        Ok(Rgb8Image { width: img.width, height: img.height, data: img.rgb8 })
    }
    fn identity(&self) -> String {
        format!("host frames {}..{}", self.first, self.first + self.len as i64)
    }
}

/// Content hashes of checkpoint files, per (path, length, modification time), so a
/// process hashes each checkpoint once.
static CHECKPOINT_HASHES: Mutex<BTreeMap<FileId, String>> = Mutex::new(BTreeMap::new());

fn checkpoint_hash(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("checkpoint {}: {e}", path.display()))?;
    let id = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(h) = CHECKPOINT_HASHES.lock().ok().and_then(|m| m.get(&id).cloned()) {
        return Ok(h);
    }
    let h = file_hash(path).map_err(|e| e.to_string())?;
    if let Ok(mut m) = CHECKPOINT_HASHES.lock() {
        m.insert(id, h.clone());
    }
    Ok(h)
}

/// The track-cache key: everything that decides the stored logits. Not in it: device and
/// precision (a cache is the analysed result whichever device made it), the model-size
/// parameter (implied by the checkpoint's contents) and non-overlap (applied at render).
fn cache_key(s: &EngineSettings, range: (i64, i64), size: (u32, u32), objects: &[ObjectKeys]) -> Result<String, String> {
    let mut k = KeyBuilder::default()
        .field("checkpoint", &checkpoint_hash(&s.checkpoint)?)
        .field("image_size", &s.image_size.to_string())
        .field("mode", &s.mode)
        .field("fill_hole_area", &s.fill_hole_area.to_string())
        .field("range", &format!("{}..={}", range.0, range.1))
        .field("frame_size", &format!("{}x{}", size.0, size.1));
    for (name, v) in &s.tuning {
        k = k.field(name, &format!("{:016x}", v.to_bits()));
    }
    for o in objects {
        let keys: Vec<String> = o.keyframes.iter().map(|(f, b)| format!("{f}:{:016x},{:016x},{:016x},{:016x}", b[0].to_bits(), b[1].to_bits(), b[2].to_bits(), b[3].to_bits())).collect();
        k = k.field(&format!("object {}", o.name), &keys.join(";"));
    }
    Ok(k.finish())
}

/// SAMURAI tuning from the preset of `size`, overridden by the host's values (upstream
/// key names); unknown keys are rejected by name.
fn tuning_for(size: ModelSize, s: &EngineSettings) -> Result<SamuraiConfig, String> {
    let mut t = Preset::builtin(size).samurai;
    for (key, &v) in &s.tuning {
        match key.as_str() {
            "stable_frames_threshold" => t.stable_frames_threshold = v.max(0.0) as u32,
            "stable_ious_threshold" => t.stable_ious_threshold = v,
            "min_obj_score_logits" => t.min_obj_score_logits = v,
            "kf_score_weight" => t.kf_score_weight = v,
            "memory_bank_iou_threshold" => t.memory_bank_iou_threshold = v,
            "memory_bank_obj_score_threshold" => t.memory_bank_obj_score_threshold = v,
            "memory_bank_kf_score_threshold" => t.memory_bank_kf_score_threshold = v,
            "fill_hole_area" | "samurai_mode" => {}
            other => return Err(format!("unknown SAMURAI tuning parameter '{other}'")),
        }
    }
    t.fill_hole_area = s.fill_hole_area;
    t.validate()?;
    Ok(t)
}

fn load_model(s: &EngineSettings) -> Result<(ModelKey, SharedModel, ModelSize), String> {
    let key = (s.checkpoint.clone(), s.image_size, s.device.clone(), s.precision.clone());
    let device = DeviceChoice::parse(&s.device).and_then(DeviceChoice::resolve).map_err(|e| e.to_string())?;
    let precision = match s.precision.as_str() {
        "auto" if device.is_cuda() => Precision::Bf16,
        "auto" => Precision::F32,
        other => Precision::parse(other).map_err(|e| e.to_string())?,
    };
    let model = Sam2Model::load_detect(&s.checkpoint, s.image_size, &LoadOptions { device, precision }).map_err(|e| e.to_string())?;
    if let Some(want) = &s.model_size {
        let want = ModelSize::parse(want).map_err(|e| e.to_string())?;
        if want != model.size {
            return Err(format!("the checkpoint holds a {} model but the model size parameter says {want}", model.size));
        }
    }
    let size = model.size;
    Ok((key, model.shared(), size))
}

impl State {
    /// The session, building it (and loading the network when its inputs changed) on
    /// first need.
    fn session(&mut self) -> Result<&mut Session, String> {
        if self.session.is_none() {
            let (s, range, frame_size) = self.configured.clone().ok_or("engine used before configure")?;
            let key = (s.checkpoint.clone(), s.image_size, s.device.clone(), s.precision.clone());
            if self.model.as_ref().is_none_or(|(k, _, _)| *k != key) {
                self.model = None;
                self.model = Some(load_model(&s)?);
            }
            let (_, model, size) = self.model.as_ref().expect("loaded");
            let options = TrackerOptions { mode: BlendMode::parse(&s.mode).map_err(|e| e.to_string())?, non_overlap: s.non_overlap, ..TrackerOptions::default() };
            let frames = (range.1 - range.0 + 1).max(0) as usize;
            self.session = Some(Session::with_geometry(model.clone(), tuning_for(*size, &s)?, frames, frame_size, options).map_err(|e| e.to_string())?);
            self.first = range.0;
            let objects = std::mem::take(&mut self.objects);
            if let Err(e) = self.apply_objects(&objects) {
                self.session = None;
                self.objects = objects;
                return Err(e);
            }
        }
        Ok(self.session.as_mut().expect("built above"))
    }

    /// Brings the session's objects and keyframes in line with `objects`: keyframe edits
    /// go through the session (so only the passes they touch are recomputed); a changed
    /// object list rebuilds the object set.
    fn apply_objects(&mut self, objects: &[ObjectKeys]) -> Result<(), String> {
        let first = self.first;
        let Some(session) = self.session.as_mut() else {
            self.objects = objects.to_vec();
            return Ok(());
        };
        let frames = session.num_frames() as i64;
        let names: Vec<String> = session.objects().iter().map(|o| o.name.clone()).collect();
        for o in objects {
            if !names.contains(&o.name) {
                session.add_object(&o.name).map_err(|e| e.to_string())?;
            }
        }
        for o in objects {
            let current: BTreeMap<usize, [f64; 4]> = session.objects().iter().find(|x| x.name == o.name).map(|x| x.keyframes.clone()).unwrap_or_default();
            // Keys outside the clip's frame range (the host allows them) are ignored.
            let target: BTreeMap<usize, [f64; 4]> = o.keyframes.iter().filter(|(f, _)| **f >= first && **f < first + frames).map(|(f, b)| ((*f - first) as usize, *b)).collect();
            for frame in current.keys().filter(|f| !target.contains_key(f)) {
                session.remove_keyframe(&o.name, *frame).map_err(|e| e.to_string())?;
            }
            for (frame, b) in &target {
                if current.get(frame) != Some(b) {
                    session.set_keyframe(&o.name, *frame, *b).map_err(|e| e.to_string())?;
                }
            }
        }
        self.objects = objects.to_vec();
        Ok(())
    }
}

/// Locks `m`. A panic inside an earlier call (caught at the OFX boundary, e.g. libtorch
/// running out of memory) poisons the lock and may have left the data half-updated:
/// `reset` puts it back into a safe state and the engine carries on, instead of failing
/// every later render of the node.
fn recover<'a, T>(m: &'a Mutex<T>, what: &str, reset: impl FnOnce(&mut T)) -> MutexGuard<'a, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            tracing::warn!("SamuraiRoto: resetting the {what} after an earlier failure");
            let mut g = poisoned.into_inner();
            reset(&mut g);
            m.clear_poison();
            g
        }
    }
}

impl TrackerEngine {
    /// Network, session and objects (the network is reloaded after a failure inside it).
    fn state(&self) -> MutexGuard<'_, State> {
        recover(&self.state, "tracker", |st| {
            st.session = None;
            st.model = None;
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        recover(&self.store, "finished-frame store", Store::clear)
    }

    fn baked(&self) -> MutexGuard<'_, Baked> {
        recover(&self.baked, "track cache state", Baked::reset)
    }

    fn forget_frames(&self) {
        self.store().clear();
    }

    /// Recomputes the track-cache key after a configuration or object change.
    fn rekey(&self, st: &State) -> Result<(), String> {
        let key = match &st.configured {
            Some((s, range, size)) => Some(cache_key(s, *range, *size, &st.objects)?),
            None => None,
        };
        let mut b = self.baked();
        if b.key != key {
            b.key = key;
            b.reset();
        }
        Ok(())
    }

    /// Mattes of `frame` from the track cache file, when it holds the frame and the
    /// host's current frame is the one the cache was made from.
    fn baked_mattes(&self, frame: i64, current: &FrameImage) -> Option<Mattes> {
        let mut b = self.baked();
        let cache = b.cache()?;
        let low = cache.frame(frame)?;
        if cache.frame_hash(frame) != Some(frame_hash(current.width, current.height, &current.rgb8).as_str()) {
            let path = b.path.clone().unwrap_or_default();
            b.set_unusable(format!("track cache {} is stale (frame {frame} of the source differs from the analysed footage)", path.display()));
            return None;
        }
        let low = Arc::new(low.clone());
        drop(b);
        let (size, non_overlap) = {
            let mut store = self.store();
            store.insert(frame, low.clone()); // for the overlay's tracked boxes
            store.finish?
        };
        Some(to_mattes(&low, size, non_overlap))
    }
}

impl MatteEngine for TrackerEngine {
    fn configure(&self, settings: &EngineSettings, frame_range: (i64, i64), frame_size: (u32, u32)) -> Result<(), String> {
        if !settings.checkpoint.is_file() {
            return Err(format!("checkpoint {} not found. {}", settings.checkpoint.display(), crate::model::checkpoint::OFFICIAL_CHECKPOINTS));
        }
        let mut st = self.state();
        let wanted = Some((settings.clone(), frame_range, frame_size));
        if st.configured != wanted {
            self.forget_frames();
            st.session = None;
            st.configured = wanted;
            self.store().finish = Some((frame_size, settings.non_overlap));
            self.rekey(&st)?;
        }
        Ok(())
    }

    fn set_objects(&self, objects: &[ObjectKeys]) -> Result<(), String> {
        let mut st = self.state();
        if st.objects != objects {
            self.forget_frames();
            if st.session.as_ref().is_some_and(|s| s.objects().len() > objects.len() || s.objects().iter().zip(objects).any(|(a, b)| a.name != b.name)) {
                // Objects removed or renamed: start a new session (built on next need).
                st.session = None;
                st.objects = objects.to_vec();
            } else {
                st.apply_objects(objects)?;
            }
            self.rekey(&st)?;
        }
        Ok(())
    }

    fn set_track_cache(&self, path: Option<&Path>) -> Result<(), String> {
        let mut b = self.baked();
        if b.path.as_deref() != path {
            b.path = path.map(Path::to_path_buf);
            b.reset();
        }
        Ok(())
    }

    fn notice(&self) -> Option<String> {
        self.baked().notice.clone()
    }

    fn mattes(&self, frame: i64, fetch: &dyn Fn(i64) -> Result<FrameImage, String>, abort: &dyn Fn() -> bool) -> Result<Mattes, String> {
        let finished = self.store().get(frame);
        if let Some((low, size, non_overlap)) = finished {
            return Ok(to_mattes(&low, size, non_overlap));
        }
        let mut st = self.state();
        let (_, range, size) = st.configured.clone().ok_or("engine used before configure")?;
        if frame < range.0 || frame > range.1 {
            return Err(format!("frame {frame} is outside the clip's range"));
        }
        if self.baked().cache().is_some_and(|c| c.frame(frame).is_some()) {
            let current = fetch(frame).map_err(|reason| format!("the host could not provide frame {frame}: {reason}"))?;
            if let Some(m) = self.baked_mattes(frame, &current) {
                return Ok(m);
            }
        }
        let session = st.session()?;
        let source = FetchSource::new(fetch, range.0, session.num_frames(), size);
        let mut progress = |_p: crate::tracker::Progress| if abort() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
        let low = Arc::new(session.low_res_frame_from((frame - range.0) as usize, &source, &mut progress).map_err(|e| e.to_string())?);
        let (size, non_overlap) = {
            let mut store = self.store();
            store.insert(frame, low.clone());
            store.finish.ok_or("engine used before configure")?
        };
        drop(st);
        Ok(to_mattes(&low, size, non_overlap))
    }

    fn cached_mattes(&self, frame: i64, current: Option<&FrameImage>) -> Option<Mattes> {
        let finished = self.store().get(frame);
        if let Some((low, size, non_overlap)) = finished {
            return Some(to_mattes(&low, size, non_overlap));
        }
        self.baked_mattes(frame, current?)
    }

    fn analyse(&self, fetch: &dyn Fn(i64) -> Result<FrameImage, String>, progress: &dyn Fn(f64) -> bool) -> Result<AnalyseReport, String> {
        let mut st = self.state();
        let (_, range, size) = st.configured.clone().ok_or("engine used before configure")?;
        if st.objects.iter().all(|o| o.keyframes.range(range.0..=range.1).next().is_none()) {
            return Err("nothing to analyse: no enabled object has a box keyframe inside the frame range".into());
        }
        let session = st.session()?;
        let n = session.num_frames();
        let source = FetchSource::new(fetch, range.0, n, size);
        let mut report = |p: crate::tracker::Progress| if progress(p.done as f64 / p.total.max(1) as f64) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) };
        if !session.propagate_from(0..=n - 1, &source, &mut report).map_err(|e| e.to_string())? {
            return Err("Analyse cancelled: the frames tracked so far are kept for this session; no track cache was written".into());
        }
        let mut frames = Vec::with_capacity(n);
        for i in 0..n {
            let low = Arc::new(session.low_res_frame_from(i, &source, &mut |_| ControlFlow::Continue(())).map_err(|e| e.to_string())?);
            self.store().insert(range.0 + i as i64, low.clone());
            frames.push(low);
        }
        let mut report = AnalyseReport { frames: n, written: None };
        let path = self.baked().path.clone();
        if let Some(path) = path {
            for f in range.0..=range.1 {
                if !source.hashes.lock().map_err(|_| "hash table poisoned")?.contains_key(&f) {
                    source.fetch(f).map_err(|e| e.to_string())?; // frames no pass needed
                }
            }
            let known = source.hashes.lock().map_err(|_| "hash table poisoned")?;
            let hashes: Vec<String> = (range.0..=range.1).map(|f| known[&f].clone()).collect();
            drop(known);
            let key = self.baked().key.clone().ok_or("engine used before configure")?;
            let objects = frames.first().map(|f| f.objects.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
            let side = frames.first().map_or(0, |f| f.side);
            let cache = TrackCache {
                header: TrackCacheHeader { key, first_frame: range.0, frames: n, frame_size: size, side, objects, frame_hashes: hashes },
                frames: frames.iter().map(|f| (**f).clone()).collect(),
            };
            cache.write_atomic(&path).map_err(|e| format!("could not write the track cache: {e}"))?;
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            tracing::info!("SamuraiRoto: wrote track cache {} ({n} frames, {bytes} bytes)", path.display());
            let mut b = self.baked();
            b.cache = Some(Arc::new(cache));
            b.read = true;
            b.notice = None;
            report.written = Some((path, bytes));
        }
        Ok(report)
    }

    fn clear_cache(&self) {
        self.forget_frames();
        // Passes and their results go with the session; the network stays loaded.
        self.state().session = None;
        self.baked().reset();
    }
}
