//! `samurai-roto farm`: analysis on a render farm (issue 19, `docs/farm.md`).
//!
//! - `plan` writes a job folder: `plan.yaml` (the passes, grouped into tasks, with the
//!   model's and every frame's hash) and `template.json` (an OpenJD job template);
//! - `pass` runs one pass group (a farm task) and writes its unblended results atomically
//!   under `passes/`;
//! - `merge` checks every pass file against the plan and blends them exactly as the
//!   tracker does into a track cache (the node's format) and/or mattes (as `track`);
//! - `slurm` writes (and submits) the job as an sbatch array and a dependent merge.
use crate::commands::CHECKPOINT_HELP;
use crate::prompts::combine;
use crate::prompts::{clip_folders, read_prompts, ObjectPrompt};
use crate::track::{collect_prompts, load_model, parse_range, resolve_checkpoint, tuning_for, ClipArgs, MatteArgs, ModelArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use samurai_core::farm::passfile::{pass_file_path, read_for_group, remove_stale_temporaries, PassFileHeader, PassResults};
use samurai_core::farm::templates::{openjd_template, slurm_scripts};
use samurai_core::farm::{self, ClipFrame, ModelRef, Plan, PlanKeyframe, PlanObject, PlanSettings, Shot, Split};
use samurai_core::settings::{EngineSettings, ObjectKeys};
use samurai_core::track_cache::{cache_key, checkpoint_hash, frame_hash, TrackCache, TrackCacheHeader};
use samurai_engine::image::Rgb8Image;
use samurai_engine::model::{DeviceChoice, LoadOptions, ResolveDevice, Sam2Model};
use samurai_engine::output::MatteWriter;
use samurai_engine::tracker::{BlendMode, FolderSource, FrameSource, LowResFrame, PassRequest, Session, TrackerOptions};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The job template's file name inside a job folder.
pub use samurai_core::farm::TEMPLATE_FILE;

#[derive(Args)]
pub struct FarmArgs {
    #[command(subcommand)]
    command: FarmCommand,
}

// The arguments are parsed once per run: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum FarmCommand {
    /// Plan a track as farm tasks: writes JOBDIR/plan.yaml and JOBDIR/template.json
    /// (OpenJD).
    Plan(PlanArgs),
    /// Run one pass group (a farm task): JOBDIR/passes/NNNN.srfp.
    Pass(PassArgs),
    /// Check every pass and blend them into a track cache and/or mattes, as `track` would.
    Merge(MergeArgs),
    /// Write JOBDIR/slurm/pass.sbatch (an array, one task per pass group) and merge.sbatch;
    /// with --submit, submit both (the merge after the passes succeed).
    Slurm(SlurmArgs),
}

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    clip: Option<ClipArgs>,
    /// Several shots in one job: a prompts YAML (the format of shared/data/clips/prompts.yaml)
    /// whose every clip entry is a shot, its `frames` folder relative to the file. The merge
    /// then writes OUT/SHOT/... and CACHE/SHOT.srtc (--cache names a folder).
    #[arg(long, conflicts_with = "frames")]
    shots: Option<PathBuf>,
    /// The job folder to write (created; an existing plan there is replaced).
    #[arg(long)]
    job: PathBuf,
    /// How passes become tasks: keyframes (passes starting on the same frame in the same
    /// direction share a task and its image encoder runs), passes (one task per pass) or
    /// directions (a task per shot and direction, as `track` runs them: the least encoder
    /// work).
    #[arg(long, default_value = "keyframes")]
    split: String,
    /// Host frame number of each folder's first frame (the track cache's frame numbers).
    #[arg(long, default_value_t = 0)]
    first_frame: i64,
    /// The merge also writes a track cache in the node's format here (point the node's
    /// track cache file at it). Needs the whole folder as the range.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The merge also writes mattes here, as `track --out` would.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    matte: MatteArgs,
    /// The samurai-roto the farm's tasks run (default: this one).
    #[arg(long)]
    exe: Option<PathBuf>,
}

