//! One propagation pass: one object, one keyframe box, one direction. Reference:
//! `SAM2VideoPredictor.add_new_points_or_box` + `propagate_in_video_preflight` (the
//! keyframe) and `_run_single_frame_inference` / `SAM2Base.track_step` (tracked frames),
//! with SAMURAI's mask and memory selection.
//!
//! A pass owns its Kalman filter, stable-frame counter and memory bank (house rule 1). It
//! advances one step at a time in its direction; step 0 is the keyframe.
use super::kalman::BoxXyxy;
use super::memory_bank::{MemoryBank, SelectionRules, StepMemory};
use super::postprocess::{fill_holes, mask_bbox};
use super::samurai::MotionSelector;
use crate::config::SamuraiConfig;
use crate::error::{Error, Result};
use crate::model::sam2_base::seq_to_nchw;
use crate::model::{BackboneFeatures, MemoryFrame, MemoryTokens, Sam2Model};
use samurai_core::settings::KeyframePrompt;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Direction of a pass through the clip (one definition, shared with the farm's plans).
pub use samurai_core::farm::Direction;

/// Where a pass starts and what it starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct PassSpec {
    /// Keyframe index in the clip.
    pub keyframe: usize,
    /// The keyframe's prompts, in pixels of the video frame.
    pub prompt: Arc<KeyframePrompt>,
    /// [`KeyframePrompt::digest`] of `prompt`.
    pub digest: [u8; 32],
    pub direction: Direction,
}

/// Step index of clip frame `frame` for a pass from `keyframe` in `direction`.
pub fn step_of_frame(keyframe: usize, direction: Direction, frame: usize) -> Option<usize> {
    match direction {
        Direction::Forward => frame.checked_sub(keyframe),
        Direction::Backward => keyframe.checked_sub(frame),
    }
}

impl PassSpec {
    pub fn new(keyframe: usize, prompt: Arc<KeyframePrompt>, direction: Direction) -> Self {
        let digest = prompt.digest();
        Self { keyframe, prompt, digest, direction }
    }

    /// A pass from a box keyframe.
    pub fn from_box(keyframe: usize, bbox: BoxXyxy, direction: Direction) -> Self {
        Self::new(keyframe, Arc::new(KeyframePrompt::from_box(bbox)), direction)
    }

    /// Clip frame of step `k`, or `None` when it falls outside `0..num_frames`.
    pub fn frame_of_step(&self, k: usize, num_frames: usize) -> Option<usize> {
        let f = match self.direction {
            Direction::Forward => self.keyframe.checked_add(k)?,
            Direction::Backward => self.keyframe.checked_sub(k)?,
        };
        (f < num_frames).then_some(f)
    }

    /// Step index of clip frame `frame`, if the pass reaches it.
    pub fn step_of_frame(&self, frame: usize) -> Option<usize> {
        step_of_frame(self.keyframe, self.direction, frame)
    }
}

/// The result of one step.
#[derive(Debug)]
pub struct StepOutput {
    pub frame: usize,
    /// `[1, 1, S/4, S/4]` float32 mask logits on the CPU (hole filling applied if enabled).
    pub low_res_logits: Tensor,
    pub object_score: f32,
    pub best_iou: f32,
    /// Chosen candidate (0 on the keyframe, which uses single-mask output).
    pub chosen: usize,
    pub kf_score: Option<f32>,
    /// Clip frames whose memories conditioned this step (keyframe first), empty at step 0.
    pub memory_frames: Vec<usize>,
}

/// What the keyframe step leaves for the memory encoder. The keyframe's memory is only
/// needed by the next step, so it is encoded then: a keyframe edit on the frame on screen
/// costs the prompt encoder and mask decoder alone (live editing), with the same bits.
struct PendingMemory {
    /// The frame's top-level features `[HW, B, C]` and their grid.
    top: Tensor,
    feat_size: (i64, i64),
    /// The keyframe's low-resolution logits (after hole filling) on the network's device.
    low: Tensor,
    object_score_logits: Tensor,
    obj_ptr: Tensor,
}

