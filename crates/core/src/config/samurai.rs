//! SAMURAI tracker tuning (`samurai:` section), upstream key names.
//! Reference: the SAMURAI block of `sam2/configs/samurai/sam2.1_hiera_*.yaml` and the
//! video builder's `fill_hole_area` override.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamuraiConfig {
    pub samurai_mode: bool,
    pub stable_frames_threshold: u32,
    pub stable_ious_threshold: f64,
    pub min_obj_score_logits: f64,
    pub kf_score_weight: f64,
    pub memory_bank_iou_threshold: f64,
    pub memory_bank_obj_score_threshold: f64,
    pub memory_bank_kf_score_threshold: f64,
    /// Fill holes up to this area (pixels of the low-res mask) in output masks; 0 disables.
    /// The reference skips this step without its CUDA extension, so parity runs use 0.
    pub fill_hole_area: i64,
}

impl SamuraiConfig {
    /// Checks ranges; returns a message naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.kf_score_weight) {
            return Err(format!("kf_score_weight: {} is not in [0, 1]", self.kf_score_weight));
        }
        if !(0.0..=1.0).contains(&self.stable_ious_threshold) {
            return Err(format!("stable_ious_threshold: {} is not in [0, 1]", self.stable_ious_threshold));
        }
        if self.fill_hole_area < 0 {
            return Err(format!("fill_hole_area: {} is negative", self.fill_hole_area));
        }
        Ok(())
    }
}
