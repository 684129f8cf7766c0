//! Benchmark (printed, not a timed test): host frame fetches overlapped with the helper's
//! network work. The plugin's engine (`HelperEngine`) asks `samurai-roto-helper` for the last
//! frame of N (one keyframe on the first: one request tracks all N frames forward), then
//! the reverse (keyed on the last, asking for the first: backward), with a host fetch that
//! costs a known time (a sleep of FETCH_MS before handing out a decoded frame, standing in
//! for the host's decode and colour conversion). Each run once with frames asked for ahead
//! (`EngineSettings::frame_prefetch`) and once without, alternating, ROUNDS times; prints
//! the wall times and the share of fetch time hidden, (off − on) / (N × FETCH_MS), beside
//! the ideal: every fetch but the first hidden behind the previous frame's network step, as
//! far as that step lasts. (On a loaded machine it can exceed 100 %: each blocking wait for
//! a frame also costs the helper a wake-up delay, which overlap saves too.)
//! A fresh session each run; one network load, before the first.
//!   cargo bench -p samurai-roto-bench --bench frame_prefetch -- [IMAGE_SIZE] [FRAMES] [FETCH_MS] [ROUNDS]
#[path = "../../engine/tests/common/mod.rs"]
mod common;

use samurai_core::settings::{DeviceChoice, EngineSettings, FrameImage, ObjectKeys};
use samurai_roto_ofx::engine::{EngineError, EngineResult, ErrorKind, MatteEngine};
use samurai_roto_ofx::helper_engine::HelperEngine;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (image_size, n, fetch_ms, rounds) = (arg(0, 256) as i64, arg(1, 16) as i64, arg(2, 30), arg(3, 3).max(1) as usize);
    common::use_helper_beside_bench();
    let ckpt = common::tiny_checkpoint(256);
    let frames = common::bedroom_host_frames(n);
    let size = (frames[0].width, frames[0].height);
    let fetch = |f: i64| -> EngineResult<FrameImage> {
        std::thread::sleep(Duration::from_millis(fetch_ms));
        frames.get(f as usize).cloned().ok_or_else(|| EngineError::new(ErrorKind::Footage, format!("no frame {f}")))
    };
    let bbox = [310.0, 0.0, 515.0, 400.0];
    // One request for `target` with the object keyed on `key`: its wall time.
    let run = |prefetch: bool, key: i64, target: i64| {
        let settings = EngineSettings { device: DeviceChoice::Cpu, image_size, frame_prefetch: prefetch, ..EngineSettings::new(&ckpt) };
        let plugin = HelperEngine::new();
        plugin.configure(&settings, (0, n - 1), size).unwrap();
        plugin.set_objects(&[ObjectKeys::from_boxes("girl#1", [(key, bbox)])]).unwrap();
        let start = Instant::now();
        std::hint::black_box(plugin.mattes(target, &fetch, &|| false, &|_, _, _| true).unwrap());
        start.elapsed().as_secs_f64()
    };
    run(true, 0, 1); // network load and warm-up

    println!(
        "frame_prefetch: tiny, image size {image_size}, {n} frames of {}x{} (bedroom), host fetch {fetch_ms} ms, {rounds} rounds (median)",
        size.0, size.1
    );
    let fetch_total = n as f64 * fetch_ms as f64 / 1e3;
    for (name, key, target) in [("forward", 0, n - 1), ("backward", n - 1, 0)] {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            off.push(run(false, key, target));
            on.push(run(true, key, target));
        }
        let fmt = |v: &[f64]| v.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" ");
        println!("  {name} off: {} s", fmt(&off));
        println!("  {name} on:  {} s", fmt(&on));
        let (off, on) = (median(off), median(on));
        // Without overlap the wall time is fetches + the rest; with it, each fetch but the
        // first can hide behind the previous frame's network step, up to that step's time.
        let rest = (off - fetch_total).max(0.0);
        let bound = (n - 1) as f64 * (fetch_ms as f64 / 1e3).min(rest / n as f64);
        println!(
            "frame_prefetch {name}: off {off:.3} s, on {on:.3} s ({:+.1} %); fetches {fetch_total:.3} s, the rest (network, messages) {rest:.3} s; fetch time hidden {:.0} % (off - on over the fetch time; ideal {:.0} %)",
            (on / off - 1.0) * 100.0,
            (off - on) / fetch_total * 100.0,
            bound / fetch_total * 100.0
        );
    }
}
