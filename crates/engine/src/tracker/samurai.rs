//! SAMURAI's motion-aware mask selection (paper §3.2, "motion modeling"). Reference: the
//! `samurai_mode` branch of `SAM2Base._forward_sam_heads` in SAMURAI's
//! `sam2/modeling/sam2_base.py`. One [`MotionSelector`] per object and propagation pass:
//! the reference keeps this state on the model, which is why it tracks a single object.
//!
//! Number formats follow the reference exactly: predicted IoUs are float32, the Kalman
//! filter is float64, the Kalman IoUs are turned into float32 before they are weighted.
use super::kalman::{compute_iou, xyxy_to_xyah, BoxXyxy, KalmanFilter, KalmanState};
use crate::config::SamuraiConfig;
use crate::error::Result;

/// What the selector decided for one tracked frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Index of the chosen candidate mask.
    pub index: usize,
    /// Its predicted IoU (float32, as the reference's `best_iou_score`).
    pub best_iou: f32,
    /// Its Kalman IoU when the filter was stable (`kf_score`), else `None`.
    pub kf_score: Option<f32>,
}

/// Kalman state plus the stable-frame counter of one pass.
#[derive(Debug, Clone, Default)]
pub struct MotionSelector {
    kf: KalmanFilter,
    state: Option<KalmanState>,
    stable_frames: u32,
}

impl MotionSelector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of consecutive frames the filter has been trusted for.
    pub fn stable_frames(&self) -> u32 {
        self.stable_frames
    }

    /// Chooses among the candidates of a tracked frame (multimask output).
    /// `ious`: predicted IoUs; `boxes`: box of each candidate's `> 0` pixels in model space
    /// (computed lazily: only phase C needs all of them).
    pub fn select(&mut self, cfg: &SamuraiConfig, ious: &[f32], boxes: &mut dyn FnMut(usize) -> BoxXyxy) -> Result<Selection> {
        let threshold = cfg.stable_ious_threshold as f32;
        match self.state.take() {
            Some(state) if self.stable_frames > 0 => {
                if self.stable_frames < cfg.stable_frames_threshold {
                    self.select_warming_up(state, ious, boxes, threshold)
                } else {
                    self.select_stable(cfg, state, ious, boxes, threshold)
                }
            }
            _ => Ok(self.select_initial(ious, boxes)),
        }
    }

    /// Phase A: no trusted filter: best predicted IoU, (re)start the filter from its box.
    fn select_initial(&mut self, ious: &[f32], boxes: &mut dyn FnMut(usize) -> BoxXyxy) -> Selection {
        let index = argmax_first(ious);
        self.state = Some(self.kf.initiate(xyxy_to_xyah(boxes(index))));
        self.stable_frames += 1;
        Selection { index, best_iou: ious[index], kf_score: None }
    }

    /// Phase B: filter warming up: predict, take the best IoU, update only when it is
    /// confident enough, otherwise fall back to phase A on the next frame.
    fn select_warming_up(
        &mut self,
        state: KalmanState,
        ious: &[f32],
        boxes: &mut dyn FnMut(usize) -> BoxXyxy,
        threshold: f32,
    ) -> Result<Selection> {
        let predicted = self.kf.predict(&state);
        let index = argmax_first(ious);
        let bbox = boxes(index);
        if ious[index] > threshold {
            self.state = Some(self.kf.update(&predicted, xyxy_to_xyah(bbox))?);
            self.stable_frames += 1;
        } else {
            self.state = Some(predicted);
            self.stable_frames = 0;
        }
        Ok(Selection { index, best_iou: ious[index], kf_score: None })
    }

    /// Phase C: trusted filter: weigh each candidate's IoU with the predicted box against
    /// its predicted IoU; update with the winner unless its predicted IoU is too low.
    fn select_stable(
        &mut self,
        cfg: &SamuraiConfig,
        state: KalmanState,
        ious: &[f32],
        boxes: &mut dyn FnMut(usize) -> BoxXyxy,
        threshold: f32,
    ) -> Result<Selection> {
        let predicted = self.kf.predict(&state);
        let all: Vec<BoxXyxy> = (0..ious.len()).map(boxes).collect();
        let mean4 = [predicted.mean[0], predicted.mean[1], predicted.mean[2], predicted.mean[3]];
        let kf_ious: Vec<f32> = compute_iou(mean4, &all).into_iter().map(|v| v as f32).collect();
        let w = cfg.kf_score_weight as f32;
        let rest = (1.0 - cfg.kf_score_weight) as f32;
        let weighted: Vec<f32> = kf_ious.iter().zip(ious).map(|(k, i)| w * k + rest * i).collect();
        let index = argmax_first(&weighted);
        if ious[index] < threshold {
            self.state = Some(predicted);
            self.stable_frames = 0;
        } else {
            self.state = Some(self.kf.update(&predicted, xyxy_to_xyah(all[index]))?);
        }
        Ok(Selection { index, best_iou: ious[index], kf_score: Some(kf_ious[index]) })
    }
}

/// Index of the first maximum (what `torch.argmax` returns on CPU for ties).
pub fn argmax_first(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelSize, Preset};

    fn cfg() -> SamuraiConfig {
        Preset::builtin(ModelSize::Tiny).samurai
    }

    #[test]
    fn phases_follow_the_reference() {
        let cfg = cfg();
        let mut sel = MotionSelector::new();
        let mut boxes = |i: usize| [10.0 + i as f64, 10.0, 50.0, 60.0];
        // Phase A on the first tracked frame.
        let s = sel.select(&cfg, &[0.2, 0.9, 0.5], &mut boxes).unwrap();
        assert_eq!((s.index, s.kf_score), (1, None));
        assert_eq!(sel.stable_frames(), 1);
        // Phase B: confident frames count up until the threshold.
        for _ in 1..cfg.stable_frames_threshold {
            let s = sel.select(&cfg, &[0.8, 0.1, 0.1], &mut boxes).unwrap();
            assert_eq!(s.index, 0);
            assert!(s.kf_score.is_none());
        }
        assert_eq!(sel.stable_frames(), cfg.stable_frames_threshold);
        // Phase C: the Kalman IoU now takes part.
        let s = sel.select(&cfg, &[0.5, 0.5, 0.5], &mut boxes).unwrap();
        assert!(s.kf_score.is_some());
        // A low-confidence winner resets the counter.
        let s = sel.select(&cfg, &[0.1, 0.1, 0.1], &mut boxes).unwrap();
        assert!(s.best_iou < 0.3);
        assert_eq!(sel.stable_frames(), 0);
    }

    #[test]
    fn warming_up_with_low_confidence_resets() {
        let cfg = cfg();
        let mut sel = MotionSelector::new();
        let mut boxes = |_: usize| [0.0, 0.0, 10.0, 10.0];
        sel.select(&cfg, &[0.9, 0.1, 0.1], &mut boxes).unwrap();
        sel.select(&cfg, &[0.2, 0.1, 0.1], &mut boxes).unwrap();
        assert_eq!(sel.stable_frames(), 0);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax_first(&[0.5, 0.7, 0.7]), 1);
        assert_eq!(argmax_first(&[0.1]), 0);
    }
}
