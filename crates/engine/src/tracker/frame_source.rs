//! Where frames come from. The engine pulls frames one at a time through [`FrameSource`]
//! (it never needs the whole clip in memory, unlike the reference's `load_video_frames`).
//! [`FolderSource`] reads a folder of JPEG/PNG/EXR frames in name order.
use crate::error::{Error, Result};
use crate::image::{load_exr_srgb8, load_rgb8, resize_bicubic_pil, Rgb8Image};
use std::path::{Path, PathBuf};

/// A clip the tracker can pull frames from.
pub trait FrameSource {
    /// Number of frames.
    fn len(&self) -> usize;
    /// Whether the clip has no frame.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `(width, height)` in pixels, the same for every frame.
    fn frame_size(&self) -> (u32, u32);
    /// Decodes frame `index` as 8-bit sRGB.
    fn load(&self, index: usize) -> Result<Rgb8Image>;
    /// Frame `index` as the network sees it: squashed to `image_size × image_size` with
    /// Pillow's bicubic filter, the reference video loader's pre-processing. Sources that
    /// load ahead ([`PrefetchSource`](super::prefetch::PrefetchSource)) hand out the same
    /// bytes computed earlier on another thread.
    fn load_input(&self, index: usize, image_size: u32) -> Result<Rgb8Image> {
        Ok(resize_bicubic_pil(&self.load(index)?, image_size, image_size))
    }
    /// A string that changes when the clip's content may have changed (for cache keys).
    fn identity(&self) -> String;
    /// The tracker's word, just before it loads a frame, on the frame it will load after
    /// that one (`None`: none that it knows of). Sources that fetch from elsewhere may
    /// start fetching it while the network computes on the current frame; a hint is never
    /// a request (the next load may still ask for another frame). Ignored by default.
    fn will_load_next(&self, _next: Option<usize>) {}
}

/// A folder of frames; frame index = position in name order.
pub struct FolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    size: (u32, u32),
}

const EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "exr", "JPG"];

impl FolderSource {
    /// Lists the frames of `dir`; fails on a missing or empty folder.
    pub fn open(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid("frames folder", format!("{} holds no JPEG, PNG or EXR frames", dir.display())));
        }
        Self::from_files(dir, files)
    }

    /// The frames `files` of `dir`, in that order (a farm plan's clip, a file pattern's
    /// frames); fails on an empty list or a first frame that cannot be read.
    pub fn from_files(dir: &Path, files: Vec<PathBuf>) -> Result<Self> {
        let first = files.first().ok_or_else(|| Error::invalid("frames", format!("no frame of {} was given", dir.display())))?;
        let size = image_dimensions(first)?;
        Ok(Self { dir: dir.to_owned(), files, size })
    }

    /// Path of frame `index`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(PathBuf::as_path)
    }
}

fn image_dimensions(path: &Path) -> Result<(u32, u32)> {
    image::image_dimensions(path).map_err(|e| Error::Image { path: path.to_owned(), reason: e.to_string() })
}

impl FrameSource for FolderSource {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn frame_size(&self) -> (u32, u32) {
        self.size
    }

    fn load(&self, index: usize) -> Result<Rgb8Image> {
        let path = self
            .files
            .get(index)
            .ok_or_else(|| Error::invalid("frame", format!("frame {index} is outside the clip (0..{})", self.files.len())))?;
        let img = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("exr")) { load_exr_srgb8(path)? } else { load_rgb8(path)? };
        if (img.width, img.height) != self.size {
            return Err(Error::Image {
                path: path.clone(),
                reason: format!("frame {index} is {}x{} but the clip is {}x{}", img.width, img.height, self.size.0, self.size.1),
            });
        }
        Ok(img)
    }

    fn identity(&self) -> String {
        let mut id = self.dir.display().to_string();
        for f in &self.files {
            let meta = std::fs::metadata(f).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let mtime =
                meta.and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            id.push_str(&format!("|{}:{len}:{mtime}", f.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_missing_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = FolderSource::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("no JPEG, PNG or EXR frames"), "{err}");
        let err = FolderSource::open(&dir.path().join("nope")).err().unwrap().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
