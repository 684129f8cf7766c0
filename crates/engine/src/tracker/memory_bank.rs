//! The memory of one propagation pass and SAMURAI's motion-aware memory selection
//! (paper §3.3). Reference: the `samurai_mode` branch of
//! `SAM2Base._prepare_memory_conditioned_features` (frame choice and temporal slots) and
//! the object-pointer list of the same function.
//!
//! Frames are counted in *pass steps*: step 0 is the pass's keyframe (the conditioning
//! frame), step `k` the k-th frame after it in the pass's direction. A backward pass is
//! therefore the reference's forward algorithm run over the reversed clip.
//!
//! Bounded memory: after each step [`MemoryBank::prune`] drops what no later step can
//! select (memories beyond the newest qualifying ones, pointers older than the pointer
//! window). Pruning never changes a result; a test runs both ways and compares bits.
use std::collections::{BTreeMap, BTreeSet};
use tch::Tensor;

/// What a pass keeps about one non-conditioning step.
pub struct StepMemory {
    /// `[1, 64, h, w]` memory features, stored in bfloat16 like the reference.
    pub features: Option<Tensor>,
    /// `[1, 256]` object pointer.
    pub obj_ptr: Option<Tensor>,
    /// Predicted IoU of the chosen mask (float32).
    pub best_iou: f32,
    /// Object-score logit.
    pub object_score: f32,
    /// Kalman IoU of the chosen mask when the filter was stable.
    pub kf_score: Option<f32>,
}

/// The selection thresholds (`memory_bank_*` of the SAMURAI config) and window sizes.
#[derive(Debug, Clone, Copy)]
pub struct SelectionRules {
    pub iou_threshold: f64,
    pub obj_score_threshold: f64,
    pub kf_score_threshold: f64,
    /// `num_maskmem` (1 conditioning + `num_maskmem - 1` recent memories).
    pub num_maskmem: usize,
    /// `max_obj_ptrs_in_encoder` (16): scan limit of the memory choice and pointer window.
    pub max_obj_ptrs: usize,
}

impl StepMemory {
    /// Whether this step may enter the memory bank (besides being the previous frame).
    fn qualifies(&self, r: &SelectionRules) -> bool {
        f64::from(self.best_iou) > r.iou_threshold
            && f64::from(self.object_score) > r.obj_score_threshold
            && self.kf_score.is_none_or(|k| f64::from(k) > r.kf_score_threshold)
    }
}

/// Memory of one pass: the keyframe's memory and pointer, and recent steps.
pub struct MemoryBank {
    pub rules: SelectionRules,
    /// Step-0 memory features (bfloat16) and pointer.
    pub cond_features: Tensor,
    pub cond_obj_ptr: Tensor,
    /// Non-conditioning steps, by step index.
    pub steps: BTreeMap<usize, StepMemory>,
    /// Whether to drop what can no longer be selected.
    pub bounded: bool,
    /// Steps whose features were moved to host memory under device memory pressure
    /// (readers copy them back to the network's device when selected).
    offloaded: BTreeSet<usize>,
}

impl MemoryBank {
    pub fn new(rules: SelectionRules, cond_features: Tensor, cond_obj_ptr: Tensor, bounded: bool) -> Self {
        Self { rules, cond_features, cond_obj_ptr, steps: BTreeMap::new(), bounded, offloaded: BTreeSet::new() }
    }

    /// Steps whose memories condition step `k`, oldest first, with their temporal slot
    /// (1 = oldest … `num_maskmem - 1` = the previous step).
    pub fn select_memories(&self, k: usize) -> Vec<(usize, usize)> {
        let r = &self.rules;
        let mut valid: Vec<usize> = Vec::new();
        if k > 1 {
            for i in (2..k).rev() {
                if self.steps.get(&i).is_some_and(|m| m.qualifies(r)) {
                    valid.insert(0, i);
                }
                if valid.len() >= r.max_obj_ptrs - 1 {
                    break;
                }
            }
        }
        if k >= 1 && !valid.contains(&(k - 1)) {
            valid.push(k - 1);
        }
        let slots = r.num_maskmem - 1;
        let first = valid.len().saturating_sub(slots);
        let offset = slots - (valid.len() - first);
        valid[first..]
            .iter()
            .enumerate()
            .filter(|(_, i)| self.steps.get(i).is_some_and(|m| m.features.is_some()))
            .map(|(j, &i)| (i, offset + j + 1))
            .collect()
    }

    /// Object pointers for step `k`: the keyframe's (distance `k`) then the previous
    /// steps' (distance 1, 2, …) within `max_ptrs = min(clip length, max_obj_ptrs)`.
    pub fn select_obj_ptrs(&self, k: usize, max_ptrs: usize) -> Vec<(i64, Tensor)> {
        let mut out = vec![(k as i64, self.cond_obj_ptr.shallow_clone())];
        for t_diff in 1..max_ptrs {
            let Some(t) = k.checked_sub(t_diff) else { break };
            if let Some(ptr) = self.steps.get(&t).and_then(|m| m.obj_ptr.as_ref()) {
                out.push((t_diff as i64, ptr.shallow_clone()));
            }
        }
        out
    }

