//! Mattes written behind the tracker: [`MatteWriter`] takes each finished frame's
//! low-resolution logits and, on background threads, upsamples them to the clip's
//! resolution (`samurai_core::finish::finish_frame`, the plugin's finishing, bit for bit
//! what `mask_at` gives), thresholds them and writes `OUT/NAME/NNNNN.png|.exr` (and `.npy` logits).
//!
//! - **Bounded.** A queue of `queue` frames: when the writers fall behind, `submit` waits.
//! - **Nothing half-written.** Each file is written to a hidden temporary file in its
//!   folder and renamed into place once complete; a failure or a stop leaves no partial
//!   file under a frame's name.
//! - **Errors.** The first failure (naming the frame, the object and the file) stops the
//!   other writers' remaining work and is returned by the next `submit` and by `finish`.
//! - **Shutdown.** `finish` writes everything queued and joins the threads; dropping the
//!   writer without `finish` (the run failed elsewhere) abandons the queue and joins them.
use crate::error::{Error, Result};
use crate::tracker::LowResFrame;
// Pure Rust, bit for bit the tracker's libtorch `finish_frame` (crates/engine/tests/parity/finish_parity.rs):
// writer threads never enter libtorch's thread pool beside the tracker's own work.
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::ImageEncoder;
use parking_lot::Mutex;
use samurai_core::finish::finish_frame;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Matte file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatteFormat {
    /// 8-bit greyscale, 0 or 255.
    Png,
    /// Half float 0/1 in R, G and B.
    Exr,
}

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// `OUT/NAME/NNNNN.png|.exr`.
    pub out: PathBuf,
    /// Also `LOGITS/NAME/NNNNN.npy` (float32 logits at the clip's resolution).
    pub logits: Option<PathBuf>,
    pub format: MatteFormat,
    /// `(width, height)` of the clip.
    pub frame_size: (u32, u32),
    pub non_overlap: bool,
    /// Writer threads (0 writes on the caller's thread inside `submit`).
    pub threads: usize,
    /// Frames queued ahead of the writers.
    pub queue: usize,
    /// Edge refinement: soft refined alpha instead of the thresholded matte.
    pub refine: Option<Refinement>,
    /// One multi-layer EXR per frame, `OUT/NNNNN.exr` (a `NAME.A` channel per object and
    /// `ID`), instead of a file per object and frame.
    pub layers: bool,
}

/// `track --refine`: each matte refined against its frame (`samurai_core::refine`), written
/// as 16-bit PNG or float EXR alpha, the same bits as `samurai-roto refine` gives for that
/// frame and those logits.
#[derive(Debug, Clone)]
pub struct Refinement {
    pub settings: samurai_core::refine::RefineSettings,
    /// The frames' files, by frame index (the plate is the 8-bit RGB the network sees).
    pub frames: Vec<PathBuf>,
}

type Job = (usize, LowResFrame);

/// Writes finished frames on background threads.
pub struct MatteWriter {
    options: Arc<WriterOptions>,
    sender: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    failure: Arc<Mutex<Option<Error>>>,
    stop: Arc<AtomicBool>,
}

impl MatteWriter {
    /// Starts the writer threads.
    pub fn new(options: WriterOptions) -> Self {
        let options = Arc::new(options);
        let failure = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        if options.threads == 0 {
            return Self { options, sender: None, workers: Vec::new(), failure, stop };
        }
        let (sender, receiver) = sync_channel::<Job>(options.queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..options.threads)
            .map(|i| {
                let (options, receiver, failure, stop) = (options.clone(), receiver.clone(), failure.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("matte-writer-{i}"))
                    .spawn(move || worker(&options, &receiver, &failure, &stop))
                    .expect("spawning a matte writer thread")
            })
            .collect();
        Self { options, sender: Some(sender), workers, failure, stop }
    }

    /// The first failure so far, if any (taken: reported once).
    fn failed(&self) -> Result<()> {
        match self.failure.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Queues `frame` for writing (waits while the queue is full). Returns a writer's
    /// earlier failure instead, if one happened.
    pub fn submit(&self, frame: usize, low: LowResFrame) -> Result<()> {
        self.failed()?;
        match &self.sender {
            None => write_frame(&self.options, frame, &low),
            Some(s) => s.send((frame, low)).map_err(|_| Error::invalid("output", "the matte writers stopped")),
        }
    }

    /// Writes everything queued, stops the threads and returns the first failure.
    pub fn finish(mut self) -> Result<()> {
        self.sender = None;
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                return Err(Error::invalid("output", "a matte writer thread panicked"));
            }
        }
        self.failed()
    }
}

