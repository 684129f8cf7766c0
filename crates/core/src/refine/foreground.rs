//! Colour decontamination: the multi-level foreground estimation of Germer, Uelwer, Conrad
//! & Harmeling ("Fast Multi-Level Foreground Estimation", ICPR 2020), a port of
//! pymatting's `estimate_foreground_ml` (same pyramid, same raster-order Gauss–Seidel
//! sweeps, same mix of single and double precision), so it agrees with pymatting to
//! rounding.
//!
//! For every pixel it solves the 2×2 system of `I = αF + (1−α)B` plus smoothness of F
//! and B towards the 4 neighbours (weight `ε + g·|∇α|`), from a 1×1 image of the mean
//! foreground and background colours up through nearest-neighbour resized levels.
use ndarray::{Array3, ArrayView2, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of the foreground estimation (pymatting's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForegroundParams {
    /// Regularisation ε: larger gives smoother colours.
    pub regularization: f32,
    /// Sweeps on levels no larger than `small_size`.
    pub n_small_iterations: usize,
    /// Sweeps on larger levels.
    pub n_big_iterations: usize,
    /// Side below which a level counts as small.
    pub small_size: usize,
    /// Weight of the alpha gradient in the smoothness term.
    pub gradient_weight: f32,
    /// On levels of more than [`BAND_ONLY_MIN_PIXELS`] pixels, update only the pixels whose
    /// alpha is strictly between 0 and 1 and their 4-neighbours, and return the plate's
    /// colour as the foreground everywhere else (where it is exact for opaque pixels and
    /// irrelevant for transparent ones). Much faster on large plates; pymatting updates
    /// every pixel (`false`).
    pub band_only: bool,
}

/// Levels at least this large are swept on the band only when `band_only` is set.
pub const BAND_ONLY_MIN_PIXELS: usize = 1 << 16;

impl Default for ForegroundParams {
    fn default() -> Self {
        ForegroundParams { band_only: true, ..Self::pymatting() }
    }
}

impl ForegroundParams {
    /// pymatting's defaults of `estimate_foreground_ml` (the parity tests use these).
    pub fn pymatting() -> Self {
        ForegroundParams {
            regularization: 1e-5,
            n_small_iterations: 10,
            n_big_iterations: 2,
            small_size: 32,
            gradient_weight: 1.0,
            band_only: false,
        }
    }
}

/// Nearest-neighbour resize (pymatting's `_resize_nearest*`) of an `h × w × d` image.
fn resize_nearest(src: &[f32], (hs, ws): (usize, usize), d: usize, (hd, wd): (usize, usize)) -> Vec<f32> {
    let mut out = vec![0f32; hd * wd * d];
    for y in 0..hd {
        let ys = (y * hs / hd).min(hs - 1);
        for x in 0..wd {
            let xs = (x * ws / wd).min(ws - 1);
            out[(y * wd + x) * d..(y * wd + x + 1) * d].copy_from_slice(&src[(ys * ws + xs) * d..(ys * ws + xs + 1) * d]);
        }
    }
    out
}

/// Mean colour of the pixels with alpha above 0.9 and below 0.1 (pymatting's
/// initialisation), accumulated in single precision like pymatting.
fn mean_colors(image: &[f32], alpha: &[f32]) -> ([f32; 3], [f32; 3]) {
    let (mut f, mut b) = ([0f32; 3], [0f32; 3]);
    let (mut nf, mut nb) = (0usize, 0usize);
    for (px, &a) in image.chunks_exact(3).zip(alpha) {
        if a > 0.9 {
            (0..3).for_each(|c| f[c] += px[c]);
            nf += 1;
        }
        if a < 0.1 {
            (0..3).for_each(|c| b[c] += px[c]);
            nb += 1;
        }
    }
    let norm = |s: [f32; 3], n: usize| s.map(|v| (v as f64 / (n as f64 + 1e-5)) as f32);
    (norm(f, nf), norm(b, nb))
}

/// One level's data: image, alpha and the current F and B estimates, all `h × w`.
struct Level<'a> {
    h: usize,
    w: usize,
    image: &'a [f32],
    alpha: &'a [f32],
}

/// The Gauss–Seidel update of pixel `(x, y)`: solves its 2×2 system for F and B (with
/// pymatting's mix of single and double precision) and writes them in place.
#[inline]
#[allow(clippy::needless_range_loop)]
fn update_pixel(l: &Level, f: &mut [f32], b: &mut [f32], p: &ForegroundParams, x: isize, y: isize) {
    const DX: [isize; 4] = [-1, 1, 0, 0];
    const DY: [isize; 4] = [0, 0, -1, 1];
    let (h, w) = (l.h as isize, l.w as isize);
    let i = (y * w + x) as usize;
    let a0 = l.alpha[i];
    let a1 = 1.0 - a0 as f64;
    let mut a00 = a0 * a0;
    let a01 = a0 as f64 * a1;
    let mut a11 = a1 * a1;
    let mut rhs = [[0f32; 3]; 2];
    for c in 0..3 {
        rhs[0][c] = a0 * l.image[3 * i + c];
        rhs[1][c] = (a1 * l.image[3 * i + c] as f64) as f32;
    }
    for d in 0..4 {
        let x2 = (x + DX[d]).clamp(0, w - 1);
        let y2 = (y + DY[d]).clamp(0, h - 1);
        let j = (y2 * w + x2) as usize;
        let da = p.regularization + p.gradient_weight * (a0 - l.alpha[j]).abs();
        a00 += da;
        a11 += da as f64;
        for c in 0..3 {
            rhs[0][c] += da * f[3 * j + c];
            rhs[1][c] += da * b[3 * j + c];
        }
    }
    let inv_det = 1.0 / (a00 as f64 * a11 - a01 * a01);
    let (b00, b01, b11) = (inv_det * a11, inv_det * -a01, inv_det * a00 as f64);
    for c in 0..3 {
        let (r0, r1) = (rhs[0][c] as f64, rhs[1][c] as f64);
        f[3 * i + c] = (b00 * r0 + b01 * r1).clamp(0.0, 1.0) as f32;
        b[3 * i + c] = (b01 * r0 + b11 * r1).clamp(0.0, 1.0) as f32;
    }
}