/// The job folder a task, the merge or `farm slurm` works on.
#[derive(Args)]
pub struct JobArg {
    /// The job folder `farm plan` wrote.
    #[arg(long = "job")]
    dir: PathBuf,
}

#[derive(Args)]
pub struct PassArgs {
    #[command(flatten)]
    job: JobArg,
    /// The pass group to run (the task's index, from 0).
    #[arg(long = "pass")]
    group: usize,
    /// The checkpoint to use instead of the plan's (its contents must hash the same).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(Args)]
pub struct MergeArgs {
    #[command(flatten)]
    job: JobArg,
    /// Write the track cache (the node's format) here.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Write mattes here: OUT/NAME/NNNNN.png (or .exr), as `track --out`.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    matte: MatteArgs,
}

#[derive(Args)]
pub struct SlurmArgs {
    #[command(flatten)]
    job: JobArg,
    /// Submit with sbatch: the pass array, then the merge with an afterok dependency.
    #[arg(long)]
    submit: bool,
    /// The samurai-roto the tasks run (default: this one).
    #[arg(long)]
    exe: Option<PathBuf>,
    /// CPUs each pass task asks for (its libtorch threads); without it a task is given
    /// Slurm's default and uses every core of its node.
    #[arg(long)]
    cpus_per_task: Option<u32>,
}

pub fn farm(args: &FarmArgs) -> Result<()> {
    match &args.command {
        FarmCommand::Plan(a) => plan(a),
        FarmCommand::Pass(a) => pass(a),
        FarmCommand::Merge(a) => merge(a),
        FarmCommand::Slurm(a) => slurm(a),
    }
}

/// An absolute path (the farm's tasks run elsewhere, from other folders).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot make the path absolute", path.display()))
}

fn this_exe(exe: Option<&Path>) -> Result<PathBuf> {
    match exe {
        Some(p) => absolute(p),
        None => std::env::current_exe().context("cannot find this program's path (give --exe)"),
    }
}

/// One shot as the command line gives it.
struct ShotInput {
    name: String,
    frames_dir: PathBuf,
    prompts: Vec<ObjectPrompt>,
    range: Option<String>,
}

