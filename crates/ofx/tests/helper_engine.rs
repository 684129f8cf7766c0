//! The plugin's engine (`HelperEngine`, the network in the helper process) without a
//! host: Analyse writes a track cache that fresh engines (as in other processes) render
//! from without tracking and without a helper, equal to live tracking; a stale (other
//! keyframes, other footage) or damaged cache is detected, reported and ignored; a missing
//! file is no problem; a cancelled Analyse writes nothing.
mod common;

use samurai_core::settings::{DeviceChoice, EngineSettings, FrameImage, KeyframePrompt, ObjectKeys};
use samurai_roto_ofx::engine::{EngineError, EngineResult, ErrorKind, MatteEngine};
use samurai_roto_ofx::helper_engine::HelperEngine as TrackerEngine;
use std::path::PathBuf;

const FIRST: i64 = 10; // host frame of clip frame 0
/// No model download happens here (a checkpoint file): a call would be a bug.
const NO_DOWNLOAD: fn(&str, u64, Option<u64>) -> bool = |file, _, _| panic!("unexpected download of {file}");

fn checkpoint() -> PathBuf {
    common::tiny_checkpoint(256)
}

fn settings(ckpt: PathBuf) -> EngineSettings {
    EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new(ckpt) }
}

fn host_frame(f: i64) -> EngineResult<FrameImage> {
    let path = common::root().join(format!("../shared/data/clips/bedroom/{:05}.jpg", f - FIRST));
    let img = image::open(&path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?.to_rgb8();
    Ok(FrameImage { width: img.width(), height: img.height(), rgb8: img.into_raw() })
}

fn objects() -> Vec<ObjectKeys> {
    vec![
        ObjectKeys::from_boxes("girl#1", [(FIRST + 1, [310.0, 0.0, 515.0, 400.0]), (FIRST + 5, [300.0, 10.0, 520.0, 420.0])]),
        // The key at FIRST + 30 lies outside the host's range and is ignored.
        ObjectKeys::from_boxes("boy#2", [(FIRST + 3, [145.0, 135.0, 295.0, 405.0]), (FIRST + 30, [1.0, 1.0, 50.0, 50.0])]),
    ]
}

/// The host's refusal of a frame, as the node reports it.
fn unavailable(why: impl Into<String>) -> EngineError {
    EngineError::new(ErrorKind::Footage, why)
}

/// Fetch that refuses every frame except `allowed` (proves a render did not track).
fn only(allowed: i64) -> impl Fn(i64) -> EngineResult<FrameImage> {
    move |f| {
        if f == allowed {
            host_frame(f)
        } else {
            Err(unavailable(format!("frame {f} fetched: the engine tracked instead of using the cache")))
        }
    }
}

#[test]
fn analyse_writes_a_track_cache_that_other_engines_render_from() {
    common::use_built_helper();
    let ckpt = checkpoint();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("shot.srtc");
    let range = (FIRST, FIRST + 6);
    // Each stands for another process (a farm render): no frames shared with `analysed`.
    let fresh = |path: &std::path::Path| {
        let e = TrackerEngine::without_sharing();
        e.configure(&settings(ckpt.clone()), range, (960, 540)).unwrap();
        e.set_objects(&objects()).unwrap();
        e.set_track_cache(Some(path)).unwrap();
        e
    };
    let analysed = fresh(&path);
    let steps = std::cell::RefCell::new(Vec::new());
    let report = analysed
        .analyse(
            &host_frame,
            &|p| {
                steps.borrow_mut().push(p);
                true
            },
            &NO_DOWNLOAD,
        )
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
    let no_fetch = |f: i64| -> EngineResult<FrameImage> { Err(unavailable(format!("fetch of {f} not expected"))) };
    let live: Vec<_> = (range.0..=range.1).map(|f| analysed.mattes(f, &no_fetch, &|| false, &NO_DOWNLOAD).unwrap()).collect();

    // Two fresh engines (two farm processes) each render half the range from the file.
    let (a, b) = (fresh(&path), fresh(&path));
    for f in range.0..=range.1 {
        let e = if f < FIRST + 3 { &a } else { &b };
        let current = host_frame(f).unwrap();
        let cached = e.cached_mattes(f, Some(&current)).unwrap_or_else(|| panic!("frame {f} not served from the cache: {:?}", e.notice()));
        assert!(cached == live[(f - FIRST) as usize], "frame {f}: cache and live tracking differ");
        assert_eq!(e.mattes(f, &only(f), &|| false, &NO_DOWNLOAD).unwrap(), cached);
        assert_eq!(e.notice(), None);
    }

    // Stale: another keyframe box → the file is not used, the artist is told, tracking runs.
    let mut moved = objects();
    moved[0].keyframes.insert(FIRST + 1, KeyframePrompt::from_box([300.0, 0.0, 515.0, 400.0]));
    let stale = fresh(&path);
    stale.set_objects(&moved).unwrap();
    assert_eq!(stale.cached_mattes(FIRST + 2, Some(&host_frame(FIRST + 2).unwrap())), None);
    assert!(stale.notice().unwrap().contains("stale"), "{:?}", stale.notice());
    assert!(stale.mattes(FIRST + 2, &host_frame, &|| false, &NO_DOWNLOAD).is_ok());

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
    let tracked = damaged.mattes(FIRST + 1, &host_frame, &|| false, &NO_DOWNLOAD).unwrap();
    assert!(tracked == live[1], "live tracking after a damaged cache differs");

    // A missing file is no problem and no notice.
    let missing = fresh(&tmp.path().join("not-yet.srtc"));
    assert_eq!(missing.cached_mattes(FIRST, Some(&host_frame(FIRST).unwrap())), None);
    assert_eq!(missing.notice(), None);

    // Cancelled Analyse writes nothing.
    let cancelled = fresh(&tmp.path().join("cancelled.srtc"));
    let err = cancelled.analyse(&host_frame, &|p| p < 0.3, &NO_DOWNLOAD).unwrap_err();
    assert!(err.kind == ErrorKind::Cancelled && err.message.contains("cancelled"), "{err:?}");
    assert!(!tmp.path().join("cancelled.srtc").exists());
}

/// Low-resolution logits as bits (`==` on floats would let -0.0 pass for 0.0).
fn logit_bits(m: &samurai_roto_ofx::engine::Mattes) -> Vec<(String, Vec<u32>)> {
    match m {
        samurai_roto_ofx::engine::Mattes::Low { low, .. } => {
            low.objects.iter().map(|(n, v)| (n.clone(), v.iter().map(|x| x.to_bits()).collect())).collect()
        }
        other => panic!("expected low-resolution mattes from the helper, got {other:?}"),
    }
}

/// A fetch, or a `Progress` received before it (counted by the engine), in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    Fetch(i64),
    Progress,
}

