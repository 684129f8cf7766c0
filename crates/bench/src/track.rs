//! `samurai-bench track --checkpoint C --frames DIR --count N --image-size S --box ...`:
//! per-frame tracking time and peak RSS (and peak device memory on CUDA);
//! `--device cuda --precision bf16` for the GPU check. Also the network's matrix-product
//! work per frame (counted as it runs, [`samurai_engine::model::flops`]), this machine's rate
//! for a large product at the same precision, and the share of that rate the frames reach.
use crate::support::{load_options, session, ClipRun};
use anyhow::Result;
use samurai_engine::model::LoadOptions;
use std::path::Path;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    clip: ClipRun,
    /// fp32, bf16 or auto (resolved as the product resolves it; the output names the result).
    #[arg(long, default_value = "fp32")]
    precision: String,
}

pub fn run(a: Args) -> Result<String> {
    let c = a.clip;
    track(&c.checkpoint, &c.frames, c.count, c.image_size, &c.bbox, &load_options(&c.device, &a.precision)?)
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// This machine's rate for a large matrix product at the run's device and precision, in
/// GFLOP/s: a 4096×1024 by 1024×1024 `torch.matmul` (the product issue 21 measured), the
/// median of 5 after a warm-up, on libtorch's threads as the tracker runs.
fn matmul_rate(options: &LoadOptions) -> f64 {
    let kind = samurai_engine::model::precision_kind(options.precision);
    let a = tch::Tensor::randn([4096, 1024], (kind, options.device));
    let b = tch::Tensor::randn([1024, 1024], (kind, options.device));
    let secs = crate::support::time(5, || {
        let c = a.matmul(&b);
        if let tch::Device::Cuda(i) = options.device {
            tch::Cuda::synchronize(i as i64);
        }
        c
    });
    2.0 * 4096.0 * 1024.0 * 1024.0 / secs / 1e9
}

fn track(checkpoint: &Path, frames: &Path, count: usize, image_size: i64, bbox: &str, options: &LoadOptions) -> Result<String> {
    let (mut session, len) = session(checkpoint, frames, image_size, bbox, options)?;
    let count = count.min(len);
    let cuda = match options.device {
        tch::Device::Cuda(i) => {
            samurai_engine::ffi::cuda_reset_peak_stats(i as i8).map_err(anyhow::Error::msg)?;
            Some(i as i8)
        }
        _ => None,
    };
    let t = Instant::now();
    let (tracked, flops) = samurai_engine::model::flops::count(|| (0..count).try_for_each(|f| session.mask_at(f).map(drop)));
    tracked?;
    let secs = t.elapsed().as_secs_f64();
    let gflop_per_frame = flops as f64 / count as f64 / 1e9;
    let device_peak = match cuda {
        Some(i) => {
            let s = samurai_engine::ffi::cuda_memory_stats(i).map_err(anyhow::Error::msg)?;
            format!(
                ", \"peak_device_allocated_bytes\": {}, \"peak_device_reserved_bytes\": {}",
                s.peak_allocated_bytes, s.peak_reserved_bytes
            )
        }
        None => String::new(),
    };
    // After the peaks are read: the rate's operands are not the tracker's memory.
    let peak = peak_rss();
    let rate = matmul_rate(options);
    let achieved = gflop_per_frame * count as f64 / secs;
    Ok(format!(
        "{{\"precision\": \"{}\", \"frames\": {count}, \"seconds\": {secs:.3}, \"seconds_per_frame\": {:.4}, \"peak_rss_bytes\": {}{device_peak}, \
         \"matmul_gflop_per_frame\": {gflop_per_frame:.3}, \"matmul_gflops_reached\": {achieved:.1}, \"matmul_rate_gflops\": {rate:.1}, \
         \"share_of_matmul_rate\": {:.3}}}",
        options.precision,
        secs / count as f64,
        peak,
        achieved / rate
    ))
}
