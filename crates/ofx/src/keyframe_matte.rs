//! The Keyframe matte input read as a mask of the engine's frame, in canonical coordinates:
//! every plate pixel takes the matte's value at the canonical point of its centre, and 0
//! where that point lies outside the matte's region. The matte may have any region of
//! definition (a Roto node without input defines only its shapes' bounding box), its own
//! pixel aspect ratio and render scale; the Source clip's region defines the frame.
use super::instance::{Geometry, Instance};
use super::params;
use super::pixels::read_px;
use super::suites::{Image, OfxError, OfxResult};
use samurai_core::settings::MaskPrompt;

/// Where an image's pixels lie in canonical coordinates: its pixel bounds (x1, y1, x2, y2,
/// y up), pixel aspect ratio and render scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelGrid {
    pub bounds: [i32; 4],
    pub pixel_aspect: f64,
    pub render_scale: [f64; 2],
}

impl PixelGrid {
    pub fn of_image(img: &Image) -> Self {
        PixelGrid {
            bounds: [img.bounds.x1, img.bounds.y1, img.bounds.x2, img.bounds.y2],
            pixel_aspect: img.pixel_aspect,
            render_scale: img.render_scale,
        }
    }
    pub fn of_plate(geo: &Geometry) -> Self {
        PixelGrid { bounds: geo.bounds, pixel_aspect: geo.pixel_aspect, render_scale: geo.render_scale }
    }
    fn width(&self) -> usize {
        (self.bounds[2] - self.bounds[0]).max(0) as usize
    }
    fn height(&self) -> usize {
        (self.bounds[3] - self.bounds[1]).max(0) as usize
    }
    /// Canonical x of pixel coordinate `x` (a real number: centres are at i + 0.5).
    fn canonical_x(&self, x: f64) -> f64 {
        x * self.pixel_aspect / self.render_scale[0]
    }
    fn canonical_y(&self, y: f64) -> f64 {
        y / self.render_scale[1]
    }
    /// The pixel column of canonical x, if inside the bounds (offset from `bounds[0]`).
    fn column(&self, cx: f64) -> Option<usize> {
        let x = (cx * self.render_scale[0] / self.pixel_aspect).floor();
        (x >= self.bounds[0] as f64 && x < self.bounds[2] as f64).then(|| (x as i64 - self.bounds[0] as i64) as usize)
    }
    /// The pixel row of canonical y, if inside the bounds (offset from `bounds[1]`, y up).
    fn row(&self, cy: f64) -> Option<usize> {
        let y = (cy * self.render_scale[1]).floor();
        (y >= self.bounds[1] as f64 && y < self.bounds[3] as f64).then(|| (y as i64 - self.bounds[1] as i64) as usize)
    }
    /// The region in canonical coordinates (x1, y1, x2, y2).
    pub fn canonical_region(&self) -> [f64; 4] {
        let b = self.bounds.map(f64::from);
        [self.canonical_x(b[0]), self.canonical_y(b[1]), self.canonical_x(b[2]), self.canonical_y(b[3])]
    }
}

/// For each plate column (left to right) the matte column its centre falls in, and for
/// each plate row (top row first, the engine's order) the matte row (offset from the
/// matte's first row, y up); `None` outside the matte.
pub fn placement(plate: &PixelGrid, matte: &PixelGrid) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
    let columns = (0..plate.width()).map(|xe| matte.column(plate.canonical_x(plate.bounds[0] as f64 + xe as f64 + 0.5))).collect();
    let rows = (0..plate.height()).map(|ye| matte.row(plate.canonical_y(plate.bounds[3] as f64 - ye as f64 - 0.5))).collect();
    (columns, rows)
}

/// The mask of the plate `plate` that `inside(matte column, matte row)` defines through
/// `placement` (top row first).
pub fn place(plate: &PixelGrid, matte: &PixelGrid, inside: impl Fn(usize, usize) -> bool) -> Result<MaskPrompt, String> {
    let (columns, rows) = placement(plate, matte);
    let bits = rows.iter().flat_map(|r| {
        let inside = &inside;
        columns.iter().map(move |c| match (c, r) {
            (Some(c), Some(r)) => inside(*c, *r),
            _ => false,
        })
    });
    MaskPrompt::from_bits(plate.width() as u32, plate.height() as u32, bits).map_err(|e| e.to_string())
}

