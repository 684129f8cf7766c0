//! The unknown band (a trimap) derived from the coarse soft matte.
//!
//! A pixel is *uncertain* where the upsampled probability lies strictly between the
//! `uncertain` thresholds, or where the 0.5 contour passes between it and a 4-neighbour
//! (so a very steep matte still has a contour). The band is every pixel within `band_px`
//! plate pixels (Euclidean) of an uncertain pixel; outside it the coarse matte is trusted
//! and snapped to 0 or 1 at 0.5.
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// Trimap value of known background.
pub const BG: u8 = 0;
/// Trimap value of the unknown band.
pub const UNKNOWN: u8 = 128;
/// Trimap value of known foreground.
pub const FG: u8 = 255;

/// Columns per strip of the vertical distance pass.
const STRIP: usize = 64;

/// Vertical distance (in pixels, capped at `cap`) from every pixel to the nearest marked
/// pixel of its column, in strips of [`STRIP`] columns (in parallel), each strip stored
/// row-major (`h × strip width`).
fn column_distance(marked: &[bool], h: usize, w: usize, cap: u16) -> Vec<Vec<u16>> {
    (0..w.div_ceil(STRIP))
        .into_par_iter()
        .map(|s| {
            let (x0, sw) = (s * STRIP, STRIP.min(w - s * STRIP));
            let mut g = vec![cap; h * sw];
            for y in 0..h {
                for i in 0..sw {
                    let above = if y > 0 { g[(y - 1) * sw + i].saturating_add(1).min(cap) } else { cap };
                    g[y * sw + i] = if marked[y * w + x0 + i] { 0 } else { above };
                }
            }
            for y in (0..h.saturating_sub(1)).rev() {
                for i in 0..sw {
                    let below = g[(y + 1) * sw + i].saturating_add(1);
                    g[y * sw + i] = g[y * sw + i].min(below);
                }
            }
            g
        })
        .collect()
}

/// Marks every pixel within Euclidean distance `radius` of a marked pixel.
///
/// With `g` the vertical distance from a pixel to the nearest marked pixel of its column,
/// pixel `(y, x)` is within the radius iff some column `x'` has
/// `(x − x')² + g(y, x')² ≤ radius²`, i.e. `|x − x'| ≤ ⌊√(radius² − g²)⌋`: each row marks
/// those intervals with a difference array (rows in parallel). Exact for integer offsets.
pub fn dilate(marked: ArrayView2<bool>, radius: f32) -> Array2<bool> {
    let (h, w) = marked.dim();
    let m = marked.as_standard_layout();
    let r = radius.max(0.0);
    let cap = (r.floor() as u32 + 1).min(u16::MAX as u32) as u16;
    let strips = column_distance(m.as_slice().expect("standard layout"), h, w, cap);
    // Half-width of the interval marked from a column at vertical distance g.
    let r2 = f64::from(r) * f64::from(r);
    let half: Vec<usize> = (0..cap).map(|g| (r2 - f64::from(g) * f64::from(g)).max(0.0).sqrt().floor() as usize).collect();
    let mut out = vec![false; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let mut diff = vec![0i32; w + 1];
        let mut any = false;
        let mut x = 0usize;
        for strip in &strips {
            let sw = strip.len() / h;
            for &g in &strip[y * sw..(y + 1) * sw] {
                if g < cap {
                    let hw = half[g as usize];
                    diff[x.saturating_sub(hw)] += 1;
                    diff[(x + hw + 1).min(w)] -= 1;
                    any = true;
                }
                x += 1;
            }
        }
        if !any {
            return;
        }
        let mut run = 0;
        for (o, d) in row.iter_mut().zip(&diff) {
            run += d;
            *o = run > 0;
        }
    });
    Array2::from_shape_vec((h, w), out).expect("shape")
}

