//! The real engine behind the OFX layer (`TrackerEngine`): host frames pulled through the
//! fetch callback give the same bits as the tracker reading the folder itself (what the
//! `track` command does), cached frames come back without tracking, cancellation and
//! frames the host cannot provide are clear errors.
mod common;

use samurai_roto::config::{ModelSize, Preset};
use samurai_roto::image::load_rgb8;
use samurai_roto::model::{LoadOptions, Sam2Model};
use samurai_roto::ofx::engine::{EngineSettings, FrameImage, MatteEngine, ObjectKeys};
use samurai_roto::ofx::tracker_engine::TrackerEngine;
use samurai_roto::tracker::{BlendMode, FolderSource, Session, TrackerOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FIRST: i64 = 10; // host frame of clip frame 0

fn checkpoint() -> PathBuf {
    common::tiny_checkpoint(256)
}

fn settings(ckpt: PathBuf) -> EngineSettings {
    EngineSettings { checkpoint: ckpt, model_size: None, device: "cpu".into(), precision: "fp32".into(), image_size: 256, tuning: BTreeMap::new(), mode: "blend".into(), non_overlap: false, fill_hole_area: 8 }
}

fn host_frame(f: i64) -> Result<FrameImage, String> {
    let path = common::clips().join(format!("bedroom/{:05}.jpg", f - FIRST));
    let img = load_rgb8(&path).map_err(|e| e.to_string())?;
    Ok(FrameImage { width: img.width, height: img.height, rgb8: img.data })
}

fn objects() -> Vec<ObjectKeys> {
    vec![
        ObjectKeys { name: "girl#1".into(), keyframes: BTreeMap::from([(FIRST + 1, [310.0, 0.0, 515.0, 400.0]), (FIRST + 5, [300.0, 10.0, 520.0, 420.0])]) },
        // The key at FIRST + 30 lies outside the host's range and is ignored.
        ObjectKeys { name: "boy#2".into(), keyframes: BTreeMap::from([(FIRST + 3, [145.0, 135.0, 295.0, 405.0]), (FIRST + 30, [1.0, 1.0, 50.0, 50.0])]) },
    ]
}

#[test]
fn host_frames_give_the_same_bits_as_the_tracker_on_the_folder() {
    tch::set_num_threads(2);
    let ckpt = checkpoint();
    let engine = TrackerEngine::default();
    engine.configure(&settings(ckpt.clone()), (FIRST, FIRST + 6), (960, 540)).unwrap();
    engine.set_objects(&objects()).unwrap();
    let never = || false;
    // Random order, as a host scrubbing the timeline.
    let order = [FIRST + 4, FIRST, FIRST + 6, FIRST + 2];
    let got: Vec<_> = order.iter().map(|&f| engine.mattes(f, &host_frame, &never).unwrap()).collect();

    // The same keyframes on a session that reads the folder itself (as `track` does).
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..7 {
        let name = format!("{i:05}.jpg");
        std::os::unix::fs::symlink(common::clips().join("bedroom").join(&name), tmp.path().join(&name)).unwrap();
    }
    let model = Sam2Model::load_detect(&ckpt, 256, &LoadOptions::default()).unwrap().shared();
    let options = TrackerOptions { mode: BlendMode::Blend, ..TrackerOptions::default() };
    let mut session = Session::new(model, Preset::builtin(ModelSize::Tiny).samurai, Box::new(FolderSource::open(tmp.path()).unwrap()), options).unwrap();
    for o in objects() {
        session.add_object(&o.name).unwrap();
        for (f, b) in o.keyframes.into_iter().filter(|(f, _)| *f <= FIRST + 6) {
            session.set_keyframe(&o.name, (f - FIRST) as usize, b).unwrap();
        }
    }
    for (&f, mattes) in order.iter().zip(&got) {
        let expect = session.mask_at((f - FIRST) as usize).unwrap();
        assert_eq!(mattes.len(), 2);
        for ((name, logits), e) in mattes.iter().zip(&expect) {
            assert_eq!(name, &e.name);
            let e: Vec<f32> = Vec::try_from(e.logits.flatten(0, -1)).unwrap();
            assert!(logits == &e, "host frame {f} object {name}: engine and folder tracking differ");
        }
    }
    // Cached frames are served without tracking (and without a fetch).
    assert!(engine.cached_mattes(FIRST + 4).is_some());
    let no_fetch = |f: i64| -> Result<FrameImage, String> { Err(format!("fetch of {f} not expected")) };
    assert_eq!(engine.mattes(FIRST + 4, &no_fetch, &never).unwrap(), got[0]);
}

#[test]
fn cancellation_and_missing_frames_are_errors() {
    tch::set_num_threads(2);
    let engine = TrackerEngine::default();
    engine.configure(&settings(checkpoint()), (FIRST, FIRST + 6), (960, 540)).unwrap();
    engine.set_objects(&objects()).unwrap();
    let err = engine.mattes(FIRST + 6, &host_frame, &|| true).unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    let broken = |f: i64| -> Result<FrameImage, String> { if f == FIRST + 2 { Err("disk offline".into()) } else { host_frame(f) } };
    let err = engine.mattes(FIRST + 2, &broken, &|| false).unwrap_err();
    assert!(err.contains("frame 12") && err.contains("disk offline"), "{err}");
    let err = engine.mattes(FIRST + 40, &host_frame, &|| false).unwrap_err();
    assert!(err.contains("outside"), "{err}");
    let mut bad = settings(PathBuf::from("/nonexistent/sam2.1_hiera_tiny.pt"));
    bad.image_size = 256;
    let err = TrackerEngine::default().configure(&bad, (0, 5), (960, 540)).unwrap_err();
    assert!(err.contains("not found") && err.contains("sam2.1_hiera"), "{err}");
}
