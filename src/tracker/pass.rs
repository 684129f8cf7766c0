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
use crate::model::{BackboneFeatures, MemoryFrame, Sam2Model};
use tch::{Device, Kind, Tensor};

/// Direction of a pass through the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Forward,
    Backward,
}

/// Where a pass starts and what it starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct PassSpec {
    /// Keyframe index in the clip.
    pub keyframe: usize,
    /// Box prompt in pixels of the video frame, `[x1, y1, x2, y2]`.
    pub bbox: BoxXyxy,
    pub direction: Direction,
}

impl PassSpec {
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
        match self.direction {
            Direction::Forward => frame.checked_sub(self.keyframe),
            Direction::Backward => self.keyframe.checked_sub(frame),
        }
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

/// A running pass.
pub struct Pass {
    pub spec: PassSpec,
    tuning: SamuraiConfig,
    bank: Option<MemoryBank>,
    selector: MotionSelector,
    next_step: usize,
    bounded: bool,
    /// Memory position encoding (the same sine grid for every frame), set at step 0.
    mem_pos: Option<Tensor>,
}

impl Pass {
    pub fn new(spec: PassSpec, tuning: SamuraiConfig, bounded: bool) -> Self {
        Self { spec, tuning, bank: None, selector: MotionSelector::new(), next_step: 0, bounded, mem_pos: None }
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
        let out = tch::no_grad(|| {
            if self.next_step == 0 {
                Ok(self.keyframe_step(model, feats, video_wh, frame))
            } else {
                self.tracked_step(model, feats, frame, num_frames)
            }
        })?;
        self.next_step += 1;
        Ok(out)
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

    /// Step 0: the box prompt on the keyframe, single-mask output, memory from the
    /// binarised (hole-filled) low-resolution mask as the reference's preflight does.
    fn keyframe_step(&mut self, model: &Sam2Model, feats: &BackboneFeatures, (w, h): (u32, u32), frame: usize) -> StepOutput {
        let s = model.config.image_size as f32;
        let b = self.spec.bbox;
        let pts = [b[0] as f32 / w as f32 * s, b[1] as f32 / h as f32 * s, b[2] as f32 / w as f32 * s, b[3] as f32 / h as f32 * s];
        let coords = Tensor::from_slice(&pts).view([1, 2, 2]).to_device(model.device);
        let labels = Tensor::from_slice(&[2i32, 3]).view([1, 2]).to_device(model.device);
        let pix = model.init_cond_features(feats);
        let (hr0, hr1) = feats.high_res_nchw();
        let heads =
            model.forward_sam_heads_with(&pix, Some((&coords, &labels)), None, Some((&hr0, &hr1)), false, self.tuning.min_obj_score_logits);
        let low = self.filled(&heads.low_res_masks);
        let side = model.config.image_size;
        let high = low.to_device(model.device).upsample_bilinear2d([side, side], false, None, None);
        let (features, pos) = model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &high, &heads.object_score_logits, true);
        self.mem_pos = Some(pos);
        let object_score = heads.object_score_logits.double_value(&[0, 0]) as f32;
        let best_iou = heads.ious.double_value(&[0, 0]) as f32;
        let bank = MemoryBank::new(self.rules(model), features.to_kind(Kind::BFloat16), heads.obj_ptr.shallow_clone(), self.bounded);
        self.bank = Some(bank);
        StepOutput {
            frame,
            low_res_logits: low.to_device(Device::Cpu),
            object_score,
            best_iou,
            chosen: 0,
            kf_score: None,
            memory_frames: Vec::new(),
        }
    }

    /// Step k ≥ 1: memory-conditioned features, multimask heads, SAMURAI selection, new
    /// memory from the chosen high-resolution mask.
    fn tracked_step(&mut self, model: &Sam2Model, feats: &BackboneFeatures, frame: usize, num_frames: usize) -> Result<StepOutput> {
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
        let pix = model.condition_on_memory(feats, &memories, &ptrs, max_ptrs);
        let (hr0, hr1) = feats.high_res_nchw();
        let mut heads = model.forward_sam_heads_with(&pix, None, None, Some((&hr0, &hr1)), true, self.tuning.min_obj_score_logits);
        let ious: Vec<f32> = Vec::<f32>::try_from(heads.ious.get(0).to_device(Device::Cpu)).expect("float ious");
        let candidates = heads.high_res_multimasks.shallow_clone();
        let mut boxes = |i: usize| mask_bbox(&candidates.get(0).get(i as i64));
        let sel = self.selector.select(&self.tuning, &ious, &mut boxes)?;
        model.select_candidate(&mut heads, sel.index as i64);
        let (features, _) =
            model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false);
        let object_score = heads.object_score_logits.double_value(&[0, 0]) as f32;
        let memory = StepMemory {
            features: Some(features.to_kind(Kind::BFloat16)),
            obj_ptr: Some(heads.obj_ptr.shallow_clone()),
            best_iou: sel.best_iou,
            object_score,
            kf_score: sel.kf_score,
        };
        let mut memory_frames = vec![self.spec.keyframe];
        memory_frames.extend(chosen_steps.iter().filter_map(|(i, _)| self.spec.frame_of_step(*i, num_frames)));
        self.bank.as_mut().expect("bank").push(k, memory);
        let low = self.filled(&heads.low_res_masks);
        Ok(StepOutput {
            frame,
            low_res_logits: low.to_device(Device::Cpu),
            object_score,
            best_iou: sel.best_iou,
            chosen: sel.index,
            kf_score: sel.kf_score,
            memory_frames,
        })
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