/// The Keyframe matte input at `frame`, channel `channel` (0–3: R, G, B, A; alpha-only
/// images read as alpha in every channel; > 0.5 is inside), as a mask of the engine's
/// frame (`geo`: the Source image at this render scale).
pub fn read(inst: &Instance, geo: &Geometry, frame: i64, channel: usize) -> OfxResult<MaskPrompt> {
    let name = std::ffi::CString::new(params::KEYFRAME_MATTE_CLIP).expect("no NUL");
    let clip = inst.effect.clip(&name)?;
    let img = clip
        .image(frame as f64)
        .map_err(|e| OfxError::failed(format!("the Keyframe matte input has no image ({}): is it connected?", e.message)))?;
    let (plate, matte) = (PixelGrid::of_plate(geo), PixelGrid::of_image(&img));
    let mask = place(&plate, &matte, |x, y| {
        img.row(matte.bounds[1] + y as i32).is_some_and(|row| read_px(row, x, img.depth, img.components)[channel] > 0.5)
    })
    .map_err(OfxError::failed)?;
    if mask.inside_count() == 0 {
        let c = ["red", "green", "blue", "alpha"][channel];
        let (p, m) = (plate.canonical_region(), matte.canonical_region());
        let overlaps = p[0] < m[2] && m[0] < p[2] && p[1] < m[3] && m[1] < p[3];
        return Err(OfxError::failed(if overlaps {
            format!("the Keyframe matte is empty over the Source (no {c} value above 0.5 there)")
        } else {
            format!(
                "the Keyframe matte's region ({:.0}, {:.0})–({:.0}, {:.0}) lies outside the Source's ({:.0}, {:.0})–({:.0}, {:.0})",
                m[0], m[1], m[2], m[3], p[0], p[1], p[2], p[3]
            )
        }));
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(bounds: [i32; 4], pixel_aspect: f64, scale: f64) -> PixelGrid {
        PixelGrid { bounds, pixel_aspect, render_scale: [scale; 2] }
    }

    /// The mask as rows of '#' and '.', top row first.
    fn picture(m: &MaskPrompt) -> Vec<String> {
        m.to_bits().chunks(m.width as usize).map(|row| row.iter().map(|b| if *b { '#' } else { '.' }).collect()).collect()
    }

    #[test]
    fn same_grid_is_pixel_for_pixel() {
        let g = grid([0, 0, 4, 3], 1.0, 1.0);
        // Matte pixel (1, 0) (bottom row, y up) and (3, 2) (top row).
        let m = place(&g, &g, |x, y| (x, y) == (1, 0) || (x, y) == (3, 2)).unwrap();
        assert_eq!(picture(&m), ["...#", "....", ".#.."]);
    }

    #[test]
    fn a_smaller_offset_matte_lands_at_its_canonical_place_with_zero_around() {
        let plate = grid([0, 0, 6, 4], 1.0, 1.0);
        // A 2×2 matte at (3, 1): every pixel inside.
        let m = place(&plate, &grid([3, 1, 5, 3], 1.0, 1.0), |_, _| true).unwrap();
        assert_eq!(picture(&m), ["......", "...##.", "...##.", "......"]);
        // A matte larger than the plate: only the part over the plate counts; its pixel
        // (12, 11) is the plate's (2, 1).
        let m = place(&plate, &grid([-10, -10, 20, 20], 1.0, 1.0), |x, y| x == 12 && y == 11).unwrap();
        assert_eq!(picture(&m), ["......", "......", "..#...", "......"]);
    }

    #[test]
    fn pixel_aspect_and_render_scale_are_honoured() {
        // An anamorphic matte (pixel aspect 2): each matte column covers two square plate columns.
        let plate = grid([0, 0, 6, 2], 1.0, 1.0);
        let m = place(&plate, &grid([0, 0, 3, 2], 2.0, 1.0), |x, _| x == 1).unwrap();
        assert_eq!(picture(&m), ["..##..", "..##.."]);
        // A plate at render scale ½ and a matte at scale 1: the plate's pixel (1, 0) covers
        // canonical (2..4, 0..2), whose centre (3, 1) is the matte's pixel (3, 1).
        let m = place(&grid([0, 0, 3, 2], 1.0, 0.5), &grid([0, 0, 6, 4], 1.0, 1.0), |x, y| (x, y) == (3, 1)).unwrap();
        assert_eq!(picture(&m), ["...", ".#."]);
        // A plate region not at the origin (an offset Source) with an offset matte.
        let m = place(&grid([10, 20, 13, 22], 1.0, 1.0), &grid([11, 21, 12, 22], 1.0, 1.0), |_, _| true).unwrap();
        assert_eq!(picture(&m), [".#.", "..."]);
    }

    #[test]
    fn regions_in_canonical_coordinates() {
        assert_eq!(grid([2, 4, 6, 8], 2.0, 0.5).canonical_region(), [8.0, 8.0, 24.0, 16.0]);
    }
}
