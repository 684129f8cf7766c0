//! The outline of a matte for the overlay: the `level` contour of a grid of values
//! (marching squares with linear interpolation along cell edges), as line segments.
//!
//! Grid coordinates: value (i, j) (column i, row j, rows top-down) sits at (i + 0.5,
//! j + 0.5), so a grid of `w × h` values spans (0, 0)–(w, h), as a bilinear upsampling
//! with `align_corners = false` places it over a frame. Values outside the grid count as
//! outside the contour, so the outline of a matte that touches the border closes along it.

/// A line segment, grid coordinates.
pub type Segment = [[f64; 2]; 2];

/// The segments of the `level` contour of `values` (`w × h`, row-major, top row first):
/// inside is `value > level`.
pub fn segments(values: &[f32], w: usize, h: usize, level: f32) -> Vec<Segment> {
    assert_eq!(values.len(), w * h, "a {w}x{h} grid");
    let at = |i: i64, j: i64| -> f32 {
        if i < 0 || j < 0 || i >= w as i64 || j >= h as i64 {
            f32::NEG_INFINITY
        } else {
            values[j as usize * w + i as usize]
        }
    };
    let mut out = Vec::new();
    // Cells between the sample centres (i, j) and (i + 1, j + 1), one ring of padding.
    for j in -1..h as i64 {
        for i in -1..w as i64 {
            let v = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)]; // a b c d
            let inside = v.map(|x| x > level);
            if inside.iter().all(|b| *b) || inside.iter().all(|b| !*b) {
                continue;
            }
            let corner = |k: usize| -> [f64; 2] {
                let (di, dj) = [(0, 0), (1, 0), (1, 1), (0, 1)][k];
                [(i + di) as f64 + 0.5, (j + dj) as f64 + 0.5]
            };
            // Edge e joins corners e and e + 1 (top, right, bottom, left).
            let crossing = |e: usize| -> [f64; 2] {
                let (p, q) = (e, (e + 1) % 4);
                let (vp, vq) = (v[p] as f64, v[q] as f64);
                let t = if vp.is_infinite() || vq.is_infinite() { 0.5 } else { ((level as f64 - vp) / (vq - vp)).clamp(0.0, 1.0) };
                let (a, b) = (corner(p), corner(q));
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            };
            let crossed: Vec<usize> = (0..4).filter(|&e| inside[e] != inside[(e + 1) % 4]).collect();
            if crossed.len() == 2 {
                out.push([crossing(crossed[0]), crossing(crossed[1])]);
                continue;
            }
            // A saddle: two opposite corners inside. The cell's centre decides which pair
            // is joined through it; the other two corners are cut off, each by the
            // segment across its two edges (corner k's edges are k − 1 and k).
            let centre = v.iter().map(|x| if x.is_finite() { *x as f64 } else { -1e30 }).sum::<f64>() / 4.0 > level as f64;
            for k in (0..4).filter(|&k| inside[k] != centre) {
                out.push([crossing((k + 3) % 4), crossing(k)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(s: &[Segment]) -> [f64; 4] {
        let pts = s.iter().flatten();
        let (xs, ys): (Vec<f64>, Vec<f64>) = pts.map(|p| (p[0], p[1])).unzip();
        [
            xs.iter().cloned().fold(f64::MAX, f64::min),
            ys.iter().cloned().fold(f64::MAX, f64::min),
            xs.iter().cloned().fold(f64::MIN, f64::max),
            ys.iter().cloned().fold(f64::MIN, f64::max),
        ]
    }

    #[test]
    fn a_block_of_pixels_is_outlined_on_its_pixel_edges() {
        // 2×2 inside (logit +8) at columns 1–2, rows 1–2 of a 4×4 grid of −8: the 0 contour
        // runs half-way between centres, on the block's pixel edges (1..3).
        let mut v = vec![-8.0f32; 16];
        for (i, j) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
            v[j * 4 + i] = 8.0;
        }
        let s = segments(&v, 4, 4, 0.0);
        assert_eq!(extent(&s), [1.0, 1.0, 3.0, 3.0]);
        // A closed outline: every end point is shared by exactly two segments.
        let ends: Vec<[i64; 2]> = s.iter().flatten().map(|p| [(p[0] * 1e6).round() as i64, (p[1] * 1e6).round() as i64]).collect();
        assert!(ends.iter().all(|e| ends.iter().filter(|f| *f == e).count() == 2), "{s:?}");
    }

    #[test]
    fn a_matte_on_the_border_closes_along_it_and_level_moves_it() {
        let v = vec![1.0f32, 1.0, -1.0, -1.0];
        let s = segments(&v, 4, 1, 0.0);
        // Inside columns 0–1: the contour crosses at x = 2 and closes half a pixel out.
        assert_eq!(extent(&s)[2], 2.0);
        assert!(s.iter().flatten().any(|p| p[0] < 0.5));
        // A higher level shrinks the inside: nothing is above 1.
        assert!(segments(&v, 4, 1, 1.0).is_empty());
        assert!(segments(&[-1.0; 4], 2, 2, 0.0).is_empty());
    }

    #[test]
    fn saddles_are_joined_by_the_cell_centre() {
        // Corners a and c inside; the centre (0.25) inside joins them: the two segments cut
        // off b and d.
        let s = segments(&[1.0f32, -0.5, -0.5, 1.0], 2, 2, 0.0);
        assert!(!s.is_empty());
        let centre_cell: Vec<&Segment> =
            s.iter().filter(|seg| seg.iter().all(|p| (0.5..=1.5).contains(&p[0]) && (0.5..=1.5).contains(&p[1]))).collect();
        assert_eq!(centre_cell.len(), 2, "{s:?}");
    }
}