/// A running pass.
pub struct Pass {
    pub spec: PassSpec,
    tuning: SamuraiConfig,
    bank: Option<MemoryBank>,
    pending: Option<PendingMemory>,
    selector: MotionSelector,
    next_step: usize,
    bounded: bool,
    /// Memory position encoding (the same sine grid for every frame), set with the
    /// keyframe's memory.
    mem_pos: Option<Tensor>,
}

impl Pass {
    pub fn new(spec: PassSpec, tuning: SamuraiConfig, bounded: bool) -> Self {
        Self { spec, tuning, bank: None, pending: None, selector: MotionSelector::new(), next_step: 0, bounded, mem_pos: None }
    }

    /// The step the next call to [`step`](Self::step) computes.
    pub fn next_step(&self) -> usize {
        self.next_step
    }

    /// Clip frame the next step computes, if any.
    pub fn next_frame(&self, num_frames: usize) -> Option<usize> {
        self.spec.frame_of_step(self.next_step, num_frames)
    }

    /// Moves this pass's oldest memory-bank features to host memory (see
    /// [`offload`](super::offload)); the step offloaded, if any.
    pub fn offload_oldest_memory(&mut self) -> Option<usize> {
        self.bank.as_mut()?.offload_oldest()
    }

    /// Steps of this pass whose memory features are in host memory.
    pub fn offloaded_memories(&self) -> Vec<usize> {
        self.bank.as_ref().map_or_else(Vec::new, MemoryBank::offloaded_steps)
    }

    /// Bytes held by the memory bank.
    pub fn memory_bytes(&self) -> usize {
        self.bank.as_ref().map_or(0, MemoryBank::tensor_bytes)
    }

    /// Runs the next step on the features of its frame. `video_wh` is the frame size in
    /// pixels; `num_frames` the clip length.
    pub fn step(&mut self, model: &Sam2Model, feats: &BackboneFeatures, video_wh: (u32, u32), num_frames: usize) -> Result<StepOutput> {
        let frame = self
            .next_frame(num_frames)
            .ok_or_else(|| Error::invalid("pass", format!("no frame left after frame {} in this direction", self.spec.keyframe)))?;
        if self.next_step > 0 {
            return Ok(step_tracked(&mut [self], model, feats, num_frames)?.pop().expect("one output per pass"));
        }
        let out = tch::no_grad(|| self.keyframe_step(model, feats, video_wh, frame))?;
        self.next_step += 1;
        Ok(out)
    }

    /// The memory layout of the next tracked step: how many memory frames and object
    /// pointers condition it. Passes with the same layout on the same frame can step as one
    /// batch ([`step_tracked`]). Encodes a pending keyframe memory (the step needs it anyway).
    pub fn tracked_layout(&mut self, model: &Sam2Model, num_frames: usize) -> (usize, usize) {
        tch::no_grad(|| self.encode_keyframe_memory(model));
        let k = self.next_step;
        let bank = self.bank.as_ref().expect("keyframe step ran first");
        let max_ptrs = num_frames.min(model.config.max_obj_ptrs_in_encoder);
        (bank.select_memories(k).len(), bank.select_obj_ptrs(k, max_ptrs).len())
    }

    /// Whether the next step is a tracked one (memory-conditioned, batchable with other
    /// objects' tracked steps on the same frame).
    pub fn next_is_tracked(&self) -> bool {
        self.next_step > 0
    }

    fn rules(&self, model: &Sam2Model) -> SelectionRules {
        SelectionRules {
            iou_threshold: self.tuning.memory_bank_iou_threshold,
            obj_score_threshold: self.tuning.memory_bank_obj_score_threshold,
            kf_score_threshold: self.tuning.memory_bank_kf_score_threshold,
            num_maskmem: model.config.num_maskmem,
            max_obj_ptrs: model.config.max_obj_ptrs_in_encoder,
        }
    }