/// `farm plan`.
fn plan(args: &PlanArgs) -> Result<()> {
    let started = Instant::now();
    let input = &args.model;
    let split = Split::parse(&args.split)?;
    let mode = BlendMode::parse(&input.mode)?;
    let inputs: Vec<ShotInput> = match (&args.clip, &args.shots) {
        (Some(clip), None) => {
            let frames_dir = absolute(&clip.frames)?;
            let name = frames_dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "shot".into());
            vec![ShotInput { name, frames_dir, prompts: collect_prompts(clip)?, range: clip.range.clone() }]
        }
        (None, Some(shots)) => clip_folders(shots)?
            .into_iter()
            .map(|(name, dir)| {
                let frames_dir = absolute(&dir)?;
                let prompts = read_prompts(shots, Some(&name), &frames_dir)?;
                Ok(ShotInput { name, frames_dir, prompts, range: None })
            })
            .collect::<Result<_>>()?,
        _ => bail!("give the shot with --frames and its prompts, or several with --shots FILE"),
    };
    // The model is loaded once, to learn its size (the tuning preset) and check the options.
    let (model, checkpoint) = load_model(input)?;
    let size = model.size;
    let precision = input.run.load_options()?.precision;
    drop(model);
    let checkpoint = absolute(&checkpoint)?;
    let tuning = tuning_for(size, input.fill_hole_area);
    let mut shots = Vec::new();
    for shot in inputs {
        shots.push(plan_shot(shot, args, mode, &checkpoint)?);
    }
    let model_ref = ModelRef {
        checkpoint: checkpoint.clone(),
        size: input.checkpoint.is_none().then(|| size.name().to_owned()),
        hash: checkpoint_hash(&checkpoint)?,
    };
    let settings = PlanSettings { image_size: input.image_size, precision, mode, tuning, split };
    let mut plan = Plan::new(model_ref, settings, shots)?;
    if let Some(cache) = &args.cache {
        plan.merge_args.extend(["--cache".to_owned(), absolute(cache)?.display().to_string()]);
    }
    if let Some(out) = &args.out {
        plan.merge_args.extend(["--out".to_owned(), absolute(out)?.display().to_string()]);
        plan.merge_args.extend(args.matte.to_args());
    }
    let job = absolute(&args.job)?;
    plan.write(&job)?;
    let exe = this_exe(args.exe.as_deref())?;
    let template = job.join(TEMPLATE_FILE);
    write_text(&template, &openjd_template(&plan, &job, &exe, &plan.merge_args))?;
    let steps: usize = plan.groups.iter().map(farm::Group::steps).sum();
    println!(
        "planned {} shot(s), {} pass group(s) ({} pass steps) in {}: {} and {} ({:.1} s)",
        plan.shots.len(),
        plan.groups.len(),
        steps,
        job.display(),
        farm::PLAN_FILE,
        TEMPLATE_FILE,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One shot of a plan: its frames' hashes (decoding every frame as the tracker will), its
/// objects' keyframes and, with --cache, the node's cache key.
fn plan_shot(input: ShotInput, args: &PlanArgs, mode: BlendMode, checkpoint: &Path) -> Result<Shot> {
    let source = FolderSource::open(&input.frames_dir)?;
    let frame_size = source.frame_size();
    let keyframes = combine(&input.prompts, frame_size).with_context(|| format!("shot {}", input.name))?;
    let n = source.len();
    let range = match &input.range {
        Some(r) => parse_range(r, n)?,
        None => (0, n - 1),
    };
    if let Some(out) = &args.out {
        args.matte.writer_options(out.clone(), frame_size, Vec::new(), 0)?;
    }
    if args.cache.is_some() && range != (0, n - 1) {
        bail!("--cache: a track cache holds the node's whole frame range; plan the whole folder (no --range) or write mattes with --out");
    }
    let clip = (0..n)
        .map(|i| {
            let img = source.load(i).with_context(|| format!("shot {} frame {i}", input.name))?;
            let file = source.path(i).and_then(Path::file_name).map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(ClipFrame { file, hash: frame_hash(img.width, img.height, &img.data) })
        })
        .collect::<Result<Vec<_>>>()?;
    let objects: Vec<PlanObject> = keyframes
        .iter()
        .map(|(name, keys)| PlanObject {
            name: name.clone(),
            keyframes: keys.iter().map(|(f, p)| PlanKeyframe::new(*f, p.clone())).collect(),
        })
        .collect();
    let cache_key = match &args.cache {
        None => None,
        Some(_) => Some(node_cache_key(checkpoint, &args.model, mode, (range, args.first_frame), frame_size, &keyframes)?),
    };
    Ok(Shot { name: input.name, frames_dir: input.frames_dir, frame_size, clip, range, first_frame: args.first_frame, cache_key, objects })
}

/// The key the node computes for the same analysis (its cache is only read back when the
/// keys agree): the checkpoint's contents, the settings, the host frame range and size,
/// and every keyframe by host frame.
fn node_cache_key(
    checkpoint: &Path,
    input: &ModelArgs,
    mode: BlendMode,
    (range, first_frame): ((usize, usize), i64),
    frame_size: (u32, u32),
    keyframes: &[(String, BTreeMap<usize, samurai_core::prompt::KeyframePrompt>)],
) -> Result<String> {
    let mut s = EngineSettings::new(checkpoint);
    s.image_size = input.image_size;
    s.mode = mode;
    s.fill_holes = match input.fill_hole_area {
        None => true,
        Some(0) => false,
        Some(other) => {
            bail!("--cache: the node fills holes with its preset's area or not at all; --fill-hole-area {other} has no node setting")
        }
    };
    let host = |f: usize| first_frame + f as i64;
    let objects: Vec<ObjectKeys> = keyframes
        .iter()
        .map(|(name, keys)| ObjectKeys { name: name.clone(), keyframes: keys.iter().map(|(f, p)| (host(*f), p.clone())).collect() })
        .collect();
    Ok(cache_key(checkpoint, &s, (host(range.0), host(range.1)), frame_size, &objects)?)
}

/// Writes a small text file atomically.
fn write_text(path: &Path, text: &str) -> Result<()> {
    Ok(samurai_core::container::write_atomic(path, text.as_bytes())?)
}

/// A folder source that refuses a frame whose decoded pixels differ from the plan's hash.
struct CheckedSource<'a> {
    inner: FolderSource,
    clip: &'a [ClipFrame],
}

