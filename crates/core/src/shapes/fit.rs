//! Closed outlines by arc length, and one cubic Bezier segment fitted to a run of outline
//! points with fixed ends and fixed tangent directions (Schneider, "An Algorithm for
//! Automatically Fitting Digitized Curves", Graphics Gems, 1990: least-squares handle
//! lengths with Newton–Raphson reparameterisation; here the tangents are given, so
//! neighbouring segments meet smoothly).
use super::Vec2;

fn add(a: Vec2, b: Vec2) -> Vec2 {
    [a[0] + b[0], a[1] + b[1]]
}
fn sub(a: Vec2, b: Vec2) -> Vec2 {
    [a[0] - b[0], a[1] - b[1]]
}
fn mul(a: Vec2, k: f64) -> Vec2 {
    [a[0] * k, a[1] * k]
}
fn dot(a: Vec2, b: Vec2) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}
/// Euclidean distance.
pub fn dist(a: Vec2, b: Vec2) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A closed polyline measured by arc length (positions are taken modulo its length).
#[derive(Debug, Clone)]
pub struct Closed {
    points: Vec<Vec2>,
    /// `cum[i]`: arc length from point 0 to point i; `cum[n]` the whole length.
    cum: Vec<f64>,
}

impl Closed {
    pub fn new(points: Vec<Vec2>) -> Self {
        let n = points.len();
        let mut cum = Vec::with_capacity(n + 1);
        cum.push(0.0);
        for i in 0..n {
            let d = dist(points[i], points[(i + 1) % n]);
            cum.push(cum[i] + d);
        }
        Closed { points, cum }
    }

    pub fn length(&self) -> f64 {
        *self.cum.last().expect("at least the start")
    }

    pub fn points(&self) -> &[Vec2] {
        &self.points
    }

    /// The outline's bounding box: `[min, max]`.
    pub fn bounds(&self) -> [Vec2; 2] {
        let mut b = [[f64::INFINITY; 2], [f64::NEG_INFINITY; 2]];
        for p in &self.points {
            for k in 0..2 {
                b[0][k] = b[0][k].min(p[k]);
                b[1][k] = b[1][k].max(p[k]);
            }
        }
        b
    }

    /// Arc position of vertex `i`.
    pub fn vertex_position(&self, i: usize) -> f64 {
        self.cum[i]
    }

    fn wrap(&self, s: f64) -> f64 {
        let l = self.length();
        if l <= 0.0 {
            0.0
        } else {
            s.rem_euclid(l)
        }
    }

    /// Index of the segment holding arc position `s` (already wrapped).
    fn segment(&self, s: f64) -> usize {
        let n = self.points.len();
        self.cum.partition_point(|&c| c <= s).saturating_sub(1).min(n - 1)
    }

    /// The point at arc position `s`.
    pub fn at(&self, s: f64) -> Vec2 {
        let s = self.wrap(s);
        let i = self.segment(s);
        let n = self.points.len();
        let len = self.cum[i + 1] - self.cum[i];
        let t = if len > 0.0 { (s - self.cum[i]) / len } else { 0.0 };
        add(self.points[i], mul(sub(self.points[(i + 1) % n], self.points[i]), t))
    }

    /// The outline from arc position `s0` forwards to `s1` (`s1 >= s0`, at most one turn):
    /// both ends and every vertex between.
    pub fn run(&self, s0: f64, s1: f64) -> Vec<Vec2> {
        let n = self.points.len();
        let l = self.length();
        let mut out = vec![self.at(s0)];
        let start = self.wrap(s0);
        let span = (s1 - s0).clamp(0.0, l);
        // Vertices strictly after `start` within `span`.
        let mut i = (self.segment(start) + 1) % n.max(1);
        let mut travelled = self.cum[self.segment(start) + 1] - start;
        for _ in 0..n {
            if travelled >= span {
                break;
            }
            out.push(self.points[i]);
            travelled += self.cum[i + 1] - self.cum[i];
            i = (i + 1) % n;
        }
        out.push(self.at(s0 + span));
        out
    }

    /// Unit tangent at `s`, from the chord between `s - h` and `s + h`.
    pub fn tangent(&self, s: f64, h: f64) -> Vec2 {
        let d = sub(self.at(s + h), self.at(s - h));
        let n = d[0].hypot(d[1]);
        if n > 0.0 {
            mul(d, 1.0 / n)
        } else {
            [1.0, 0.0]
        }
    }
}