    /// Step 0: the keyframe's prompts (`add_new_points_or_box` / `add_new_mask`). Points
    /// (the box's two corners first, labels 2 and 3, then the clicks, 1 and 0) go through
    /// the prompt encoder and mask decoder, with multimask output and SAMURAI's selection
    /// for a single point as in `_use_multimask`; a mask alone is the output
    /// (`_use_mask_as_output`); a mask with points is the decoder's mask input (±10
    /// logits, as earlier logits are fed back with new clicks in SAM 2).
    fn keyframe_step(&mut self, model: &Sam2Model, feats: &BackboneFeatures, (w, h): (u32, u32), frame: usize) -> Result<StepOutput> {
        let prompt = self.spec.prompt.clone();
        let side = model.config.image_size;
        let (hr0, hr1) = feats.high_res_nchw();
        let mask = prompt.mask.as_ref().map(|m| mask_input(m, side).to_device(model.device));
        let n_points = prompt.network_points();
        let (heads, chosen, best_iou) = if n_points == 0 {
            let mask = mask.ok_or_else(|| Error::invalid("keyframe", format!("frame {frame} has no box, no point and no mask")))?;
            let pix = seq_to_nchw(feats.vision_feats.last().expect("three levels"), *feats.feat_sizes.last().expect("three levels"));
            (model.use_mask_as_output(&pix, Some((&hr0, &hr1)), &mask), 0, 1.0)
        } else {
            let (coords, labels) = point_inputs(&prompt, (w, h), side);
            let pix = model.init_cond_features(feats);
            let dense = mask.map(|m| m * 20.0 - 10.0);
            let multimask = n_points <= 1;
            let min_obj = self.tuning.min_obj_score_logits;
            let mut heads =
                model.forward_sam_heads_with(&pix, Some((&coords, &labels)), dense.as_ref(), Some((&hr0, &hr1)), multimask, min_obj);
            if multimask {
                let ious: Vec<f32> = Vec::<f32>::try_from(heads.ious.get(0).to_device(Device::Cpu)).expect("float ious");
                let candidates = heads.high_res_multimasks.shallow_clone();
                let sel = self.selector.select(&self.tuning, &ious, &mut |i| mask_bbox(&candidates.get(0).get(i as i64)))?;
                model.select_candidate(&mut heads, sel.index as i64);
                (heads, sel.index, sel.best_iou)
            } else {
                let iou = heads.ious.double_value(&[0, 0]) as f32;
                (heads, 0, iou)
            }
        };
        let low = self.filled(&heads.low_res_masks);
        let object_score = heads.object_score_logits.double_value(&[0, 0]) as f32;
        self.pending = Some(PendingMemory {
            top: feats.vision_feats.last().expect("three levels").shallow_clone(),
            feat_size: *feats.feat_sizes.last().expect("three levels"),
            low: low.shallow_clone(),
            object_score_logits: heads.object_score_logits.shallow_clone(),
            obj_ptr: heads.obj_ptr.shallow_clone(),
        });
        Ok(StepOutput {
            frame,
            low_res_logits: low.to_device(Device::Cpu),
            object_score,
            best_iou,
            chosen,
            kf_score: None,
            memory_frames: Vec::new(),
        })
    }

    /// The keyframe's memory, from its binarised low-resolution mask upsampled to the
    /// network's input size as the reference's preflight does (`is_mask_from_pts`: the
    /// artist's frame).
    fn encode_keyframe_memory(&mut self, model: &Sam2Model) {
        let Some(p) = self.pending.take() else { return };
        let side = model.config.image_size;
        let high = p.low.upsample_bilinear2d([side, side], false, None, None);
        let (features, pos) = model.encode_new_memory(&[p.top], &[p.feat_size], &high, &p.object_score_logits, true);
        self.mem_pos = Some(pos);
        self.bank = Some(MemoryBank::new(self.rules(model), features.to_kind(Kind::BFloat16), p.obj_ptr, self.bounded));
    }

