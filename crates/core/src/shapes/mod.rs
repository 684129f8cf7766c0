//! Matte to shape: closed cubic Bezier outlines fitted to each object's matte at plate
//! resolution, animated over frames, for a compositor's Roto node (issue 20).
//!
//! The matte of a frame is its logit plane at plate resolution (`logit > 0` inside, what
//! `track` writes as its PNG). From it:
//!
//! - [`regions`]: islands are the 4-connected components of the inside pixels; the
//!   background is 8-connected, so a hole is a background component not touching the frame
//!   border, inside exactly one island. Islands smaller than
//!   [`ShapeSettings::min_island_area`] are dropped; of the rest, at most
//!   [`ShapeSettings::max_islands`] per object and frame are kept, the largest by area, and
//!   a [`Note`] says how many were dropped and how much of the matte they held. Holes of at
//!   least [`ShapeSettings::min_hole_area`] pixels become hole shapes (the host subtracts
//!   them: Natron's *stencil* operator, SVG's even-odd rule); smaller holes are filled.
//! - [`contour`]: each island's boundary (and each kept hole's) traced by marching squares
//!   on the logit plane's 0 level, with the crossing on each pixel edge interpolated
//!   linearly between the two pixel centres: a closed polyline whose inside holds exactly
//!   the island's pixel centres. Outlines run clockwise on screen, holes the other way.
//! - [`track`]: an island continues from one frame to the next when most of each lies in
//!   the other and nothing else of note splits off or merges in; otherwise (a split, a
//!   merge, a disappearance) its shape ends and a new shape starts.
//! - [`fit`] and [`animate`]: one shape's outlines over its frames become a closed cubic
//!   Bezier with the same number of control points on every frame. Each point sits at a
//!   fixed fraction of the outline's arc length, counted from a start point aligned with
//!   the previous frame's points, so points glide along the contour with it; the segments
//!   are subdivided (on every frame at once) until every frame's outline is within
//!   [`ShapeSettings::tolerance_px`] of its curve (or [`ShapeSettings::max_points`] is
//!   reached, with a note). Every point is smooth (its two handles are collinear).
//! - [`metrics`]: how far control points move along the outline compared with the
//!   outline's own motion (the jitter figures).
//! - [`raster`]: shapes rasterised back (anti-aliased coverage), for the IoU against the
//!   matte and for the Natron check.
//! - Writers: [`json`], [`svg`], [`natron`] (a Python script making a Roto node per
//!   object) and [`nuke`] (a `.nk` Roto node); [`output`] picks one by file extension.
//!
//! Coordinates are plate pixels with the origin at the top-left corner and y down (pixel
//! `(i, j)` covers `[i, i+1) × [j, j+1)`); the Natron and Nuke writers flip y (their
//! canonical origin is bottom-left).
pub mod animate;
pub mod contour;
pub mod fit;
pub mod json;
pub mod metrics;
pub mod natron;
pub mod nuke;
pub mod output;
pub mod raster;
pub mod regions;
pub mod svg;
pub mod track;

use serde::{Deserialize, Serialize};

/// A point or a vector in plate pixels (x right, y down).
pub type Vec2 = [f64; 2];

/// How mattes become shapes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShapeSettings {
    /// Largest distance, in plate pixels, allowed between a frame's outline and its curve;
    /// smaller gives more control points.
    pub tolerance_px: f64,
    /// Islands kept per object and frame (the largest); the others are dropped with a note.
    pub max_islands: usize,
    /// Islands of fewer pixels are dropped (speckle).
    pub min_island_area: usize,
    /// Holes of fewer pixels are filled; larger ones become hole shapes.
    pub min_hole_area: usize,
    /// Holes kept per island (the largest).
    pub max_holes: usize,
    /// Most control points on one shape; a shape that needs more keeps this many, with a
    /// note giving its largest distance.
    pub max_points: usize,
}

impl Default for ShapeSettings {
    fn default() -> Self {
        ShapeSettings { tolerance_px: 1.0, max_islands: 8, min_island_area: 16, min_hole_area: 64, max_holes: 8, max_points: 512 }
    }
}