impl Drop for MatteWriter {
    fn drop(&mut self) {
        // Not finished: abandon what is queued, let the frames being written complete.
        self.stop.store(true, Ordering::SeqCst);
        self.sender = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(options: &WriterOptions, receiver: &Mutex<Receiver<Job>>, failure: &Mutex<Option<Error>>, stop: &AtomicBool) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = receiver.lock().recv();
        let Ok((frame, low)) = job else { return };
        if stop.load(Ordering::SeqCst) {
            continue; // drain without writing
        }
        if let Err(e) = write_frame(options, frame, &low) {
            stop.store(true, Ordering::SeqCst);
            failure.lock().get_or_insert(e);
        }
    }
}

/// Finishes and writes one frame's mattes (and logits).
pub fn write_frame(options: &WriterOptions, frame: usize, low: &LowResFrame) -> Result<()> {
    let (w, h) = (options.frame_size.0 as usize, options.frame_size.1 as usize);
    low.validate().map_err(|e| Error::invalid("output", format!("frame {frame}: {e}")))?;
    let mut plate = None;
    // With `layers`: each object's (name, alpha, value the ID matte compares).
    let mut layers: Vec<(String, Vec<f32>, Vec<f32>)> = Vec::new();
    for (name, logits) in finish_frame(low, options.frame_size, options.non_overlap) {
        let context = |e: Error| Error::invalid("output", format!("frame {frame}, object {name}: {e}"));
        let dir = options.out.join(&name);
        if !options.layers {
            std::fs::create_dir_all(&dir).map_err(|e| context(Error::io(&dir, e)))?;
        }
        if let Some(r) = &options.refine {
            let plate = match &mut plate {
                Some(p) => p,
                None => plate.insert(read_plate(r, frame).map_err(context)?),
            };
            let coarse =
                ndarray::ArrayView2::from_shape((h, w), &logits[..]).map_err(|e| context(Error::invalid("logits", e.to_string())))?;
            let refined = samurai_core::refine::refine_logits(plate.view(), coarse, &r.settings).map_err(|e| context(e.into()))?;
            tracing::info!("frame {frame}, object {name}: refine: {}", refined.stats.summary());
            if let Some(why) = refined.stats.outcome.warning() {
                tracing::warn!("frame {frame}, object {name}: edge not refined, the coarse matte is kept: {why}");
            }
            if options.layers {
                let alpha = refined.alpha.iter().copied().collect::<Vec<f32>>();
                layers.push((name.clone(), alpha.clone(), alpha));
            } else {
                let ext = if options.format == MatteFormat::Exr { "exr" } else { "png" };
                let path = dir.join(format!("{frame:05}.{ext}"));
                atomic_write(&path, |tmp| crate::image::write_alpha(tmp, &refined.alpha)).map_err(context)?;
            }
        } else if options.layers {
            layers.push((name.clone(), logits.iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect(), logits.clone()));
        } else {
            match options.format {
                MatteFormat::Png => {
                    let mask: Vec<u8> = logits.iter().map(|&v| if v > 0.0 { 255 } else { 0 }).collect();
                    let path = dir.join(format!("{frame:05}.png"));
                    let mut bytes = Vec::with_capacity(w * h / 16);
                    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
                        .write_image(&mask, w as u32, h as u32, image::ExtendedColorType::L8)
                        .map_err(|e| context(Error::Image { path: path.clone(), reason: format!("cannot encode PNG: {e}") }))?;
                    atomic_write(&path, |tmp| std::fs::write(tmp, &bytes).map_err(|e| Error::io(tmp, e))).map_err(context)?;
                }
                MatteFormat::Exr => {
                    let mask: Vec<f32> = logits.iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect();
                    let path = dir.join(format!("{frame:05}.exr"));
                    atomic_write(&path, |tmp| crate::image::write_matte_exr(tmp, w, h, &mask)).map_err(context)?;
                }
            }
        }
        if let Some(root) = &options.logits {
            let dir = root.join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| context(Error::io(&dir, e)))?;
            let path = dir.join(format!("{frame:05}.npy"));
            let tensor = tch::Tensor::from_slice(&logits).view([h as i64, w as i64]);
            atomic_write(&path, |tmp| crate::image::write_npy_f32(tmp, &tensor)).map_err(context)?;
        }
    }
    if options.layers {
        let id = id_matte(&layers, options.refine.is_some());
        let mut channels: Vec<(String, Vec<f32>)> = layers.into_iter().map(|(name, alpha, _)| (format!("{name}.A"), alpha)).collect();
        channels.push(("ID".into(), id));
        std::fs::create_dir_all(&options.out).map_err(|e| Error::io(&options.out, e))?;
        let path = options.out.join(format!("{frame:05}.exr"));
        atomic_write(&path, |tmp| crate::image::write_layers_exr(tmp, w, h, &channels))
            .map_err(|e| Error::invalid("output", format!("frame {frame}: {e}")))?;
    }
    Ok(())
}