impl FrameSource for CheckedSource<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn frame_size(&self) -> (u32, u32) {
        self.inner.frame_size()
    }

    fn load(&self, index: usize) -> samurai_engine::error::Result<Rgb8Image> {
        let img = self.inner.load(index)?;
        let expected = &self.clip[index];
        let hash = frame_hash(img.width, img.height, &img.data);
        if hash != expected.hash {
            return Err(samurai_engine::error::Error::Frame {
                frame: index as i64,
                reason: format!("{} changed since the plan was made: hash {hash}, the plan says {}", expected.file, expected.hash),
            });
        }
        Ok(img)
    }

    fn identity(&self) -> String {
        self.inner.identity()
    }
}

/// The plan's checkpoint (or `--checkpoint`, or the published size's file), checked
/// against the plan's hash.
fn plan_checkpoint(plan: &Plan, given: Option<&Path>) -> Result<PathBuf> {
    let path = match (given, &plan.model.size) {
        (Some(p), _) => resolve_checkpoint(Some(p), "")?,
        (None, _) if plan.model.checkpoint.exists() => plan.model.checkpoint.clone(),
        (None, Some(size)) => resolve_checkpoint(None, size)?,
        (None, None) => {
            bail!("the plan's checkpoint {} is not on this machine; give --checkpoint. {CHECKPOINT_HELP}", plan.model.checkpoint.display())
        }
    };
    let hash = checkpoint_hash(&path)?;
    if hash != plan.model.hash {
        bail!(
            "checkpoint {} is not the plan's model: its contents hash {hash}, the plan's {} hashes {}",
            path.display(),
            plan.model.checkpoint.display(),
            plan.model.hash
        );
    }
    Ok(path)
}

