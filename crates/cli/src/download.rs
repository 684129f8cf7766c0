//! Official checkpoints for `track` without `--checkpoint`: a per-user cache folder, filled
//! by a download of the file the SAM 2 project publishes (with a progress bar). Offline, the
//! error names the file and where to put it. Tests never reach this code's network path.
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use samurai_engine::config::ModelSize;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Where the SAM 2 project publishes the SAM 2.1 checkpoints.
const RELEASE_BASE: &str = "https://dl.fbaipublicfiles.com/segment_anything_2/092824";

/// The per-user checkpoint folder: `$SAMURAI_ROTO_CACHE`, else
/// `$XDG_CACHE_HOME/samurai-roto/checkpoints`, else `~/.cache/samurai-roto/checkpoints`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SAMURAI_ROTO_CACHE") {
        return Ok(PathBuf::from(d));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(x) => PathBuf::from(x),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither SAMURAI_ROTO_CACHE, XDG_CACHE_HOME nor HOME is set")?).join(".cache")
        }
    };
    Ok(base.join("samurai-roto").join("checkpoints"))
}

/// One folder searched for checkpoints, for `doctor`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelFolder {
    /// What the folder is for ("per-user cache", ...).
    pub role: &'static str,
    /// Where its path came from (the environment variable or the default rule).
    pub from: &'static str,
    pub path: PathBuf,
}

/// The folders where checkpoints are looked for, in search order: the single list `doctor`
/// reports. MERGE(model-fetch): the studio-wide read-only folder that branch adds (an
/// environment variable, searched before the per-user cache) goes first here.
pub fn model_folders() -> Result<Vec<ModelFolder>> {
    let from = if std::env::var_os("SAMURAI_ROTO_CACHE").is_some() {
        "SAMURAI_ROTO_CACHE"
    } else if std::env::var_os("XDG_CACHE_HOME").is_some() {
        "XDG_CACHE_HOME"
    } else {
        "HOME"
    };
    Ok(vec![ModelFolder { role: "per-user cache (downloads land here)", from, path: cache_dir()? }])
}

/// The official file name of a size.
pub fn file_name(size: ModelSize) -> String {
    format!("sam2.1_hiera_{}.pt", size.name())
}

/// Returns the cached checkpoint of `size`, downloading it first when missing.
pub fn cached_or_download(size: ModelSize) -> Result<PathBuf> {
    let dir = cache_dir()?;
    let path = dir.join(file_name(size));
    if path.exists() {
        return Ok(path);
    }
    let url = format!("{RELEASE_BASE}/{}", file_name(size));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    download(&url, &path).with_context(|| {
        format!("could not download {url}. Fetch that file by other means and put it at {} (or pass --checkpoint FILE)", path.display())
    })?;
    Ok(path)
}

fn download(url: &str, dest: &std::path::Path) -> Result<()> {
    let mut response = ureq::get(url).call()?;
    let total = response.body().content_length().unwrap_or(0);
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}").expect("valid template"));
    let part = dest.with_extension("pt.part");
    let mut file = std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        written += n as u64;
        bar.set_position(written);
    }
    file.sync_all()?;
    bar.finish();
    if total > 0 && written != total {
        bail!("download truncated: {written} of {total} bytes");
    }
    std::fs::rename(&part, dest).with_context(|| format!("moving the download to {}", dest.display()))?;
    Ok(())
}
