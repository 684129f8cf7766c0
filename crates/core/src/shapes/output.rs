//! Writes a [`ShapeSet`] in the format its file name's extension names: `.nk` ([`nuke`]),
//! `.py` ([`natron`]), `.json` ([`json`]) or `.svg` ([`svg`]: `STEM.NNNNN.svg`, one per
//! frame). Shared by `samurai-roto shapes` and the node's *Export shapes* button.
use super::{json, natron, nuke, svg, ShapeSet};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes `set` to `path` (format by extension); `plate` gives the plate file of a frame
/// for the SVGs to show. Returns the files written.
pub fn write(set: &ShapeSet, path: &Path, plate: &dyn Fn(i64) -> Option<String>) -> Result<Vec<PathBuf>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let put = |p: &Path, text: String| std::fs::write(p, text).map_err(|e| Error::io(p, e));
    match ext.as_str() {
        "json" => put(path, json::to_string(set)).map(|_| vec![path.to_owned()]),
        "py" => put(path, natron::script(set)).map(|_| vec![path.to_owned()]),
        "nk" => put(path, nuke::script(set)).map(|_| vec![path.to_owned()]),
        "svg" => {
            let stem = path.with_extension("");
            let mut written = Vec::new();
            for frame in set.first_frame..=set.last_frame {
                let file = PathBuf::from(format!("{}.{frame:05}.svg", stem.display()));
                put(&file, svg::frame_svg(set, frame, plate(frame).as_deref()))?;
                written.push(file);
            }
            Ok(written)
        }
        other => Err(Error::invalid(
            format!("shapes file {}", path.display()),
            format!("unknown format '{other}' (expected .nk, .py, .svg or .json)"),
        )),
    }
}
