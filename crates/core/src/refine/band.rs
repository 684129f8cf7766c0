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

/// Pixels where the coarse matte is uncertain (see the module header).
pub fn uncertain(coarse: ArrayView2<f32>, lo: f32, hi: f32) -> Array2<bool> {
    let (h, w) = coarse.dim();
    let c = coarse.as_standard_layout();
    let c = c.as_slice().expect("standard layout");
    let mut out = vec![false; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let cur = &c[y * w..(y + 1) * w];
        let up = &c[y.saturating_sub(1) * w..][..w];
        let down = &c[(y + 1).min(h - 1) * w..][..w];
        for x in 0..w {
            let p = cur[x];
            let side = p >= 0.5;
            let left = cur[x.saturating_sub(1)];
            let right = cur[(x + 1).min(w - 1)];
            row[x] = (p > lo && p < hi) || [left, right, up[x], down[x]].iter().any(|&q| (q >= 0.5) != side);
        }
    });
    Array2::from_shape_vec((h, w), out).expect("shape")
}

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

/// One row of the squared Euclidean distance transform (Felzenszwalb & Huttenlocher's
/// lower envelope of parabolas) from the per-column squared distances `f`.
fn row_edt(f: &[f64], out: &mut [f64]) {
    let n = f.len();
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let inter = |q: usize, p: usize| ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q as f64 - p as f64));
    for q in 1..n {
        let mut s = inter(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = inter(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *o = d * d + f[v[k]];
    }
}

/// Marks every pixel within Euclidean distance `radius` of a marked pixel.
pub fn dilate(marked: ArrayView2<bool>, radius: f32) -> Array2<bool> {
    let (h, w) = marked.dim();
    let m = marked.as_standard_layout();
    let cap = (radius.max(0.0).ceil() as u32 + 1).min(u16::MAX as u32) as u16;
    let strips = column_distance(m.as_slice().expect("standard layout"), h, w, cap);
    let r2 = f64::from(radius.max(0.0)).powi(2);
    let mut out = vec![false; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let g = strips.iter().flat_map(|strip| {
            let sw = strip.len() / h;
            &strip[y * sw..(y + 1) * sw]
        });
        let f: Vec<f64> = g.map(|&d| if d >= cap { 1e12 } else { f64::from(d) * f64::from(d) }).collect();
        if f.iter().all(|&v| v >= 1e12) {
            return;
        }
        let mut d2 = vec![0f64; w];
        row_edt(&f, &mut d2);
        for (o, d) in row.iter_mut().zip(&d2) {
            *o = *d <= r2;
        }
    });
    Array2::from_shape_vec((h, w), out).expect("shape")
}

/// The trimap of the coarse matte: [`UNKNOWN`] within `band_px` of an uncertain pixel
/// (thresholds `lo`, `hi`), else [`FG`] where the matte is ≥ 0.5 and [`BG`] elsewhere.
pub fn trimap(coarse: ArrayView2<f32>, band_px: f32, lo: f32, hi: f32) -> Array2<u8> {
    let band = dilate(uncertain(coarse, lo, hi).view(), band_px);
    let mut t = Array2::<u8>::zeros(coarse.dim());
    ndarray::Zip::from(&mut t).and(&band).and(coarse).par_for_each(|t, &b, &p| {
        *t = if b {
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
        let d = dilate(m.view(), 5.0);
        for ((y, x), &v) in d.indexed_iter() {
            let r2 = (y as i64 - 10).pow(2) + (x as i64 - 10).pow(2);
            assert_eq!(v, r2 <= 25, "({y}, {x})");
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
        let t = trimap(c.view(), 1.0, 0.02, 0.98);
        assert_eq!(t[[0, 0]], BG);
        assert_eq!(t[[0, 2]], UNKNOWN);
        assert_eq!(t[[0, 5]], UNKNOWN);
        assert_eq!(t[[0, 7]], FG);
    }
}
