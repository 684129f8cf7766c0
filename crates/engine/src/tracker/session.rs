//! A tracking session: objects with keyframe boxes over one clip, mapped onto propagation
//! passes per ARCHITECTURE.md ("Propagation semantics"):
//! before the first keyframe a backward pass from it, after the last a forward pass from
//! it, between two keyframes both passes blended by temporal distance (or the nearest, or
//! forward only). Passes are independent (one keyframe each), so an edit at keyframe k
//! only invalidates the passes that start at k, and every frame's matte is a pure function
//! of the keyframes: request order cannot change a bit. A keyframe is an object's prompts on
//! one frame (a box, points, both, or a mask), identified by a digest of every bit of them.
//!
//! This file is the session's API (objects, keyframes, requests for frames and ranges);
//! the propagation scheduler behind the requests (which pass steps run, in what order, what
//! stays kept) is [`schedule`], and finishing at the clip's resolution is
//! [`finish`](super::finish).
mod schedule;

use super::batching::ObjectBatch;
use super::cache::{FrameRecord, PassKey, ResultCache, SharedCache};
use super::feature_store::FeatureStore;
use super::finish::{finish_frame, ObjectMatte};
use super::frame_source::FrameSource;
use super::kalman::BoxXyxy;
use super::offload::OffloadPolicy;
use super::pass::{Direction, Pass};
use crate::config::SamuraiConfig;
use crate::error::{Error, Result};
use crate::model::{Sam2Model, SharedModel};
use samurai_core::farm;
pub use samurai_core::lowres::LowResFrame;
pub use samurai_core::settings::BlendMode;
pub use samurai_core::settings::{KeyframePrompt, MaskPrompt, PointPrompt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Session settings.
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    pub mode: BlendMode,
    /// Keep only what SAMURAI can still select in each pass (identical results).
    pub bounded_memory: bool,
    /// At each pixel keep only the strongest object.
    pub non_overlap: bool,
    /// Byte budget of the per-frame result cache.
    pub cache_bytes: usize,
    /// Byte budget of image features kept for passes that have yet to visit their frame
    /// (0: every pass runs the image encoder itself). Results are the same either way.
    pub feature_bytes: usize,
    /// Byte budget of image features of the frames most recently asked for (the frame on
    /// screen): a keyframe edit there re-runs only the prompt encoder and mask decoder
    /// (live editing). 0 keeps none (the CLI never edits). Results are the same either way.
    pub shown_feature_bytes: usize,
    /// Device memory pressure: above its threshold, kept features and memory-bank entries
    /// move to host memory (see [`offload`](super::offload)); results are the same.
    pub offload: Option<OffloadPolicy>,
    /// Objects whose passes stand on the same frame step as one batch, up to this many
    /// (see [`batching`](super::batching)); results agree with one by one within float
    /// rounding.
    pub object_batch: ObjectBatch,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            mode: BlendMode::Blend,
            bounded_memory: true,
            non_overlap: false,
            cache_bytes: 2 << 30,
            feature_bytes: 512 << 20,
            shown_feature_bytes: 256 << 20,
            offload: None,
            object_batch: ObjectBatch::Auto,
        }
    }
}

/// One object and its keyframes (frame → prompts in video pixels).
#[derive(Debug, Clone)]
pub struct TrackedObject {
    pub id: u64,
    pub name: String,
    pub keyframes: BTreeMap<usize, Arc<KeyframePrompt>>,
    /// [`KeyframePrompt::digest`] of each keyframe.
    digests: BTreeMap<usize, [u8; 32]>,
}

/// Progress of a propagation: `done` of `total` pass steps.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub frame: usize,
}

/// Work counters of a session (for progress reports and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames run through the image encoder.
    pub encoder_runs: usize,
    /// Frames whose image features were reused from another pass's visit.
    pub encoder_reuses: usize,
    /// Pass steps computed.
    pub steps: usize,
    /// Batched tracked steps with more than one object, and the pass steps they held.
    pub batches: usize,
    pub batched_steps: usize,
    /// Kept frames' features and memory-bank entries moved to host memory.
    pub offloaded_features: usize,
    pub offloaded_memories: usize,
}

/// A pass step with its blend weight.
type Contribution = (PassKey, usize, f32);

