//! Marching squares on a logit plane: the boundary of one island as closed polylines at
//! sub-pixel precision.
//!
//! Samples are the pixel centres `(x + 0.5, y + 0.5)`; a sample is inside when its pixel
//! belongs to the island. Each crossing lies on the edge between an inside sample and an
//! outside one, where the line between their logits is 0 (an outside sample beyond the
//! frame border puts it on the border, halfway). Cells whose inside corners are diagonal
//! (saddles) keep them apart, as the island's 4-connectivity does. The result separates
//! the island's pixel centres from every other pixel centre.
use super::Vec2;

/// One closed boundary: its points (the last joins the first) and, for a hole boundary,
/// the background label of the pixels just outside the island there.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    pub points: Vec<Vec2>,
    /// Background label (see [`super::regions::Regions::background`]) of the outside pixel
    /// at the first crossing; 0 beyond the frame border.
    pub outside: u32,
}

impl Loop {
    /// Shoelace area in plate coordinates (y down): positive for a clockwise loop on screen.
    pub fn signed_area(&self) -> f64 {
        signed_area(&self.points)
    }
}

/// Shoelace area of a closed polyline (y down: positive when clockwise on screen).
pub fn signed_area(p: &[Vec2]) -> f64 {
    let n = p.len();
    (0..n).map(|i| p[i][0] * p[(i + 1) % n][1] - p[(i + 1) % n][0] * p[i][1]).sum::<f64>() / 2.0
}