    /// Records step `k` and, when bounded, forgets what no step after `k` can select.
    pub fn push(&mut self, k: usize, memory: StepMemory) {
        self.steps.insert(k, memory);
        if self.bounded {
            self.prune(k);
        }
    }

    /// Drops memories that are neither the latest step nor among the newest
    /// `num_maskmem - 1` qualifying steps, and pointers outside the pointer window.
    fn prune(&mut self, latest: usize) {
        let r = self.rules;
        let keep_memories: Vec<usize> =
            self.steps.iter().rev().filter(|(i, m)| **i >= 2 && m.qualifies(&r)).map(|(i, _)| *i).take(r.num_maskmem - 1).collect();
        let oldest_ptr = (latest + 1).saturating_sub(r.max_obj_ptrs - 1);
        for (i, m) in self.steps.iter_mut() {
            if *i != latest && !keep_memories.contains(i) {
                m.features = None;
            }
            if *i < oldest_ptr {
                m.obj_ptr = None;
            }
        }
        self.steps.retain(|_, m| m.features.is_some() || m.obj_ptr.is_some());
    }

    /// Bytes held by tensors of this bank (for memory reports and tests).
    /// Moves the features of the oldest step still on the device to host memory; returns
    /// the step, or `None` when none is left there.
    pub fn offload_oldest(&mut self) -> Option<usize> {
        let offloaded = &self.offloaded;
        let (k, m) = self.steps.iter_mut().find(|(k, m)| m.features.is_some() && !offloaded.contains(k))?;
        m.features = m.features.as_ref().map(super::offload::to_host);
        let k = *k;
        self.offloaded.insert(k);
        Some(k)
    }

    /// Steps whose features are held in host memory.
    pub fn offloaded_steps(&self) -> Vec<usize> {
        self.offloaded.iter().copied().filter(|k| self.steps.get(k).is_some_and(|m| m.features.is_some())).collect()
    }

    pub fn tensor_bytes(&self) -> usize {
        let bytes = |t: &Tensor| t.numel() * t.kind().elt_size_in_bytes();
        let mut total = bytes(&self.cond_features) + bytes(&self.cond_obj_ptr);
        for m in self.steps.values() {
            total += m.features.as_ref().map_or(0, bytes) + m.obj_ptr.as_ref().map_or(0, bytes);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> SelectionRules {
        SelectionRules { iou_threshold: 0.5, obj_score_threshold: 0.0, kf_score_threshold: 0.0, num_maskmem: 7, max_obj_ptrs: 16 }
    }

    fn step(iou: f32) -> StepMemory {
        StepMemory {
            features: Some(Tensor::zeros([1], tch::kind::FLOAT_CPU)),
            obj_ptr: Some(Tensor::zeros([1], tch::kind::FLOAT_CPU)),
            best_iou: iou,
            object_score: 1.0,
            kf_score: None,
        }
    }

    fn bank(bounded: bool) -> MemoryBank {
        MemoryBank::new(rules(), Tensor::zeros([1], tch::kind::FLOAT_CPU), Tensor::zeros([1], tch::kind::FLOAT_CPU), bounded)
    }

    #[test]
    fn early_steps_use_the_previous_frame_only() {
        let mut b = bank(false);
        assert!(b.select_memories(1).is_empty(), "step 0 is the conditioning frame");
        b.push(1, step(0.9));
        assert_eq!(b.select_memories(2), vec![(1, 6)]);
    }

    #[test]
    fn low_quality_frames_are_skipped_but_the_previous_is_kept() {
        let mut b = bank(false);
        for k in 1..=20 {
            b.push(k, step(if k % 2 == 0 { 0.9 } else { 0.1 }));
        }
        // Step 21: qualifying even steps 10..20 are the newest five plus the previous (20).
        let sel = b.select_memories(21);
        assert_eq!(sel, vec![(10, 1), (12, 2), (14, 3), (16, 4), (18, 5), (20, 6)]);
        b.push(21, step(0.1));
        let sel = b.select_memories(22);
        assert_eq!(sel.last(), Some(&(21, 6)), "the previous step is always included");
        assert_eq!(sel.len(), 6);
    }

    #[test]
    fn pruning_keeps_every_selection_identical() {
        let (mut full, mut bounded) = (bank(false), bank(true));
        for k in 1..200 {
            assert_eq!(full.select_memories(k), bounded.select_memories(k), "memories at step {k}");
            let a: Vec<i64> = full.select_obj_ptrs(k, 16).iter().map(|p| p.0).collect();
            let b: Vec<i64> = bounded.select_obj_ptrs(k, 16).iter().map(|p| p.0).collect();
            assert_eq!(a, b, "pointers at step {k}");
            let iou = if (k * 7) % 5 < 2 { 0.2 } else { 0.8 };
            full.push(k, step(iou));
            bounded.push(k, step(iou));
        }
        assert!(bounded.steps.len() <= 16, "bounded bank holds {} steps", bounded.steps.len());
        assert_eq!(full.steps.len(), 199);
    }

    #[test]
    fn pointer_window() {
        let mut b = bank(false);
        for k in 1..30 {
            b.push(k, step(0.9));
        }
        let ptrs = b.select_obj_ptrs(30, 16);
        assert_eq!(ptrs.len(), 16);
        assert_eq!(ptrs[0].0, 30);
        assert_eq!(ptrs[15].0, 15);
    }
}