/// `farm pass`.
fn pass(args: &PassArgs) -> Result<()> {
    let started = Instant::now();
    let (plan, digest) = Plan::read(&args.job.dir)?;
    let group = plan.groups.get(args.group).with_context(|| {
        format!("--pass {}: the plan has {} pass group(s), 0 to {}", args.group, plan.groups.len(), plan.groups.len().saturating_sub(1))
    })?;
    let shot = &plan.shots[group.shot];
    let checkpoint = plan_checkpoint(&plan, args.checkpoint.as_deref())?;
    // Exactly the plan's files, in the plan's order (the folder may hold more).
    let missing: Vec<&str> = shot.clip.iter().filter(|c| !shot.frames_dir.join(&c.file).is_file()).map(|c| c.file.as_str()).collect();
    if let Some(first) = missing.first() {
        bail!("{}: {} of the plan's frames are missing, the first {first}", shot.frames_dir.display(), missing.len());
    }
    let inner = FolderSource::from_files(&shot.frames_dir, shot.clip.iter().map(|c| shot.frames_dir.join(&c.file)).collect())?;
    if inner.frame_size() != shot.frame_size {
        bail!(
            "{}: frames are {}x{}, the plan's {}x{}",
            shot.frames_dir.display(),
            inner.frame_size().0,
            inner.frame_size().1,
            shot.frame_size.0,
            shot.frame_size.1
        );
    }
    let source = CheckedSource { inner, clip: &shot.clip };
    let options = LoadOptions { device: DeviceChoice::parse(&args.device)?.resolve()?, precision: plan.settings.precision };
    let model = Sam2Model::load_detect(&checkpoint, plan.settings.image_size, &options)?;
    let device = format!("{:?}", model.device);
    let model = model.shared();
    let tracker_options = TrackerOptions { mode: plan.settings.mode, shown_feature_bytes: 0, ..TrackerOptions::default() };
    let mut session = Session::with_geometry(model, plan.settings.tuning.clone(), shot.clip.len(), shot.frame_size, tracker_options)?;
    // Only the group's objects, each with only the keyframes its passes start from: a pass
    // depends on its own keyframe alone.
    for object in &shot.objects {
        let starts: Vec<&PlanKeyframe> =
            object.keyframes.iter().filter(|k| group.passes.iter().any(|p| p.object == object.name && p.keyframe == k.frame)).collect();
        if starts.is_empty() {
            continue;
        }
        session.add_object(&object.name)?;
        for k in starts {
            session.set_prompt(&object.name, k.frame, k.prompt.clone())?;
        }
    }
    let requests: Vec<PassRequest> = group
        .passes
        .iter()
        .map(|p| PassRequest { object: p.object.clone(), keyframe: p.keyframe, direction: p.direction, frames: p.frames.0..=p.frames.1 })
        .collect();
    let records = session
        .run_passes_from(&requests, &source, &mut |_| ControlFlow::Continue(()))
        .with_context(|| format!("pass group {}", args.group))?
        .expect("never cancelled");
    let precision = format!("{:?}", plan.settings.precision);
    let header = PassFileHeader::for_group(&plan, &digest, args.group, &device, &precision)?;
    let logits = records.into_iter().map(|frames| frames.into_iter().map(|r| r.low_res.clone()).collect()).collect();
    let path = pass_file_path(&args.job.dir, args.group);
    PassResults { header, logits }.write_atomic(&path)?;
    let stats = session.stats();
    println!(
        "pass group {}: {} pass(es), {} steps, {} encoder runs, {:.1} s -> {}",
        args.group,
        group.passes.len(),
        stats.steps,
        stats.encoder_runs,
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

/// The merged low-resolution frames of every shot: `(shot, frame, result)` in order.
fn blend_shot(plan: &Plan, shot_index: usize, results: &[PassResults]) -> Result<Vec<LowResFrame>> {
    let shot = &plan.shots[shot_index];
    let side = plan.settings.image_size / 4;
    let cells = (side * side) as usize;
    // (object, keyframe, direction) → (first frame of its span, per-frame logits).
    let mut by_pass: BTreeMap<(&str, usize, farm::Direction), (usize, &[Vec<f32>])> = BTreeMap::new();
    for (group, r) in plan.groups.iter().zip(results) {
        if group.shot != shot_index {
            continue;
        }
        for (p, logits) in r.header.passes.iter().zip(&r.logits) {
            by_pass.insert((p.object.as_str(), p.keyframe, p.direction), (p.frames.0, logits.as_slice()));
        }
    }
    let mut frames = Vec::new();
    for f in shot.range.0..=shot.range.1 {
        let mut objects = Vec::new();
        for object in &shot.objects {
            let keys = object.keyframe_map();
            let mut terms: Vec<(&[f32], f32)> = Vec::new();
            for (k, d, w) in farm::contributions(&keys, f, plan.settings.mode) {
                let (first, logits) = by_pass
                    .get(&(object.name.as_str(), k, d))
                    .with_context(|| format!("no pass result for object '{}' keyframe {k} {d:?} (frame {f})", object.name))?;
                terms.push((logits[f - first].as_slice(), w));
            }
            objects.push((object.name.clone(), farm::blend(&terms, cells)?));
        }
        frames.push(LowResFrame { side, objects });
    }
    Ok(frames)
}

/// `farm merge`.
fn merge(args: &MergeArgs) -> Result<()> {
    let started = Instant::now();
    if args.cache.is_none() && args.out.is_none() {
        bail!("nothing to write: give --cache FILE and/or --out DIR");
    }
    let (plan, digest) = Plan::read(&args.job.dir)?;
    remove_stale_temporaries(&args.job.dir)?;
    let results =
        (0..plan.groups.len()).map(|g| read_for_group(&args.job.dir, &plan, &digest, g)).collect::<samurai_core::Result<Vec<_>>>()?;
    // One shot: --cache is the file and --out the folder; several: CACHE/SHOT.srtc and OUT/SHOT/.
    let several = plan.shots.len() > 1;
    for (s, shot) in plan.shots.iter().enumerate() {
        let frames = blend_shot(&plan, s, &results)?;
        if let Some(path) = &args.cache {
            let path = if several { path.join(format!("{}.srtc", shot.name)) } else { path.clone() };
            let key = shot
                .cache_key
                .clone()
                .context("--cache: the plan was made without --cache, so it has no track cache key (plan again with --cache)")?;
            let header = TrackCacheHeader {
                key,
                first_frame: shot.first_frame + shot.range.0 as i64,
                frames: frames.len(),
                frame_size: shot.frame_size,
                side: plan.settings.image_size / 4,
                objects: shot.objects.iter().map(|o| o.name.clone()).collect(),
                frame_hashes: shot.clip[shot.range.0..=shot.range.1].iter().map(|c| c.hash.clone()).collect(),
                precision: Some(plan.settings.precision),
            };
            TrackCache { header, frames: frames.clone() }.write_atomic(&path)?;
        }
        if let Some(out) = &args.out {
            let out = if several { out.join(&shot.name) } else { out.clone() };
            let paths: Vec<PathBuf> = shot.clip.iter().map(|c| shot.frames_dir.join(&c.file)).collect();
            let writer = MatteWriter::new(args.matte.writer_options(out, shot.frame_size, paths, 0)?);
            let mut written = Ok(());
            for (frame, low) in (shot.range.0..).zip(frames) {
                if let Err(e) = writer.submit(frame, low) {
                    written = Err(e).with_context(|| format!("shot {} writing frame {frame}", shot.name));
                    break;
                }
            }
            let finished = writer.finish().context("writing mattes");
            written?;
            finished?;
        }
    }
    println!("merged {} pass group(s) of {} in {:.1} s", plan.groups.len(), args.job.dir.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// `farm slurm`.
fn slurm(args: &SlurmArgs) -> Result<()> {
    let (plan, _) = Plan::read(&args.job.dir)?;
    let job = absolute(&args.job.dir)?;
    let exe = this_exe(args.exe.as_deref())?;
    let (pass_script, merge_script) = slurm_scripts(&plan, &job, &exe, &plan.merge_args, args.cpus_per_task);
    let dir = job.join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let (pass_path, merge_path) = (dir.join("pass.sbatch"), dir.join("merge.sbatch"));
    write_text(&pass_path, &pass_script)?;
    write_text(&merge_path, &merge_script)?;
    println!("wrote {} and {}", pass_path.display(), merge_path.display());
    if !args.submit {
        return Ok(());
    }
    let sbatch = |extra: &[String], script: &Path| -> Result<String> {
        let out = std::process::Command::new("sbatch")
            .arg("--parsable")
            .args(extra)
            .arg(script)
            .output()
            .context("running sbatch (is Slurm installed and on PATH?)")?;
        if !out.status.success() {
            bail!("sbatch {}: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_owned();
        if id.is_empty() {
            bail!("sbatch {}: no job id in its answer", script.display());
        }
        Ok(id)
    };
    let passes = sbatch(&[], &pass_path)?;
    let merge = sbatch(&[format!("--dependency=afterok:{passes}")], &merge_path)?;
    println!("submitted: passes {passes}, merge {merge} (after the passes succeed)");
    Ok(())
}
