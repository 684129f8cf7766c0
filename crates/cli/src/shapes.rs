//! `samurai-roto shapes`: the mattes of a track cache (the node's Analyse) or of `track
//! --logits` as animated Bezier shapes (`samurai_core::shapes`), written as a Nuke `.nk`,
//! a Natron `.py`, one `.svg` per frame or `.json`, chosen by the extension of `--out`.
//! Prints, per object, the shapes, their control points and the IoU of the rasterised
//! shapes against the matte; `--report` adds the control points' motion.
use anyhow::{bail, Context, Result};
use clap::Args;
use samurai_core::finish::finish_frame;
use samurai_core::shapes::track::{self, Tracker};
use samurai_core::shapes::{self, animate, metrics, raster, Note, ObjectShapes, ShapeSet, ShapeSettings};
use samurai_core::track_cache::TrackCache;
use samurai_engine::tracker::{FolderSource, FrameSource};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShapesArgs {
    /// A track cache file (the node's Analyse): its objects' blended logits.
    #[arg(long, required_unless_present = "logits", conflicts_with = "logits")]
    pub track_cache: Option<PathBuf>,
    /// A `track --logits` folder: DIR/NAME/NNNNN.npy, float32 logits at the plate's size.
    #[arg(long)]
    pub logits: Option<PathBuf>,
    /// The frames the mattes belong to (their size is the plate's; the SVGs show them).
    #[arg(long)]
    pub frames: PathBuf,
    /// Output: .nk (Nuke Roto node), .py (Natron script), .svg (FILE.NNNNN.svg per frame)
    /// or .json (curves and keys).
    #[arg(long)]
    pub out: PathBuf,
    /// Only these objects (repeat; default: all).
    #[arg(long = "object", value_name = "NAME")]
    pub objects: Vec<String>,
    /// Frames A-B inclusive (default: all the input holds).
    #[arg(long)]
    pub range: Option<String>,
    /// Largest distance in plate pixels between the matte's outline and its curve.
    #[arg(long, default_value_t = ShapeSettings::default().tolerance_px)]
    pub tolerance: f64,
    /// Islands kept per object and frame (the largest); the others are dropped with a note.
    #[arg(long, default_value_t = ShapeSettings::default().max_islands)]
    pub max_islands: usize,
    /// Islands of fewer pixels are dropped.
    #[arg(long, default_value_t = ShapeSettings::default().min_island_area)]
    pub min_island_area: usize,
    /// Holes of fewer pixels are filled; larger ones become hole shapes.
    #[arg(long, default_value_t = ShapeSettings::default().min_hole_area)]
    pub min_hole_area: usize,
    /// Most control points on one shape.
    #[arg(long, default_value_t = ShapeSettings::default().max_points)]
    pub max_points: usize,
    /// With --track-cache: keep only the strongest object at each pixel (as track
    /// --non-overlap).
    #[arg(long)]
    pub non_overlap: bool,
    /// Also write each object's rasterised shapes: DIR/NAME/NNNNN.npy (float32 coverage).
    #[arg(long)]
    pub raster: Option<PathBuf>,
    /// Also print the fidelity figures: IoU per frame, points per shape, point motion.
    #[arg(long)]
    pub report: bool,
}

/// Where the logit planes come from.
enum Input {
    Cache { cache: TrackCache, non_overlap: bool },
    Logits { dir: PathBuf },
}

impl Input {
    /// Every object with its frames.
    fn inventory(&self) -> Result<BTreeMap<String, Vec<i64>>> {
        match self {
            Input::Cache { cache, .. } => {
                let h = &cache.header;
                let frames: Vec<i64> = (0..h.frames as i64).map(|i| h.first_frame + i).collect();
                Ok(h.objects.iter().map(|o| (o.clone(), frames.clone())).collect())
            }
            Input::Logits { dir } => {
                let mut out = BTreeMap::new();
                let entries = std::fs::read_dir(dir).with_context(|| format!("--logits {}", dir.display()))?;
                for e in entries.flatten().filter(|e| e.path().is_dir()) {
                    let mut frames = Vec::new();
                    for f in std::fs::read_dir(e.path()).with_context(|| format!("{}", e.path().display()))?.flatten() {
                        let p = f.path();
                        if p.extension().and_then(|x| x.to_str()) == Some("npy") {
                            if let Some(n) = p.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<i64>().ok()) {
                                frames.push(n);
                            }
                        }
                    }
                    if !frames.is_empty() {
                        frames.sort_unstable();
                        out.insert(e.file_name().to_string_lossy().into_owned(), frames);
                    }
                }
                if out.is_empty() {
                    bail!("--logits {}: no NAME/NNNNN.npy files (the layout `track --logits` writes)", dir.display());
                }
                Ok(out)
            }
        }
    }

    /// The logit planes of `objects` on `frame` at `size`.
    fn planes(&self, frame: i64, objects: &[String], size: (u32, u32)) -> Result<Vec<Vec<f32>>> {
        match self {
            Input::Cache { cache, non_overlap } => {
                let low = cache.frame(frame).with_context(|| format!("the track cache holds no frame {frame}"))?;
                let mut all = finish_frame(low, size, *non_overlap);
                Ok(objects
                    .iter()
                    .map(|o| all.iter_mut().find(|(n, _)| n == o).map(|(_, v)| std::mem::take(v)).unwrap_or_default())
                    .collect())
            }
            Input::Logits { dir } => objects
                .iter()
                .map(|o| {
                    let path = dir.join(o).join(format!("{frame:05}.npy"));
                    let a = samurai_core::refine::npy::read(&path).with_context(|| format!("object {o}, frame {frame}"))?;
                    if a.shape != [size.1 as usize, size.0 as usize] {
                        bail!("{}: logits of shape {:?}, expected [{}, {}] (the frames' size)", path.display(), a.shape, size.1, size.0);
                    }
                    Ok(a.data)
                })
                .collect(),
        }
    }
}