/// Objects, passes and results over one clip.
pub struct Session {
    /// The network, shared between sessions (tch tensors are `Send` but not `Sync`, so
    /// concurrent users take turns through the lock).
    model: SharedModel,
    image_size: i64,
    tuning: SamuraiConfig,
    /// The clip's own frames, when the session owns them (the CLI); hosts that hand frames
    /// in per request use the `*_from` methods instead.
    source: Option<Box<dyn FrameSource + Send>>,
    num_frames: usize,
    frame_size: (u32, u32),
    options: TrackerOptions,
    objects: Vec<TrackedObject>,
    passes: HashMap<PassKey, Pass>,
    cache: SharedCache,
    /// Image features kept for passes that have yet to visit their frame.
    features: FeatureStore,
    /// Image features of the frames most recently asked for (live editing).
    shown: FeatureStore,
    /// The frame the request in progress asks for.
    display: Option<usize>,
    next_id: u64,
    stats: SessionStats,
    /// While [`run_passes_from`](Self::run_passes_from) runs: the only passes that will
    /// run, so image features are kept for these alone (a farm task runs a few of the
    /// passes its objects' keyframes imply).
    scope: Option<HashSet<PassKey>>,
}

/// One pass as a farm plan names it, and the frames whose records are wanted (each must
/// lie on the pass: its keyframe and after it going forward, before it going backward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassRequest {
    pub object: String,
    pub keyframe: usize,
    pub direction: Direction,
    pub frames: std::ops::RangeInclusive<usize>,
}

impl Session {
    /// A session over a clip it reads itself.
    pub fn new(model: SharedModel, tuning: SamuraiConfig, source: Box<dyn FrameSource + Send>, options: TrackerOptions) -> Result<Self> {
        let mut s = Self::with_geometry(model, tuning, source.len(), source.frame_size(), options)?;
        s.source = Some(source);
        Ok(s)
    }

    /// A session over a clip of `num_frames` frames of `frame_size` whose frames are handed
    /// in with each request (`mask_at_from`, `propagate_from`).
    pub fn with_geometry(
        model: SharedModel,
        tuning: SamuraiConfig,
        num_frames: usize,
        frame_size: (u32, u32),
        options: TrackerOptions,
    ) -> Result<Self> {
        if num_frames == 0 {
            return Err(Error::invalid("clip", "it has no frames"));
        }
        if frame_size.0 == 0 || frame_size.1 == 0 {
            return Err(Error::invalid("clip", format!("frame size {}x{} is empty", frame_size.0, frame_size.1)));
        }
        tuning.validate().map_err(|reason| Error::config("samurai tuning", reason))?;
        let cache = ResultCache::shared(options.cache_bytes);
        let features = FeatureStore::new(options.feature_bytes);
        let shown = FeatureStore::new(options.shown_feature_bytes);
        let image_size = lock_model(&model).config.image_size;
        Ok(Self {
            model,
            image_size,
            tuning,
            source: None,
            num_frames,
            frame_size,
            options,
            objects: Vec::new(),
            passes: HashMap::new(),
            cache,
            features,
            shown,
            display: None,
            next_id: 1,
            stats: SessionStats::default(),
            scope: None,
        })
    }

    pub fn num_frames(&self) -> usize {
        self.num_frames
    }

