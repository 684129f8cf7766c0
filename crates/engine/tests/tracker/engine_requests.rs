//! The helper's engine (`samurai_engine::engine::Engine`) driven as the plugin drives it:
//! host frames pulled through the fetch callback give, finished in pure Rust, the same
//! bits as the tracker reading the folder itself (what `track` does); Analyse hands out
//! every frame equal to per-frame requests; cancellation, frames the host cannot provide,
//! a frame outside the range and a missing checkpoint are clear errors; a panic inside a
//! request is caught and the session recovers; sessions share one network load.
use crate::common;

use samurai_core::finish::finish_frame;
use samurai_core::settings::{DeviceChoice, EngineSettings, FrameImage, KeyframePrompt, MaskPrompt, ObjectKeys, PointPrompt};
use samurai_core::ErrorKind;
use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::engine::Engine;
use samurai_engine::image::load_rgb8;
use samurai_engine::model::{LoadOptions, Sam2Model};
use samurai_engine::tracker::{FolderSource, Session, TrackerOptions};
use std::path::PathBuf;

const FIRST: i64 = 10; // host frame of clip frame 0
const RANGE: (i64, i64) = (FIRST, FIRST + 6);
const SIZE: (u32, u32) = (960, 540);

fn settings(ckpt: PathBuf) -> EngineSettings {
    EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new(ckpt) }
}

fn host_frame(f: i64) -> samurai_engine::Result<FrameImage> {
    let path = common::clips().join(format!("bedroom/{:05}.jpg", f - FIRST));
    let img = load_rgb8(&path)?;
    Ok(FrameImage { width: img.width, height: img.height, rgb8: img.data })
}

/// Box keyframes, a box with a click (girl, FIRST + 5) and a mask (boy, FIRST + 3): every
/// prompt type goes from the request to the tracker unchanged.
fn objects() -> Vec<ObjectKeys> {
    let mut girl = ObjectKeys::from_boxes("girl#1", [(FIRST + 1, [310.0, 0.0, 515.0, 400.0]), (FIRST + 5, [300.0, 10.0, 520.0, 420.0])]);
    girl.keyframes.get_mut(&(FIRST + 5)).unwrap().points.push(PointPrompt { x: 330.5, y: 380.0, positive: false });
    // The key at FIRST + 30 lies outside the host's range and is ignored.
    let mut boy = ObjectKeys::from_boxes("boy#2", [(FIRST + 30, [1.0, 1.0, 50.0, 50.0])]);
    let r = [150u32, 140, 290, 400];
    let bits = (0..SIZE.0 * SIZE.1).map(|i| (r[0]..r[2]).contains(&(i % SIZE.0)) && (r[1]..r[3]).contains(&(i / SIZE.0)));
    boy.keyframes.insert(FIRST + 3, KeyframePrompt::from_mask(MaskPrompt::from_bits(SIZE.0, SIZE.1, bits).unwrap()));
    vec![girl, boy]
}

fn configured(engine: &Engine, id: u64) {
    engine.configure(id, &settings(common::tiny_checkpoint(256)), RANGE, SIZE, &objects()).unwrap();
}

#[test]
fn host_frames_give_the_same_bits_as_the_tracker_on_the_folder() {
    tch::set_num_threads(2);
    let engine = Engine::default();
    configured(&engine, 1);
    // Random order, as a host scrubbing the timeline.
    let order = [FIRST + 4, FIRST, FIRST + 6, FIRST + 2];
    let got: Vec<_> = order.iter().map(|&f| engine.track(1, f, &mut host_frame, &mut |_, _| true).unwrap()).collect();

    // The same keyframes on a session that reads the folder itself (as `track` does).
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..7 {
        let name = format!("{i:05}.jpg");
        std::os::unix::fs::symlink(common::clips().join("bedroom").join(&name), tmp.path().join(&name)).unwrap();
    }
    // At the precision the engine resolved its settings' auto to (bf16 on a CPU with AMX or
    // AMD's AVX512-BF16).
    let options = LoadOptions { precision: engine.precision_of(1).unwrap(), ..LoadOptions::default() };
    let model = Sam2Model::load_detect(&common::tiny_checkpoint(256), 256, &options).unwrap().shared();
    let mut session = Session::new(
        model,
        Preset::builtin(ModelSize::Tiny).samurai,
        Box::new(FolderSource::open(tmp.path()).unwrap()),
        TrackerOptions::default(),
    )
    .unwrap();
    for o in objects() {
        session.add_object(&o.name).unwrap();
        for (f, p) in o.keyframes.into_iter().filter(|(f, _)| *f <= RANGE.1) {
            session.set_prompt(&o.name, (f - FIRST) as usize, p).unwrap();
        }
    }
    for (&f, low) in order.iter().zip(&got) {
        let expect = session.mask_at((f - FIRST) as usize).unwrap();
        let mattes = finish_frame(low, SIZE, false);
        assert_eq!(mattes.len(), 2);
        for ((name, logits), e) in mattes.iter().zip(&expect) {
            assert_eq!(name, &e.name);
            let e: Vec<f32> = Vec::try_from(e.logits.flatten(0, -1)).unwrap();
            assert!(logits == &e, "host frame {f} object {name}: engine (finished in Rust) and folder tracking differ");
        }
    }

    // Analyse hands out every frame, equal to the per-frame requests.
    let mut seen = Vec::new();
    let mut progress = Vec::new();
    engine
        .analyse(
            1,
            &mut host_frame,
            &mut |d, t| {
                progress.push((d, t));
                true
            },
            &mut |f, low| {
                seen.push((f, low));
                true
            },
        )
        .unwrap();
    assert_eq!(seen.iter().map(|(f, _)| *f).collect::<Vec<_>>(), (RANGE.0..=RANGE.1).collect::<Vec<_>>());
    for (&f, low) in order.iter().zip(&got) {
        assert!(&seen[(f - FIRST) as usize].1 == low, "frame {f}: Analyse and a request differ");
    }
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0) && progress.iter().all(|(d, t)| d <= t), "progress {progress:?}");

    // A second session on the same checkpoint shares the network: one load.
    configured(&engine, 2);
    engine.track(2, FIRST, &mut host_frame, &mut |_, _| true).unwrap();
    assert_eq!(engine.stats().model_loads, 1);
    assert_eq!(engine.stats().sessions, 2);
    engine.close(2);
    assert_eq!(engine.stats().sessions, 1);
}

