//! One shape over its frames: the same control points on every frame, each at a fixed
//! fraction of the outline's arc length from a start point that follows the outline.
//!
//! - **Start point.** On the shape's first frame, the outline's topmost point (leftmost of
//!   those). On each later frame, the arc position that brings 64 points spread evenly
//!   along the outline closest (least squares) to the same points of the frame before: a
//!   moving or turning outline keeps its start where it was on the object.
//! - **Points.** Fractions of the arc length, the same on every frame, start at four
//!   (quarters). Every segment is fitted on every frame ([`super::fit`]), with the tangent
//!   at each point taken from the outline around it (so the two handles of a point are
//!   collinear); a segment further than the tolerance from its outline on any frame is
//!   halved on every frame, until all fit or [`super::ShapeSettings::max_points`] is
//!   reached (the worst segments halved first).
use super::fit::{self, fit_segment, Closed, Segment};
use super::track::LoopTrack;
use super::{ControlPoint, Note, Shape, ShapeKey, ShapeKind, ShapeSettings, Vec2};
use rayon::prelude::*;

/// Points compared when aligning a frame's start with the frame before.
const ALIGN_SAMPLES: usize = 64;
/// Candidate start positions tried per frame before refining.
const ALIGN_CANDIDATES: usize = 256;
/// Half-width (pixels) of the outline chord a point's tangent is taken from.
const TANGENT_REACH: f64 = 1.5;

/// Index of the topmost (then leftmost) point.
fn topmost(points: &[Vec2]) -> usize {
    (0..points.len()).min_by(|&a, &b| points[a][1].total_cmp(&points[b][1]).then(points[a][0].total_cmp(&points[b][0]))).unwrap_or(0)
}

fn spread(c: &Closed, start: f64) -> Vec<Vec2> {
    (0..ALIGN_SAMPLES).map(|k| c.at(start + c.length() * k as f64 / ALIGN_SAMPLES as f64)).collect()
}

