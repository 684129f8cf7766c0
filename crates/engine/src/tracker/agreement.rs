//! How far two runs of the same tracking agree (another precision, another build): per
//! frame, the IoU of the first object's masks (forward pass's low-resolution logits > 0) and
//! whether SAMURAI made the same decisions (the chosen mask, the memory frames). The
//! `precision` benchmark and the bf16 test measure bf16 against fp32 with it.
use super::session::Session;
use crate::error::Result;

/// Agreement of two sessions over frames `0..frames`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    pub frames: usize,
    pub mean_iou: f64,
    pub min_iou: f64,
    /// Frames where both chose the same of the decoder's masks.
    pub same_chosen_mask: usize,
    /// Frames where both conditioned on the same memory frames.
    pub same_memory_frames: usize,
}

impl Agreement {
    /// Compares `a` and `b` (the same clip, objects and keyframes) on their first `frames`
    /// frames, tracking as needed.
    pub fn measure(a: &mut Session, b: &mut Session, frames: usize) -> Result<Self> {
        let mut out = Agreement { frames, mean_iou: 0.0, min_iou: 1.0, same_chosen_mask: 0, same_memory_frames: 0 };
        for f in 0..frames {
            let (ra, rb) = (a.records_at(f)?, b.records_at(f)?);
            let (x, y) = (&ra[0].1[0].1, &rb[0].1[0].1);
            let (mut inter, mut union) = (0usize, 0usize);
            for (p, q) in x.low_res.iter().zip(&y.low_res) {
                let (p, q) = (*p > 0.0, *q > 0.0);
                inter += usize::from(p && q);
                union += usize::from(p || q);
            }
            let iou = if union == 0 { 1.0 } else { inter as f64 / union as f64 };
            out.min_iou = out.min_iou.min(iou);
            out.mean_iou += iou / frames.max(1) as f64;
            out.same_chosen_mask += usize::from(x.chosen == y.chosen);
            out.same_memory_frames += usize::from(x.memory_frames == y.memory_frames);
        }
        Ok(out)
    }
}
