//! Downloads a published SAM 2.1 model into the per-user cache, for the helper process
//! (the plugin's host shows the progress and may cancel) and the command line (a progress
//! bar). The plugin does not link this crate: it only finds files already present
//! (`samurai_core::models`, which also names the files, folders and address).
//!
//! [`ensure`] looks in the studio folder, then the user cache, and downloads only when
//! both lack the file. A download goes to a hidden `.part` file beside its destination and
//! is renamed to the official name only once it is whole: its length is the one the
//! server announced and it is a PyTorch checkpoint archive (a zip whose `data.pkl` reads
//! back with a good checksum). Anything else (a truncated body, an HTML error page, a
//! cancel, a lost connection) removes the `.part` file, so a partial download never stays
//! under the final name. Every network wait is bounded ([`CONNECT_TIMEOUT`],
//! [`READ_TIMEOUT`]).
use samurai_core::config::ModelSize;
use samurai_core::models::{display_name, download_url, file_name, find_present, user_cache_dir, where_to_put};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest wait for a connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the response head or for any one read of the body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Progress is reported at least every this many bytes (and at the end).
const REPORT_EVERY: u64 = 1 << 20;
/// `.part` files not written to for this long belong to a download that died (a killed
/// process); the next download of that file removes them.
const STALE_PART: Duration = Duration::from_secs(600);

/// Why a model could not be had. Every message names the file and, where a download was
/// tried, its address and where to put the file by hand.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No folder to download into.
    #[error("{file} is not in any model folder and there is no user cache folder to download it into ({reason}). {advice}")]
    NoCacheFolder { file: String, reason: String, advice: String },
    /// The server could not be reached or refused (offline, DNS, HTTP error status).
    #[error("could not download {file} from {url}: {reason}. {advice}")]
    Unreachable { url: String, file: String, reason: String, advice: String },
    /// The body ended before the length the server announced.
    #[error("the download of {file} from {url} was cut short: {got} of {expected} bytes arrived{detail}; nothing was kept. {advice}")]
    Truncated { url: String, file: String, got: u64, expected: u64, detail: String, advice: String },
    /// The body is not a PyTorch checkpoint (an error page, a proxy's notice, a cut zip).
    #[error("{url} did not send a SAM 2.1 checkpoint for {file} ({reason}); nothing was kept. {advice}")]
    NotACheckpoint { url: String, file: String, reason: String, advice: String },
    /// The caller (the host's cancel, Ctrl-C) stopped the download.
    #[error("the download of {file} was cancelled; nothing was kept")]
    Cancelled { file: String },
    /// Writing in the cache folder failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl FetchError {
    /// What the failure means: a cancel, a file that could not be written, or a model that
    /// could not be had.
    pub fn kind(&self) -> samurai_core::ErrorKind {
        use samurai_core::ErrorKind;
        match self {
            FetchError::Cancelled { .. } => ErrorKind::Cancelled,
            FetchError::Io { .. } => ErrorKind::Io,
            FetchError::NoCacheFolder { .. }
            | FetchError::Unreachable { .. }
            | FetchError::Truncated { .. }
            | FetchError::NotACheckpoint { .. } => ErrorKind::Model,
        }
    }
}

/// A download's failure as the engine's boundary carries it.
impl From<FetchError> for samurai_core::EngineError {
    fn from(e: FetchError) -> Self {
        samurai_core::EngineError::new(e.kind(), e.to_string())
    }
}

/// Called with `(bytes so far, bytes in all when the server said)`; `false` cancels.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>) -> bool;

/// The official file of `size`: from the studio folder or the user cache when present
/// (no request made), else downloaded into the user cache with `progress`.
pub fn ensure(size: ModelSize, progress: Progress<'_>) -> Result<PathBuf, FetchError> {
    if let Some(path) = find_present(size) {
        return Ok(path);
    }
    let file = file_name(size);
    let dir = user_cache_dir().map_err(|e| FetchError::NoCacheFolder {
        file: file.clone(),
        reason: e.to_string(),
        advice: where_to_put(size),
    })?;
    let dest = dir.join(&file);
    download(&download_url(size), &dest, &where_to_put(size), progress)?;
    Ok(dest)
}

