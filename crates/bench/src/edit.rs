//! `samurai-bench edit --checkpoint C --frames DIR --image-size S --box ... [--repeat R]`:
//! live editing: the latency of one keyframe edit (a click moved) on the frame on screen,
//! with the frame's image features kept (the live path) and without (the encoder runs
//! again), beside the prompt encoder + mask decoder's own time and the memory encoder's
//! (which the keyframe step ran eagerly before live editing).
use crate::support::{lock, time};
use anyhow::{Context, Result};
use samurai_engine::config::Preset;
use samurai_engine::image;
use samurai_engine::model::{LoadOptions, Sam2Model};
use samurai_engine::tracker::{FolderSource, KeyframePrompt, PointPrompt, Session, TrackerOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Tensor;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long)]
    frames: PathBuf,
    #[arg(long, default_value_t = 1024)]
    image_size: i64,
    #[arg(long = "box")]
    bbox: String,
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(a: Args) -> Result<String> {
    edit(&a.checkpoint, &a.frames, a.image_size, &a.bbox, a.repeat)
}

/// Median seconds of `repeat` keyframe edits on frame 2 (keyed there and on frame 0), each
/// followed by the re-render of frame 2, the frame on screen.
fn edit_latency(model: &samurai_engine::model::SharedModel, frames: &Path, b: [f64; 4], repeat: usize, keep: bool) -> Result<f64> {
    let mut tuning = Preset::builtin(lock(model).size).samurai;
    tuning.fill_hole_area = 0;
    let options = TrackerOptions {
        feature_bytes: if keep { 512 << 20 } else { 0 },
        shown_feature_bytes: if keep { 256 << 20 } else { 0 },
        ..TrackerOptions::default()
    };
    let mut session = Session::new(model.clone(), tuning, Box::new(FolderSource::open(frames)?), options)?;
    session.add_object("obj")?;
    session.set_keyframe("obj", 0, b)?;
    session.set_keyframe("obj", 2, b)?;
    drop(session.mask_at(2)?);
    let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let mut times: Vec<f64> = (0..repeat)
        .map(|i| {
            let click = PointPrompt { x: cx + i as f64, y: cy, positive: true };
            session.set_prompt("obj", 2, KeyframePrompt { bbox: Some(b), points: vec![click], mask: None })?;
            let t = Instant::now();
            drop(session.mask_at(2)?);
            Ok(t.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    times.sort_by(|a, c| a.partial_cmp(c).unwrap());
    Ok(times[times.len() / 2])
}
fn edit(checkpoint: &Path, frames: &Path, image_size: i64, bbox: &str, repeat: usize) -> Result<String> {
    let b: Vec<f64> = bbox.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>().context("--box x1,y1,x2,y2")?;
    let b = [b[0], b[1], b[2], b[3]];
    let model = Sam2Model::load_detect(checkpoint, image_size, &LoadOptions::default())?.shared();
    let (t_decoder, t_memenc) = {
        let m = lock(&model);
        let img = image::load_rgb8(&frames.join("00002.jpg")).or_else(|_| image::load_rgb8(&frames.join("00002.png")))?;
        let input = image::video_input_tensor(&img, image_size);
        let _guard = tch::no_grad_guard();
        let feats = m.prepare_backbone_features(&m.forward_image(&input));
        let pix = m.init_cond_features(&feats);
        let (hr0, hr1) = feats.high_res_nchw();
        let (w, h, s) = (img.width as f32, img.height as f32, image_size as f32);
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        let xy = [b[0] as f32 / w * s, b[1] as f32 / h * s, b[2] as f32 / w * s, b[3] as f32 / h * s, cx as f32 / w * s, cy as f32 / h * s];
        let coords = Tensor::from_slice(&xy).view([1, 3, 2]);
        let labels = Tensor::from_slice(&[2i32, 3, 1]).view([1, 3]);
        let t_decoder = time(repeat, || m.forward_sam_heads(&pix, Some((&coords, &labels)), None, Some((&hr0, &hr1)), false));
        let heads = m.forward_sam_heads(&pix, Some((&coords, &labels)), None, Some((&hr0, &hr1)), false);
        let t_memenc = time(repeat, || {
            m.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, true)
        });
        (t_decoder, t_memenc)
    };
    let live = edit_latency(&model, frames, b, repeat, true)?;
    let without = edit_latency(&model, frames, b, repeat, false)?;
    Ok(format!(
        "{{\"edit_live\": {live:.5}, \"edit_without_kept_features\": {without:.5}, \"edit_old_path\": {:.5}, \"prompt_and_mask_decoder\": {t_decoder:.5}, \"memory_encoder\": {t_memenc:.5}, \"live_over_decoder\": {:.3}}}",
        without + t_memenc,
        live / t_decoder
    ))
}
