//! `samurai-roto track`: the main job, headless. Keyframes per object (boxes, points and
//! masks from the command line and/or a prompts YAML), mattes for every frame of a range.
use crate::commands::CHECKPOINT_HELP;
use crate::prompts::{combine, parse_mask_arg, parse_object_arg, parse_point_arg, read_prompts, ObjectPrompt};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use samurai_core::refine::RefineMode;
use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::Sam2Model;
use samurai_engine::output::{MatteFormat, MatteWriter, Refinement, WriterOptions};
use samurai_engine::tracker::offload::OffloadPolicy;
use samurai_engine::tracker::ObjectBatch;
use samurai_engine::tracker::{BlendMode, FolderSource, FrameSource, PrefetchOptions, PrefetchSource, Session, TrackerOptions};
use std::path::{Path, PathBuf};

/// The model and the settings that decide a track's results (shared by `track` and
/// `farm plan`).
#[derive(Args)]
pub struct ModelArgs {
    /// SAM 2.1 checkpoint; without it the per-user cache is used (and filled by a download).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Published model size when --checkpoint is not given: its file is looked for in the
    /// studio folder ($SAMURAI_ROTO_MODELS), then the user cache, and downloaded into the
    /// user cache when absent.
    #[arg(long, default_value = samurai_core::models::DEFAULT_MODEL.name())]
    pub model_size: String,
    /// Model input resolution: a multiple of 64 from 256 to 1024.
    #[arg(long, default_value_t = 1024)]
    pub image_size: i64,
    /// How frames between two keyframes combine: blend, nearest or forward.
    #[arg(long, default_value = "blend")]
    pub mode: String,
    #[command(flatten)]
    pub run: crate::commands::RunArgs,
    /// Hole filling in low-resolution masks (pixels); default from the preset (8).
    #[arg(long)]
    pub fill_hole_area: Option<i64>,
}

/// The clip and its prompts (shared by `track` and `farm plan`).
#[derive(Args)]
pub struct ClipArgs {
    /// Folder of JPEG/PNG/EXR frames; frame index = position in name order.
    #[arg(long)]
    pub frames: PathBuf,
    /// An object keyframe NAME:FRAME:x1,y1,x2,y2 (repeat for more objects or keyframes).
    #[arg(long = "object", value_name = "NAME:FRAME:x1,y1,x2,y2")]
    pub objects: Vec<String>,
    /// A click NAME:FRAME:x,y,L (L: 1 positive, 0 negative; pixels of the frame); repeat
    /// for more. With --object on the same object and frame: the box first, then the clicks.
    #[arg(long = "point", value_name = "NAME:FRAME:x,y,L")]
    pub points: Vec<String>,
    /// A keyframe matte NAME:FRAME:FILE (PNG or EXR at the frames' size, first channel,
    /// > 0.5 is inside): the output on that frame (with --object/--point there, the mask
    /// > is the decoder's mask input and the clicks refine it).
    #[arg(long = "mask", value_name = "NAME:FRAME:FILE")]
    pub masks: Vec<String>,
    /// Prompts YAML (the format of shared/data/clips/prompts.yaml).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Clip entry of the prompts file (default: the one whose `frames` names --frames).
    #[arg(long)]
    pub clip: Option<String>,
    /// Frames to output, A-B inclusive (default: the whole clip).
    #[arg(long)]
    pub range: Option<String>,
}

/// How mattes are written (shared by `track` and `farm merge`).
#[derive(Args)]
pub struct MatteArgs {
    /// Matte file format: png (8-bit 0/255) or exr (half float 0/1).
    #[arg(long, default_value = "png")]
    pub format: String,
    /// With --format exr: one multi-layer EXR per frame, OUT/NNNNN.exr, with a half-float
    /// channel NAME.A per object and ID (the node's ID matte), instead of OUT/NAME/ files.
    #[arg(long)]
    pub layers: bool,
    /// Also write float32 logits at the clip's resolution: DIR/NAME/NNNNN.npy.
    #[arg(long)]
    pub logits: Option<PathBuf>,
    /// Keep only the strongest object at each pixel.
    #[arg(long)]
    pub non_overlap: bool,
    /// Edge refinement of the mattes at the frame's resolution: off (the network's matte,
    /// thresholded), fast or quality (soft alpha: 16-bit PNG or float EXR).
    #[arg(long, default_value = "off")]
    pub refine: String,
    /// Width of the refinement band around the matte's uncertain edge, in frame pixels.
    #[arg(long, default_value_t = 16.0)]
    pub band: f32,
}