/// Records a fetch of `frame`, after the `Progress` messages `e` received since the last.
fn record_fetch(e: &TrackerEngine, events: &std::cell::RefCell<Vec<Event>>, frame: i64) {
    let mut events = events.borrow_mut();
    let seen = events.iter().filter(|e| **e == Event::Progress).count() as u64;
    events.extend((seen..e.progress_seen()).map(|_| Event::Progress));
    events.push(Event::Fetch(frame));
}

/// The helper asks for the next frame ahead (on by default) and the results are the same
/// bits as without; a cancel while a frame is asked for ahead, a frame the host cannot
/// provide that was only asked for ahead, and one the tracker needs leave the connection
/// usable; only the last fails its request, naming the frame and the host's reason.
#[test]
fn frames_asked_for_ahead_give_the_same_bits_and_leave_the_connection_clean() {
    common::use_built_helper();
    let ckpt = checkpoint();
    let range = (FIRST, FIRST + 6);
    let engine = |prefetch: bool, key: i64| {
        let e = TrackerEngine::default();
        e.configure(&EngineSettings { frame_prefetch: prefetch, ..settings(ckpt.clone()) }, range, (960, 540)).unwrap();
        e.set_objects(&[ObjectKeys::from_boxes("girl#1", [(key, [310.0, 0.0, 515.0, 400.0])])]).unwrap();
        e
    };
    assert!(EngineSettings::new("x.pt").frame_prefetch, "on by default");

    // Forward (keyed on the first frame, the last asked for) and backward (the reverse):
    // one request tracks the whole range, a frame per pass step.
    let mut forward = Vec::new();
    for (key, target) in [(range.0, range.1), (range.1, range.0)] {
        let order: Vec<i64> = if key < target { (key..=target).collect() } else { (target..=key).rev().collect() };
        let mut bits = Vec::new();
        for prefetch in [false, true] {
            let e = engine(prefetch, key);
            let events = std::cell::RefCell::new(Vec::new());
            let fetch = |f: i64| {
                record_fetch(&e, &events, f);
                host_frame(f)
            };
            let m = e.mattes(target, &fetch, &|| false, &NO_DOWNLOAD).unwrap();
            let events = events.into_inner();
            let fetched: Vec<i64> = events.iter().filter_map(|e| if let Event::Fetch(f) = e { Some(*f) } else { None }).collect();
            assert_eq!(fetched, order, "prefetch {prefetch}: every frame once, in the pass's order (nothing asked for ahead is wasted)");
            // Frame k of the pass is fetched before the progress of step k - 1 when asked
            // for ahead (the host fetch overlaps that step), after it otherwise.
            for (k, f) in order.iter().enumerate().skip(1) {
                let at = events.iter().position(|e| *e == Event::Fetch(*f)).unwrap();
                let before = events[..at].iter().filter(|e| **e == Event::Progress).count();
                assert_eq!(before, if prefetch { k - 1 } else { k }, "prefetch {prefetch}, frame {f}: {events:?}");
            }
            bits.push(logit_bits(&m));
        }
        assert!(bits[0] == bits[1], "key {key}: results with and without frames asked for ahead differ");
        if key < target {
            forward = bits.swap_remove(1);
        }
    }

    // Keyed on frames 10 and 16, frame 13 blends both passes: one request runs the forward
    // group (10..=13), then the backward one (16, 15, 14; 13's features are kept). Frame 16
    // is asked for while frame 13 computes, before the forward group's last progress.
    for prefetch in [false, true] {
        let e = TrackerEngine::default();
        e.configure(&EngineSettings { frame_prefetch: prefetch, ..settings(ckpt.clone()) }, range, (960, 540)).unwrap();
        let b = [310.0, 0.0, 515.0, 400.0];
        e.set_objects(&[ObjectKeys::from_boxes("girl#1", [(range.0, b), (range.1, b)])]).unwrap();
        let events = std::cell::RefCell::new(Vec::new());
        let fetch = |f: i64| {
            record_fetch(&e, &events, f);
            host_frame(f)
        };
        e.mattes(FIRST + 3, &fetch, &|| false, &NO_DOWNLOAD).unwrap();
        let events = events.into_inner();
        let fetched: Vec<i64> = events.iter().filter_map(|e| if let Event::Fetch(f) = e { Some(*f) } else { None }).collect();
        assert_eq!(fetched, [10, 11, 12, 13, 16, 15, 14].map(|f| f - 10 + FIRST), "prefetch {prefetch}");
        let at = events.iter().position(|e| *e == Event::Fetch(range.1)).unwrap();
        let before = events[..at].iter().filter(|e| **e == Event::Progress).count();
        assert_eq!(before, if prefetch { 3 } else { 4 }, "prefetch {prefetch}: the backward group's first frame: {events:?}");
    }

    // Cancelled at the second progress, while frame 12 is asked for ahead, and the host
    // cannot provide frame 12: the request fails as cancelled, not for the frame.
    let e = engine(true, range.0);
    let pid = |_: ()| samurai_roto_ofx::client::current().unwrap().pid;
    let helper = pid(());
    let no_12 = |f: i64| if f == FIRST + 2 { Err(unavailable("frame 12 is offline")) } else { host_frame(f) };
    let err = e.mattes(range.1, &no_12, &|| e.progress_seen() >= 2, &NO_DOWNLOAD).unwrap_err();
    assert!(err.kind == ErrorKind::Cancelled && err.message.contains("cancelled") && !err.message.contains("offline"), "{err:?}");
    // The next request starts clean: it fetches frames 12..16 (10 and 11 are kept), and
    // gives the uncancelled run's bits.
    let fetched = std::cell::RefCell::new(Vec::new());
    let log = |f: i64| {
        fetched.borrow_mut().push(f);
        host_frame(f)
    };
    let m = e.mattes(range.1, &log, &|| false, &NO_DOWNLOAD).unwrap();
    assert_eq!(fetched.into_inner(), (FIRST + 2..=range.1).collect::<Vec<_>>());
    assert!(logit_bits(&m) == forward, "after a cancel: results differ");
    assert_eq!(pid(()), helper, "the connection stayed usable: no new helper");

    // A frame the tracker needs (14, asked for ahead after 13) that the host cannot
    // provide fails the request, naming the frame and the host's reason; the connection
    // stays usable.
    let e = engine(true, range.0);
    let no_14 = |f: i64| if f == FIRST + 4 { Err(unavailable("disk unplugged")) } else { host_frame(f) };
    let err = e.mattes(range.1, &no_14, &|| false, &NO_DOWNLOAD).unwrap_err();
    assert!(err.kind == ErrorKind::Footage && err.message.contains("frame 14") && err.message.contains("disk unplugged"), "{err:?}");
    let m = e.mattes(range.1, &host_frame, &|| false, &NO_DOWNLOAD).unwrap();
    assert!(logit_bits(&m) == forward, "after a missing frame: results differ");
    assert_eq!(pid(()), helper, "no new helper");

    // A new GPU memory limit (or prefetch switch) changes how, not what, the helper
    // computes: the frames tracked stay, here and in the helper (frame 13 was tracked
    // there but never asked for here; it comes back without a fetch).
    let limited = EngineSettings { gpu_memory_limit_mb: 512, frame_prefetch: false, ..settings(ckpt.clone()) };
    e.configure(&limited, range, (960, 540)).unwrap();
    let no_fetch = |f: i64| -> EngineResult<FrameImage> { Err(unavailable(format!("frame {f} fetched: tracked again"))) };
    assert!(logit_bits(&e.mattes(range.1, &no_fetch, &|| false, &NO_DOWNLOAD).unwrap()) == forward);
    e.mattes(FIRST + 3, &no_fetch, &|| false, &NO_DOWNLOAD).unwrap();
}

