//! The CLI's sub-commands. Each one parses its arguments into library calls and reports
//! errors with the file, key or value at fault.
use crate::prompts::{parse_box, parse_point};
use anyhow::{bail, Context, Result};
use clap::Args;
use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::image;
use samurai_engine::model::checkpoint::read_checkpoint;
use samurai_engine::model::{DeviceChoice, LoadOptions, Precision, ResolveDevice, Sam2Model};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where official checkpoints come from, for error messages.
pub const CHECKPOINT_HELP: &str = "Official SAM 2.1 checkpoints (sam2.1_hiera_tiny.pt, sam2.1_hiera_small.pt, \
sam2.1_hiera_base_plus.pt, sam2.1_hiera_large.pt) are published by the SAM 2 project \
(facebookresearch/sam2, 'Download Checkpoints'); pass the downloaded file with --checkpoint.";

#[derive(Args)]
pub struct SegmentArgs {
    /// SAM 2.1 checkpoint (.pt as distributed, or .safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Image to segment (JPEG or PNG).
    #[arg(long)]
    pub image: PathBuf,
    /// Box prompt in pixels of the image: x1,y1,x2,y2.
    #[arg(long, value_name = "x1,y1,x2,y2")]
    pub r#box: Option<String>,
    /// A click in pixels of the image: x,y,L (L: 1 positive, 0 negative); repeat for more.
    /// With --box: the box's corners first, then the clicks (as SAM 2 combines them).
    #[arg(long = "point", value_name = "x,y,L", allow_hyphen_values = true)]
    pub points: Vec<String>,
    /// Model input resolution: a multiple of 64 from 256 to 1024.
    #[arg(long, default_value_t = 1024)]
    pub image_size: i64,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output mask (8-bit PNG, 0/255) at the image's resolution.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the float32 logits as a .npy array of shape (H, W).
    #[arg(long)]
    pub logits: Option<PathBuf>,
}

/// Where and in which precision the network runs (shared by the commands that run it).
#[derive(Args)]
pub struct RunArgs {
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// auto, fp32 or bf16. auto: bf16 on CUDA and on a CPU with AMX matrix units, fp32
    /// elsewhere (`--log info` and `doctor` say what it chose).
    #[arg(long, default_value = "auto")]
    pub precision: String,
}

impl RunArgs {
    /// Resolves the device (failing clearly when CUDA is asked for but absent) and precision.
    pub fn load_options(&self) -> Result<LoadOptions> {
        let (options, _) = LoadOptions::resolve(DeviceChoice::parse(&self.device)?, Precision::parse_choice(&self.precision)?)?;
        Ok(options)
    }
}

#[derive(Args)]
pub struct InspectArgs {
    /// SAM 2.1 checkpoint (.pt as distributed, or .safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Also build the network on this device to time a full load (auto, cpu, cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

fn require_checkpoint(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!("checkpoint {} not found. {CHECKPOINT_HELP}", path.display());
    }
    Ok(())
}

/// Loads a checkpoint with the built-in preset of its own size at `image_size`.
pub fn load_model(checkpoint: &Path, image_size: i64, run: &RunArgs) -> Result<Sam2Model> {
    require_checkpoint(checkpoint)?;
    Ok(Sam2Model::load_detect(checkpoint, image_size, &run.load_options()?)?)
}

pub fn segment(args: &SegmentArgs) -> Result<()> {
    let bbox = args.r#box.as_deref().map(parse_box).transpose()?;
    let points = args.points.iter().map(|p| parse_point(p).context("--point")).collect::<Result<Vec<_>>>()?;
    if bbox.is_none() && points.is_empty() {
        bail!("segment needs a prompt: --box x1,y1,x2,y2 and/or --point x,y,L");
    }
    let img = image::load_rgb8(&args.image)?;
    let orig_hw = (img.height as i64, img.width as i64);
    let model = load_model(&args.checkpoint, args.image_size, &args.run)?;
    let input = image::image_predictor_input_tensor(&img, args.image_size);
    let emb = model.embed_image(&input, orig_hw);
    let pred = model.predict(&emb, bbox, &points).with_context(|| format!("prompts for {}", args.image.display()))?;
    image::write_mask_png(&args.out, &pred.logits.gt(0.0))?;
    if let Some(path) = &args.logits {
        image::write_npy_f32(path, &pred.logits)?;
    }
    tracing::info!(iou = pred.iou, "wrote {}", args.out.display());
    Ok(())
}

pub fn inspect(args: &InspectArgs) -> Result<()> {
    require_checkpoint(&args.checkpoint)?;
    let t0 = Instant::now();
    let tensors = read_checkpoint(&args.checkpoint)?;
    let read_s = t0.elapsed().as_secs_f64();
    let size: ModelSize = samurai_engine::model::sam2_base::detect_size(&args.checkpoint, &tensors)?;
    let params = Sam2Model::parameter_count(&tensors);
    let count = tensors.len();
    drop(tensors);
    let device = DeviceChoice::parse(&args.device)?.resolve()?;
    let t1 = Instant::now();
    let config = Preset::builtin(size).model;
    Sam2Model::load(&args.checkpoint, &config, &LoadOptions { device, precision: Precision::F32 })?;
    let load_s = t1.elapsed().as_secs_f64();
    println!("checkpoint: {}", args.checkpoint.display());
    println!("model size: {size} (sam2.1_hiera_{})", size.config_suffix());
    println!("tensors:    {count}");
    println!("parameters: {params} ({:.2} M, tensor elements incl. buffers)", params as f64 / 1e6);
    println!("read time:  {read_s:.3} s (checkpoint file only)");
    println!("load time:  {load_s:.3} s (read + strict build on {device:?})");
    Ok(())
}