fn open_input(args: &ShapesArgs, size: (u32, u32)) -> Result<Input> {
    if let Some(path) = &args.track_cache {
        let bytes = std::fs::read(path).with_context(|| format!("--track-cache {}", path.display()))?;
        let cache = TrackCache::from_bytes(&bytes).map_err(|p| anyhow::anyhow!("--track-cache {}: {p}", path.display()))?;
        if cache.header.frame_size != size {
            bail!(
                "--track-cache {}: made for {}x{} frames, but --frames {} holds {}x{}",
                path.display(),
                cache.header.frame_size.0,
                cache.header.frame_size.1,
                args.frames.display(),
                size.0,
                size.1
            );
        }
        return Ok(Input::Cache { cache, non_overlap: args.non_overlap });
    }
    let dir = args.logits.clone().context("--track-cache or --logits is needed")?;
    if args.non_overlap {
        bail!("--non-overlap applies to --track-cache (track --logits are written after track's own --non-overlap)");
    }
    Ok(Input::Logits { dir })
}

fn settings(args: &ShapesArgs) -> Result<ShapeSettings> {
    let s = ShapeSettings {
        tolerance_px: args.tolerance,
        max_islands: args.max_islands,
        min_island_area: args.min_island_area,
        min_hole_area: args.min_hole_area,
        max_points: args.max_points,
        ..ShapeSettings::default()
    };
    s.validate().map_err(|e| anyhow::anyhow!("--{}", e.to_string().trim_start_matches("invalid ").replace(' ', "-")))?;
    Ok(s)
}

/// The objects and frame range to export.
fn selection(args: &ShapesArgs, inventory: &BTreeMap<String, Vec<i64>>) -> Result<(Vec<String>, i64, i64)> {
    let objects: Vec<String> = if args.objects.is_empty() { inventory.keys().cloned().collect() } else { args.objects.clone() };
    for o in &objects {
        if !inventory.contains_key(o) {
            bail!("--object {o}: not in the input (it holds {})", inventory.keys().cloned().collect::<Vec<_>>().join(", "));
        }
    }
    let first = objects.iter().filter_map(|o| inventory[o].first()).min().copied().unwrap_or(0);
    let last = objects.iter().filter_map(|o| inventory[o].last()).max().copied().unwrap_or(0);
    let (first, last) = match &args.range {
        None => (first, last),
        Some(r) => {
            let (a, b) = r.split_once('-').with_context(|| format!("--range '{r}': expected A-B"))?;
            let a: i64 = a.trim().parse().with_context(|| format!("--range '{r}': '{a}' is not a frame number"))?;
            let b: i64 = b.trim().parse().with_context(|| format!("--range '{r}': '{b}' is not a frame number"))?;
            if a > b || a < first || b > last {
                bail!("--range '{r}': must satisfy {first} <= A <= B <= {last} (the frames the input holds)");
            }
            (a, b)
        }
    };
    Ok((objects, first, last))
}

fn write_output(args: &ShapesArgs, set: &ShapeSet, frames: &FolderSource) -> Result<Vec<PathBuf>> {
    let plate = |frame: i64| {
        let path = usize::try_from(frame).ok().and_then(|i| frames.path(i)).and_then(|p| std::fs::canonicalize(p).ok())?;
        path.to_str().map(str::to_owned)
    };
    shapes::output::write(set, &args.out, &plate).with_context(|| format!("--out {}", args.out.display()))
}