/// The cubic `p` at `t`.
pub fn bezier(p: &[Vec2; 4], t: f64) -> Vec2 {
    let u = 1.0 - t;
    let (b0, b1, b2, b3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    [b0 * p[0][0] + b1 * p[1][0] + b2 * p[2][0] + b3 * p[3][0], b0 * p[0][1] + b1 * p[1][1] + b2 * p[2][1] + b3 * p[3][1]]
}

fn first_derivative(p: &[Vec2; 4], t: f64) -> Vec2 {
    let u = 1.0 - t;
    let d = [sub(p[1], p[0]), sub(p[2], p[1]), sub(p[3], p[2])];
    add(add(mul(d[0], 3.0 * u * u), mul(d[1], 6.0 * u * t)), mul(d[2], 3.0 * t * t))
}

fn second_derivative(p: &[Vec2; 4], t: f64) -> Vec2 {
    let a = add(sub(p[2], mul(p[1], 2.0)), p[0]);
    let b = add(sub(p[3], mul(p[2], 2.0)), p[1]);
    add(mul(a, 6.0 * (1.0 - t)), mul(b, 6.0 * t))
}

/// A fitted segment: its four control points and the largest distance between it and the
/// outline run it was fitted to (both ways: outline points to the curve, curve to the
/// outline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub controls: [Vec2; 4],
    pub error: f64,
}

/// How far from `p` (inside `bounds`) one may go along the unit direction `d` and stay
/// inside `bounds`.
fn reach_within(p: Vec2, d: Vec2, bounds: &[Vec2; 2]) -> f64 {
    let mut t = f64::INFINITY;
    for k in 0..2 {
        if d[k] > 0.0 {
            t = t.min((bounds[1][k] - p[k]) / d[k]);
        } else if d[k] < 0.0 {
            t = t.min((bounds[0][k] - p[k]) / d[k]);
        }
    }
    t.max(0.0)
}

/// Least-squares handle lengths for the cubic from `run[0]` (leaving along `ta`) to the
/// last point of `run` (arriving along `tb`), given each point's parameter. With `bounds`
/// (the outline's box), each handle is at most the chord long and ends inside the box, so
/// the curve, held in its control points' hull, cannot leave it: where the matte touches
/// the plate's border or turns a corner the tangents cannot follow, least squares may
/// otherwise throw long handles out of the plate. Unbounded fits need fewer points (about
/// a fifth fewer on the fidelity clips), so the bound is only for segments that stay above
/// the tolerance.
fn handles(run: &[Vec2], u: &[f64], ta: Vec2, tb: Vec2, bounds: Option<&[Vec2; 2]>) -> [Vec2; 4] {
    let (p0, p3) = (run[0], run[run.len() - 1]);
    let back = mul(tb, -1.0);
    let (mut c00, mut c01, mut c11, mut x0, mut x1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&d, &t) in run.iter().zip(u) {
        let s = 1.0 - t;
        let (b0, b1, b2, b3) = (s * s * s, 3.0 * s * s * t, 3.0 * s * t * t, t * t * t);
        let a1 = mul(ta, b1);
        let a2 = mul(back, b2);
        c00 += dot(a1, a1);
        c01 += dot(a1, a2);
        c11 += dot(a2, a2);
        let tmp = sub(d, add(mul(p0, b0 + b1), mul(p3, b2 + b3)));
        x0 += dot(a1, tmp);
        x1 += dot(a2, tmp);
    }
    let det = c00 * c11 - c01 * c01;
    let chord = dist(p0, p3);
    let (mut alpha, mut beta) = if det.abs() > 1e-12 { ((x0 * c11 - x1 * c01) / det, (c00 * x1 - c01 * x0) / det) } else { (0.0, 0.0) };
    let small = 1e-6 * chord;
    if !(alpha.is_finite() && beta.is_finite()) || alpha < small || beta < small {
        alpha = chord / 3.0;
        beta = chord / 3.0;
    }
    if let Some(bounds) = bounds {
        alpha = alpha.min(chord).min(reach_within(p0, ta, bounds));
        beta = beta.min(chord).min(reach_within(p3, back, bounds));
    }
    [p0, add(p0, mul(ta, alpha)), add(p3, mul(back, beta)), p3]
}

/// Newton–Raphson step of each point's parameter towards its nearest point on the curve.
fn reparameterise(c: &[Vec2; 4], run: &[Vec2], u: &mut [f64]) {
    for (t, &d) in u.iter_mut().zip(run) {
        let q = sub(bezier(c, *t), d);
        let q1 = first_derivative(c, *t);
        let q2 = second_derivative(c, *t);
        let den = dot(q1, q1) + dot(q, q2);
        if den.abs() > 1e-12 {
            *t = (*t - dot(q, q1) / den).clamp(0.0, 1.0);
        }
    }
}

