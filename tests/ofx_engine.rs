//! The real engine behind the OFX layer (`TrackerEngine`): host frames pulled through the
//! fetch callback give the same bits as the tracker reading the folder itself (what the
//! `track` command does), cached frames come back without tracking, cancellation and
//! frames the host cannot provide are clear errors; Analyse writes a track cache that a
//! fresh engine (as in another process) renders from without tracking, and a stale or
//! damaged cache is detected, reported and ignored.
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
    assert!(engine.cached_mattes(FIRST + 4, None).is_some());
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
    // A panic inside a request (here the host's fetch; in life e.g. libtorch out of
    // memory) is caught at the OFX boundary; the engine recovers for the next request.
    // (Any fetch panics: frames visited by the requests above may have their image
    // features kept for the passes still to come, so a request need not fetch them again;
    // frame FIRST + 6 has not been visited yet.)
    let panicking = |f: i64| -> Result<FrameImage, String> { panic!("host crashed fetching {f}") };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.mattes(FIRST + 6, &panicking, &|| false)));
    assert!(caught.is_err(), "the fetch panic should unwind out of the engine");
    let recovered = engine.mattes(FIRST + 4, &host_frame, &|| false);
    assert!(recovered.as_ref().is_ok_and(|m| m.len() == 2), "no recovery after a panic: {:?}", recovered.err());
    let err = engine.mattes(FIRST + 40, &host_frame, &|| false).unwrap_err();
    assert!(err.contains("outside"), "{err}");
    let mut bad = settings(PathBuf::from("/nonexistent/sam2.1_hiera_tiny.pt"));
    bad.image_size = 256;
    let err = TrackerEngine::default().configure(&bad, (0, 5), (960, 540)).unwrap_err();
    assert!(err.contains("not found") && err.contains("sam2.1_hiera"), "{err}");
}

/// Fetch that refuses every frame except `allowed` (proves a render did not track).
fn only(allowed: i64) -> impl Fn(i64) -> Result<FrameImage, String> {
    move |f| if f == allowed { host_frame(f) } else { Err(format!("frame {f} fetched: the engine tracked instead of using the cache")) }
}

#[test]
fn analyse_writes_a_track_cache_that_other_engines_render_from() {
    tch::set_num_threads(2);
    let ckpt = checkpoint();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("shot.srtc");
    let range = (FIRST, FIRST + 6);
    let fresh = |path: &std::path::Path| {
        let e = TrackerEngine::default();
        e.configure(&settings(ckpt.clone()), range, (960, 540)).unwrap();
        e.set_objects(&objects()).unwrap();
        e.set_track_cache(Some(path)).unwrap();
        e
    };
    let analysed = fresh(&path);
    let steps = std::cell::RefCell::new(Vec::new());
    let report = analysed.analyse(&host_frame, &|p| { steps.borrow_mut().push(p); true }).unwrap();
    assert_eq!(report.frames, 7);
    let (written, bytes) = report.written.clone().unwrap();
    assert_eq!(written, path);
    assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
    let steps = steps.into_inner();
    assert!(!steps.is_empty() && steps.windows(2).all(|w| w[0] <= w[1]) && steps.iter().all(|p| (0.0..=1.0).contains(p)), "progress {steps:?}");
    // Nothing but the cache beside it (the write is a rename of a temporary file).
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    // Live results of the analysing engine (already computed: no fetch needed).
    let no_fetch = |f: i64| -> Result<FrameImage, String> { Err(format!("fetch of {f} not expected")) };
    let live: Vec<_> = (range.0..=range.1).map(|f| analysed.mattes(f, &no_fetch, &|| false).unwrap()).collect();

    // Two fresh engines (two farm processes) each render half the range from the file.
    let (a, b) = (fresh(&path), fresh(&path));
    for f in range.0..=range.1 {
        let e = if f < FIRST + 3 { &a } else { &b };
        let current = host_frame(f).unwrap();
        let cached = e.cached_mattes(f, Some(&current)).unwrap_or_else(|| panic!("frame {f} not served from the cache: {:?}", e.notice()));
        assert!(cached == live[(f - FIRST) as usize], "frame {f}: cache and live tracking differ");
        assert_eq!(e.mattes(f, &only(f), &|| false).unwrap(), cached);
        assert_eq!(e.notice(), None);
    }

    // Stale: another keyframe box → the file is not used, the artist is told, tracking runs.
    let mut moved = objects();
    moved[0].keyframes.insert(FIRST + 1, [300.0, 0.0, 515.0, 400.0]);
    let stale = fresh(&path);
    stale.set_objects(&moved).unwrap();
    assert_eq!(stale.cached_mattes(FIRST + 2, Some(&host_frame(FIRST + 2).unwrap())), None);
    assert!(stale.notice().unwrap().contains("stale"), "{:?}", stale.notice());
    assert!(stale.mattes(FIRST + 2, &host_frame, &|| false).is_ok());

    // Stale: the same settings on other footage (frame 12 changed) → detected on that frame.
    let other = fresh(&path);
    let mut changed = host_frame(FIRST + 2).unwrap();
    changed.rgb8[0] ^= 1;
    assert_eq!(other.cached_mattes(FIRST + 2, Some(&changed)), None);
    assert!(other.notice().unwrap().contains("frame 12"), "{:?}", other.notice());
    // Once stale, the file is not used for other frames either.
    assert_eq!(other.cached_mattes(FIRST + 4, Some(&host_frame(FIRST + 4).unwrap())), None);

    // Damaged: one flipped byte in the logits → checksum mismatch, reported, ignored.
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes.len() - 100;
    bytes[i] ^= 0x40;
    let broken = tmp.path().join("broken.srtc");
    std::fs::write(&broken, &bytes).unwrap();
    let damaged = fresh(&broken);
    assert_eq!(damaged.cached_mattes(FIRST, Some(&host_frame(FIRST).unwrap())), None);
    assert!(damaged.notice().unwrap().contains("damaged"), "{:?}", damaged.notice());
    let tracked = damaged.mattes(FIRST + 1, &host_frame, &|| false).unwrap();
    assert!(tracked == live[1], "live tracking after a damaged cache differs");

    // A missing file is no problem and no notice.
    let missing = fresh(&tmp.path().join("not-yet.srtc"));
    assert_eq!(missing.cached_mattes(FIRST, Some(&host_frame(FIRST).unwrap())), None);
    assert_eq!(missing.notice(), None);

    // Cancelled Analyse writes nothing.
    let cancelled = fresh(&tmp.path().join("cancelled.srtc"));
    let err = cancelled.analyse(&host_frame, &|p| p < 0.3).unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    assert!(!tmp.path().join("cancelled.srtc").exists());
}