impl MatteArgs {
    /// The matte writer's options for the clip's frames `paths` (the plates refinement
    /// reads), checking the format and refinement options.
    pub fn writer_options(&self, out: PathBuf, frame_size: (u32, u32), paths: Vec<PathBuf>, writers: usize) -> Result<WriterOptions> {
        let write_exr = match self.format.as_str() {
            "png" => false,
            "exr" => true,
            other => bail!("--format '{other}': expected png or exr"),
        };
        if self.layers && !write_exr {
            bail!("--layers needs --format exr (one multi-layer EXR per frame)");
        }
        let refine = crate::refine::settings(&self.refine, self.band, false)?;
        Ok(WriterOptions {
            out,
            logits: self.logits.clone(),
            format: if write_exr { MatteFormat::Exr } else { MatteFormat::Png },
            frame_size,
            non_overlap: self.non_overlap,
            threads: writers,
            queue: 2 * writers.max(1),
            refine: (refine.mode != RefineMode::Off).then_some(Refinement { settings: refine, frames: paths }),
            layers: self.layers,
        })
    }

    /// The same options as command-line arguments (what `farm plan` writes into the
    /// job's Merge step).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--format".to_owned(), self.format.clone(), "--refine".to_owned(), self.refine.clone()];
        args.extend(["--band".to_owned(), self.band.to_string()]);
        if self.layers {
            args.push("--layers".into());
        }
        if self.non_overlap {
            args.push("--non-overlap".into());
        }
        if let Some(dir) = &self.logits {
            args.extend(["--logits".to_owned(), dir.display().to_string()]);
        }
        args
    }
}

#[derive(Args)]
pub struct TrackArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub clip: ClipArgs,
    /// Output folder: OUT/NAME/NNNNN.png (or .exr).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub matte: MatteArgs,
    /// Result cache budget in MiB.
    #[arg(long, default_value_t = 1024)]
    pub cache_mb: usize,
    /// Budget in MiB of image features kept for passes that revisit a frame (between two
    /// keyframes, objects keyed on different frames); 0 re-runs the encoder per pass.
    #[arg(long, default_value_t = 512)]
    pub feature_cache_mb: usize,
    /// Frames decoded ahead of the tracker on background threads (0: each frame is decoded
    /// when the tracker needs it, on its thread). Default: 4 when a CPU core is left over
    /// from the network's threads (always with CUDA), else 0.
    #[arg(long)]
    pub prefetch: Option<usize>,
    /// Threads writing mattes behind the tracker (0: written on the tracking thread).
    /// Default: 2 when a CPU core is left over from the network's threads (always with
    /// CUDA), else 0.
    #[arg(long)]
    pub writers: Option<usize>,
    /// Above this many MiB allocated on the CUDA device, kept image features and memory-bank
    /// entries move to host memory, oldest first (same results; no effect on the CPU).
    #[arg(long)]
    pub offload_above_mb: Option<u64>,
    /// Objects stepping on the same frame run as one batch of at most N (0: as many as half
    /// the device's free memory allows, up to 16; 1: one by one).
    #[arg(long, default_value_t = 0)]
    pub object_batch: usize,
}

/// Parses `A-B` (inclusive) within `0..n`.
pub fn parse_range(text: &str, n: usize) -> Result<(usize, usize)> {
    let (a, b) = text.split_once('-').with_context(|| format!("--range '{text}': expected A-B"))?;
    let a: usize = a.trim().parse().with_context(|| format!("--range '{text}': '{a}' is not a frame number"))?;
    let b: usize = b.trim().parse().with_context(|| format!("--range '{text}': '{b}' is not a frame number"))?;
    if a > b || b >= n {
        bail!("--range '{text}': must satisfy A <= B < {n} (the clip has {n} frames)");
    }
    Ok((a, b))
}

/// The prompts of every object, from the prompts file and the command line.
pub fn collect_prompts(args: &ClipArgs) -> Result<Vec<ObjectPrompt>> {
    let mut prompts = Vec::new();
    if let Some(path) = &args.prompts {
        prompts.extend(read_prompts(path, args.clip.as_deref(), &args.frames)?);
    }
    for text in &args.objects {
        prompts.push(parse_object_arg(text)?);
    }
    for text in &args.points {
        prompts.push(parse_point_arg(text)?);
    }
    for text in &args.masks {
        prompts.push(parse_mask_arg(text)?);
    }
    if prompts.is_empty() {
        bail!("no object given: use --object NAME:FRAME:x1,y1,x2,y2, --point NAME:FRAME:x,y,L, --mask NAME:FRAME:FILE or --prompts FILE");
    }
    Ok(prompts)
}

/// The checkpoint `--checkpoint` names, or the published `--model-size`'s file (found in
/// the model folders or downloaded).
pub fn resolve_checkpoint(checkpoint: Option<&Path>, model_size: &str) -> Result<PathBuf> {
    match checkpoint {
        Some(p) if p.exists() => Ok(p.to_path_buf()),
        Some(p) => bail!("checkpoint {} not found. {CHECKPOINT_HELP}", p.display()),
        None => crate::download::cached_or_download(ModelSize::parse(model_size)?),
    }
}

