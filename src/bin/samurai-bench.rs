//! `samurai-bench`: timings of our implementation for `scripts/bench.sh`, which runs the
//! reference side by side on the same frames and weights and prints the ratios.
//! Prints one JSON object on stdout.
//!
//! - `samurai-bench blocks --checkpoint C --image F --image-size N [--repeat R]`: each
//!   network block and the whole single-frame `segment` path.
//! - `samurai-bench track --checkpoint C --frames DIR --count N --image-size S --box ...`:
//!   per-frame tracking time and peak RSS.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use samurai_roto::config::Preset;
use samurai_roto::image;
use samurai_roto::model::{LoadOptions, MemoryFrame, Sam2Model};
use samurai_roto::tracker::{BlendMode, FolderSource, Session, TrackerOptions};
use std::path::PathBuf;
use std::time::Instant;
use tch::Tensor;

#[derive(Parser)]
struct Cli {
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Blocks {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        image: PathBuf,
        #[arg(long, default_value_t = 1024)]
        image_size: i64,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    Track {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        frames: PathBuf,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1024)]
        image_size: i64,
        #[arg(long = "box")]
        bbox: String,
    },
}

/// Median seconds of `repeat` runs of `f` (after one warm-up run).
fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> f64 {
    drop(f());
    let mut v: Vec<f64> = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            drop(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn blocks(checkpoint: &PathBuf, image_path: &PathBuf, image_size: i64, repeat: usize) -> Result<String> {
    let model = Sam2Model::load_detect(checkpoint, image_size, &LoadOptions::default())?;
    let img = image::load_rgb8(image_path)?;
    let hw = (img.height as i64, img.width as i64);
    let bbox = [hw.1 as f64 * 0.3, hw.0 as f64 * 0.2, hw.1 as f64 * 0.6, hw.0 as f64 * 0.8];
    let input = image::image_predictor_input_tensor(&img, image_size);
    let _guard = tch::no_grad_guard();
    let t_encoder = time(repeat, || model.forward_image(&input));
    let emb = model.embed_image(&input, hw);
    let t_heads = time(repeat, || model.predict_box(&emb, bbox).expect("box"));
    let out = model.forward_image(&input);
    let feats = model.prepare_backbone_features(&out);
    let pix = model.init_cond_features(&feats);
    let (hr0, hr1) = feats.high_res_nchw();
    let heads = model.forward_sam_heads(&pix, None, None, Some((&hr0, &hr1)), true);
    let t_memenc = time(repeat, || {
        model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false)
    });
    let (mem, pos) =
        model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false);
    let memories: Vec<MemoryFrame> = (0..7).map(|t| MemoryFrame { features: &mem, pos_enc: &pos, t_pos: t }).collect();
    let ptrs: Vec<(i64, Tensor)> = (1..=16).map(|t| (t, heads.obj_ptr.shallow_clone())).collect();
    let t_memattn = time(repeat, || model.condition_on_memory(&feats, &memories, &ptrs, 16));
    let t_total = time(repeat, || {
        let input = image::image_predictor_input_tensor(&img, image_size);
        let emb = model.embed_image(&input, hw);
        model.predict_box(&emb, bbox).expect("box")
    });
    Ok(format!(
        "{{\"image_encoder\": {t_encoder:.5}, \"prompt_and_mask_decoder\": {t_heads:.5}, \"memory_encoder\": {t_memenc:.5}, \"memory_attention\": {t_memattn:.5}, \"single_frame_total\": {t_total:.5}}}"
    ))
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn track(checkpoint: &PathBuf, frames: &PathBuf, count: usize, image_size: i64, bbox: &str) -> Result<String> {
    let b: Vec<f64> = bbox.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>().context("--box x1,y1,x2,y2")?;
    let model = Sam2Model::load_detect(checkpoint, image_size, &LoadOptions::default())?;
    let mut tuning = Preset::builtin(model.size).samurai;
    tuning.fill_hole_area = 0;
    let source = FolderSource::open(frames)?;
    let count = count.min(source_len(&source));
    let options = TrackerOptions { mode: BlendMode::Forward, cache_bytes: 64 << 20, ..TrackerOptions::default() };
    let mut session = Session::new(model.shared(), tuning, Box::new(source), options)?;
    session.add_object("obj")?;
    session.set_keyframe("obj", 0, [b[0], b[1], b[2], b[3]])?;
    let t = Instant::now();
    for f in 0..count {
        drop(session.mask_at(f)?);
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"frames\": {count}, \"seconds\": {secs:.3}, \"seconds_per_frame\": {:.4}, \"peak_rss_bytes\": {}}}",
        secs / count as f64,
        peak_rss()
    ))
}

fn source_len(s: &FolderSource) -> usize {
    use samurai_roto::tracker::FrameSource;
    s.len()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tch::set_num_threads(cli.threads);
    let json = match cli.command {
        Command::Blocks { checkpoint, image, image_size, repeat } => blocks(&checkpoint, &image, image_size, repeat)?,
        Command::Track { checkpoint, frames, count, image_size, bbox } => track(&checkpoint, &frames, count, image_size, &bbox)?,
    };
    println!("{json}");
    Ok(())
}
