//! `samurai-bench precision --checkpoint C --frames DIR --count N --image-size S --box ...
//! [--device D]`: the same tracking in fp32 and bf16, per-frame mask IoU and decisions
//! (chosen mask, memory frames) compared.
use crate::support::{load_options, session, ClipRun};
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    clip: ClipRun,
}

pub fn run(a: Args) -> Result<String> {
    let c = a.clip;
    precision(&c.checkpoint, &c.frames, c.count, c.image_size, &c.bbox, &c.device)
}

/// fp32 against bf16 on the same frames: per-frame IoU of the masks (low-resolution logits
/// > 0) and whether SAMURAI made the same decisions (chosen mask, memory frames).
fn precision(checkpoint: &Path, frames: &Path, count: usize, image_size: i64, bbox: &str, device: &str) -> Result<String> {
    let (mut a, len) = session(checkpoint, frames, image_size, bbox, &load_options(device, "fp32")?)?;
    let (mut b, _) = session(checkpoint, frames, image_size, bbox, &load_options(device, "bf16")?)?;
    let count = count.min(len);
    let (mut min_iou, mut sum_iou, mut same_chosen, mut same_memory) = (1.0f64, 0.0f64, 0usize, 0usize);
    for f in 0..count {
        let ra = a.records_at(f)?;
        let rb = b.records_at(f)?;
        let (x, y) = (&ra[0].1[0].1, &rb[0].1[0].1);
        let (mut inter, mut union) = (0usize, 0usize);
        for (p, q) in x.low_res.iter().zip(&y.low_res) {
            let (p, q) = (*p > 0.0, *q > 0.0);
            inter += usize::from(p && q);
            union += usize::from(p || q);
        }
        let iou = if union == 0 { 1.0 } else { inter as f64 / union as f64 };
        min_iou = min_iou.min(iou);
        sum_iou += iou;
        same_chosen += usize::from(x.chosen == y.chosen);
        same_memory += usize::from(x.memory_frames == y.memory_frames);
    }
    Ok(format!(
        "{{\"frames\": {count}, \"mean_iou\": {:.5}, \"min_iou\": {min_iou:.5}, \"same_chosen_mask\": {same_chosen}, \"same_memory_frames\": {same_memory}}}",
        sum_iou / count as f64
    ))
}