/// The node's ID matte: at each pixel, the number (from 1, in object order) of the object
/// with the largest value among those inside it (logit > 0, or refined alpha >= 0.5), the
/// lower number on ties; 0 where no object is.
fn id_matte(layers: &[(String, Vec<f32>, Vec<f32>)], refined: bool) -> Vec<f32> {
    let n = layers.first().map_or(0, |l| l.2.len());
    (0..n)
        .map(|i| {
            let mut best: Option<(usize, f32)> = None;
            for (k, (_, _, values)) in layers.iter().enumerate() {
                let v = values[i];
                let inside = if refined { v >= 0.5 } else { v > 0.0 };
                if inside && best.is_none_or(|(_, b)| v > b) {
                    best = Some((k, v));
                }
            }
            best.map_or(0.0, |(k, _)| (k + 1) as f32)
        })
        .collect()
}

/// The plate of `frame` for refinement: `H × W × 3`, the 8-bit RGB over 255.
fn read_plate(r: &Refinement, frame: usize) -> Result<ndarray::Array3<f32>> {
    let path = r.frames.get(frame).ok_or_else(|| Error::invalid("refine", format!("no file for frame {frame}")))?;
    let img = crate::image::load_rgb8(path)?;
    let (w, h) = (img.width as usize, img.height as usize);
    ndarray::Array3::from_shape_vec((h, w, 3), img.data.iter().map(|v| *v as f32 / 255.0).collect())
        .map_err(|e| Error::invalid("refine", format!("{}: {e}", path.display())))
}

/// Runs `write` on a hidden temporary file beside `path`, then renames it to `path`.
/// On failure the temporary file is removed: `path` is never left half-written.
fn atomic_write(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The extension stays last: some encoders pick the format from it.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(&format!(".part.{name}"))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    write(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low(side: i64, names: &[&str], value: f32) -> LowResFrame {
        LowResFrame { side, objects: names.iter().map(|n| (n.to_string(), vec![value; (side * side) as usize])).collect() }
    }

    fn options(out: &Path, threads: usize) -> WriterOptions {
        WriterOptions {
            out: out.to_owned(),
            logits: None,
            format: MatteFormat::Png,
            frame_size: (12, 8),
            non_overlap: false,
            threads,
            queue: 2,
            refine: None,
            layers: false,
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = walk(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
        v.sort();
        v
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn threaded_and_inline_writers_write_the_same_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let threaded = MatteWriter::new(options(a.path(), 2));
        let inline = MatteWriter::new(options(b.path(), 0));
        for f in 0..5 {
            let l = low(4, &["x", "y"], f as f32 - 2.0);
            threaded.submit(f, l.clone()).unwrap();
            inline.submit(f, l).unwrap();
        }
        threaded.finish().unwrap();
        inline.finish().unwrap();
        let names = files(a.path());
        assert_eq!(names.len(), 10, "{names:?}");
        assert_eq!(names, files(b.path()));
        for n in &names {
            assert_eq!(std::fs::read(a.path().join(n)).unwrap(), std::fs::read(b.path().join(n)).unwrap(), "{n}");
        }
        let on = image::open(a.path().join("x/00004.png")).unwrap().into_luma8();
        assert!(on.pixels().all(|p| p.0[0] == 255));
        let off = image::open(a.path().join("x/00001.png")).unwrap().into_luma8();
        assert!(off.pixels().all(|p| p.0[0] == 0));
    }

    #[test]
    fn a_failure_names_the_frame_and_leaves_no_partial_file() {
        let tmp = tempfile::tempdir().unwrap();
        // Object "y"'s folder is a file: writing its mattes fails.
        std::fs::write(tmp.path().join("y"), b"in the way").unwrap();
        let writer = MatteWriter::new(options(tmp.path(), 2));
        let mut err = None;
        for f in 0..50 {
            if let Err(e) = writer.submit(f, low(4, &["x", "y"], 1.0)) {
                err = Some(e);
                break;
            }
        }
        let err = err.unwrap_or_else(|| writer.finish().unwrap_err()).to_string();
        assert!(err.contains("frame ") && err.contains("object y"), "{err}");
        let left = files(tmp.path());
        assert!(left.iter().all(|n| n == "y" || (n.starts_with("x/") && n.ends_with(".png") && !n.contains(".part"))), "{left:?}");
    }
}