    /// Step k ≥ 1, first half: encodes a pending keyframe memory and gathers this step's
    /// memory tokens (SAMURAI's memory choice, the object pointers).
    fn prepare_tracked(&mut self, model: &Sam2Model, num_frames: usize) -> TrackedInput {
        self.encode_keyframe_memory(model);
        let k = self.next_step;
        let bank = self.bank.as_ref().expect("keyframe step ran first");
        let chosen_steps = bank.select_memories(k);
        let pos = self.mem_pos.as_ref().expect("keyframe step ran first").shallow_clone();
        let cond_features = bank.cond_features.to_kind(Kind::Float);
        let step_features: Vec<Tensor> =
            // `to_device`: a memory offloaded to the host under memory pressure comes back.
            chosen_steps.iter().map(|(i, _)| bank.steps[i].features.as_ref().expect("selected memory").to_device(model.device).to_kind(Kind::Float)).collect();
        let mut memories = vec![MemoryFrame { features: &cond_features, pos_enc: &pos, t_pos: 0 }];
        memories.extend(chosen_steps.iter().zip(&step_features).map(|((_, t_pos), f)| MemoryFrame {
            features: f,
            pos_enc: &pos,
            t_pos: *t_pos,
        }));
        let max_ptrs = num_frames.min(model.config.max_obj_ptrs_in_encoder);
        let ptrs = bank.select_obj_ptrs(k, max_ptrs);
        let tokens = model.memory_tokens(&memories, &ptrs, max_ptrs, 1);
        let mut memory_frames = vec![self.spec.keyframe];
        memory_frames.extend(chosen_steps.iter().filter_map(|(i, _)| self.spec.frame_of_step(*i, num_frames)));
        TrackedInput { tokens, memory_frames }
    }

    /// Applies hole filling to low-resolution logits when configured.
    fn filled(&self, low: &Tensor) -> Tensor {
        if self.tuning.fill_hole_area > 0 {
            fill_holes(low, self.tuning.fill_hole_area)
        } else {
            low.shallow_clone()
        }
    }
}

/// What one pass brings to a batched tracked step.
pub struct TrackedInput {
    tokens: MemoryTokens,
    memory_frames: Vec<usize>,
}

/// Steps k ≥ 1 of several passes standing on the same frame, as one batch: memory
/// attention over each pass's own memories (one run per memory layout, see
/// [`Pass::tracked_layout`]), then the mask decoder and the memory encoder once for all;
/// each pass makes SAMURAI's choice among its own candidates and keeps its own memory. A
/// batch of one is the plain per-object step; larger batches agree with it within float
/// rounding (some products are summed in another order), well inside the parity tolerance.
pub fn step_tracked(passes: &mut [&mut Pass], model: &Sam2Model, feats: &BackboneFeatures, num_frames: usize) -> Result<Vec<StepOutput>> {
    let mut frames = Vec::with_capacity(passes.len());
    for p in passes.iter() {
        let frame = p
            .next_frame(num_frames)
            .ok_or_else(|| Error::invalid("pass", format!("no frame left after frame {} in this direction", p.spec.keyframe)))?;
        frames.push(frame);
    }
    assert!(passes.iter().all(|p| p.next_step > 0), "tracked steps only");
    assert!(frames.windows(2).all(|w| w[0] == w[1]), "a batch stands on one frame");
    let outputs = tch::no_grad(|| -> Result<Vec<StepOutput>> {
        let inputs: Vec<TrackedInput> = passes.iter_mut().map(|p| p.prepare_tracked(model, num_frames)).collect();
        // Memory attention per memory layout (its keys must line up across the batch), in
        // batches of the passes sharing one; the heads then take every pass at once.
        let mut layouts: Vec<((i64, i64), Vec<usize>)> = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let key = input.tokens.batch_key();
            match layouts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => layouts.push((key, vec![i])),
            }
        }
        let mut conditioned: Vec<Option<Tensor>> = (0..inputs.len()).map(|_| None).collect();
        for (_, members) in &layouts {
            let tokens: Vec<&MemoryTokens> = members.iter().map(|&i| &inputs[i].tokens).collect();
            let pix = model.condition_on_memory_tokens(feats, &tokens);
            for (row, &i) in members.iter().enumerate() {
                conditioned[i] = Some(if members.len() == 1 { pix.shallow_clone() } else { pix.narrow(0, row as i64, 1) });
            }
        }
        let conditioned: Vec<Tensor> = conditioned.into_iter().map(|t| t.expect("every pass conditioned")).collect();
        let pix = if conditioned.len() == 1 { conditioned[0].shallow_clone() } else { Tensor::cat(&conditioned, 0) };
        let (hr0, hr1) = feats.high_res_nchw();
        let min_obj = passes[0].tuning.min_obj_score_logits;
        assert!(passes.iter().all(|p| p.tuning.min_obj_score_logits == min_obj), "one tuning per batch");
        let mut heads = model.forward_sam_heads_with(&pix, None, None, Some((&hr0, &hr1)), true, min_obj);
        let all_ious = Vec::<f32>::try_from(heads.ious.flatten(0, -1).to_device(Device::Cpu)).expect("float ious");
        let m = heads.ious.size()[1] as usize;
        let candidates = heads.high_res_multimasks.shallow_clone();
        let mut selections = Vec::with_capacity(passes.len());
        for (b, p) in passes.iter_mut().enumerate() {
            let row = candidates.get(b as i64);
            let mut boxes = |i: usize| mask_bbox(&row.get(i as i64));
            selections.push(p.selector.select(&p.tuning, &all_ious[b * m..(b + 1) * m], &mut boxes)?);
        }
        model.select_candidates(&mut heads, &selections.iter().map(|s| s.index as i64).collect::<Vec<_>>());
        let (features, _) =
            model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false);
        let scores = Vec::<f32>::try_from(heads.object_score_logits.flatten(0, -1).to_device(Device::Cpu)).expect("float scores");
        let single = passes.len() == 1;
        let row = |t: &Tensor, b: usize| if single { t.shallow_clone() } else { t.narrow(0, b as i64, 1).copy() };
        let mut outputs = Vec::with_capacity(passes.len());
        for (b, ((p, sel), input)) in passes.iter_mut().zip(selections).zip(inputs).enumerate() {
            let k = p.next_step;
            let memory = StepMemory {
                features: Some(row(&features, b).to_kind(Kind::BFloat16)),
                obj_ptr: Some(row(&heads.obj_ptr, b)),
                best_iou: sel.best_iou,
                object_score: scores[b],
                kf_score: sel.kf_score,
            };
            p.bank.as_mut().expect("bank").push(k, memory);
            let low = p.filled(&row(&heads.low_res_masks, b));
            outputs.push(StepOutput {
                frame: frames[b],
                low_res_logits: low.to_device(Device::Cpu),
                object_score: scores[b],
                best_iou: sel.best_iou,
                chosen: sel.index,
                kf_score: sel.kf_score,
                memory_frames: input.memory_frames,
            });
        }
        Ok(outputs)
    })?;
    for p in passes.iter_mut() {
        p.next_step += 1;
    }
    Ok(outputs)
}