/// Distance from `p` to the polyline `run`.
fn distance_to_run(p: Vec2, run: &[Vec2]) -> f64 {
    run.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let ab = sub(b, a);
            let len2 = dot(ab, ab);
            let t = if len2 > 0.0 { (dot(sub(p, a), ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
            dist(p, add(a, mul(ab, t)))
        })
        .fold(f64::INFINITY, f64::min)
}

/// How far (pixels) the segment's curve goes outside `bounds` (0 when it stays inside).
pub fn outside(seg: &Segment, bounds: &[Vec2; 2]) -> f64 {
    (0..=CURVE_CHECKS)
        .map(|k| {
            let p = bezier(&seg.controls, k as f64 / CURVE_CHECKS as f64);
            let dx = (bounds[0][0] - p[0]).max(p[0] - bounds[1][0]).max(0.0);
            let dy = (bounds[0][1] - p[1]).max(p[1] - bounds[1][1]).max(0.0);
            dx.max(dy)
        })
        .fold(0.0, f64::max)
}

/// Curve points checked against the outline, per segment.
const CURVE_CHECKS: usize = 16;

/// Fits one segment to `run` (at least its two ends), leaving along the unit tangent `ta`
/// and arriving along the unit tangent `tb`; with `bounds` (the box of the outline `run` is
/// part of), its handles held inside it (see `handles`).
pub fn fit_segment(run: &[Vec2], ta: Vec2, tb: Vec2, bounds: Option<&[Vec2; 2]>) -> Segment {
    let n = run.len();
    let mut u: Vec<f64> = {
        let mut acc = vec![0.0; n];
        for i in 1..n {
            acc[i] = acc[i - 1] + dist(run[i - 1], run[i]);
        }
        let total = acc[n - 1];
        acc.iter().map(|&a| if total > 0.0 { a / total } else { 0.0 }).collect()
    };
    let mut c = handles(run, &u, ta, tb, bounds);
    for _ in 0..4 {
        reparameterise(&c, run, &mut u);
        c = handles(run, &u, ta, tb, bounds);
    }
    reparameterise(&c, run, &mut u);
    let to_curve = run.iter().zip(&u).map(|(&d, &t)| dist(bezier(&c, t), d)).fold(0.0, f64::max);
    let to_outline = if n >= 2 {
        (1..CURVE_CHECKS).map(|k| distance_to_run(bezier(&c, k as f64 / CURVE_CHECKS as f64), run)).fold(0.0, f64::max)
    } else {
        0.0
    };
    Segment { controls: c, error: to_curve.max(to_outline) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arc_length_positions_wrap_and_runs_hold_the_vertices() {
        let sq = Closed::new(vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]);
        assert_eq!(sq.length(), 16.0);
        assert_eq!(sq.at(6.0), [4.0, 2.0]);
        assert_eq!(sq.at(-2.0), [0.0, 2.0]);
        assert_eq!(sq.run(2.0, 10.0), vec![[2.0, 0.0], [4.0, 0.0], [4.0, 4.0], [2.0, 4.0]]);
        assert_eq!(sq.run(14.0, 18.0), vec![[0.0, 2.0], [0.0, 0.0], [2.0, 0.0]]);
        assert_eq!(sq.tangent(2.0, 1.0), [1.0, 0.0]);
    }

    #[test]
    fn a_quarter_circle_fits_one_segment_within_a_thousandth_of_its_radius() {
        let r = 100.0;
        let run: Vec<Vec2> = (0..=90).map(|d| (d as f64).to_radians()).map(|a| [r * a.cos(), r * a.sin()]).collect();
        let s = fit_segment(&run, [0.0, 1.0], [-1.0, 0.0], None);
        assert!(s.error < 0.03, "{}", s.error);
        // The classic handle length 0.5523 r.
        assert!((dist(s.controls[0], s.controls[1]) / r - 0.5523).abs() < 0.01, "{:?}", s.controls);
    }

    #[test]
    fn the_error_sees_what_the_tangents_cannot_reach() {
        // Leaving and arriving horizontally, every control point lies on y = 0: the apex of
        // the run is 5 px away.
        let run = vec![[0.0, 0.0], [2.5, 2.5], [5.0, 5.0], [7.5, 2.5], [10.0, 0.0]];
        let s = fit_segment(&run, [1.0, 0.0], [1.0, 0.0], None);
        assert!((s.error - 5.0).abs() < 1e-9, "{}", s.error);
    }

    #[test]
    fn handles_stay_within_the_chord_and_the_outline_box() {
        // A corner the smooth tangents cannot follow: along the bottom border (y = 0), then
        // up the left one (x = 0), leaving along -x and arriving along +y... here the
        // tangents point out of the box, so least squares would push the handles out.
        let run = vec![[10.0, 0.0], [5.0, 0.0], [0.0, 0.0], [0.0, 5.0], [0.0, 10.0]];
        let bounds = [[0.0, 0.0], [20.0, 20.0]];
        let s = fit_segment(&run, [-0.8, -0.6], [-0.6, 0.8], Some(&bounds));
        assert!(outside(&s, &bounds) == 0.0);
        let free = fit_segment(&run, [-0.8, -0.6], [-0.6, 0.8], None);
        assert!(outside(&free, &bounds) > 1.0, "unbounded, least squares leaves the box: {:?}", free.controls);
        let chord = dist(s.controls[0], s.controls[3]);
        for c in &s.controls {
            assert!(c[0] >= 0.0 && c[1] >= 0.0 && c[0] <= 20.0 && c[1] <= 20.0, "{:?}", s.controls);
        }
        assert!(dist(s.controls[0], s.controls[1]) <= chord + 1e-9 && dist(s.controls[2], s.controls[3]) <= chord + 1e-9);
        for k in 0..=32 {
            let p = bezier(&s.controls, k as f64 / 32.0);
            assert!(p[0] >= -1e-9 && p[1] >= -1e-9, "the curve leaves the box at {p:?}");
        }
    }
}