/// One Gauss–Seidel sweep over the level in raster order, updating `f` and `b` in place;
/// only the pixels listed in `active` (raster order) when given.
fn sweep(l: &Level, f: &mut [f32], b: &mut [f32], p: &ForegroundParams, active: Option<&[u32]>) {
    match active {
        Some(list) => {
            for &i in list {
                let i = i as usize;
                update_pixel(l, f, b, p, (i % l.w) as isize, (i / l.w) as isize);
            }
        }
        None => {
            for y in 0..l.h as isize {
                for x in 0..l.w as isize {
                    update_pixel(l, f, b, p, x, y);
                }
            }
        }
    }
}

/// Pixels whose alpha is strictly between 0 and 1, or that have such a 4-neighbour, in
/// raster order.
fn active_pixels(alpha: &[f32], h: usize, w: usize) -> Vec<u32> {
    let soft = |i: usize| alpha[i] > 0.0 && alpha[i] < 1.0;
    (0..h * w)
        .into_par_iter()
        .filter(|&i| {
            let (y, x) = (i / w, i % w);
            soft(i) || (x > 0 && soft(i - 1)) || (x + 1 < w && soft(i + 1)) || (y > 0 && soft(i - w)) || (y + 1 < h && soft(i + w))
        })
        .map(|i| i as u32)
        .collect()
}

/// Python's `round(w0 ** (level / n_levels))` (float power, ties to even).
fn level_size(full: usize, level: usize, n_levels: usize) -> usize {
    (full as f64).powf(level as f64 / n_levels as f64).round_ties_even() as usize
}

/// Estimates the foreground and background colours (`H × W × 3`, straight, 0..1) of
/// `image` (`H × W × 3`, 0..1) given its matte `alpha` (`H × W`). With
/// [`ForegroundParams::pymatting`] this is pymatting's `estimate_foreground_ml`; with
/// `band_only` the large levels are swept on the band only (see [`ForegroundParams`]).
pub fn estimate_foreground_ml(image: ArrayView3<f32>, alpha: ArrayView2<f32>, p: &ForegroundParams) -> (Array3<f32>, Array3<f32>) {
    let (h0, w0, d) = image.dim();
    assert_eq!(d, 3, "estimate_foreground_ml: the image needs 3 channels");
    assert_eq!(alpha.dim(), (h0, w0), "estimate_foreground_ml: alpha and image sizes differ");
    let img: Vec<f32> = image.iter().copied().collect();
    let alp: Vec<f32> = alpha.iter().copied().collect();
    let (fm, bm) = mean_colors(&img, &alp);
    let (mut f, mut b) = (fm.to_vec(), bm.to_vec());
    let (mut hp, mut wp) = (1usize, 1usize);
    let n_levels = (h0.max(w0) as f64).log2().ceil() as usize;
    let mut active: Option<Vec<u32>> = None;
    for level in 0..=n_levels {
        let (w, h) = (level_size(w0, level, n_levels.max(1)), level_size(h0, level, n_levels.max(1)));
        let full = (h, w) == (h0, w0);
        let image_l = if full { Vec::new() } else { resize_nearest(&img, (h0, w0), 3, (h, w)) };
        let alpha_l = if full { Vec::new() } else { resize_nearest(&alp, (h0, w0), 1, (h, w)) };
        f = resize_nearest(&f, (hp, wp), 3, (h, w));
        b = resize_nearest(&b, (hp, wp), 3, (h, w));
        let iters = if w <= p.small_size && h <= p.small_size { p.n_small_iterations } else { p.n_big_iterations };
        let lvl = Level { h, w, image: if full { &img } else { &image_l }, alpha: if full { &alp } else { &alpha_l } };
        active = (p.band_only && h * w >= BAND_ONLY_MIN_PIXELS).then(|| active_pixels(lvl.alpha, h, w));
        for _ in 0..iters {
            sweep(&lvl, &mut f, &mut b, p, active.as_deref());
        }
        (hp, wp) = (h, w);
    }
    if let Some(list) = active {
        let mut keep = vec![false; hp * wp];
        list.iter().for_each(|&i| keep[i as usize] = true);
        for (i, k) in keep.iter().enumerate() {
            if !k {
                f[3 * i..3 * i + 3].copy_from_slice(&img[3 * i..3 * i + 3]);
            }
        }
    }
    let fa = Array3::from_shape_vec((hp, wp, 3), f).expect("shape");
    let ba = Array3::from_shape_vec((hp, wp, 3), b).expect("shape");
    (fa, ba)
}
