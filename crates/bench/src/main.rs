//! `samurai-bench`: timings of our implementation for `scripts/bench.sh`, which runs the
//! reference side by side on the same frames and weights and prints the ratios.
//! Prints one JSON object on stdout.
//!
//! - `samurai-bench blocks --checkpoint C --image F --image-size N [--repeat R]`: each
//!   network block and the whole single-frame `segment` path.
//! - `samurai-bench track --checkpoint C --frames DIR --count N --image-size S --box ...`:
//!   per-frame tracking time and peak RSS (and peak device memory on CUDA);
//!   `--device cuda --precision bf16` for the GPU check.
//! - `samurai-bench precision --checkpoint C --frames DIR --count N --image-size S --box ...
//!   [--device D]`: the same tracking in fp32 and bf16, per-frame mask IoU and decisions
//!   (chosen mask, memory frames) compared.
//! - `samurai-bench io-stages --frames DIR [--image-size S]`: frame 0's decode, squash and
//!   matte-writing times (median of `--repeat`).
//! - `samurai-bench make-frames --src DIR --count N --size WxH --format exr|jpg|png --out DIR`:
//!   a test sequence from a clip, upscaled (EXR: linear half-float, ZIP-compressed).
//! - `samurai-bench edit --checkpoint C --frames DIR --image-size S --box ... [--repeat R]`:
//!   live editing: the latency of one keyframe edit (a click moved) on the frame on screen,
//!   with the frame's image features kept (the live path) and without (the encoder runs
//!   again), beside the prompt encoder + mask decoder's own time and the memory encoder's
//!   (which the keyframe step ran eagerly before live editing).
//! - `samurai-bench objects --checkpoint C --frames DIR --count N --image-size S
//!   [--objects 1,2,4,8] [--device D]`: seconds per tracked frame with 1, 2, 4, 8 objects keyed on frame
//!   0, their tracked steps batched and one by one, side by side, with the largest logit
//!   difference and the smallest mask IoU between the two.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use samurai_engine::config::Preset;
use samurai_engine::image;
use samurai_engine::model::{DeviceChoice, LoadOptions, MemoryFrame, Precision, ResolveDevice, Sam2Model};
use samurai_engine::tracker::{BlendMode, FolderSource, KeyframePrompt, PointPrompt, Session, TrackerOptions};
use std::path::{Path, PathBuf};
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
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value = "fp32")]
        precision: String,
    },
    Precision {
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
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Per-stage frame I/O costs on one frame: decode (+ sRGB conversion), squash to the
    /// input size, and writing one matte at the frame's size (PNG and EXR).
    IoStages {
        #[arg(long)]
        frames: PathBuf,
        #[arg(long, default_value_t = 1024)]
        image_size: u32,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    MakeFrames {
        #[arg(long)]
        src: PathBuf,
        #[arg(long)]
        count: usize,
        /// WxH
        #[arg(long)]
        size: String,
        /// exr (linear half-float), jpg or png
        #[arg(long)]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    Objects {
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
    },
    Edit {
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

fn blocks(checkpoint: &Path, image_path: &Path, image_size: i64, repeat: usize) -> Result<String> {
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

fn load_options(device: &str, precision: &str) -> Result<LoadOptions> {
    Ok(LoadOptions { device: DeviceChoice::parse(device)?.resolve()?, precision: Precision::parse(precision)? })
}

/// A forward-tracking session of one object keyed on frame 0 (the reference's algorithm).
fn session(checkpoint: &Path, frames: &Path, image_size: i64, bbox: &str, options: &LoadOptions) -> Result<(Session, usize)> {
    let b: Vec<f64> = bbox.split(',').map(|v| v.trim().parse()).collect::<Result<_, _>>().context("--box x1,y1,x2,y2")?;
    anyhow::ensure!(b.len() == 4, "--box '{bbox}': expected x1,y1,x2,y2");
    let model = Sam2Model::load_detect(checkpoint, image_size, options)?;
    let mut tuning = Preset::builtin(model.size).samurai;
    tuning.fill_hole_area = 0;
    let source = FolderSource::open(frames)?;
    let len = source_len(&source);
    let options = TrackerOptions { mode: BlendMode::Forward, cache_bytes: 64 << 20, ..TrackerOptions::default() };
    let mut session = Session::new(model.shared(), tuning, Box::new(source), options)?;
    session.add_object("obj")?;
    session.set_keyframe("obj", 0, [b[0], b[1], b[2], b[3]])?;
    Ok((session, len))
}

fn track(checkpoint: &Path, frames: &Path, count: usize, image_size: i64, bbox: &str, options: &LoadOptions) -> Result<String> {
    let (mut session, len) = session(checkpoint, frames, image_size, bbox, options)?;
    let count = count.min(len);
    let cuda = match options.device {
        tch::Device::Cuda(i) => {
            samurai_engine::ffi::cuda_reset_peak_stats(i as i8).map_err(anyhow::Error::msg)?;
            Some(i as i8)
        }
        _ => None,
    };
    let t = Instant::now();
    for f in 0..count {
        drop(session.mask_at(f)?);
    }
    let secs = t.elapsed().as_secs_f64();
    let device_peak = match cuda {
        Some(i) => {
            let s = samurai_engine::ffi::cuda_memory_stats(i).map_err(anyhow::Error::msg)?;
            format!(
                ", \"peak_device_allocated_bytes\": {}, \"peak_device_reserved_bytes\": {}",
                s.peak_allocated_bytes, s.peak_reserved_bytes
            )
        }
        None => String::new(),
    };
    Ok(format!(
        "{{\"frames\": {count}, \"seconds\": {secs:.3}, \"seconds_per_frame\": {:.4}, \"peak_rss_bytes\": {}{device_peak}}}",
        secs / count as f64,
        peak_rss()
    ))
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

fn lock(m: &samurai_engine::model::SharedModel) -> std::sync::MutexGuard<'_, Sam2Model> {
    m.lock().expect("model lock")
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

fn io_stages(frames: &Path, image_size: u32, repeat: usize) -> Result<String> {
    use samurai_engine::output::{write_frame, MatteFormat, WriterOptions};
    use samurai_engine::tracker::{FrameSource, LowResFrame};
    let source = FolderSource::open(frames)?;
    let (w, h) = source.frame_size();
    let t_decode = time(repeat, || source.load(0).expect("frame 0"));
    let img = source.load(0)?;
    let t_squash = time(repeat, || image::resize_bicubic_pil(&img, image_size, image_size));
    let side = i64::from(image_size / 4);
    // A disc of positive logits: a matte with an edge, like a real one.
    let values: Vec<f32> = (0..side * side)
        .map(|i| {
            let (x, y) = ((i % side) as f32 - side as f32 / 2.0, (i / side) as f32 - side as f32 / 2.0);
            side as f32 / 4.0 - (x * x + y * y).sqrt()
        })
        .collect();
    let low = LowResFrame { side, objects: vec![("obj".into(), values)] };
    let dir = tempfile::tempdir()?;
    let write = |format| {
        let options = WriterOptions {
            out: dir.path().to_owned(),
            logits: None,
            format,
            frame_size: (w, h),
            non_overlap: false,
            threads: 0,
            queue: 1,
            refine: None,
            layers: false,
        };
        time(repeat, || write_frame(&options, 0, &low).expect("write"))
    };
    let (t_png, t_exr) = (write(MatteFormat::Png), write(MatteFormat::Exr));
    Ok(format!(
        "{{\"frame\": \"{w}x{h}\", \"decode\": {t_decode:.4}, \"squash_to_{image_size}\": {t_squash:.4}, \"write_png_matte\": {t_png:.4}, \"write_exr_matte\": {t_exr:.4}}}"
    ))
}

/// Writes `count` frames of `src` upscaled to `size` as EXR (linear half-float, ZIP), JPEG or PNG.
fn make_frames(src: &Path, count: usize, size: &str, format: &str, out: &Path) -> Result<String> {
    use exr::prelude::{f16, Encoding, Image as ExrImage, Layer, LayerAttributes, SpecificChannels, WritableImage};
    let (w, h) = size.split_once('x').context("--size WxH")?;
    let (w, h): (u32, u32) = (w.parse().context("--size width")?, h.parse().context("--size height")?);
    std::fs::create_dir_all(out)?;
    let source = FolderSource::open(src)?;
    for i in 0..count.min(source_len(&source)) {
        let path = source.path(i).context("frame")?;
        let img = ::image::open(path).with_context(|| format!("reading {}", path.display()))?.into_rgb8();
        let big = ::image::imageops::resize(&img, w, h, ::image::imageops::FilterType::Triangle);
        match format {
            "exr" => {
                let to_linear = |c: u8| {
                    let v = f32::from(c) / 255.0;
                    let l = if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
                    f16::from_f32(l)
                };
                let lut: Vec<f16> = (0..=255u8).map(to_linear).collect();
                let px = |p: exr::math::Vec2<usize>| {
                    let q = big.get_pixel(p.x() as u32, p.y() as u32).0;
                    (lut[q[0] as usize], lut[q[1] as usize], lut[q[2] as usize])
                };
                let layer =
                    Layer::new((w as usize, h as usize), LayerAttributes::default(), Encoding::SMALL_LOSSLESS, SpecificChannels::rgb(px));
                ExrImage::from_layer(layer).write().to_file(out.join(format!("{i:05}.exr")))?;
            }
            "jpg" => big.save_with_format(out.join(format!("{i:05}.jpg")), ::image::ImageFormat::Jpeg)?,
            "png" => big.save_with_format(out.join(format!("{i:05}.png")), ::image::ImageFormat::Png)?,
            other => anyhow::bail!("--format '{other}': expected exr, jpg or png"),
        }
    }
    Ok(format!("{{\"frames\": {count}, \"size\": \"{w}x{h}\", \"format\": \"{format}\"}}"))
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

fn source_len(s: &FolderSource) -> usize {
    use samurai_engine::tracker::FrameSource;
    s.len()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tch::set_num_threads(cli.threads);
    let json = match cli.command {
        Command::Blocks { checkpoint, image, image_size, repeat } => blocks(&checkpoint, &image, image_size, repeat)?,
        Command::Track { checkpoint, frames, count, image_size, bbox, device, precision } => {
            track(&checkpoint, &frames, count, image_size, &bbox, &load_options(&device, &precision)?)?
        }
        Command::Precision { checkpoint, frames, count, image_size, bbox, device } => {
            precision(&checkpoint, &frames, count, image_size, &bbox, &device)?
        }
        Command::IoStages { frames, image_size, repeat } => io_stages(&frames, image_size, repeat)?,
        Command::MakeFrames { src, count, size, format, out } => make_frames(&src, count, &size, &format, &out)?,
        Command::Edit { checkpoint, frames, image_size, bbox, repeat } => edit(&checkpoint, &frames, image_size, &bbox, repeat)?,
        Command::Objects { checkpoint, frames, count, image_size, objects, device } => {
            objects_bench(&checkpoint, &frames, count, image_size, &objects, &load_options(&device, "fp32")?)?
        }
    };
    println!("{json}");
    Ok(())
}
