//! Helpers shared by the command line's tests (beside the engine's `common`, which each
//! test includes as `crate::common`).
use std::path::{Path, PathBuf};

/// `<tmp>/small` with the first `n` bedroom frames reduced to 240×136 PNGs.
pub fn small_clip(tmp: &Path, n: usize) -> PathBuf {
    let dir = tmp.join("small");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let img = image::open(crate::common::clips().join(format!("bedroom/{i:05}.jpg"))).unwrap();
        img.resize_exact(240, 136, image::imageops::FilterType::Triangle).into_rgb8().save(dir.join(format!("{i:05}.png"))).unwrap();
    }
    dir
}

/// `<tmp>/<clip>` with the first `n` frames of the shared clip `clip` (links, not copies).
pub fn linked_clip(tmp: &Path, clip: &str, n: usize) -> PathBuf {
    let dir = tmp.join(clip);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let name = format!("{i:05}.jpg");
        std::os::unix::fs::symlink(crate::common::clips().join(clip).join(&name), dir.join(&name)).unwrap();
    }
    dir
}
