//! Benchmark (printed, not a timed test): what the helper process costs a tracked frame.
//! The same frames, checkpoint and keyframe, one after the other in one run:
//! 1. in process: the engine (`samurai_engine::engine::Engine`) tracking each frame and the
//!    mattes finished at the frame's resolution (the old path: the network in the host);
//! 2. through the helper: the plugin's engine (`HelperEngine`) asking `samurai-roto-helper`
//!    for each frame (frames sent through shared memory, progress and results over the
//!    socket) and finishing the mattes in pure Rust.
//!
//! Frame 0 (keyframe, network load) is left out of the means.
//!   cargo bench -p samurai-roto-bench --bench helper_round_trip -- [IMAGE_SIZE] [FRAMES]
#[path = "../../engine/tests/common/mod.rs"]
mod common;

use samurai_core::finish::finish_frame;
use samurai_core::settings::{DeviceChoice, EngineSettings, FrameImage, ObjectKeys};
use samurai_engine::engine::Engine;
use samurai_roto_ofx::engine::{EngineError, EngineResult, ErrorKind, MatteEngine};
use samurai_roto_ofx::helper_engine::HelperEngine;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let image_size: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(512);
    let n: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    common::use_helper_beside_bench();
    let ckpt = common::tiny_checkpoint(256);
    let frames = common::bedroom_host_frames(n);
    let size = (frames[0].width, frames[0].height);
    let settings = EngineSettings { device: DeviceChoice::Cpu, image_size, ..EngineSettings::new(ckpt) };
    let objects = vec![ObjectKeys::from_boxes("girl#1", [(0, [310.0, 0.0, 515.0, 400.0])])];
    let fetch = |f: i64| -> EngineResult<FrameImage> {
        frames.get(f as usize).cloned().ok_or_else(|| EngineError::new(ErrorKind::Footage, format!("no frame {f}")))
    };

    let engine = Engine::default();
    engine.configure(1, &settings, (0, n - 1), size, &objects).unwrap();
    let in_process: Vec<f64> = (0..n)
        .map(|f| {
            let start = Instant::now();
            let low = engine
                .track(1, f, &mut |i| fetch(i).map_err(|e| samurai_engine::Error::Frame { frame: i, reason: e.message }), &mut |_, _| true)
                .unwrap();
            std::hint::black_box(finish_frame(&low, size, false));
            start.elapsed().as_secs_f64()
        })
        .collect();

    let plugin = HelperEngine::new();
    plugin.configure(&settings, (0, n - 1), size).unwrap();
    plugin.set_objects(&objects).unwrap();
    let helper_times: Vec<f64> = (0..n)
        .map(|f| {
            let start = Instant::now();
            std::hint::black_box(plugin.mattes(f, &fetch, &|| false, &|_, _, _| true).unwrap());
            start.elapsed().as_secs_f64()
        })
        .collect();

    let mean = |v: &[f64]| v[1..].iter().sum::<f64>() / (v.len() - 1) as f64;
    let (a, b) = (mean(&in_process), mean(&helper_times));
    println!(
        "helper_round_trip: tiny, image size {image_size}, {} frames of {}x{} (bedroom), one object keyed on frame 0",
        n, size.0, size.1
    );
    println!("  in process:     {}", in_process.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" "));
    println!("  through helper: {}", helper_times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" "));
    println!(
        "helper_round_trip: frames 1..{}: in process {a:.4} s/frame, through the helper {b:.4} s/frame: {:+.2} % ({:.1} ms per frame)",
        n - 1,
        (b / a - 1.0) * 100.0,
        (b - a) * 1e3
    );
}
