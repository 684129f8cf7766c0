//! What several benchmarks share: the median timer, the load options from the command line,
//! the one-object forward-tracking session, the network lock and a clip's length.
use anyhow::{Context, Result};
use samurai_engine::config::Preset;
use samurai_engine::model::{DeviceChoice, LoadOptions, Precision, Sam2Model};
use samurai_engine::tracker::{BlendMode, FolderSource, Session, TrackerOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Median seconds of `repeat` runs of `f` (after one warm-up run).
pub fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> f64 {
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

// The clip run by the `track` and `precision` benchmarks: a checkpoint, the first `count`
// frames of a folder at an image size, one box keyframe on frame 0, a device. (A plain
// comment: clap would take a doc comment for the help text of each benchmark that
// flattens these options in.)
#[derive(clap::Args)]
pub struct ClipRun {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub frames: PathBuf,
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 1024)]
    pub image_size: i64,
    #[arg(long = "box")]
    pub bbox: String,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// The network's load options from `--device` and `--precision` (auto resolved as the
/// product resolves it).
pub fn load_options(device: &str, precision: &str) -> Result<LoadOptions> {
    Ok(LoadOptions::resolve(DeviceChoice::parse(device)?, Precision::parse_choice(precision)?)?.0)
}

/// A forward-tracking session of one object keyed on frame 0 (the reference's algorithm).
pub fn session(checkpoint: &Path, frames: &Path, image_size: i64, bbox: &str, options: &LoadOptions) -> Result<(Session, usize)> {
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

/// Locks the shared network.
pub fn lock(m: &samurai_engine::model::SharedModel) -> impl std::ops::DerefMut<Target = Sam2Model> + '_ {
    m.lock()
}

/// The number of frames in a clip folder.
pub fn source_len(s: &FolderSource) -> usize {
    use samurai_engine::tracker::FrameSource;
    s.len()
}
