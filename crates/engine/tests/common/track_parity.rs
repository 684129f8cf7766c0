//! The per-frame agreement rule of the tracking parity tests (`parity_track`,
//! `parity_prompts`): the same chosen candidate and memory-bank frames as the reference,
//! logits within [`LOGIT_TOL`] and mask IoU ≥ [`MIN_IOU`]. The only admissible difference is
//! a decision whose own margin in the reference is below [`ADMISSIBLE_MARGIN`]; such a frame
//! is reported with its margin and ends the comparison (later frames legitimately diverge).
use samurai_engine::tracker::cache::FrameRecord;
use std::collections::HashMap;
use tch::{Kind, Tensor};

pub const LOGIT_TOL: f64 = 1e-3;
pub const MIN_IOU: f64 = 0.999;
pub const ADMISSIBLE_MARGIN: f64 = 1e-5;

/// IoU of the masks `logits > 0` (1 when both are empty).
pub fn mask_iou(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.gt(0.0), b.gt(0.0));
    let inter = a.logical_and(&b).sum(Kind::Int64).int64_value(&[]) as f64;
    let union = a.logical_or(&b).sum(Kind::Int64).int64_value(&[]) as f64;
    if union == 0.0 {
        1.0
    } else {
        inter / union
    }
}

/// One run compared frame by frame against a reference `track.npz` (`chosen`,
/// `memory_frames` padded with −1, `margin`).
pub struct Comparison<'a> {
    pub name: String,
    reference: &'a HashMap<String, Tensor>,
    pub worst_err: f64,
    pub worst_iou: f64,
    pub compared: usize,
}

impl<'a> Comparison<'a> {
    pub fn new(name: String, reference: &'a HashMap<String, Tensor>) -> Self {
        Self { name, reference, worst_err: 0.0, worst_iou: 1.0, compared: 0 }
    }

    /// Checks frame `f` (our record, max |Δlogit| `err`, mask IoU `iou`): `true` when it
    /// agrees, `false` at an admissible near-tie (stop comparing); panics otherwise.
    pub fn frame(&mut self, f: usize, rec: &FrameRecord, err: f64, iou: f64) -> bool {
        let (name, reference) = (&self.name, self.reference);
        let ref_chosen = reference["chosen"].int64_value(&[f as i64]);
        let ref_mem: Vec<i64> =
            Vec::<i64>::try_from(reference["memory_frames"].get(f as i64)).unwrap().into_iter().filter(|&v| v >= 0).collect();
        let ours_mem: Vec<i64> = rec.memory_frames.iter().map(|&v| v as i64).collect();
        let margin = reference["margin"].double_value(&[f as i64]);
        let agrees = rec.chosen as i64 == ref_chosen && ours_mem == ref_mem && err <= LOGIT_TOL && iou >= MIN_IOU;
        if !agrees {
            assert!(margin < ADMISSIBLE_MARGIN,
                "{name} frame {f}: chosen ours {} ref {ref_chosen}; memory ours {ours_mem:?} ref {ref_mem:?}; max|Δlogit| {err:.3e} (tol {LOGIT_TOL:e}); IoU {iou:.6} (min {MIN_IOU}); reference margin {margin:.3e}",
                rec.chosen);
            eprintln!("{name}: frame {f} differs on a decision whose reference margin is {margin:.3e} < {ADMISSIBLE_MARGIN:e}; comparison stops here");
            return false;
        }
        self.worst_err = self.worst_err.max(err);
        self.worst_iou = self.worst_iou.min(iou);
        self.compared += 1;
        true
    }

    /// Logs the summary and fails unless at least `min_compared` frames agreed before the
    /// comparison ended (a long run that stopped at an early near-tie proves little).
    pub fn finish(&self, min_compared: usize) {
        eprintln!("{}: {}", self.name, self.summary());
        assert!(
            self.compared >= min_compared,
            "{}: only {} frames compared before a near-tie (at least {min_compared} required)",
            self.name,
            self.compared
        );
    }

    /// `N frames, max |Δlogit| …, min IoU …` for the test's log.
    pub fn summary(&self) -> String {
        format!(
            "{} frames, max |Δlogit| {:.3e} (tol {LOGIT_TOL:e}), min IoU {:.6} (min {MIN_IOU})",
            self.compared, self.worst_err, self.worst_iou
        )
    }
}
