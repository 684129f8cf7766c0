//! `samurai-bench objects --checkpoint C --frames DIR --count N --image-size S
//! [--objects 1,2,4,8] [--device D]`: seconds per tracked frame with 1, 2, 4, 8 objects keyed
//! on frame 0, their tracked steps batched and one by one, side by side, with the largest
//! logit difference and the smallest mask IoU between the two.
use crate::support::{load_options, lock, source_len, time};
use anyhow::{Context, Result};
use samurai_engine::config::Preset;
use samurai_engine::image;
use samurai_engine::model::{LoadOptions, Sam2Model};
use samurai_engine::tracker::{BlendMode, FolderSource, Session, TrackerOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long)]
    frames: PathBuf,
    #[arg(long, default_value_t = 8)]
    count: usize,
    #[arg(long, default_value_t = 512)]
    image_size: i64,
    #[arg(long, default_value = "1,2,4,8")]
    objects: String,
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: Args) -> Result<String> {
    objects_bench(&a.checkpoint, &a.frames, a.count, a.image_size, &a.objects, &load_options(&a.device, "fp32")?)
}

/// Boxes on the bedroom clip (960×540): the girl and the boy of `prompts.yaml`, then
/// regions of the room, so that up to eight objects track at once.
const ROOM_BOXES: [[f64; 4]; 8] = [
    [310.0, 0.0, 515.0, 400.0],
    [145.0, 135.0, 295.0, 405.0],
    [600.0, 60.0, 900.0, 300.0],
    [20.0, 20.0, 200.0, 250.0],
    [520.0, 320.0, 800.0, 530.0],
    [330.0, 380.0, 520.0, 530.0],
    [40.0, 300.0, 180.0, 520.0],
    [820.0, 330.0, 950.0, 520.0],
];

/// Tracks `count` frames forward with `n` objects keyed on frame 0; every object's
/// low-resolution logits per frame, the seconds taken and the session's counters.
fn track_objects(
    model: &samurai_engine::model::SharedModel,
    frames: &Path,
    count: usize,
    n: usize,
    batch: samurai_engine::tracker::ObjectBatch,
) -> Result<(Vec<Vec<f32>>, f64, samurai_engine::tracker::SessionStats)> {
    let mut tuning = Preset::builtin(lock(model).size).samurai;
    tuning.fill_hole_area = 0;
    let options = TrackerOptions { mode: BlendMode::Forward, object_batch: batch, ..TrackerOptions::default() };
    let source = FolderSource::open(frames)?;
    let count = count.min(source_len(&source));
    let mut session = Session::new(model.clone(), tuning, Box::new(source), options)?;
    for (i, b) in ROOM_BOXES.iter().take(n).enumerate() {
        session.add_object(&format!("obj{i}"))?;
        session.set_keyframe(&format!("obj{i}"), 0, *b)?;
    }
    let t = Instant::now();
    let mut logits = Vec::new();
    for f in 0..count {
        logits.extend(session.low_res_frame(f)?.objects.into_iter().map(|(_, v)| v));
    }
    Ok((logits, t.elapsed().as_secs_f64() / count as f64, session.stats()))
}

fn objects_bench(checkpoint: &Path, frames: &Path, count: usize, image_size: i64, objects: &str, options: &LoadOptions) -> Result<String> {
    use samurai_engine::tracker::ObjectBatch;
    let counts: Vec<usize> = objects.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>().context("--objects 1,2,4,8")?;
    anyhow::ensure!(counts.iter().all(|n| (1..=ROOM_BOXES.len()).contains(n)), "--objects: counts from 1 to {}", ROOM_BOXES.len());
    let model = Sam2Model::load_detect(checkpoint, image_size, options)?.shared();
    // Warm-up (allocator, oneDNN primitives) outside the figures.
    track_objects(&model, frames, 2, 2, ObjectBatch::from_count(2))?;
    let mut rows = Vec::new();
    for n in counts {
        let (one, t_one, _) = track_objects(&model, frames, count, n, ObjectBatch::ONE_BY_ONE)?;
        // All n objects in one batch (the automatic policy keeps the CPU one by one).
        let (batched, t_batched, stats) = track_objects(&model, frames, count, n, ObjectBatch::from_count(n))?;
        let max_diff = one.iter().flatten().zip(batched.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let min_iou = one
            .iter()
            .zip(&batched)
            .map(|(a, b)| {
                let (mut inter, mut union) = (0usize, 0usize);
                for (x, y) in a.iter().zip(b) {
                    inter += usize::from(*x > 0.0 && *y > 0.0);
                    union += usize::from(*x > 0.0 || *y > 0.0);
                }
                if union == 0 {
                    1.0
                } else {
                    inter as f64 / union as f64
                }
            })
            .fold(1f64, f64::min);
        let mean_batch = if stats.batches == 0 { 1.0 } else { stats.batched_steps as f64 / stats.batches as f64 };
        rows.push(format!(
            "\"objects_{n}\": {{\"one_by_one_s_per_frame\": {t_one:.4}, \"batched_s_per_frame\": {t_batched:.4}, \"ratio\": {:.3}, \"mean_batch\": {mean_batch:.2}, \"max_logit_diff\": {max_diff:.3e}, \"min_mask_iou\": {min_iou:.5}}}",
            t_batched / t_one
        ));
    }
    // Frames through the image encoder as one batch: seconds per frame (median of 3).
    let encoder: Vec<String> = [1i64, 2, 4]
        .iter()
        .map(|&b| -> Result<String> {
            let m = lock(&model);
            let img = image::load_rgb8(&frames.join("00000.jpg")).or_else(|_| image::load_rgb8(&frames.join("00000.png")))?;
            let one = image::video_input_tensor(&img, image_size);
            let input = one.repeat([b, 1, 1, 1]);
            let _guard = tch::no_grad_guard();
            let t = time(3, || m.forward_image(&input).backbone_fpn.len());
            Ok(format!("\"{b}\": {:.4}", t / b as f64))
        })
        .collect::<Result<_>>()?;
    rows.push(format!("\"encoder_s_per_frame_by_batch\": {{{}}}", encoder.join(", ")));
    Ok(format!("{{{}}}", rows.join(", ")))
}