#[test]
fn cancellation_missing_frames_and_panics_are_errors_the_session_survives() {
    tch::set_num_threads(2);
    let engine = Engine::default();
    configured(&engine, 1);
    let err = engine.track(1, FIRST + 6, &mut host_frame, &mut |_, _| false).unwrap_err();
    assert!(err.kind == ErrorKind::Cancelled && err.message.contains("cancelled"), "{err:?}");
    let mut broken = |f: i64| -> samurai_engine::Result<FrameImage> {
        if f == FIRST + 2 {
            Err(samurai_engine::Error::Frame { frame: f, reason: "disk offline".into() })
        } else {
            host_frame(f)
        }
    };
    let err = engine.track(1, FIRST + 2, &mut broken, &mut |_, _| true).unwrap_err();
    assert!(err.kind == ErrorKind::Footage && err.message.contains("frame 12") && err.message.contains("disk offline"), "{err:?}");
    let mut small = |_: i64| -> samurai_engine::Result<FrameImage> { Ok(FrameImage { width: 4, height: 4, rgb8: vec![0; 48] }) };
    let err = engine.track(1, FIRST + 6, &mut small, &mut |_, _| true).unwrap_err();
    assert!(err.kind == ErrorKind::Footage && err.message.contains("4x4") && err.message.contains("960x540"), "{err:?}");
    // A panic inside a request (here the fetch; in life e.g. libtorch out of memory) is
    // caught, reported, and the session works again at the next request.
    let mut panicking = |f: i64| -> samurai_engine::Result<FrameImage> { panic!("host crashed fetching {f}") };
    let err = engine.track(1, FIRST + 6, &mut panicking, &mut |_, _| true).unwrap_err();
    assert!(err.kind == ErrorKind::Internal && err.message.contains("host crashed fetching"), "{err:?}");
    let recovered = engine.track(1, FIRST + 4, &mut host_frame, &mut |_, _| true);
    assert!(recovered.as_ref().is_ok_and(|low| low.objects.len() == 2), "no recovery after a panic: {:?}", recovered.err());
    let err = engine.track(1, FIRST + 40, &mut host_frame, &mut |_, _| true).unwrap_err();
    assert!(err.kind == ErrorKind::Setup && err.message.contains("outside"), "{err:?}");
    let err = engine.track(9, FIRST, &mut host_frame, &mut |_, _| true).unwrap_err();
    assert!(err.kind == ErrorKind::Setup && err.message.contains("before configuring"), "{err:?}");
    let bad = settings(PathBuf::from("/nonexistent/sam2.1_hiera_tiny.pt"));
    let err = engine.configure(3, &bad, (0, 5), SIZE, &[]).unwrap_err();
    assert!(err.kind() == ErrorKind::Model && err.to_string().contains("not found") && err.to_string().contains("sam2.1_hiera"), "{err}");
    let err = engine.analyse(1, &mut host_frame, &mut |_, _| true, &mut |f, _| f < FIRST + 2).unwrap_err();
    assert!(err.kind == ErrorKind::Cancelled && err.message.contains("cancelled"), "{err:?}");
}

/// The GPU memory limit of a session's settings becomes its tracker's offload policy
/// (threshold in bytes); 0 is none. Changing it keeps what was tracked.
#[test]
fn the_gpu_memory_limit_reaches_the_tracker() {
    tch::set_num_threads(2);
    let engine = Engine::default();
    let ckpt = common::tiny_checkpoint(256);
    let first = engine.track(3, FIRST, &mut host_frame, &mut |_, _| true).unwrap_err();
    assert!(first.message.contains("before configuring"), "{first}");
    let mut no_fetch = |f: i64| -> samurai_engine::Result<FrameImage> {
        Err(samurai_engine::Error::Frame { frame: f, reason: "fetched: tracked again".into() })
    };
    for (mb, want) in [(1500u64, Some(1500u64 << 20)), (0, None), (64, Some(64 << 20))] {
        let s = EngineSettings { gpu_memory_limit_mb: mb, ..settings(ckpt.clone()) };
        engine.configure(3, &s, RANGE, SIZE, &objects()).unwrap();
        if mb == 1500 {
            engine.track(3, FIRST + 1, &mut host_frame, &mut |_, _| true).unwrap();
        } else {
            engine.track(3, FIRST + 1, &mut no_fetch, &mut |_, _| true).unwrap();
        }
        let options = engine.tracker_options_of(3).expect("a tracker after a request");
        assert_eq!(options.offload.map(|p| p.threshold_bytes), want, "limit {mb} MB");
    }
}
