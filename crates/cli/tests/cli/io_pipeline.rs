//! Issue 12: the frame I/O pipeline and device memory pressure.
//! - prefetching gives the same mattes as decoding on the tracking thread, and shuts down
//!   cleanly on a cancelled propagation and on a broken frame in the middle (the error
//!   names the frame, nothing is half-written, no loader thread is left);
//! - EXR frames and the PNG of their sRGB encoding give identical mattes (the shared
//!   conversion the plugin uses for host float frames);
//! - offload under an injected memory reading gives identical mattes.
//!
//! Random-init tiny checkpoint at image size 256, the first bedroom frames.
use crate::common;

use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::tracker::offload::{MemoryReading, OffloadPolicy};
use samurai_engine::tracker::{FolderSource, FrameSource, PrefetchOptions, PrefetchSource, Session, TrackerOptions};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::tracking::{lock, model, BOY, GIRL};

/// `<tmp>/frames` with the first `n` bedroom frames (symlinks).
fn frames(tmp: &Path, n: usize) -> PathBuf {
    let dir = tmp.join("frames");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let name = format!("{i:05}.jpg");
        std::os::unix::fs::symlink(common::clips().join("bedroom").join(&name), dir.join(&name)).unwrap();
    }
    dir
}

/// Two objects keyed on different frames: forward and backward passes, blending, kept
/// features and memory banks.
fn session(source: Box<dyn FrameSource + Send>, options: TrackerOptions) -> Session {
    let tuning = Preset::builtin(ModelSize::Tiny).samurai;
    let mut s = Session::new(model(), tuning, source, options).unwrap();
    s.add_object("girl").unwrap();
    s.add_object("boy").unwrap();
    s.set_keyframe("girl", 0, GIRL).unwrap();
    s.set_keyframe("boy", 5, BOY).unwrap();
    s
}

fn all_mattes(s: &mut Session, n: usize) -> Vec<Vec<f32>> {
    (0..n).flat_map(|f| s.low_res_frame(f).unwrap().objects.into_iter().map(|(_, v)| v)).collect()
}

#[test]
fn prefetch_gives_the_same_mattes_and_stops_cleanly_when_cancelled() {
    let _g = lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = frames(tmp.path(), 8);
    let mut plain = session(Box::new(FolderSource::open(&dir).unwrap()), TrackerOptions::default());
    let expected = all_mattes(&mut plain, 8);

    let inner = Arc::new(FolderSource::open(&dir).unwrap());
    let options = PrefetchOptions { ahead: 3, threads: 2, byte_budget: 64 << 20 };
    let mut pre = session(Box::new(PrefetchSource::new(inner.clone(), options)), TrackerOptions::default());
    assert_eq!(all_mattes(&mut pre, 8), expected, "prefetched frames must give the same bits");
    drop(pre);
    assert_eq!(Arc::strong_count(&inner), 1, "a loader thread outlived its session");

    // Cancel a propagation after two steps, then end the session: the loaders stop.
    let mut pre = session(Box::new(PrefetchSource::new(inner.clone(), options)), TrackerOptions::default());
    let mut steps = 0;
    let done = pre
        .propagate(0..=7, &mut |_| {
            steps += 1;
            if steps >= 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert!(!done, "the propagation was cancelled");
    drop(pre);
    assert_eq!(Arc::strong_count(&inner), 1, "a loader thread outlived its cancelled session");
}

/// Counts reads and says the device is over the threshold on every one of them.
struct AlwaysOver(AtomicUsize);

impl MemoryReading for AlwaysOver {
    fn bytes_in_use(&self, _device: tch::Device) -> Option<u64> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Some(u64::MAX)
    }
}

/// Over the threshold only on every third read (pressure that comes and goes).
struct Sometimes(AtomicUsize);

impl MemoryReading for Sometimes {
    fn bytes_in_use(&self, _device: tch::Device) -> Option<u64> {
        Some(if self.0.fetch_add(1, Ordering::SeqCst).is_multiple_of(3) { 2 << 30 } else { 0 })
    }
}

#[test]
fn offload_under_an_injected_memory_reading_gives_identical_mattes() {
    let _g = lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = frames(tmp.path(), 8);
    let source = || Box::new(FolderSource::open(&dir).unwrap());
    let mut plain = session(source(), TrackerOptions::default());
    let expected = all_mattes(&mut plain, 8);
    assert_eq!(plain.offloaded(), (Vec::new(), 0));
    assert_eq!((plain.stats().offloaded_features, plain.stats().offloaded_memories), (0, 0));

    for (name, reading) in [
        ("always", Arc::new(AlwaysOver(AtomicUsize::new(0))) as Arc<dyn MemoryReading>),
        ("sometimes", Arc::new(Sometimes(AtomicUsize::new(0)))),
    ] {
        let options = TrackerOptions { offload: Some(OffloadPolicy { threshold_bytes: 1 << 30, reading }), ..TrackerOptions::default() };
        let mut s = session(source(), options);
        // Frame 7 first: the boy's backward pass from 5 and the girl's forward pass run
        // together, frames 0..5 are kept for the boy's other passes, memories build up.
        let first = s.low_res_frame(7).unwrap();
        let stats = s.stats();
        if name == "always" {
            // Everything kept went to the host after every frame.
            assert!(stats.offloaded_features > 0 && stats.offloaded_memories > 0, "{name}: {stats:?}");
            let (_, memories) = s.offloaded();
            assert!(memories > 0, "{name}: no memory-bank entry is in host memory");
        } else {
            assert!(stats.offloaded_features + stats.offloaded_memories > 0, "{name}: nothing was offloaded: {stats:?}");
        }
        let got = all_mattes(&mut s, 8);
        assert_eq!(got, expected, "{name}: offloading changed the mattes");
        assert_eq!(first.objects.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), expected[14..16].to_vec(), "{name}: frame 7");
    }
}

