//! `samurai-bench track --checkpoint C --frames DIR --count N --image-size S --box ...`:
//! per-frame tracking time and peak RSS (and peak device memory on CUDA);
//! `--device cuda --precision bf16` for the GPU check.
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
    for f in 0..count {
        drop(session.mask_at(f)?);
    }
    let secs = t.elapsed().as_secs_f64();
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
    Ok(format!(
        "{{\"precision\": \"{}\", \"frames\": {count}, \"seconds\": {secs:.3}, \"seconds_per_frame\": {:.4}, \"peak_rss_bytes\": {}{device_peak}}}",
        options.precision,
        secs / count as f64,
        peak_rss()
    ))
}
