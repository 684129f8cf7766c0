//! Published checkpoints for `track` without `--checkpoint`: found in the studio folder or
//! the per-user cache, else downloaded into the cache with a progress bar (the download,
//! the folders and the address are `samurai_fetch`'s and `samurai_core::models`', shared
//! with the plugin's helper). Offline, the error names the address, the file and where to
//! put it.
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use samurai_engine::config::ModelSize;
use std::path::PathBuf;

/// The checkpoint of `size`, downloading it first when no model folder holds it.
pub fn cached_or_download(size: ModelSize) -> Result<PathBuf> {
    let bar = ProgressBar::hidden();
    bar.set_style(ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}").expect("valid template"));
    bar.set_message(samurai_core::models::file_name(size));
    let got = samurai_fetch::ensure(size, &mut |done, total| {
        if bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
        true
    });
    bar.finish_and_clear();
    got.map_err(|e| anyhow::anyhow!("{e} (or pass --checkpoint FILE)"))
}