/// The helper decodes frame files as a farm task does (`HashFrameFiles`, for the node's
/// Export analysis job): bedroom JPEGs hash as `samurai-roto farm plan` writes them in its
/// plan, the checkpoint's model size is read from it, and a file that is no frame fails
/// naming it.
#[test]
fn the_helper_hashes_frame_files_as_farm_plan_does() {
    common::use_built_helper();
    common::helper_log();
    let ckpt = checkpoint();
    let clip = common::root().join("../shared/data/clips/bedroom").canonicalize().unwrap();
    let job = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::samurai_roto())
        .args(["--threads", "2", "farm", "plan", "--checkpoint"])
        .arg(&ckpt)
        .arg("--frames")
        .arg(&clip)
        .args(["--object", "a:0:10,10,100,100", "--image-size", "256", "--job"])
        .arg(job.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "farm plan: {}", String::from_utf8_lossy(&out.stderr));
    let (plan, _) = samurai_core::farm::Plan::read(job.path()).unwrap();
    let shot = &plan.shots[0];
    let engine = TrackerEngine::without_sharing();
    let picked = [0usize, 7, 199];
    let paths: Vec<PathBuf> = picked.iter().map(|i| clip.join(&shot.clip[*i].file)).collect();
    let (frames, size) = engine.hash_frame_files(&paths, Some(&ckpt)).unwrap();
    assert_eq!(size, Some(samurai_core::config::ModelSize::Tiny));
    for (f, i) in frames.iter().zip(picked) {
        assert_eq!((f.hash.as_str(), (f.width, f.height)), (shot.clip[i].hash.as_str(), shot.frame_size), "frame {i}");
    }
    let (frames, size) = engine.hash_frame_files(&paths[..1], None).unwrap();
    assert_eq!((frames[0].hash.as_str(), size), (shot.clip[0].hash.as_str(), None));
    let not_a_frame = job.path().join("plan.yaml");
    let e = engine.hash_frame_files(std::slice::from_ref(&not_a_frame), None).unwrap_err();
    assert!(e.message.contains(&not_a_frame.display().to_string()), "{e:?}");
}