impl ShapeSettings {
    /// Checks the values (a typed error names the bad one).
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.tolerance_px.is_finite() && self.tolerance_px > 0.0) {
            return Err(crate::Error::invalid("tolerance", format!("{} px: must be a positive number of pixels", self.tolerance_px)));
        }
        if self.max_islands == 0 {
            return Err(crate::Error::invalid("max islands", "must be at least 1"));
        }
        if self.max_points < 4 {
            return Err(crate::Error::invalid("max points", format!("{}: must be at least 4", self.max_points)));
        }
        Ok(())
    }
}

/// One control point of a Bezier shape on one frame: its position and its two handles, all
/// absolute plate coordinates. The curve from point `i` to point `i + 1` is the cubic
/// `pos_i, out_i, in_{i+1}, pos_{i+1}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ControlPoint {
    pub pos: Vec2,
    #[serde(rename = "in")]
    pub in_handle: Vec2,
    #[serde(rename = "out")]
    pub out_handle: Vec2,
}

/// A shape on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeKey {
    pub frame: i64,
    pub points: Vec<ControlPoint>,
}

/// Whether a shape adds to the matte or cuts a hole in an outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    Outline,
    Hole,
}

/// One animated shape: the same number of control points on each of its frames, which
/// are consecutive (`keys[k].frame == keys[0].frame + k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Unique within the object (`NAME_1`, `NAME_2`, `NAME_1_hole1`, ...).
    pub name: String,
    pub kind: ShapeKind,
    /// For a hole: the name of the outline it is cut from.
    pub parent: Option<String>,
    pub keys: Vec<ShapeKey>,
    /// Largest distance between a frame's outline and its curve, over all frames (pixels).
    pub max_error_px: f64,
}

impl Shape {
    pub fn first_frame(&self) -> i64 {
        self.keys.first().map_or(0, |k| k.frame)
    }

    pub fn last_frame(&self) -> i64 {
        self.keys.last().map_or(0, |k| k.frame)
    }

    pub fn point_count(&self) -> usize {
        self.keys.first().map_or(0, |k| k.points.len())
    }

    /// The key on `frame`, if the shape exists there.
    pub fn key(&self, frame: i64) -> Option<&ShapeKey> {
        let i = usize::try_from(frame - self.first_frame()).ok()?;
        self.keys.get(i)
    }
}

/// Something the artist should know that is not an error (an empty matte, islands dropped,
/// a tolerance not reached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub frame: i64,
    pub object: String,
    pub text: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frame {}, object {}: {}", self.frame, self.object, self.text)
    }
}

/// One object's shapes, in drawing order: outlines by decreasing enclosed area on their
/// first frame, each followed by its holes (so an island inside another's hole is drawn
/// after that hole is cut).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectShapes {
    pub name: String,
    pub shapes: Vec<Shape>,
}

/// Everything one export holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeSet {
    /// Plate size `(width, height)` in pixels.
    pub size: (u32, u32),
    pub first_frame: i64,
    pub last_frame: i64,
    pub settings: ShapeSettings,
    pub objects: Vec<ObjectShapes>,
    pub notes: Vec<Note>,
}

/// Builds one object's animated shapes from its logit planes (`height × width`,
/// row-major, one per frame of `frames`, consecutive frame numbers), appending notes.
pub fn object_shapes<'a>(
    name: &str,
    size: (u32, u32),
    frames: impl IntoIterator<Item = (i64, &'a [f32])>,
    settings: &ShapeSettings,
    notes: &mut Vec<Note>,
) -> crate::Result<ObjectShapes> {
    settings.validate()?;
    let mut tracker = track::Tracker::new(name, size, *settings);
    for (frame, logits) in frames {
        tracker.push(frame, logits, notes)?;
    }
    let tracks = tracker.finish();
    let shapes = animate::animate_tracks(name, &tracks, settings, notes);
    Ok(ObjectShapes { name: name.to_owned(), shapes })
}