pub fn shapes(args: &ShapesArgs) -> Result<()> {
    let settings = settings(args)?;
    let frames = FolderSource::open(&args.frames)?;
    let size = frames.frame_size();
    let input = open_input(args, size)?;
    let inventory = input.inventory()?;
    let (objects, first, last) = selection(args, &inventory)?;
    let mut notes: Vec<Note> = Vec::new();
    let mut trackers: Vec<Tracker> = objects.iter().map(|o| Tracker::new(o, size, settings)).collect();
    for frame in first..=last {
        let planes = input.planes(frame, &objects, size)?;
        for (t, plane) in trackers.iter_mut().zip(&planes) {
            t.push(frame, plane, &mut notes)?;
        }
    }
    let objects_shapes: Vec<ObjectShapes> = objects
        .iter()
        .zip(trackers)
        .map(|(name, t)| ObjectShapes { name: name.clone(), shapes: animate::animate_tracks(name, &t.finish(), &settings, &mut notes) })
        .collect();
    notes.sort_by(|a, b| a.frame.cmp(&b.frame).then(a.object.cmp(&b.object)));
    let set = ShapeSet { size, first_frame: first, last_frame: last, settings, objects: objects_shapes, notes };
    let written = write_output(args, &set, &frames)?;
    for n in &set.notes {
        eprintln!("note: {n}");
    }
    report(args, &input, &set)?;
    println!("wrote {} ({} file(s))", written.first().map(|p| p.display().to_string()).unwrap_or_default(), written.len());
    Ok(())
}

/// Rasterises the shapes of every frame back, prints the IoU against the matte (and with
/// `--report` the figures per frame and the points' motion), and writes `--raster`.
fn report(args: &ShapesArgs, input: &Input, set: &ShapeSet) -> Result<()> {
    let names: Vec<String> = set.objects.iter().map(|o| o.name.clone()).collect();
    // Per object and frame: the IoU against the matte, and against the matte the shapes
    // stand for (kept islands and holes: the curve fitting alone).
    let mut ious: Vec<Vec<(f64, f64)>> = vec![Vec::new(); names.len()];
    let (w, h) = (set.size.0 as usize, set.size.1 as usize);
    for frame in set.first_frame..=set.last_frame {
        let planes = input.planes(frame, &names, set.size)?;
        for (k, (object, plane)) in set.objects.iter().zip(&planes).enumerate() {
            let cover = raster::rasterise(&object.shapes, frame, set.size.0, set.size.1);
            let iou = raster::iou(&cover, plane);
            let fit = raster::iou_mask(&cover, &track::kept_matte(plane, w, h, &set.settings));
            ious[k].push((iou, fit));
            if args.report {
                println!("frame {frame} {}: IoU {iou:.4} (against the kept islands and holes {fit:.4})", object.name);
            }
            if let Some(dir) = &args.raster {
                let d = dir.join(&object.name);
                std::fs::create_dir_all(&d).with_context(|| format!("--raster {}", d.display()))?;
                samurai_core::refine::npy::write_f32(
                    &d.join(format!("{frame:05}.npy")),
                    &[set.size.1 as usize, set.size.0 as usize],
                    &cover,
                )?;
            }
        }
    }
    for (object, iou) in set.objects.iter().zip(&ious) {
        let n = iou.len().max(1) as f64;
        let (mean, fit_mean) = (iou.iter().map(|p| p.0).sum::<f64>() / n, iou.iter().map(|p| p.1).sum::<f64>() / n);
        let (min, fit_min) = (iou.iter().map(|p| p.0).fold(1.0, f64::min), iou.iter().map(|p| p.1).fold(1.0, f64::min));
        let points: Vec<String> = object.shapes.iter().map(|s| s.point_count().to_string()).collect();
        let err = object.shapes.iter().map(|s| s.max_error_px).fold(0.0, f64::max);
        println!(
            "{}: {} shape(s), control points {}, frames {}-{}: IoU mean {mean:.4} min {min:.4}; against the kept islands and holes mean {fit_mean:.4} min {fit_min:.4}; largest distance to the outline {err:.2} px",
            object.name,
            object.shapes.len(),
            if points.is_empty() { "-".into() } else { points.join("/") },
            set.first_frame,
            set.last_frame
        );
        if args.report {
            let m = object.shapes.iter().map(metrics::motion).fold(metrics::Motion::default(), metrics::Motion::merge);
            println!(
                "{}: point motion per frame: moved {:.3} px, outline moved {:.3} px, along the outline {:.3} px (mean over {} point-frames); jitter |p(t+1) - 2p(t) + p(t-1)| {:.3} px (mean over {})",
                object.name, m.moved_px, m.contour_px, m.slide_px, m.samples, m.jitter_px, m.triples
            );
        }
    }
    Ok(())
}
