//! Shapes back to pixels: anti-aliased coverage (tiny-skia's path filler, 8-bit coverage)
//! composited in drawing order as a Roto node does it: an outline *over* what is below
//! (`a + b·(1 − a)`), a hole as a stencil (`b·(1 − a)`). Used for the IoU against the
//! matte and for the Natron check.
use super::{Shape, ShapeKey, ShapeKind};
use tiny_skia::{FillRule, Mask, PathBuilder, Transform};

/// The closed Bezier path of one key.
fn path(key: &ShapeKey) -> Option<tiny_skia::Path> {
    let p = &key.points;
    let mut b = PathBuilder::new();
    let first = p.first()?;
    b.move_to(first.pos[0] as f32, first.pos[1] as f32);
    for i in 0..p.len() {
        let (a, z) = (&p[i], &p[(i + 1) % p.len()]);
        b.cubic_to(
            a.out_handle[0] as f32,
            a.out_handle[1] as f32,
            z.in_handle[0] as f32,
            z.in_handle[1] as f32,
            z.pos[0] as f32,
            z.pos[1] as f32,
        );
    }
    b.close();
    b.finish()
}

/// Coverage (0–1) of one key on a `width × height` plate, row-major.
pub fn coverage(key: &ShapeKey, width: u32, height: u32) -> Vec<f32> {
    let mut out = vec![0.0; width as usize * height as usize];
    let (Some(path), Some(mut mask)) = (path(key), Mask::new(width, height)) else { return out };
    mask.fill_path(&path, FillRule::Winding, true, Transform::identity());
    for (o, &m) in out.iter_mut().zip(mask.data()) {
        *o = m as f32 / 255.0;
    }
    out
}

/// Every shape that exists on `frame` composited in order: the object's matte as the
/// shapes draw it.
pub fn rasterise<'a>(shapes: impl IntoIterator<Item = &'a Shape>, frame: i64, width: u32, height: u32) -> Vec<f32> {
    let mut acc = vec![0.0f32; width as usize * height as usize];
    for s in shapes {
        let Some(key) = s.key(frame) else { continue };
        let a = coverage(key, width, height);
        match s.kind {
            ShapeKind::Outline => acc.iter_mut().zip(&a).for_each(|(b, &a)| *b = a + *b * (1.0 - a)),
            ShapeKind::Hole => acc.iter_mut().zip(&a).for_each(|(b, &a)| *b *= 1.0 - a),
        }
    }
    acc
}

/// Intersection over union of `coverage >= 0.5` and `logit > 0` (1 when both are empty).
pub fn iou(coverage: &[f32], logits: &[f32]) -> f64 {
    iou_of(coverage, logits.iter().map(|&l| l > 0.0))
}

/// Intersection over union of `coverage >= 0.5` and `mask` (1 when both are empty).
pub fn iou_mask(coverage: &[f32], mask: &[bool]) -> f64 {
    iou_of(coverage, mask.iter().copied())
}

fn iou_of(coverage: &[f32], mask: impl Iterator<Item = bool>) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (&c, b) in coverage.iter().zip(mask) {
        let a = c >= 0.5;
        inter += (a && b) as usize;
        union += (a || b) as usize;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::ControlPoint;

    fn square(x0: f64, y0: f64, side: f64) -> ShapeKey {
        let corners = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]];
        ShapeKey { frame: 0, points: corners.iter().map(|&c| ControlPoint { pos: c, in_handle: c, out_handle: c }).collect() }
    }

    fn shape(kind: ShapeKind, key: ShapeKey) -> Shape {
        Shape { name: "s".into(), kind, parent: None, keys: vec![key], max_error_px: 0.0 }
    }

    #[test]
    fn a_square_with_a_hole_covers_its_pixels() {
        let shapes = [shape(ShapeKind::Outline, square(2.0, 2.0, 6.0)), shape(ShapeKind::Hole, square(4.0, 4.0, 2.0))];
        let c = rasterise(&shapes, 0, 10, 10);
        let at = |x: usize, y: usize| c[y * 10 + x];
        assert_eq!((at(2, 2), at(7, 7), at(1, 1), at(8, 8)), (1.0, 1.0, 0.0, 0.0));
        assert_eq!((at(4, 4), at(5, 5), at(3, 3)), (0.0, 0.0, 1.0));
        assert_eq!(rasterise(&shapes, 1, 10, 10).iter().sum::<f32>(), 0.0, "no key on frame 1");
        let logits: Vec<f32> = c.iter().map(|&v| v - 0.5).collect();
        assert_eq!(iou(&c, &logits), 1.0);
    }
}