/// Pixels on the coarse matte's 0.5 contour (the 0.5 level passes between the pixel and a
/// 4-neighbour), and those plus the pixels whose probability lies strictly between `lo`
/// and `hi`.
pub fn contour_and_uncertain(coarse: ArrayView2<f32>, lo: f32, hi: f32) -> (Array2<bool>, Array2<bool>) {
    let (h, w) = coarse.dim();
    let c = coarse.as_standard_layout();
    let c = c.as_slice().expect("standard layout");
    let mut edge = vec![false; h * w];
    let mut unsure = vec![false; h * w];
    edge.par_chunks_mut(w).zip(unsure.par_chunks_mut(w)).enumerate().for_each(|(y, (edge, unsure))| {
        let cur = &c[y * w..(y + 1) * w];
        let up = &c[y.saturating_sub(1) * w..][..w];
        let down = &c[(y + 1).min(h - 1) * w..][..w];
        for x in 0..w {
            let p = cur[x];
            let side = p >= 0.5;
            let (left, right) = (cur[x.saturating_sub(1)], cur[(x + 1).min(w - 1)]);
            edge[x] = [left, right, up[x], down[x]].iter().any(|&q| (q >= 0.5) != side);
            unsure[x] = edge[x] || (p > lo && p < hi);
        }
    });
    (Array2::from_shape_vec((h, w), edge).expect("shape"), Array2::from_shape_vec((h, w), unsure).expect("shape"))
}

/// Pixels on the coarse matte's 0.5 contour.
pub fn contour(coarse: ArrayView2<f32>) -> Array2<bool> {
    contour_and_uncertain(coarse, 0.5, 0.5).0
}

/// The trimap of the coarse matte: [`UNKNOWN`] within `band_px` of the 0.5 contour or
/// within `band_px` of a pixel uncertain between `lo` and `hi` and at most `cap × band_px`
/// from the contour (`cap` < 1 counts as 1), else [`FG`] where the matte is ≥ 0.5 and
/// [`BG`] elsewhere. A matte without a contour has no band.
pub fn trimap(coarse: ArrayView2<f32>, band_px: f32, (lo, hi): (f32, f32), cap: f32) -> Array2<u8> {
    let (edge, unsure) = contour_and_uncertain(coarse, lo, hi);
    let (widened, reach) = rayon::join(|| dilate(unsure.view(), band_px), || dilate(edge.view(), band_px * cap.max(1.0)));
    let mut t = Array2::<u8>::zeros(coarse.dim());
    ndarray::Zip::from(&mut t).and(&widened).and(&reach).and(coarse).par_for_each(|t, &w, &r, &p| {
        *t = if w && r {
            UNKNOWN
        } else if p >= 0.5 {
            FG
        } else {
            BG
        };
    });
    t
}

/// The trimap at `1/factor` resolution: a block is foreground or background when all its
/// pixels are, unknown otherwise.
pub fn downsample_trimap(trimap: ArrayView2<u8>, factor: usize) -> Array2<u8> {
    let (h, w) = trimap.dim();
    let (hl, wl) = (h.div_ceil(factor), w.div_ceil(factor));
    let t = trimap.as_standard_layout();
    let t = t.as_slice().expect("standard layout");
    // Per block: 0 = nothing seen yet, else the one value seen, or UNKNOWN when mixed.
    const EMPTY: u16 = 256;
    let mut out = vec![0u8; hl * wl];
    out.par_chunks_mut(wl).enumerate().for_each(|(yl, row)| {
        let mut seen = vec![EMPTY; wl];
        for y in yl * factor..((yl + 1) * factor).min(h) {
            for (x, &v) in t[y * w..(y + 1) * w].iter().enumerate() {
                let s = &mut seen[x / factor];
                *s = if *s == EMPTY || *s == v as u16 { v as u16 } else { UNKNOWN as u16 };
            }
        }
        row.iter_mut().zip(&seen).for_each(|(o, &s)| *o = s as u8);
    });
    Array2::from_shape_vec((hl, wl), out).expect("shape")
}