/// Loads the model the inputs name; returns it with its checkpoint file.
pub fn load_model(args: &ModelArgs) -> Result<(Sam2Model, PathBuf)> {
    let options = args.run.load_options()?;
    let checkpoint = resolve_checkpoint(args.checkpoint.as_deref(), &args.model_size)?;
    Ok((Sam2Model::load_detect(&checkpoint, args.image_size, &options)?, checkpoint))
}

/// The preset's SAMURAI tuning for `size`, with `--fill-hole-area` applied.
pub fn tuning_for(size: ModelSize, fill_hole_area: Option<i64>) -> samurai_engine::config::SamuraiConfig {
    let mut tuning = Preset::builtin(size).samurai;
    if let Some(area) = fill_hole_area {
        tuning.fill_hole_area = area;
    }
    tuning
}

pub fn track(args: &TrackArgs) -> Result<()> {
    let (input, clip) = (&args.model, &args.clip);
    let prompts = collect_prompts(clip)?;
    let mode = BlendMode::parse(&input.mode)?;
    let source = FolderSource::open(&clip.frames)?;
    let keyframes = combine(&prompts, source.frame_size())?;
    let n = source.len();
    let paths: Vec<PathBuf> = (0..n).filter_map(|i| source.path(i).map(PathBuf::from)).collect();
    let frame_size = source.frame_size();
    let (first, last) = match &clip.range {
        Some(r) => parse_range(r, n)?,
        None => (0, n - 1),
    };
    // Checked before the model loads, so a bad option fails at once.
    args.matte.writer_options(args.out.clone(), frame_size, Vec::new(), 0)?;
    let (model, _) = load_model(input)?;
    let size = model.size;
    let device = model.device;
    let model = model.shared();
    let tuning = tuning_for(size, input.fill_hole_area);
    let options = TrackerOptions {
        mode,
        non_overlap: args.matte.non_overlap,
        cache_bytes: args.cache_mb << 20,
        feature_bytes: args.feature_cache_mb << 20,
        shown_feature_bytes: 0,
        offload: args.offload_above_mb.map(|mb| OffloadPolicy::cuda(mb << 20)),
        object_batch: ObjectBatch::from_count(args.object_batch),
        ..TrackerOptions::default()
    };
    // Background I/O pays only with a core to run on: on the CPU, libtorch's threads take
    // every core they are given, and loaders and writers beside them slow the network more
    // than they hide (measured on 2 cores, 4K EXR: 5.7–6.0 s with them, 4.8 s without).
    let spare_core = device != tch::Device::Cpu
        || std::thread::available_parallelism().map_or(1, |n| n.get()) > usize::try_from(tch::get_num_threads()).unwrap_or(1);
    let prefetch = args.prefetch.unwrap_or(if spare_core { 4 } else { 0 });
    let writers = args.writers.unwrap_or(if spare_core { 2 } else { 0 });
    tracing::info!(prefetch, writers, spare_core, "background frame I/O");
    // Frames are decoded and squashed ahead on loader threads (same bytes, see tracker::prefetch).
    let source: Box<dyn FrameSource + Send> = if prefetch == 0 {
        Box::new(source)
    } else {
        let options = PrefetchOptions { ahead: prefetch, ..PrefetchOptions::default() };
        Box::new(PrefetchSource::new(std::sync::Arc::new(source), options))
    };
    let mut session = Session::new(model, tuning, source, options)?;
    for (name, keys) in keyframes {
        session.add_object(&name)?;
        for (frame, prompt) in keys {
            session.set_prompt(&name, frame, prompt)?;
        }
    }
    let bar = ProgressBar::new((last - first + 1) as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} frames {elapsed_precise} eta {eta}").expect("valid template"));
    // Mattes are upsampled, encoded and written behind the tracker (output::MatteWriter).
    let writer = MatteWriter::new(args.matte.writer_options(args.out.clone(), frame_size, paths, writers)?);
    let started = std::time::Instant::now();
    let mut tracked = Ok(());
    for frame in first..=last {
        let done = session
            .low_res_frame(frame)
            .with_context(|| format!("frame {frame}"))
            .and_then(|low| writer.submit(frame, low).with_context(|| format!("writing frame {frame}")));
        if let Err(e) = done {
            tracked = Err(e);
            break;
        }
        bar.inc(1);
    }
    // The frames finished before a failure are written whole, then the failure is reported.
    let written = writer.finish().context("writing mattes");
    tracked?;
    written?;
    bar.finish();
    tracing::info!(frames = last - first + 1, seconds = started.elapsed().as_secs_f64(), stats = ?session.stats(), "tracked");
    Ok(())
}
