//! How control points move compared with the outline they sit on.
//!
//! For each point and each pair of consecutive frames: `moved`, the distance the point
//! travels; `contour`, the distance from its old position to the new frame's curve (how far
//! the outline itself moved there: the least any point could move); `slide`, the part of
//! the motion along the outline, `sqrt(moved² − contour²)`. Points that glide with the
//! outline have `moved` close to `contour`; points that swim have a large `slide`. The
//! outline's own motion along itself (an edge translating along its length) also counts
//! as `slide`: no measure on outlines alone can tell it from swimming, so `slide` is an
//! upper bound of the swimming. `jitter`, the second difference `|p(t+1) − 2·p(t) +
//! p(t−1)|` over three consecutive frames, is what smooth motion keeps small whatever its
//! direction: a point that shakes back and forth along the outline shows there.
use super::fit::bezier;
use super::{Shape, ShapeKey, Vec2};

/// Segments per cubic when measuring distances to a curve.
const FLATTEN: usize = 24;

/// Means over every point and consecutive frame pair of one or more shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Motion {
    /// Point-and-frame pairs measured.
    pub samples: usize,
    pub moved_px: f64,
    pub contour_px: f64,
    pub slide_px: f64,
    /// Point-and-frame triples measured for `jitter_px`.
    pub triples: usize,
    pub jitter_px: f64,
}

impl Motion {
    /// Adds another measurement (means weighted by samples).
    pub fn merge(self, o: Motion) -> Motion {
        let n = self.samples + o.samples;
        if n == 0 {
            return Motion::default();
        }
        let w = |a: f64, b: f64| (a * self.samples as f64 + b * o.samples as f64) / n as f64;
        let t = self.triples + o.triples;
        let jitter = if t == 0 { 0.0 } else { (self.jitter_px * self.triples as f64 + o.jitter_px * o.triples as f64) / t as f64 };
        Motion {
            samples: n,
            moved_px: w(self.moved_px, o.moved_px),
            contour_px: w(self.contour_px, o.contour_px),
            slide_px: w(self.slide_px, o.slide_px),
            triples: t,
            jitter_px: jitter,
        }
    }
}

fn flatten(key: &ShapeKey) -> Vec<Vec2> {
    let p = &key.points;
    let n = p.len();
    let mut out = Vec::with_capacity(n * FLATTEN + 1);
    for i in 0..n {
        let c = [p[i].pos, p[i].out_handle, p[(i + 1) % n].in_handle, p[(i + 1) % n].pos];
        out.extend((0..FLATTEN).map(|k| bezier(&c, k as f64 / FLATTEN as f64)));
    }
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out
}

fn distance(p: Vec2, line: &[Vec2]) -> f64 {
    line.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let (abx, aby) = (b[0] - a[0], b[1] - a[1]);
            let len2 = abx * abx + aby * aby;
            let t = if len2 > 0.0 { (((p[0] - a[0]) * abx + (p[1] - a[1]) * aby) / len2).clamp(0.0, 1.0) } else { 0.0 };
            (p[0] - a[0] - t * abx).hypot(p[1] - a[1] - t * aby)
        })
        .fold(f64::INFINITY, f64::min)
}

/// The motion of one shape's points over its frames.
pub fn motion(shape: &Shape) -> Motion {
    let (mut n, mut moved, mut contour, mut slide) = (0usize, 0.0, 0.0, 0.0);
    for w in shape.keys.windows(2) {
        let curve = flatten(&w[1]);
        for (a, b) in w[0].points.iter().zip(&w[1].points) {
            let d = (b.pos[0] - a.pos[0]).hypot(b.pos[1] - a.pos[1]);
            let c = distance(a.pos, &curve).min(d);
            n += 1;
            moved += d;
            contour += c;
            slide += (d * d - c * c).max(0.0).sqrt();
        }
    }
    if n == 0 {
        return Motion::default();
    }
    let (mut triples, mut jitter) = (0usize, 0.0);
    for w in shape.keys.windows(3) {
        for ((a, b), c) in w[0].points.iter().zip(&w[1].points).zip(&w[2].points) {
            triples += 1;
            jitter += (c.pos[0] - 2.0 * b.pos[0] + a.pos[0]).hypot(c.pos[1] - 2.0 * b.pos[1] + a.pos[1]);
        }
    }
    let k = n as f64;
    Motion {
        samples: n,
        moved_px: moved / k,
        contour_px: contour / k,
        slide_px: slide / k,
        triples,
        jitter_px: if triples == 0 { 0.0 } else { jitter / triples as f64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::{ControlPoint, ShapeKind};

    fn square(inset: f64, shift: f64) -> ShapeKey {
        // The corners of the square [inset, 10 - inset]², each point moved `shift` along its edge.
        let (a, b) = (inset, 10.0 - inset);
        let c = [[a + shift, a], [b, a + shift], [b - shift, b], [a, b - shift]];
        ShapeKey { frame: 0, points: c.iter().map(|&p| ControlPoint { pos: p, in_handle: p, out_handle: p }).collect() }
    }

    #[test]
    fn sliding_points_are_told_from_a_moving_outline() {
        let shape = |keys| Shape { name: "s".into(), kind: ShapeKind::Outline, parent: None, keys, max_error_px: 0.0 };
        // The square shrinks by 1 px on each side, its corners staying corners: all the
        // motion is the outline's.
        let m = motion(&shape(vec![square(0.0, 0.0), square(1.0, 0.0)]));
        assert_eq!(m.samples, 4);
        assert!((m.moved_px - 2f64.sqrt()).abs() < 1e-9 && (m.contour_px - m.moved_px).abs() < 1e-9 && m.slide_px < 1e-6, "{m:?}");
        // A circle of 64 points that stays, its points sliding 1 px along it: all slide.
        let circle = |turn: f64| ShapeKey {
            frame: 0,
            points: (0..64)
                .map(|k| {
                    let a = std::f64::consts::TAU * k as f64 / 64.0 + turn;
                    let p = [50.0 * a.cos(), 50.0 * a.sin()];
                    ControlPoint { pos: p, in_handle: p, out_handle: p }
                })
                .collect(),
        };
        let m = motion(&shape(vec![circle(0.0), circle(1.0 / 50.0)]));
        assert!((m.moved_px - 1.0).abs() < 0.01 && m.slide_px > 0.99 && m.contour_px < 0.1, "{m:?}");
        // Sliding on at the same pace is smooth (only the turn: 50 · (1/50)² = 0.02 px);
        // sliding back is a 2 px jerk.
        let m = motion(&shape(vec![circle(0.0), circle(1.0 / 50.0), circle(2.0 / 50.0)]));
        assert!(m.triples == 64 && (m.jitter_px - 0.02).abs() < 1e-3, "{m:?}");
        let m = motion(&shape(vec![circle(0.0), circle(1.0 / 50.0), circle(0.0)]));
        assert!((m.jitter_px - 2.0).abs() < 0.01, "{m:?}");
    }
}
