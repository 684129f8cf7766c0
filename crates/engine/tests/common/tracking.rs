//! Tracker-level test helpers shared by the tracker, prompt and I/O pipeline tests: the
//! bedroom clip's two prompt boxes, one tiny model loaded once per test binary, a lock that
//! runs model tests one at a time, sessions on a folder of frames, and bit comparisons.
use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::{LoadOptions, Sam2Model, SharedModel};
use samurai_engine::tracker::{FolderSource, Session, TrackerOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use tch::Tensor;

/// The bedroom clip's prompt boxes (pixels, x1, y1, x2, y2).
pub const GIRL: [f64; 4] = [310.0, 0.0, 515.0, 400.0];
pub const BOY: [f64; 4] = [145.0, 135.0, 295.0, 405.0];

/// The shared tiny model at 256 (loading once keeps the suite fast).
pub fn model() -> SharedModel {
    static MODEL: OnceLock<SharedModel> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            tch::set_num_threads(2);
            Sam2Model::load_detect(&super::tiny_checkpoint(256), 256, &LoadOptions::default()).expect("checkpoint").shared()
        })
        .clone()
}

/// Held by each test that runs the model: one at a time.
pub fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A folder with the first `n` bedroom frames (symlinks).
pub fn frames(n: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = super::clips().join("bedroom");
    for i in 0..n {
        let name = format!("{i:05}.jpg");
        std::os::unix::fs::symlink(src.join(&name), tmp.path().join(&name)).unwrap();
    }
    let p = tmp.path().to_owned();
    (tmp, p)
}

/// A session with the tiny preset on the frames of `dir`.
pub fn session(dir: &Path, options: TrackerOptions) -> Session {
    let tuning = Preset::builtin(ModelSize::Tiny).samurai;
    Session::new(model(), tuning, Box::new(FolderSource::open(dir).unwrap()), options).unwrap()
}

/// Every object's logits at `frame`.
pub fn mattes(s: &mut Session, frame: usize) -> Vec<Tensor> {
    s.mask_at(frame).unwrap().into_iter().map(|m| m.logits).collect()
}

pub fn assert_bits_equal(a: &[Tensor], b: &[Tensor], what: &str) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(x.equal(y), "{what}: logits differ (max {:e})", super::max_abs_diff(x, y));
    }
}
