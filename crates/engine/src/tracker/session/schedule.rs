//! The propagation scheduler behind [`Session`]'s requests: which pass steps a request
//! still needs (what the cache lacks), restarting passes whose steps fell out of it, and
//! advancing the passes of one direction in lockstep, frame by frame, so the image encoder
//! runs once per frame for all objects (keyframe steps one by one, tracked steps batched).
//! Around each frame: loading ahead, keeping image features for passes yet to come, and
//! moving kept data to host memory under device memory pressure.
use super::{lock_model, Progress, Session};
use crate::error::{Error, Result};
use crate::model::{BackboneFeatures, Sam2Model};
use crate::tracker::cache::{FrameRecord, PassKey};
use crate::tracker::frame_source::FrameSource;
use crate::tracker::pass::{step_tracked, Direction, Pass, PassSpec, StepOutput};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use tch::Device;

/// Records found or computed for one request.
pub(super) type Found = HashMap<(PassKey, usize), Arc<FrameRecord>>;

/// Book-keeping of one `ensure` call across its direction groups.
struct GroupRun<'a> {
    done: usize,
    total: usize,
    wanted: &'a HashSet<(PassKey, usize)>,
    found: &'a mut Found,
}

/// The propagation engine proper: advancing passes frame by frame.
impl Session {
    /// Computes every `(pass, frame)` not in the cache. Passes of one direction advance in
    /// lockstep so the image encoder runs once per frame for all objects.
    /// Returns the records of every wanted `(pass, frame)` (they stay valid whatever the
    /// cache evicts meanwhile), or `None` when `progress` cancelled.
    pub(super) fn ensure(
        &mut self,
        wanted: Vec<(PassKey, usize)>,
        source: &dyn FrameSource,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Option<Found>> {
        let mut found = Found::new();
        {
            let mut cache = self.cache.lock();
            for &(k, f) in &wanted {
                if let Some(r) = cache.get(k, f) {
                    found.insert((k, f), r);
                }
            }
        }
        let missing: Vec<(PassKey, usize)> = wanted.into_iter().filter(|w| !found.contains_key(w)).collect();
        let wanted_set: HashSet<(PassKey, usize)> = missing.iter().copied().collect();
        let targets = self.plan(missing);
        let total: usize = targets.iter().map(|(k, t)| t + 1 - self.passes.get(k).map_or(0, Pass::next_step).min(t + 1)).sum();
        let mut run = GroupRun { done: 0, total, wanted: &wanted_set, found: &mut found };
        let groups: Vec<Vec<(PassKey, usize)>> = [Direction::Forward, Direction::Backward]
            .iter()
            .map(|d| targets.iter().filter(|(k, _)| k.direction == *d).map(|(k, t)| (*k, *t)).collect())
            .collect();
        // The backward group's first frame, for the loader to fetch ahead while the forward
        // group's last frame computes (the passes of one group do not move the other's).
        let n = self.num_frames();
        let backward_first =
            groups[1].iter().filter(|(k, t)| self.passes[k].next_step() <= *t).filter_map(|(k, _)| self.passes[k].next_frame(n)).max();
        for (group, then) in groups.iter().zip([backward_first, None]) {
            if !self.advance_group(group, then, source, &mut run, progress)? {
                return Ok(None);
            }
        }
        Ok(Some(found))
    }

    /// For each pass with missing frames, the last step needed; restarts a pass whose
    /// needed step lies behind it but fell out of the cache.
    fn plan(&mut self, missing: Vec<(PassKey, usize)>) -> BTreeMap<PassKey, usize> {
        let mut targets: BTreeMap<PassKey, usize> = BTreeMap::new();
        for (key, frame) in missing {
            let prompt = self.objects.iter().find(|o| o.id == key.object).expect("a live object").keyframes[&key.keyframe].clone();
            let spec = PassSpec { keyframe: key.keyframe, prompt, digest: key.prompt, direction: key.direction };
            let step = spec.step_of_frame(frame).expect("contribution frames lie on their pass");
            let t = targets.entry(key).or_insert(0);
            *t = (*t).max(step);
            let pass = self.passes.entry(key).or_insert_with(|| Pass::new(spec.clone(), self.tuning.clone(), self.options.bounded_memory));
            if pass.next_step() > step {
                *pass = Pass::new(spec, self.tuning.clone(), self.options.bounded_memory);
            }
        }
        targets
    }

    /// Advances one direction's passes to their targets; `false` when cancelled.
    /// `then`: the first frame the next group will load, announced to the source ahead when
    /// this group's last frame is loaded.
    fn advance_group(
        &mut self,
        group: &[(PassKey, usize)],
        then: Option<usize>,
        source: &dyn FrameSource,
        run: &mut GroupRun,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<bool> {
        let n = self.num_frames();
        loop {
            let active: Vec<(PassKey, usize)> = group
                .iter()
                .filter(|(k, t)| self.passes[k].next_step() <= *t)
                .map(|(k, _)| (*k, self.passes[k].next_frame(n).expect("target inside the clip")))
                .collect();
            let Some(frame) = (match group.first().map(|(k, _)| k.direction) {
                Some(Direction::Forward) => active.iter().map(|(_, f)| *f).min(),
                _ => active.iter().map(|(_, f)| *f).max(),
            }) else {
                return Ok(true);
            };
            let model = lock_model(&self.model);
            let feats = match self.features.get(frame).or_else(|| self.shown.get(frame)) {
                Some(kept) => {
                    self.stats.encoder_reuses += 1;
                    kept
                }
                None => {
                    self.stats.encoder_runs += 1;
                    source.will_load_next(self.frame_after(group, &active, frame, then));
                    features(&model, source, frame)?
                }
            };
            if self.display == Some(frame) {
                self.shown.keep_recent(frame, &feats);
            }
            let stepping: Vec<PassKey> = active.into_iter().filter(|(_, f)| *f == frame).map(|(k, _)| k).collect();
            let mut cancelled = false;
            let cache = &self.cache;
            let steps = &mut self.stats.steps;
            // Keeps a step's result; reports progress unless already cancelled (`true`: stop).
            let mut record_step = |key: PassKey, out: StepOutput, report: bool| {
                debug_assert_eq!(out.frame, frame);
                let rec = cache.lock().insert(key, frame, record(out));
                if run.wanted.contains(&(key, frame)) {
                    run.found.insert((key, frame), rec);
                }
                run.done += 1;
                *steps += 1;
                report && progress(Progress { done: run.done, total: run.total, frame }).is_break()
            };
            // Keyframe steps one by one (each has its own prompts), then tracked steps in
            // batches, passes with the same memory layout side by side (their memory
            // attention shares a run).
            let mut tracked: Vec<((usize, usize), PassKey)> = Vec::new();
            for key in stepping {
                let pass = self.passes.get_mut(&key).expect("planned pass");
                if pass.next_is_tracked() {
                    tracked.push((pass.tracked_layout(&model, n), key));
                    continue;
                }
                let out = pass.step(&model, &feats, self.frame_size, n)?;
                if record_step(key, out, true) {
                    cancelled = true;
                    break;
                }
            }
            tracked.sort();
            let limit = self.options.object_batch.limit(&model).max(1);
            for chunk in tracked.chunks(limit) {
                if cancelled {
                    break;
                }
                // Out of the map for the step; a failed step leaves them out, and `plan`
                // starts them afresh.
                let mut taken: Vec<Pass> = chunk.iter().map(|(_, k)| self.passes.remove(k).expect("planned pass")).collect();
                let outs = step_tracked(&mut taken.iter_mut().collect::<Vec<_>>(), &model, &feats, n)?;
                self.passes.extend(chunk.iter().map(|(_, k)| *k).zip(taken));
                if chunk.len() > 1 {
                    self.stats.batches += 1;
                    self.stats.batched_steps += chunk.len();
                }
                // Every computed step is kept, even when progress cancels midway.
                for ((_, key), out) in chunk.iter().zip(outs) {
                    let stop = record_step(*key, out, !cancelled);
                    cancelled |= stop;
                }
            }
            let device = model.device;
            drop(model);
            self.keep_features_if_pending(frame, &feats);
            drop(feats);
            self.relieve_memory_pressure(device);
            if cancelled {
                return Ok(false);
            }
        }
    }

    /// The frame this group's passes will need loaded after `frame` (whose step comes
    /// next): the nearest frame in the group's direction among the passes that stay behind
    /// and those stepping at `frame` that go on, or `then` (the next group's first frame)
    /// when the group ends there. `None` when there is none, or when that frame's image
    /// features are kept (it will not be loaded).
    fn frame_after(&self, group: &[(PassKey, usize)], active: &[(PassKey, usize)], frame: usize, then: Option<usize>) -> Option<usize> {
        let forward = group.first().is_some_and(|(k, _)| k.direction == Direction::Forward);
        let next = active
            .iter()
            .filter_map(|(key, f)| {
                if *f != frame {
                    return Some(*f);
                }
                let target = group.iter().find(|(k, _)| k == key).map(|(_, t)| *t)?;
                let goes_on = self.passes.get(key).is_some_and(|p| p.next_step() < target);
                match (goes_on, forward) {
                    (false, _) => None,
                    (true, true) => frame.checked_add(1),
                    (true, false) => frame.checked_sub(1),
                }
            })
            .reduce(if forward { usize::min } else { usize::max })
            .or(then.filter(|f| *f != frame))?;
        let kept = self.features.frames().contains(&next) || self.shown.frames().contains(&next);
        (!kept).then_some(next)
    }

    /// Under device memory pressure, moves kept image features (oldest kept frame first),
    /// then memory-bank entries (each pass's oldest step first) to host memory, one at a
    /// time, until the reading is below the threshold or nothing is left on the device.
    fn relieve_memory_pressure(&mut self, device: Device) {
        let Some(policy) = self.options.offload.clone() else { return };
        while policy.over(device) {
            if self.features.offload_oldest().is_some() {
                self.stats.offloaded_features += 1;
                continue;
            }
            let mut keys: Vec<PassKey> = self.passes.keys().copied().collect();
            keys.sort();
            let moved = keys.iter().any(|k| self.passes.get_mut(k).and_then(Pass::offload_oldest_memory).is_some());
            if !moved {
                return;
            }
            self.stats.offloaded_memories += 1;
        }
    }

    /// Keeps `frame`'s features while a known pass has yet to visit the frame (one of the
    /// passes its objects' mattes come from, or a pass starting there; within the session's
    /// scope when it has one), else drops them.
    fn keep_features_if_pending(&mut self, frame: usize, feats: &BackboneFeatures) {
        let n = self.num_frames();
        let mut visiting: Vec<PassKey> = Vec::new();
        for object in &self.objects {
            visiting.extend(self.contributions(object, frame).into_iter().map(|(k, _, _)| k));
            for near in [frame.checked_sub(1), Some(frame + 1).filter(|f| *f < n)].into_iter().flatten() {
                visiting.extend(self.contributions(object, near).into_iter().map(|(k, _, _)| k).filter(|k| k.keyframe == frame));
            }
        }
        if let Some(scope) = &self.scope {
            visiting.retain(|k| scope.contains(k));
        }
        let cache = self.cache.lock();
        let pending = visiting.iter().any(|k| {
            let step = k.step_of_frame(frame).expect("a visiting pass covers the frame");
            !cache.contains(*k, frame) && self.passes.get(k).is_none_or(|p| p.next_step() <= step)
        });
        drop(cache);
        if pending {
            self.features.keep(frame, feats);
        } else {
            self.features.drop_frame(frame);
        }
    }
}

/// Image features of one frame (pre-processing exactly as the reference video loader).
fn features(model: &Sam2Model, source: &dyn FrameSource, frame: usize) -> Result<BackboneFeatures> {
    // Sources check each frame's size against the clip's before squashing it.
    let s = model.config.image_size;
    let img = source.load_input(frame, s as u32)?;
    if (i64::from(img.width), i64::from(img.height)) != (s, s) {
        return Err(Error::invalid("frame", format!("the input of frame {frame} is {}x{}, expected {s}x{s}", img.width, img.height)));
    }
    // Already S×S: the resize inside is a copy, the bytes are the reference loader's.
    let input = crate::image::video_input_tensor(&img, s);
    Ok(tch::no_grad(|| {
        let out = model.forward_image(&input);
        model.prepare_backbone_features(&out)
    }))
}

fn record(out: StepOutput) -> FrameRecord {
    let side = out.low_res_logits.size()[3];
    let low_res = Vec::<f32>::try_from(out.low_res_logits.flatten(0, -1)).expect("float32 logits");
    FrameRecord {
        low_res,
        side,
        object_score: out.object_score,
        best_iou: out.best_iou,
        chosen: out.chosen,
        kf_score: out.kf_score,
        memory_frames: out.memory_frames,
    }
}
