//! The plugin's engine (`HelperEngine`, the network in the helper process) without a
//! host: Analyse writes a track cache that fresh engines (as in other processes) render
//! from without tracking and without a helper, equal to live tracking; a stale (other
//! keyframes, other footage) or damaged cache is detected, reported and ignored; a missing
//! file is no problem; a cancelled Analyse writes nothing.
mod common;

use samurai_core::settings::{DeviceChoice, EngineSettings, FrameImage, KeyframePrompt, ObjectKeys};
use samurai_roto_ofx::engine::MatteEngine;
use samurai_roto_ofx::helper_engine::HelperEngine as TrackerEngine;
use std::path::PathBuf;

const FIRST: i64 = 10; // host frame of clip frame 0

fn checkpoint() -> PathBuf {
    common::tiny_checkpoint(256)
}

fn settings(ckpt: PathBuf) -> EngineSettings {
    EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new(ckpt) }
}

fn host_frame(f: i64) -> Result<FrameImage, String> {
    let path = common::root().join(format!("../shared/data/clips/bedroom/{:05}.jpg", f - FIRST));
    let img = image::open(&path).map_err(|e| format!("{}: {e}", path.display()))?.to_rgb8();
    Ok(FrameImage { width: img.width(), height: img.height(), rgb8: img.into_raw() })
}

fn objects() -> Vec<ObjectKeys> {
    vec![
        ObjectKeys::from_boxes("girl#1", [(FIRST + 1, [310.0, 0.0, 515.0, 400.0]), (FIRST + 5, [300.0, 10.0, 520.0, 420.0])]),
        // The key at FIRST + 30 lies outside the host's range and is ignored.
        ObjectKeys::from_boxes("boy#2", [(FIRST + 3, [145.0, 135.0, 295.0, 405.0]), (FIRST + 30, [1.0, 1.0, 50.0, 50.0])]),
    ]
}

/// Fetch that refuses every frame except `allowed` (proves a render did not track).
fn only(allowed: i64) -> impl Fn(i64) -> Result<FrameImage, String> {
    move |f| if f == allowed { host_frame(f) } else { Err(format!("frame {f} fetched: the engine tracked instead of using the cache")) }
}

#[test]
fn analyse_writes_a_track_cache_that_other_engines_render_from() {
    common::use_built_helper();
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
    let report = analysed
        .analyse(&host_frame, &|p| {
            steps.borrow_mut().push(p);
            true
        })
        .unwrap();
    assert_eq!(report.frames, 7);
    let (written, bytes) = report.written.clone().unwrap();
    assert_eq!(written, path);
    assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
    let steps = steps.into_inner();
    assert!(
        !steps.is_empty() && steps.windows(2).all(|w| w[0] <= w[1]) && steps.iter().all(|p| (0.0..=1.0).contains(p)),
        "progress {steps:?}"
    );
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
    moved[0].keyframes.insert(FIRST + 1, KeyframePrompt::from_box([300.0, 0.0, 515.0, 400.0]));
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