/// The trimap as pymatting expects it (0, 0.5, 1).
pub fn trimap_to_f32(trimap: ArrayView2<u8>) -> Array2<f32> {
    trimap.mapv(|t| match t {
        FG => 1.0,
        BG => 0.0,
        _ => 0.5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dilation_is_a_euclidean_disk() {
        let mut m = Array2::from_elem((21, 21), false);
        m[[10, 10]] = true;
        for r in [0.0f32, 1.0, 2.5, 5.0, 7.3] {
            let d = dilate(m.view(), r);
            for ((y, x), &v) in d.indexed_iter() {
                let d2 = ((y as i64 - 10).pow(2) + (x as i64 - 10).pow(2)) as f32;
                assert_eq!(v, d2 <= r * r, "radius {r} at ({y}, {x})");
            }
        }
    }

    #[test]
    fn dilation_equals_brute_force_on_scattered_marks() {
        let (h, w) = (40, 150);
        let m = Array2::from_shape_fn((h, w), |(y, x)| (y * 31 + x * 17) % 97 == 0 || (y == 20 && x > 100));
        for r in [1.0f32, 3.7, 9.0] {
            let d = dilate(m.view(), r);
            for ((y, x), &v) in d.indexed_iter() {
                let near =
                    m.indexed_iter().any(|((yy, xx), &b)| b && ((yy as f32 - y as f32).powi(2) + (xx as f32 - x as f32).powi(2)) <= r * r);
                assert_eq!(v, near, "radius {r} at ({y}, {x})");
            }
        }
    }

    #[test]
    fn downsampled_trimap_marks_mixed_blocks_unknown() {
        let mut t = Array2::from_elem((4, 6), BG);
        t.slice_mut(ndarray::s![.., 3..]).fill(FG);
        t[[3, 0]] = UNKNOWN;
        let d = downsample_trimap(t.view(), 2);
        assert_eq!(d, ndarray::array![[BG, UNKNOWN, FG], [UNKNOWN, UNKNOWN, FG]]);
    }

    #[test]
    fn steep_edge_still_has_a_band() {
        let mut c = Array2::<f32>::zeros((8, 8));
        c.slice_mut(ndarray::s![.., 4..]).fill(1.0);
        let t = trimap(c.view(), 1.0, (0.02, 0.98), 2.0);
        assert_eq!(t[[0, 0]], BG);
        assert_eq!(t[[0, 2]], UNKNOWN);
        assert_eq!(t[[0, 5]], UNKNOWN);
        assert_eq!(t[[0, 7]], FG);
    }

    #[test]
    fn a_soft_everywhere_matte_gets_a_band_around_its_contour_capped_at_cap_times_the_width() {
        // Probabilities 0.1 .. 0.9 across 64 columns (uncertain everywhere), contour between
        // columns 31 and 32: the band is 2 × 4 px on each side of it, not the whole frame.
        let c = Array2::from_shape_fn((6, 64), |(_, x)| 0.1 + 0.8 * x as f32 / 63.0);
        let t = trimap(c.view(), 4.0, (0.02, 0.98), 2.0);
        let row: Vec<u8> = t.row(3).to_vec();
        let unknown: Vec<usize> = (0..64).filter(|&x| row[x] == UNKNOWN).collect();
        assert_eq!(unknown, (23..=40).collect::<Vec<_>>());
        assert!(row[..23].iter().all(|&v| v == BG) && row[41..].iter().all(|&v| v == FG));
        // The same contour from a sharp matte: the band is band_px wide on each side.
        let sharp = c.mapv(|p| if p >= 0.5 { 1.0 } else { 0.0 });
        let t = trimap(sharp.view(), 4.0, (0.02, 0.98), 2.0);
        let unknown: Vec<usize> = (0..64).filter(|&x| t[[3, x]] == UNKNOWN).collect();
        assert_eq!(unknown, (27..=36).collect::<Vec<_>>());
        // No contour: no band, the matte snapped to its side.
        let t = trimap(c.mapv(|p| p * 0.5).view(), 4.0, (0.02, 0.98), 2.0);
        assert!(t.iter().all(|&v| v == BG));
    }
}
