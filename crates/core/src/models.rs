//! Where SAM 2.1 models come from: a [`ModelSource`] (one of the four published sizes, or
//! a checkpoint file chosen by path), the official file names and download address, and
//! the folders a published model is looked for in. This is the one home of those facts for
//! the plugin, the helper and the command line; the download itself lives in the
//! `samurai-roto-fetch` crate (the plugin links no network code: it only finds files
//! already present).
//!
//! Folders, searched in this order for `sam2.1_hiera_{size}.pt`:
//! 1. the studio folder, [`STUDIO_MODELS_ENV`] (read-only: a TD pre-seeds it, e.g. for a
//!    farm with no internet; never written);
//! 2. the per-user cache, [`USER_CACHE_ENV`], else `$XDG_CACHE_HOME/samurai-roto/checkpoints`,
//!    else `~/.cache/samurai-roto/checkpoints` (downloads go here).
use crate::config::ModelSize;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the SAM 2 project publishes the SAM 2.1 checkpoints.
pub const RELEASE_BASE: &str = "https://dl.fbaipublicfiles.com/segment_anything_2/092824";
/// The read-only studio-wide model folder (searched first, never written).
pub const STUDIO_MODELS_ENV: &str = "SAMURAI_ROTO_MODELS";
/// The per-user model cache folder (downloads go here).
pub const USER_CACHE_ENV: &str = "SAMURAI_ROTO_CACHE";
/// Tests only: the download address base in place of [`RELEASE_BASE`] (a local server).
pub const TEST_DOWNLOAD_BASE_ENV: &str = "SAMURAI_ROTO_TEST_DOWNLOAD_BASE";
/// The size a new node and `track` without `--checkpoint` use: the smallest download
/// (about 150 MB) and the fastest on a CPU.
pub const DEFAULT_MODEL: ModelSize = ModelSize::Tiny;

/// Which network to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelSource {
    /// A published SAM 2.1 size: its official file, found in the studio folder or the
    /// user cache, or downloaded into the user cache (by the helper or the CLI only).
    Preset(ModelSize),
    /// A checkpoint file chosen by path (its size read from its contents).
    File(PathBuf),
}

impl ModelSource {
    /// The file of this source when it is present on this machine (never downloads).
    pub fn present_file(&self) -> Option<PathBuf> {
        match self {
            ModelSource::Preset(size) => find_present(*size),
            ModelSource::File(p) => p.is_file().then(|| p.clone()),
        }
    }

    /// The size this source promises (a file's is read from it).
    pub fn size(&self) -> Option<ModelSize> {
        match self {
            ModelSource::Preset(size) => Some(*size),
            ModelSource::File(_) => None,
        }
    }
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Preset(size) => write!(f, "{} ({})", size, file_name(*size)),
            ModelSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The official file name of a size: `sam2.1_hiera_{size}.pt`.
pub fn file_name(size: ModelSize) -> String {
    format!("sam2.1_hiera_{}.pt", size.name())
}

/// The download address of a size ([`TEST_DOWNLOAD_BASE_ENV`] replaces the base in tests).
pub fn download_url(size: ModelSize) -> String {
    let base = std::env::var(TEST_DOWNLOAD_BASE_ENV).ok().filter(|b| !b.trim().is_empty());
    let base = base.as_deref().unwrap_or(RELEASE_BASE).trim_end_matches('/');
    format!("{base}/{}", file_name(size))
}

/// The studio folder ([`STUDIO_MODELS_ENV`]), when set.
pub fn studio_dir() -> Option<PathBuf> {
    std::env::var_os(STUDIO_MODELS_ENV).filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// The per-user cache folder: [`USER_CACHE_ENV`], else
/// `$XDG_CACHE_HOME/samurai-roto/checkpoints`, else `~/.cache/samurai-roto/checkpoints`.
pub fn user_cache_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var(USER_CACHE_ENV) {
        return Ok(d);
    }
    let base = match var("XDG_CACHE_HOME") {
        Some(x) => x,
        None => var("HOME")
            .ok_or_else(|| Error::invalid("model cache folder", format!("neither {USER_CACHE_ENV}, XDG_CACHE_HOME nor HOME is set")))?
            .join(".cache"),
    };
    Ok(base.join("samurai-roto").join("checkpoints"))
}

/// The folders searched for a published model, in order: the studio folder (when set),
/// then the user cache (when it can be named).
pub fn search_dirs() -> Vec<PathBuf> {
    studio_dir().into_iter().chain(user_cache_dir().ok()).collect()
}

/// One folder searched for published models, as `doctor` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFolder {
    /// What the folder is for ("studio folder", "per-user cache").
    pub role: &'static str,
    /// Where its path came from (the environment variable, or the default rule's variable).
    pub from: &'static str,
    pub path: PathBuf,
}

/// The folders searched for a published model, in search order, each with where its path
/// came from: the list `doctor` reports (the same folders as [`search_dirs`]).
pub fn model_folders() -> Result<Vec<ModelFolder>> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let mut out = Vec::new();
    if let Some(path) = studio_dir() {
        out.push(ModelFolder { role: "studio folder (read-only, searched first)", from: STUDIO_MODELS_ENV, path });
    }
    let from = if set(USER_CACHE_ENV) {
        USER_CACHE_ENV
    } else if set("XDG_CACHE_HOME") {
        "XDG_CACHE_HOME"
    } else {
        "HOME"
    };
    out.push(ModelFolder { role: "per-user cache (downloads land here)", from, path: user_cache_dir()? });
    Ok(out)
}

/// The official file of `size` in the first folder that holds it (never downloads).
pub fn find_present(size: ModelSize) -> Option<PathBuf> {
    search_dirs().into_iter().map(|d| d.join(file_name(size))).find(|p| p.is_file())
}

/// What to do when a published model is absent and cannot be downloaded here: the URL,
/// the file name and the folders to put it in.
pub fn where_to_put(size: ModelSize) -> String {
    let name = file_name(size);
    let cache = user_cache_dir().map(|d| d.display().to_string()).unwrap_or_else(|e| format!("(no user cache folder: {e})"));
    let studio = match studio_dir() {
        Some(d) => format!("the studio folder {} ({STUDIO_MODELS_ENV})", d.display()),
        None => format!("a studio folder named by {STUDIO_MODELS_ENV}"),
    };
    format!("Download {} and put {name} in {cache} (or in {studio})", download_url(size))
}

/// `path` without its folder, for messages.
pub fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_of_the_published_models() {
        assert_eq!(file_name(ModelSize::BasePlus), "sam2.1_hiera_base_plus.pt");
        if std::env::var_os(TEST_DOWNLOAD_BASE_ENV).is_none() {
            assert_eq!(download_url(ModelSize::Tiny), format!("{RELEASE_BASE}/sam2.1_hiera_tiny.pt"));
        }
        assert_eq!(ModelSource::Preset(ModelSize::Large).size(), Some(ModelSize::Large));
        assert_eq!(ModelSource::File("/nowhere/x.pt".into()).present_file(), None);
        assert_eq!(ModelSource::Preset(ModelSize::Small).to_string(), "small (sam2.1_hiera_small.pt)");
    }
}