/// The start on `c` whose evenly spread points best match `before`.
fn align(c: &Closed, before: &[Vec2]) -> f64 {
    let l = c.length();
    let cost = |s: f64| spread(c, s).iter().zip(before).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum::<f64>();
    let step = l / ALIGN_CANDIDATES as f64;
    let mut best = (0..ALIGN_CANDIDATES).map(|k| k as f64 * step).min_by(|a, b| cost(*a).total_cmp(&cost(*b))).unwrap_or(0.0);
    // Golden-section search within one step either side.
    let (mut lo, mut hi) = (best - step, best + step);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..30 {
        let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if cost(a) < cost(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    let refined = (lo + hi) / 2.0;
    if cost(refined) < cost(best) {
        best = refined;
    }
    best.rem_euclid(l.max(f64::MIN_POSITIVE))
}

/// A segment between two fractions, fitted on every frame.
struct Span {
    u0: f64,
    u1: f64,
    fits: Vec<Segment>,
}

impl Span {
    fn error(&self) -> f64 {
        self.fits.iter().map(|s| s.error).fold(0.0, f64::max)
    }
}

struct Frames {
    outlines: Vec<Closed>,
    /// Each outline's box, which a refitted curve stays in.
    bounds: Vec<[Vec2; 2]>,
    starts: Vec<f64>,
}

impl Frames {
    fn position(&self, f: usize, u: f64) -> f64 {
        self.starts[f] + u * self.outlines[f].length()
    }

    fn tangent(&self, f: usize, u: f64) -> Vec2 {
        let c = &self.outlines[f];
        c.tangent(self.position(f, u), TANGENT_REACH.min(c.length() / 16.0))
    }

    fn fit(&self, u0: f64, u1: f64) -> Span {
        self.fit_within(u0, u1, false)
    }

    /// With `boxed`, the handles are held inside each frame's outline box (see
    /// [`fit_segment`]).
    fn fit_within(&self, u0: f64, u1: f64, boxed: bool) -> Span {
        let fits = (0..self.outlines.len())
            .into_par_iter()
            .map(|f| {
                let c = &self.outlines[f];
                let run = c.run(self.position(f, u0), self.position(f, u1));
                fit_segment(&run, self.tangent(f, u0), self.tangent(f, u1), boxed.then_some(&self.bounds[f]))
            })
            .collect();
        Span { u0, u1, fits }
    }
}

/// Fits one track's outlines as an animated shape.
pub fn animate(name: &str, track: &LoopTrack, settings: &ShapeSettings) -> Shape {
    let outlines: Vec<Closed> = track.loops.iter().map(|l| Closed::new(l.clone())).collect();
    let mut starts = Vec::with_capacity(outlines.len());
    for (f, c) in outlines.iter().enumerate() {
        let s = if f == 0 { c.vertex_position(topmost(c.points())) } else { align(c, &spread(&outlines[f - 1], starts[f - 1])) };
        starts.push(s);
    }
    let bounds = outlines.iter().map(Closed::bounds).collect();
    let frames = Frames { outlines, bounds, starts };
    let mut spans: Vec<Span> = (0..4).map(|k| frames.fit(k as f64 / 4.0, (k + 1) as f64 / 4.0)).collect();
    loop {
        let mut worst: Vec<(usize, f64)> =
            spans.iter().enumerate().map(|(i, s)| (i, s.error())).filter(|&(_, e)| e > settings.tolerance_px).collect();
        let room = settings.max_points.saturating_sub(spans.len());
        if worst.is_empty() || room == 0 {
            break;
        }
        worst.sort_by(|a, b| b.1.total_cmp(&a.1));
        worst.truncate(room);
        let mut split: Vec<usize> = worst.into_iter().map(|(i, _)| i).filter(|&i| spans[i].u1 - spans[i].u0 > 1e-9).collect();
        if split.is_empty() {
            break;
        }
        split.sort_unstable();
        for &i in split.iter().rev() {
            let (u0, u1) = (spans[i].u0, spans[i].u1);
            let mid = (u0 + u1) / 2.0;
            let halves = [frames.fit(u0, mid), frames.fit(mid, u1)];
            spans.splice(i..=i, halves);
        }
    }
    // A segment still above the tolerance (the point limit reached) may have thrown its
    // handles far out (least squares at a corner the smooth tangents cannot follow, seen
    // 9 px beyond the plate): where its curve leaves the outline's box by more than the
    // tolerance, it is refitted with handles at most the chord long and inside the box.
    for span in spans.iter_mut().filter(|s| s.error() > settings.tolerance_px) {
        let boxed = frames.fit_within(span.u0, span.u1, true);
        for (f, (fit, safe)) in span.fits.iter_mut().zip(boxed.fits).enumerate() {
            if fit::outside(fit, &frames.bounds[f]) > settings.tolerance_px {
                *fit = safe;
            }
        }
    }
    let max_error_px = spans.iter().map(Span::error).fold(0.0, f64::max);
    let n = spans.len();
    let keys = (0..frames.outlines.len())
        .map(|f| ShapeKey {
            frame: track.first_frame + f as i64,
            points: (0..n)
                .map(|i| ControlPoint {
                    pos: spans[i].fits[f].controls[0],
                    in_handle: spans[(i + n - 1) % n].fits[f].controls[2],
                    out_handle: spans[i].fits[f].controls[1],
                })
                .collect(),
        })
        .collect();
    let kind = track.kind;
    Shape { name: name.to_owned(), kind, parent: None, keys, max_error_px }
}

/// Every track of one object as shapes (named `OBJECT_1`, `OBJECT_2`, ... in the order
/// they start, holes `OBJECT_1_hole1`, ...), in drawing order, with a note for each shape
/// left above the tolerance.
pub fn animate_tracks(object: &str, tracks: &[LoopTrack], settings: &ShapeSettings, notes: &mut Vec<Note>) -> Vec<Shape> {
    let mut names = vec![String::new(); tracks.len()];
    let mut outline_count = 0;
    let mut hole_counts = vec![0usize; tracks.len()];
    for (i, t) in tracks.iter().enumerate() {
        names[i] = match (t.kind, t.parent) {
            (ShapeKind::Hole, Some(p)) => {
                hole_counts[p] += 1;
                format!("{}_hole{}", names[p], hole_counts[p])
            }
            _ => {
                outline_count += 1;
                format!("{object}_{outline_count}")
            }
        };
    }
    let mut shapes: Vec<(usize, Shape)> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut s = animate(&names[i], t, settings);
            s.parent = t.parent.map(|p| names[p].clone());
            if s.max_error_px > settings.tolerance_px {
                notes.push(Note {
                    frame: s.first_frame(),
                    object: object.to_owned(),
                    text: format!(
                        "shape {} is up to {:.2} px from its matte on some frame, above the tolerance of {} px ({} points, the limit)",
                        s.name,
                        s.max_error_px,
                        settings.tolerance_px,
                        s.point_count()
                    ),
                });
            }
            (i, s)
        })
        .collect();
    // Drawing order: outlines by decreasing area on their first frame, each followed by
    // its holes.
    let mut order: Vec<usize> = (0..tracks.len()).filter(|&i| tracks[i].kind == ShapeKind::Outline).collect();
    order.sort_by(|&a, &b| tracks[b].first_area.total_cmp(&tracks[a].first_area).then(a.cmp(&b)));
    let mut ordered = Vec::with_capacity(shapes.len());
    for o in order {
        ordered.push(o);
        ordered.extend((0..tracks.len()).filter(|&h| tracks[h].parent == Some(o)));
    }
    let mut slots: Vec<Option<Shape>> = shapes.drain(..).map(|(_, s)| Some(s)).collect();
    ordered.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ellipse(cx: f64, cy: f64, rx: f64, ry: f64, n: usize, phase: f64) -> Vec<Vec2> {
        (0..n).map(|k| phase + std::f64::consts::TAU * k as f64 / n as f64).map(|a| [cx + rx * a.cos(), cy + ry * a.sin()]).collect()
    }

    #[test]
    fn a_translating_ellipse_keeps_its_points_on_the_object() {
        // The outline is sampled from a different phase each frame: the points must
        // still move with the object, not with the samples.
        let loops: Vec<Vec<Vec2>> = (0..5).map(|f| ellipse(50.0 + 3.0 * f as f64, 40.0, 30.0, 18.0, 300, 0.37 * f as f64)).collect();
        let track = LoopTrack { kind: ShapeKind::Outline, parent: None, first_frame: 10, loops, first_area: 0.0 };
        let s = animate("e", &track, &ShapeSettings { tolerance_px: 0.25, ..ShapeSettings::default() });
        assert!(s.max_error_px <= 0.25, "{}", s.max_error_px);
        assert_eq!(s.keys.len(), 5);
        assert_eq!(s.keys[4].frame, 14);
        let n = s.point_count();
        assert!((4..=32).contains(&n), "{n} points");
        for w in s.keys.windows(2) {
            for (a, b) in w[0].points.iter().zip(&w[1].points) {
                // Each point moves by the translation (3 px along x), within a tenth of a pixel.
                assert!((b.pos[0] - a.pos[0] - 3.0).abs() < 0.1 && (b.pos[1] - a.pos[1]).abs() < 0.1, "{a:?} -> {b:?}");
            }
        }
    }
}