fn track(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samurai-roto")).args(["--threads", "2", "track"]).args(args).output().expect("run samurai-roto")
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(tree(&p).into_iter().map(|n| format!("{}/{n}", e.file_name().to_string_lossy())));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn a_broken_frame_in_the_middle_fails_naming_it_with_nothing_half_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = frames(tmp.path(), 8);
    // Frame 4 is a truncated JPEG.
    let broken = dir.join("00004.jpg");
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::remove_file(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let ckpt = common::tiny_checkpoint(256);
    for (prefetch, writers) in [("4", "2"), ("0", "0")] {
        let out = tmp.path().join(format!("out-{prefetch}"));
        let o = track(&[
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--frames",
            dir.to_str().unwrap(),
            "--object",
            "girl:0:310,0,515,400",
            "--image-size",
            "256",
            "--device",
            "cpu",
            "--prefetch",
            prefetch,
            "--writers",
            writers,
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "prefetch {prefetch}: a broken frame must fail the run");
        assert!(err.contains("frame 4") && err.contains("00004.jpg"), "prefetch {prefetch}: {err}");
        // Frames 0..3 were finished and written whole; nothing else, no partial file.
        let files = tree(&out);
        assert_eq!(files, ["girl/00000.png", "girl/00001.png", "girl/00002.png", "girl/00003.png"], "prefetch {prefetch}");
        for f in &files {
            let img = image::open(out.join(f)).unwrap().into_luma8();
            assert_eq!(img.dimensions(), (960, 540));
        }
    }
}

/// Writes `img` (8-bit sRGB) as a linear half-float EXR whose values encode back to
/// exactly those bytes with the shared conversion; returns the bytes the EXR stands for.
fn write_linear_exr(path: &Path, img: &image::RgbImage) -> Vec<u8> {
    use exr::prelude::{Encoding, Image as ExrImage, Layer, LayerAttributes, SpecificChannels, WritableImage};
    let linear = |c: u8| {
        let v = f32::from(c) / 255.0;
        exr::prelude::f16::from_f32(if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) })
    };
    let (w, h) = img.dimensions();
    let px = |p: exr::math::Vec2<usize>| {
        let q = img.get_pixel(p.x() as u32, p.y() as u32).0;
        (linear(q[0]), linear(q[1]), linear(q[2]))
    };
    let layer = Layer::new((w as usize, h as usize), LayerAttributes::default(), Encoding::SMALL_LOSSLESS, SpecificChannels::rgb(px));
    ExrImage::from_layer(layer).write().to_file(path).unwrap();
    // What the frame is for the network: each half value through the shared conversion.
    img.pixels().flat_map(|p| p.0.map(|c| samurai_core::colour::srgb8(linear(c).to_f32()))).collect()
}

#[test]
fn exr_frames_track_like_the_png_of_their_srgb_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    let (exr_dir, png_dir) = (tmp.path().join("exr"), tmp.path().join("png"));
    std::fs::create_dir_all(&exr_dir).unwrap();
    std::fs::create_dir_all(&png_dir).unwrap();
    for i in 0..4 {
        let src = image::open(common::clips().join(format!("bedroom/{i:05}.jpg"))).unwrap().into_rgb8();
        let encoded = write_linear_exr(&exr_dir.join(format!("{i:05}.exr")), &src);
        let decoded = samurai_engine::image::load_exr_srgb8(&exr_dir.join(format!("{i:05}.exr"))).unwrap();
        assert_eq!(decoded.data, encoded, "frame {i}: EXR decoding");
        image::RgbImage::from_raw(src.width(), src.height(), encoded).unwrap().save(png_dir.join(format!("{i:05}.png"))).unwrap();
    }
    let ckpt = common::tiny_checkpoint(256);
    let mut outs = Vec::new();
    for (dir, format) in [(&exr_dir, "exr"), (&png_dir, "exr"), (&png_dir, "png")] {
        let out = tmp.path().join(format!("out-{}-{format}", dir.file_name().unwrap().to_string_lossy()));
        let o = track(&[
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--frames",
            dir.to_str().unwrap(),
            "--object",
            "girl:1:310,0,515,400",
            "--image-size",
            "256",
            "--device",
            "cpu",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(out);
    }
    for f in 0..4 {
        let a = image::open(outs[0].join(format!("girl/{f:05}.exr"))).unwrap().into_rgb32f();
        let b = image::open(outs[1].join(format!("girl/{f:05}.exr"))).unwrap().into_rgb32f();
        assert_eq!(a.as_raw(), b.as_raw(), "frame {f}: EXR and PNG frames give different mattes");
        let png = image::open(outs[2].join(format!("girl/{f:05}.png"))).unwrap().into_luma8();
        let from_exr: Vec<u8> = a.pixels().map(|p| if p.0[0] > 0.5 { 255 } else { 0 }).collect();
        assert_eq!(png.as_raw(), &from_exr, "frame {f}: EXR and PNG mattes differ");
        assert!(a.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2] && (p.0[0] == 0.0 || p.0[0] == 1.0)));
    }
}
