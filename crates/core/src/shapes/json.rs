//! The curves and keys as JSON, for other tools. The document (version 1):
//!
//! ```text
//! {
//!   "format": "samurai-roto-shapes", "version": 1,
//!   "coordinates": "plate pixels, origin top-left, y down",
//!   "size": [W, H], "first_frame": F0, "last_frame": F1,
//!   "settings": {"tolerance_px", "max_islands", "min_island_area", "min_hole_area",
//!                "max_holes", "max_points"},
//!   "objects": [{"name": "girl", "shapes": [{
//!       "name": "girl_1", "kind": "outline" | "hole", "parent": null | "girl_1",
//!       "max_error_px": 0.8,
//!       "keys": [{"frame": 0, "points": [{"pos": [x, y], "in": [x, y], "out": [x, y]}, ...]},
//!                ...]}]}],
//!   "notes": [{"frame": 3, "object": "girl", "text": "..."}]
//! }
//! ```
//!
//! A shape has a key on each of its frames, consecutive from its first, all with the same
//! number of points. Handles are absolute positions; the segment from point `i` to point
//! `i + 1` (the last one back to the first) is the cubic `pos_i, out_i, in_{i+1}, pos_{i+1}`.
//! Drawing order is the order of `shapes`: an outline over what is before it, a hole cut
//! out of what is before it. A frame outside a shape's keys has no such shape.
use super::ShapeSet;
use serde::{Deserialize, Serialize};

const FORMAT: &str = "samurai-roto-shapes";
const VERSION: u32 = 1;
const COORDINATES: &str = "plate pixels, origin top-left, y down";

#[derive(Serialize, Deserialize)]
struct Document {
    format: String,
    version: u32,
    coordinates: String,
    #[serde(flatten)]
    set: ShapeSet,
}

/// The document's text.
pub fn to_string(set: &ShapeSet) -> String {
    let doc = Document { format: FORMAT.into(), version: VERSION, coordinates: COORDINATES.into(), set: set.clone() };
    serde_json::to_string_pretty(&doc).expect("shapes serialise to JSON")
}

/// Reads a document written by [`to_string`].
pub fn from_str(text: &str) -> crate::Result<ShapeSet> {
    let doc: Document = serde_json::from_str(text).map_err(|e| crate::Error::invalid("shapes JSON", e.to_string()))?;
    if doc.format != FORMAT || doc.version != VERSION {
        return Err(crate::Error::invalid(
            "shapes JSON",
            format!("format {} version {}, expected {FORMAT} version {VERSION}", doc.format, doc.version),
        ));
    }
    Ok(doc.set)
}