/// The boundaries of the pixels labelled `target` in `labels` (`width × height`), inside
/// `bbox` (`[x0, y0, x1, y1)`, the island's bounding box), crossings placed on the 0 level
/// of `logits`. Outer boundaries run clockwise on screen (positive [`signed_area`]), hole
/// boundaries counter-clockwise. `background` gives each loop's [`Loop::outside`].
pub fn trace(logits: &[f32], labels: &[u32], background: &[u32], width: usize, height: usize, target: u32, bbox: [usize; 4]) -> Vec<Loop> {
    // Sample grid of the box plus a ring of outside samples, in padded coordinates
    // (sample (sx, sy) is pixel (x0 + sx - 1, y0 + sy - 1)).
    let (x0, y0) = (bbox[0] as i64, bbox[1] as i64);
    let sw = bbox[2] - bbox[0] + 2;
    let sh = bbox[3] - bbox[1] + 2;
    let pixel = |sx: usize, sy: usize| -> Option<usize> {
        let (x, y) = (x0 + sx as i64 - 1, y0 + sy as i64 - 1);
        (x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height).then(|| y as usize * width + x as usize)
    };
    let inside = |sx: usize, sy: usize| pixel(sx, sy).is_some_and(|i| labels[i] == target);
    // Edge ids: 2 per sample, horizontal (to the right) and vertical (downwards).
    let edge_h = |sx: usize, sy: usize| (sy * sw + sx) * 2;
    let edge_v = |sx: usize, sy: usize| (sy * sw + sx) * 2 + 1;
    let mut next = vec![u32::MAX; sw * sh * 2];
    for cy in 0..sh - 1 {
        for cx in 0..sw - 1 {
            // Corners clockwise on screen: TL, TR, BR, BL; edge k joins corner k to k + 1.
            let c = [inside(cx, cy), inside(cx + 1, cy), inside(cx + 1, cy + 1), inside(cx, cy + 1)];
            if c.iter().all(|&v| v) || c.iter().all(|&v| !v) {
                continue;
            }
            let edges = [edge_h(cx, cy), edge_v(cx + 1, cy), edge_h(cx, cy + 1), edge_v(cx, cy)];
            for k in 0..4 {
                if c[k] || !c[(k + 1) % 4] {
                    continue;
                }
                // An inside run starts after edge k: it ends at the first edge leaving it.
                let mut j = (k + 1) % 4;
                while !c[j] || c[(j + 1) % 4] {
                    j = (j + 1) % 4;
                }
                next[edges[k]] = edges[j] as u32;
            }
        }
    }
    let crossing = |e: usize| -> (Vec2, u32) {
        let s = e / 2;
        let (sx, sy) = (s % sw, s / sw);
        let (bx, by) = if e.is_multiple_of(2) { (sx + 1, sy) } else { (sx, sy + 1) };
        let (a, b) = if inside(sx, sy) { ((sx, sy), (bx, by)) } else { ((bx, by), (sx, sy)) };
        let centre = |(x, y): (usize, usize)| [(x0 + x as i64 - 1) as f64 + 0.5, (y0 + y as i64 - 1) as f64 + 0.5];
        let (pa, pb) = (centre(a), centre(b));
        let fa = logits[pixel(a.0, a.1).expect("an inside sample is a pixel")] as f64;
        let (t, outside) = match pixel(b.0, b.1) {
            None => (0.5, 0),
            Some(i) => {
                let fb = logits[i] as f64;
                let t = fa / (fa - fb);
                (if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 }, background[i])
            }
        };
        ([pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])], outside)
    };
    let mut loops = Vec::new();
    for start in 0..next.len() {
        if next[start] == u32::MAX {
            continue;
        }
        let mut points = Vec::new();
        let (_, outside) = crossing(start);
        let mut e = start;
        while next[e] != u32::MAX {
            points.push(crossing(e).0);
            let n = next[e] as usize;
            next[e] = u32::MAX;
            e = n;
        }
        // Traced with the inside on the left on screen: reverse to run outer boundaries
        // clockwise.
        points.reverse();
        loops.push(Loop { points, outside });
    }
    loops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::regions::Regions;

    fn loops_of(rows: &[&str]) -> (Regions, Vec<Loop>) {
        let w = rows[0].len();
        let v: Vec<f32> = rows.iter().flat_map(|r| r.chars().map(|c| if c == '#' { 1.0 } else { -1.0 })).collect();
        let r = Regions::new(&v, w, rows.len());
        let c = r.island_info[0];
        let loops = trace(&v, &r.islands, &r.background, w, rows.len(), c.label, c.bbox);
        (r, loops)
    }

    #[test]
    fn one_pixel_is_a_clockwise_diamond() {
        let (_, loops) = loops_of(&["...", ".#.", "..."]);
        assert_eq!(loops.len(), 1);
        let l = &loops[0];
        assert_eq!(l.points.len(), 4);
        // Logits +1 / -1: every crossing halfway between centres.
        assert!((l.signed_area() - 0.5).abs() < 1e-12, "{:?}", l.points);
        for p in &l.points {
            assert!((p[0] - 1.5).abs() + (p[1] - 1.5).abs() - 0.5 < 1e-12);
        }
    }

    #[test]
    fn a_ring_has_an_outline_and_a_hole_the_other_way() {
        let (r, loops) = loops_of(&[".....", ".###.", ".#.#.", ".###.", "....."]);
        assert_eq!(loops.len(), 2);
        let (mut outer, mut hole): (Vec<_>, Vec<_>) = loops.iter().partition(|l| l.signed_area() > 0.0);
        let (outer, hole) = (outer.remove(0), hole.remove(0));
        assert!(outer.signed_area() > 5.0);
        assert!((hole.signed_area() + 0.5).abs() < 1e-12);
        // The hole loop names the hole's background component.
        let hole_label = r.background[2 * 5 + 2];
        assert_eq!(hole.outside, hole_label);
        assert_eq!(r.hole_parent[hole_label as usize - 1], Some(1));
    }

    #[test]
    fn the_frame_border_cuts_halfway_and_saddles_stay_apart() {
        // Touching the border: the crossing is on the border itself.
        let (_, loops) = loops_of(&["#.", ".."]);
        let xs: Vec<f64> = loops[0].points.iter().map(|p| p[0]).collect();
        assert!(xs.contains(&0.0), "{:?}", loops[0].points);
        // Diagonal inside pixels of two islands: the saddle keeps them apart, so the first
        // island's single outline encloses its three pixels only.
        let (r, loops) = loops_of(&["##.", "#.#", ".##"]);
        assert_eq!(r.island_info.len(), 2);
        assert_eq!(loops.len(), 1, "{loops:?}");
        let a = loops[0].signed_area();
        assert!(a > 1.5 && a < 3.0, "{a}");
    }
}
