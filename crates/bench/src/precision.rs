//! `samurai-bench precision --checkpoint C --frames DIR --count N --image-size S --box ...
//! [--device D]`: the same tracking in fp32 and bf16, per-frame mask IoU and decisions
//! (chosen mask, memory frames) compared.
use crate::support::{load_options, session, ClipRun};
use anyhow::Result;
use samurai_engine::model::Precision;
use samurai_engine::tracker::Agreement;
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
    let g = Agreement::measure(&mut a, &mut b, count.min(len))?;
    // What `--precision auto` resolves to on this machine, for the record.
    let auto = Precision::resolve(None, load_options(device, "fp32")?.device.is_cuda());
    Ok(format!(
        "{{\"frames\": {}, \"mean_iou\": {:.5}, \"min_iou\": {:.5}, \"same_chosen_mask\": {}, \"same_memory_frames\": {}, \"auto\": \"{auto}\"}}",
        g.frames, g.mean_iou, g.min_iou, g.same_chosen_mask, g.same_memory_frames
    ))
}