/// The prompt's points for the network: `[1, N, 2]` coordinates scaled from video pixels to
/// the input size in float32 as the reference does (`points / [W, H] * image_size`), and
/// `[1, N]` labels (2 and 3 for the box's corners, then 1 positive, 0 negative).
fn point_inputs(p: &KeyframePrompt, (w, h): (u32, u32), side: i64) -> (Tensor, Tensor) {
    let s = side as f32;
    let mut coords: Vec<f32> = Vec::new();
    let mut labels: Vec<i32> = Vec::new();
    let mut push = |x: f64, y: f64, label: i32| {
        coords.extend([x as f32 / w as f32 * s, y as f32 / h as f32 * s]);
        labels.push(label);
    };
    if let Some(b) = p.bbox {
        push(b[0], b[1], 2);
        push(b[2], b[3], 3);
    }
    for q in &p.points {
        push(q.x, q.y, i32::from(q.positive));
    }
    let n = labels.len() as i64;
    (Tensor::from_slice(&coords).view([1, n, 2]), Tensor::from_slice(&labels).view([1, n]))
}

/// `add_new_mask`'s input: the frame-size binary mask resized to `side²` with antialiased
/// bilinear interpolation and thresholded at 0.5 (unchanged when already `side²`), `[1, 1,
/// side, side]` float32 on the CPU (the same kernel whatever the network's device).
fn mask_input(m: &samurai_core::settings::MaskPrompt, side: i64) -> Tensor {
    let bits: Vec<f32> = m.to_bits().into_iter().map(f32::from).collect();
    let t = Tensor::from_slice(&bits).view([1, 1, m.height as i64, m.width as i64]);
    if (m.width as i64, m.height as i64) == (side, side) {
        t
    } else {
        t.internal_upsample_bilinear2d_aa([side, side], false, None, None).ge(0.5).to_kind(Kind::Float)
    }
}