/// Downloads `url` to `dest` (creating its folder) through a `.part` file renamed over
/// `dest` only when whole and a checkpoint. `advice` ends every error message (what to
/// do by hand).
pub fn download(url: &str, dest: &Path, advice: &str, progress: Progress<'_>) -> Result<(), FetchError> {
    let file = display_name(dest);
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    remove_stale_parts(dir, &file);
    let unreachable = |reason: String| FetchError::Unreachable { url: url.into(), file: file.clone(), reason, advice: advice.into() };
    tracing::info!("downloading {url} to {}", dest.display());
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut response = agent.get(url).call().map_err(|e| unreachable(reason_of(&e)))?;
    let total = response.body().content_length();
    // Removed when dropped: every early return below leaves nothing behind.
    let mut part = tempfile::Builder::new().prefix(&format!(".{file}.")).suffix(".part").tempfile_in(dir).map_err(io(dir))?;
    let mut reader = response.body_mut().as_reader();
    let mut buf = vec![0u8; 256 << 10];
    let (mut done, mut reported) = (0u64, 0u64);
    if !progress(0, total) {
        return Err(FetchError::Cancelled { file });
    }
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(match total {
                    Some(expected) if done < expected => FetchError::Truncated {
                        url: url.into(),
                        file: file.clone(),
                        got: done,
                        expected,
                        detail: format!(" ({e})"),
                        advice: advice.into(),
                    },
                    _ => unreachable(format!("the connection failed after {done} bytes: {e}")),
                })
            }
        };
        part.write_all(&buf[..n]).map_err(io(part.path()))?;
        done += n as u64;
        if done - reported >= REPORT_EVERY {
            reported = done;
            if !progress(done, total) {
                return Err(FetchError::Cancelled { file });
            }
        }
    }
    drop(reader);
    if let Some(expected) = total.filter(|t| *t != done) {
        return Err(FetchError::Truncated { url: url.into(), file, got: done, expected, detail: String::new(), advice: advice.into() });
    }
    part.as_file().sync_all().map_err(io(part.path()))?;
    check_checkpoint(part.path()).map_err(|reason| FetchError::NotACheckpoint {
        url: url.into(),
        file: file.clone(),
        reason,
        advice: advice.into(),
    })?;
    if !progress(done, total) {
        return Err(FetchError::Cancelled { file });
    }
    part.persist(dest).map_err(|e| FetchError::Io { path: dest.to_path_buf(), source: e.error })?;
    tracing::info!("downloaded {} ({done} bytes)", dest.display());
    Ok(())
}

/// Whether `path` is a PyTorch checkpoint archive: a zip (its central directory whole, so
/// a cut file fails) holding `data.pkl`, which reads back with a good checksum.
pub fn check_checkpoint(path: &Path) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("not a PyTorch checkpoint archive: {e}"))?;
    let pickle = zip.file_names().find(|n| *n == "data.pkl" || n.ends_with("/data.pkl")).map(str::to_owned);
    let pickle = pickle.ok_or("a zip file without the data.pkl of a PyTorch checkpoint")?;
    let mut entry = zip.by_name(&pickle).map_err(|e| format!("{pickle}: {e}"))?;
    std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| format!("{pickle} is damaged: {e}"))?;
    Ok(())
}

/// An HTTP error in words (the status code, not ureq's wording of it).
fn reason_of(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
        other => other.to_string(),
    }
}

/// Removes `.part` files of `file` in `dir` left by a download that died.
fn remove_stale_parts(dir: &Path, file: &str) {
    let prefix = format!(".{file}.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > STALE_PART);
        if name.starts_with(&prefix) && name.ends_with(".part") && old {
            tracing::info!("removing {} (left by a download that did not finish)", entry.path().display());
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