    /// `(width, height)` of the clip.
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame_size
    }

    /// Runs `f` with the session's own frame source.
    fn with_own_source<T>(&mut self, f: impl FnOnce(&mut Self, &dyn FrameSource) -> Result<T>) -> Result<T> {
        let source = self
            .source
            .take()
            .ok_or_else(|| Error::invalid("clip", "this session has no frame source of its own; pass frames with each request"))?;
        let out = f(self, source.as_ref());
        self.source = Some(source);
        out
    }

    /// The session's options.
    pub fn options(&self) -> &TrackerOptions {
        &self.options
    }

    /// Changes the device-memory offload policy (results are the same with any, so what
    /// was tracked stays valid).
    pub fn set_offload(&mut self, offload: Option<OffloadPolicy>) {
        self.options.offload = offload;
    }

    /// Work done so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Bytes of image features kept for passes that have yet to visit their frames.
    pub fn kept_feature_bytes(&self) -> usize {
        self.features.bytes()
    }

    /// Bytes held by the memory banks of all live passes.
    pub fn pass_memory_bytes(&self) -> usize {
        self.passes.values().map(Pass::memory_bytes).sum()
    }

    /// Where kept data lives now: frames whose features are in host memory, and the number
    /// of memory-bank entries there.
    pub fn offloaded(&self) -> (Vec<usize>, usize) {
        (self.features.offloaded(), self.passes.values().map(|p| p.offloaded_memories().len()).sum())
    }

    pub fn objects(&self) -> &[TrackedObject] {
        &self.objects
    }

    /// The shared result cache (to serve cached frames without this session's lock).
    pub fn cache(&self) -> SharedCache {
        self.cache.clone()
    }

    /// Adds an object; names are unique.
    pub fn add_object(&mut self, name: &str) -> Result<u64> {
        if name.is_empty() || self.objects.iter().any(|o| o.name == name) {
            return Err(Error::invalid("object", format!("'{name}' is empty or already exists")));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.objects.push(TrackedObject { id, name: name.to_owned(), keyframes: BTreeMap::new(), digests: BTreeMap::new() });
        Ok(id)
    }

    fn object_mut(&mut self, name: &str) -> Result<&mut TrackedObject> {
        self.objects.iter_mut().find(|o| o.name == name).ok_or_else(|| Error::invalid("object", format!("unknown object '{name}'")))
    }

    /// Sets (or replaces) the keyframe of `name` on `frame` with a box.
    pub fn set_keyframe(&mut self, name: &str, frame: usize, bbox: BoxXyxy) -> Result<()> {
        self.set_prompt(name, frame, KeyframePrompt::from_box(bbox))
    }

    /// Sets (or replaces) the keyframe of `name` on `frame`: a box, points, both, or a
    /// mask (see [`KeyframePrompt`]).
    pub fn set_prompt(&mut self, name: &str, frame: usize, prompt: KeyframePrompt) -> Result<()> {
        let n = self.num_frames();
        if frame >= n {
            return Err(Error::invalid("keyframe", format!("frame {frame} of object '{name}' is outside the clip (0..{})", n - 1)));
        }
        let (w, h) = self.frame_size();
        let named = |e: String| Error::invalid("keyframe", format!("object '{name}' frame {frame}: {e}"));
        prompt.validate(w, h).map_err(|e| named(e.to_string()))?;
        let digest = prompt.digest();
        let object = self.object_mut(name)?;
        object.keyframes.insert(frame, Arc::new(prompt));
        object.digests.insert(frame, digest);
        self.forget_orphans();
        Ok(())
    }

    /// Removes the keyframe of `name` on `frame`.
    pub fn remove_keyframe(&mut self, name: &str, frame: usize) -> Result<()> {
        let object = self.object_mut(name)?;
        if object.keyframes.remove(&frame).is_none() {
            return Err(Error::invalid("keyframe", format!("object '{name}' has no keyframe on frame {frame}")));
        }
        object.digests.remove(&frame);
        self.forget_orphans();
        Ok(())
    }

    /// Drops passes and cached results that no keyframe refers to any more.
    fn forget_orphans(&mut self) {
        let live: Vec<PassKey> = self
            .objects
            .iter()
            .flat_map(|o| {
                o.digests.iter().flat_map(move |(&k, &prompt)| {
                    [Direction::Forward, Direction::Backward].map(|direction| PassKey { object: o.id, keyframe: k, prompt, direction })
                })
            })
            .collect();
        self.passes.retain(|k, _| live.contains(k));
        self.cache.lock().retain_passes(&|k| live.contains(k));
    }

    /// Which pass steps make `frame` of `object`, with their blend weights: the rule of
    /// [`farm::contributions`] (one copy, shared with the farm's plans and merge).
    fn contributions(&self, object: &TrackedObject, frame: usize) -> Vec<Contribution> {
        farm::contributions(&object.digests, frame, self.options.mode)
            .into_iter()
            .map(|(k, direction, w)| (PassKey { object: object.id, keyframe: k, prompt: object.digests[&k], direction }, frame, w))
            .collect()
    }

    /// Every object's matte on `frame` at the clip's resolution, tracking what is missing.
    pub fn mask_at(&mut self, frame: usize) -> Result<Vec<ObjectMatte>> {
        self.with_own_source(|s, src| s.mask_at_from(frame, src, &mut |_| ControlFlow::Continue(())))
    }

    /// [`mask_at`](Self::mask_at) with frames from `source`; `progress` may cancel between
    /// frames (the error then says so; finished frames stay cached).
    pub fn mask_at_from(
        &mut self,
        frame: usize,
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Vec<ObjectMatte>> {
        let low = self.low_res_frame_from(frame, source, progress)?;
        Ok(finish_frame(&low, self.frame_size(), self.options.non_overlap))
    }

    /// [`low_res_frame_from`](Self::low_res_frame_from) with the session's own frames.
    pub fn low_res_frame(&mut self, frame: usize) -> Result<LowResFrame> {
        self.with_own_source(|s, src| s.low_res_frame_from(frame, src, &mut |_| ControlFlow::Continue(())))
    }

    /// The tracker's result for `frame` before upsampling: every object's blended
    /// low-resolution logits (what track caches store; [`finish_frame`] turns it into
    /// mattes exactly as [`mask_at_from`](Self::mask_at_from) does).
    pub fn low_res_frame_from(
        &mut self,
        frame: usize,
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<LowResFrame> {
        self.check_frame(frame)?;
        self.display = Some(frame);
        let lows = self.low_res_at(frame, source, progress);
        self.display = None;
        let lows = lows?;
        let objects = self.objects.iter().zip(lows).map(|(o, values)| (o.name.clone(), values)).collect();
        Ok(LowResFrame { side: self.image_size / 4, objects })
    }

    /// The pass records behind `frame` for each object (for inspection and parity tests).
    pub fn records_at(&mut self, frame: usize) -> Result<Vec<(String, Vec<(Direction, Arc<FrameRecord>)>)>> {
        self.check_frame(frame)?;
        let wanted: Vec<(String, Vec<Contribution>)> =
            self.objects.iter().map(|o| (o.name.clone(), self.contributions(o, frame))).collect();
        let needed = wanted.iter().flat_map(|(_, c)| c.iter().map(|(k, f, _)| (*k, *f))).collect();
        let found = self.with_own_source(|s, src| s.ensure(needed, src, &mut |_| ControlFlow::Continue(())))?.expect("never cancelled");
        Ok(wanted
            .into_iter()
            .map(|(name, c)| (name, c.iter().map(|(k, f, _)| (k.direction, found[&(*k, *f)].clone())).collect()))
            .collect())
    }

    /// Blended low-resolution logits (`S/4 × S/4`, row-major) per object, folded by
    /// [`farm::blend`] (the farm's merge runs the same function on pass files).
    fn low_res_at(
        &mut self,
        frame: usize,
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Vec<Vec<f32>>> {
        let wanted: Vec<Vec<Contribution>> = self.objects.iter().map(|o| self.contributions(o, frame)).collect();
        let Some(found) = self.ensure(wanted.iter().flatten().map(|(k, f, _)| (*k, *f)).collect(), source, progress)? else {
            return Err(Error::Cancelled(format!("tracking towards frame {frame} was cancelled; finished frames are kept")));
        };
        let side = (self.image_size / 4) as usize;
        wanted
            .into_iter()
            .map(|contributions| {
                let terms: Vec<(&[f32], f32)> =
                    contributions.iter().map(|(key, f, weight)| (found[&(*key, *f)].low_res.as_slice(), *weight)).collect();
                Ok(farm::blend(&terms, side * side)?)
            })
            .collect()
    }

    /// Runs exactly the passes `requests` name (each from its keyframe to the far end of
    /// its frames) and returns, per request, the records of its frames in frame order,
    /// unblended: a farm Pass task's work. Other passes of the same objects do not run,
    /// and no image features are kept for them. `Ok(None)` when `progress` cancelled.
    pub fn run_passes_from(
        &mut self,
        requests: &[PassRequest],
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Option<Vec<Vec<Arc<FrameRecord>>>>> {
        let mut keys = Vec::with_capacity(requests.len());
        let mut wanted = Vec::new();
        for r in requests {
            let object = self
                .objects
                .iter()
                .find(|o| o.name == r.object)
                .ok_or_else(|| Error::invalid("pass", format!("unknown object '{}'", r.object)))?;
            let prompt = *object
                .digests
                .get(&r.keyframe)
                .ok_or_else(|| Error::invalid("pass", format!("object '{}' has no keyframe on frame {}", r.object, r.keyframe)))?;
            let key = PassKey { object: object.id, keyframe: r.keyframe, prompt, direction: r.direction };
            for f in r.frames.clone() {
                self.check_frame(f)?;
                if key.step_of_frame(f).is_none() {
                    return Err(Error::invalid(
                        "pass",
                        format!("frame {f} does not lie on the {:?} pass of '{}' from frame {}", r.direction, r.object, r.keyframe),
                    ));
                }
                wanted.push((key, f));
            }
            keys.push(key);
        }
        self.scope = Some(keys.iter().copied().collect());
        let found = self.ensure(wanted, source, progress);
        self.scope = None;
        let Some(found) = found? else { return Ok(None) };
        Ok(Some(keys.iter().zip(requests).map(|(k, r)| r.frames.clone().map(|f| found[&(*k, f)].clone()).collect()).collect()))
    }

    /// Tracks every frame of `range` (all objects), reporting progress after each step;
    /// returning `ControlFlow::Break` from `progress` stops between frames, keeping what
    /// was computed.
    pub fn propagate(
        &mut self,
        range: std::ops::RangeInclusive<usize>,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<bool> {
        self.with_own_source(|s, src| s.propagate_from(range, src, progress))
    }

    /// [`propagate`](Self::propagate) with frames from `source`. Returns `false` when
    /// cancelled.
    pub fn propagate_from(
        &mut self,
        range: std::ops::RangeInclusive<usize>,
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<bool> {
        self.check_frame(*range.end())?;
        let mut wanted = Vec::new();
        for frame in range {
            for o in &self.objects {
                wanted.extend(self.contributions(o, frame).into_iter().map(|(k, f, _)| (k, f)));
            }
        }
        Ok(self.ensure(wanted, source, progress)?.is_some())
    }

    fn check_frame(&self, frame: usize) -> Result<()> {
        if frame >= self.num_frames() {
            return Err(Error::invalid("frame", format!("frame {frame} is outside the clip (0..{})", self.num_frames() - 1)));
        }
        Ok(())
    }
}

/// Locks the shared network. The lock does not poison: after a panic mid-inference the
/// helper's engine drops the session's network and loads it again (`Engine::guarded`), and
/// the command line ends.
fn lock_model(model: &SharedModel) -> parking_lot::MutexGuard<'_, Sam2Model> {
    model.lock()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Tensor;

    fn assert_send<T: Send>() {}

    /// The fold the session ran on tensors before it called `farm::blend` (a term of
    /// weight 1 unchanged, else the logits times the weight, then summed), kept here to
    /// prove the plain-`f32` fold gives the same bits: the farm's merge depends on it.
    fn tensor_fold(terms: &[(&[f32], f32)]) -> Vec<f32> {
        let mut acc: Option<Tensor> = None;
        for (values, weight) in terms {
            let logits = Tensor::from_slice(values).view([1, 1, 16, 16]);
            let term = if *weight == 1.0 { logits } else { logits * f64::from(*weight) };
            acc = Some(match acc {
                None => term,
                Some(a) => a + term,
            });
        }
        Vec::<f32>::try_from(acc.expect("a term").flatten(0, -1)).expect("floats")
    }

    #[test]
    fn farm_blend_is_the_tensor_fold_bit_for_bit() {
        // Awkward values (large, tiny, negative, NO_OBJ_SCORE) and every weight the blend
        // mode gives between keyframes up to 60 frames apart.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let unit = (seed >> 40) as f32 / (1u64 << 24) as f32;
            let scale = [1e-3, 1.0, 17.0, 1024.0][(seed & 3) as usize];
            (unit * 2.0 - 1.0) * scale
        };
        let mut checked = 0;
        for gap in 2..=60usize {
            for offset in 1..gap {
                let w = (gap - offset) as f32 / gap as f32;
                let f: Vec<f32> = (0..256).map(|_| next()).collect();
                let mut b: Vec<f32> = (0..256).map(|_| next()).collect();
                b[0] = farm::NO_OBJ_SCORE;
                let terms = [(f.as_slice(), w), (b.as_slice(), 1.0 - w)];
                let ours = farm::blend(&terms, 256).unwrap();
                let theirs = tensor_fold(&terms);
                assert!(ours.iter().zip(&theirs).all(|(a, b)| a.to_bits() == b.to_bits()), "gap {gap}, offset {offset}");
                checked += 1;
            }
        }
        assert_eq!(checked, (2..=60).map(|g| g - 1).sum::<usize>());
        let one = [(&[1.5f32; 256][..], 1.0)];
        assert_eq!(farm::blend(&one, 256).unwrap(), tensor_fold(&one));
    }

    #[test]
    fn a_session_can_move_between_threads() {
        // Hosts keep a session behind a mutex shared by render threads.
        assert_send::<Session>();
        assert_send::<SharedCache>();
    }
}
