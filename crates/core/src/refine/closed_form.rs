//! Quality mode: closed-form matting (Levin, Lischinski & Weiss, "A Closed-Form Solution
//! to Natural Image Matting", TPAMI 2008) restricted to the unknown band.
//!
//! The matting Laplacian `L` sums, over every `(2r+1)²` window `w_k` that lies inside the
//! image, `L_ij += δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w_k| I)⁻¹ (I_j − μ_k)) / |w_k|`
//! (pymatting's `cf_laplacian`, same window set and arithmetic). With the trimap's known
//! pixels fixed, alpha on the unknown pixels solves `L_U x = −R α_K`; only windows that
//! touch an unknown pixel enter, so the system is assembled and solved on the band alone
//! (rows in parallel) by preconditioned conjugate gradients.
use super::band::{FG, UNKNOWN};
use super::guided::self_guided_smooth;
use super::ichol::{CscMatrix, Factor, IcholParams, IncompleteCholesky};
use super::image::{bounding_box, estimate_noise};
use super::solver::{pcg, SolveStats, Tolerance};
use ndarray::{s, Array2, ArrayView2, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Parameters of the closed-form solve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClosedFormParams {
    /// Regularisation ε of the colour covariance (pymatting's default 1e-7).
    pub epsilon: f64,
    /// Window radius (pymatting's default 1, i.e. 3×3 windows).
    pub radius: usize,
    /// Relative residual at which conjugate gradients stop (pymatting: 1e-7).
    pub rtol: f64,
    /// Iteration limit (pymatting: 10000).
    pub max_iter: usize,
    /// Start from the coarse matte (true) or from 0 as pymatting does (false).
    pub warm_start: bool,
    /// Preconditioner of the conjugate gradients.
    pub preconditioner: Preconditioner,
    /// Edge-preserving smoothing of the plate before the Laplacian is built (window
    /// radius, ε; see [`super::guided::self_guided_smooth`]): keeps sensor noise out of the
    /// colour-line model. `None`: the plate as it is (pymatting).
    pub denoise: Option<(usize, f32)>,
    /// Weight λ of a prior that pulls alpha towards the coarse matte `c` where the coarse
    /// matte is confident and the plate is flat: `w = λ |2c − 1|^k σ² / (v + σ²)` (`v` the
    /// plate's variance in the pixel's `prior_window` window, `σ` = `prior_noise`) added to the
    /// diagonal of `L_U` and `w · [c ≥ ½]` to the right-hand side. Where the plate shows no more
    /// than sensor noise, alpha stays with the network's matte instead of following the
    /// noise. 0: pymatting's system.
    pub prior: f64,
    /// Exponent `k` of the prior's confidence `|2c − 1|^k` (larger: only where the coarse
    /// matte is very sure).
    pub prior_power: i32,
    /// Radius of the window whose colour variance `v` judges flatness for the prior (1:
    /// 3×3).
    pub prior_window: usize,
    /// The plate's noise level σ (0..1 units) for the prior and `epsilon_noise`; `None`:
    /// estimated from the plate ([`super::image::estimate_noise`]).
    pub prior_noise: Option<f64>,
    /// ε grows by this factor times the noise variance σ²: sensor noise adds σ² to every
    /// window's colour covariance, and without it the colour-line model fits the noise
    /// (alpha then flickers from frame to frame on a still shot). 0: ε as given (pymatting).
    pub epsilon_noise: f64,
}

/// Preconditioner of the band's conjugate-gradient solve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Preconditioner {
    /// The diagonal: cheap and parallel, but many iterations.
    Jacobi,
    /// Thresholded incomplete Cholesky: a sequential build and substitutions, few iterations.
    Ichol(IcholParams),
}

impl Default for ClosedFormParams {
    /// The refinement's defaults (measured with `tools/matting-eval`): pymatting's
    /// Laplacian, a start from the coarse matte, a looser stopping rule, and the prior
    /// (λ 10, k 8) that keeps the band's confident, flat parts at 0 or 1 — without it the
    /// alpha follows sensor noise there and flickers about four times as much.
    fn default() -> Self {
        ClosedFormParams {
            warm_start: true,
            rtol: 1e-4,
            max_iter: 2000,
            prior: 10.0,
            prior_power: 8,
            prior_window: PRIOR_WINDOW,
            epsilon_noise: EPSILON_NOISE,
            ..Self::pymatting()
        }
    }
}

impl ClosedFormParams {
    /// pymatting's defaults of `estimate_alpha_cf` (the parity tests use these).
    pub fn pymatting() -> Self {
        ClosedFormParams {
            epsilon: 1e-7,
            radius: 1,
            rtol: 1e-7,
            max_iter: 10_000,
            warm_start: false,
            preconditioner: Preconditioner::Ichol(IcholParams::default()),
            denoise: None,
            prior: 0.0,
            prior_power: 2,
            prior_window: 1,
            prior_noise: None,
            epsilon_noise: 0.0,
        }
    }
}

/// The default [`ClosedFormParams::prior_window`]: flatness judged over 7×7 pixels, so a
/// smooth ramp (a soft or motion-blurred edge, whose 3×3 variance is at the noise level)
/// does not count as flat and the prior does not pin it to a sharp coarse matte; sensor
/// noise on a flat plate still does (measured with `tools/matting-eval`'s tuned set: mean
/// quality SAD 8.82 → 8.39, flicker still below the raw matte's).
pub const PRIOR_WINDOW: usize = 3;

/// The default [`ClosedFormParams::epsilon_noise`] (measured with `tools/matting-eval`'s
/// flicker and error tables).
pub const EPSILON_NOISE: f64 = 2.0;

/// Marks "no entry" in the index maps.
const NONE: u32 = u32::MAX;

/// Mean colour and inverse regularised covariance (upper triangle) of one window.
#[derive(Clone, Copy)]
struct Window {
    mean: [f64; 3],
    inv: [f64; 6],
}

/// The linear system of the band in ELL layout: `stencil` entries per row.
pub(crate) struct BandSystem {
    /// Flat pixel index of every unknown, in raster order.
    pub pixels: Vec<u32>,
    stencil: usize,
    cols: Vec<u32>,
    vals: Vec<f64>,
    diag: Vec<f64>,
    pub rhs: Vec<f64>,
}

/// Statistics of the window centred at flat index `c` (as pymatting computes them).
fn window_stats(img: &[f64], w: usize, c: usize, r: usize, eps: f64) -> Window {
    let (cy, cx) = (c / w, c % w);
    let area = ((2 * r + 1) * (2 * r + 1)) as f64;
    let px = |dy: usize, dx: usize| ((cy + dy - r) * w + cx + dx - r) * 3;
    let mut mean = [0f64; 3];
    for (ch, m) in mean.iter_mut().enumerate() {
        let mut s = 0.0;
        for dy in 0..=2 * r {
            for dx in 0..=2 * r {
                s += img[px(dy, dx) + ch];
            }
        }
        *m = s / area;
    }
    let mut a = [eps, 0.0, 0.0, eps, 0.0, eps];
    for dy in 0..=2 * r {
        for dx in 0..=2 * r {
            let p = px(dy, dx);
            let c = [img[p] - mean[0], img[p + 1] - mean[1], img[p + 2] - mean[2]];
            a[0] += c[0] * c[0];
            a[1] += c[0] * c[1];
            a[2] += c[0] * c[2];
            a[3] += c[1] * c[1];
            a[4] += c[1] * c[2];
            a[5] += c[2] * c[2];
        }
    }
    let [a00, a01, a02, a11, a12, a22] = a.map(|v| v / area);
    let det = a00 * a12 * a12 + a01 * a01 * a22 + a02 * a02 * a11 - a00 * a11 * a22 - 2.0 * a01 * a02 * a12;
    let inv_det = 1.0 / det;
    let inv = [
        (a12 * a12 - a11 * a22) * inv_det,
        (a01 * a22 - a02 * a12) * inv_det,
        (a02 * a11 - a01 * a12) * inv_det,
        (a02 * a02 - a00 * a22) * inv_det,
        (a00 * a12 - a01 * a02) * inv_det,
        (a01 * a01 - a00 * a11) * inv_det,
    ];
    Window { mean, inv }
}

/// Mean over the colour channels of the variance of the `(2r+1)²` neighbourhood of flat
/// index `i` (clipped to the image).
fn local_variance(img: &[f64], h: usize, w: usize, i: usize, r: usize) -> f64 {
    let (y, x) = (i / w, i % w);
    let (mut s, mut s2, mut n) = ([0f64; 3], [0f64; 3], 0.0);
    for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
        for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
            for c in 0..3 {
                let v = img[(yy * w + xx) * 3 + c];
                s[c] += v;
                s2[c] += v * v;
            }
            n += 1.0;
        }
    }
    (0..3).map(|c| s2[c] / n - (s[c] / n).powi(2)).sum::<f64>() / 3.0
}

/// Index of every window that touches an unknown pixel (flat map, [`NONE`] elsewhere),
/// with the windows' statistics computed in parallel.
fn band_windows(img: &[f64], h: usize, w: usize, pixels: &[u32], p: &ClosedFormParams) -> (Vec<u32>, Vec<Window>) {
    let r = p.radius;
    let mut map = vec![NONE; h * w];
    let mut centres = Vec::new();
    for &i in pixels {
        let (y, x) = (i as usize / w, i as usize % w);
        for cy in y.saturating_sub(r).max(r)..=(y + r).min(h - 1 - r) {
            for cx in x.saturating_sub(r).max(r)..=(x + r).min(w - 1 - r) {
                map[cy * w + cx] = 0;
            }
        }
    }
    for (c, m) in map.iter_mut().enumerate() {
        if *m != NONE {
            *m = centres.len() as u32;
            centres.push(c);
        }
    }
    let stats = centres.par_iter().map(|&c| window_stats(img, w, c, r, p.epsilon)).collect();
    (map, stats)
}

/// One row of the Laplacian (the `(4r+1)²` stencil around unknown pixel `i`), summed
/// over the windows that contain `i` in raster order of their centres, as pymatting does.
fn laplacian_row(img: &[f64], dims: (usize, usize), i: usize, wins: (&[u32], &[Window]), r: usize, row: &mut [f64]) {
    let (h, w) = dims;
    let (y, x) = (i / w, i % w);
    let side = 4 * r + 1;
    let area = ((2 * r + 1) * (2 * r + 1)) as f64;
    row.fill(0.0);
    let color = |p: usize, m: &[f64; 3]| [img[3 * p] - m[0], img[3 * p + 1] - m[1], img[3 * p + 2] - m[2]];
    for cy in y.saturating_sub(r).max(r)..=(y + r).min(h - 1 - r) {
        for cx in x.saturating_sub(r).max(r)..=(x + r).min(w - 1 - r) {
            let win = &wins.1[wins.0[cy * w + cx] as usize];
            let [m00, m01, m02, m11, m12, m22] = win.inv;
            let [s, t, u] = color(i, &win.mean);
            let c = [m00 * s + m01 * t + m02 * u, m01 * s + m11 * t + m12 * u, m02 * s + m12 * t + m22 * u];
            for jy in cy - r..=cy + r {
                for jx in cx - r..=cx + r {
                    let cj = color(jy * w + jx, &win.mean);
                    let temp = c[0] * cj[0] + c[1] * cj[1] + c[2] * cj[2];
                    let delta = if jy == y && jx == x { 1.0 } else { 0.0 };
                    row[(jy + 2 * r - y) * side + (jx + 2 * r - x)] += delta - (1.0 + temp) / area;
                }
            }
        }
    }
}

impl BandSystem {
    /// Assembles `L_U` and `−R α_K` for the unknown pixels of `trimap`, plus the prior
    /// towards `coarse` when `p.prior > 0`.
    pub fn assemble(image: ArrayView3<f32>, trimap: ArrayView2<u8>, coarse: Option<ArrayView2<f32>>, p: &ClosedFormParams) -> BandSystem {
        let (h, w) = trimap.dim();
        let img: Vec<f64> = image.as_standard_layout().iter().map(|&v| v as f64).collect();
        let tri: Vec<u8> = trimap.as_standard_layout().iter().copied().collect();
        let pixels: Vec<u32> = (0..h * w).filter(|&i| tri[i] == UNKNOWN).map(|i| i as u32).collect();
        let mut index = vec![NONE; h * w];
        for (k, &i) in pixels.iter().enumerate() {
            index[i as usize] = k as u32;
        }
        let (map, wins) = band_windows(&img, h, w, &pixels, p);
        let (r, side) = (p.radius as isize, 4 * p.radius + 1);
        let stencil = side * side;
        let mut cols = vec![NONE; pixels.len() * stencil];
        let mut vals = vec![0f64; pixels.len() * stencil];
        let mut rhs = vec![0f64; pixels.len()];
        let rows = vals.par_chunks_mut(stencil).zip(cols.par_chunks_mut(stencil)).zip(rhs.par_iter_mut());
        rows.zip(pixels.par_iter()).for_each(|(((vals, cols), rhs), &i)| {
            laplacian_row(&img, (h, w), i as usize, (&map, &wins), p.radius, vals);
            let (y, x) = ((i as usize / w) as isize, (i as usize % w) as isize);
            for (s, (col, &v)) in cols.iter_mut().zip(vals.iter()).enumerate() {
                let (jy, jx) = (y + (s / side) as isize - 2 * r, x + (s % side) as isize - 2 * r);
                if jy < 0 || jx < 0 || jy >= h as isize || jx >= w as isize {
                    continue;
                }
                let j = jy as usize * w + jx as usize;
                match index[j] {
                    NONE if tri[j] == FG => *rhs -= v,
                    NONE => {}
                    k => *col = k,
                }
            }
        });
        let centre = stencil / 2;
        if let (Some(c), true) = (coarse, p.prior > 0.0) {
            let c = c.as_standard_layout();
            let c = c.as_slice().expect("standard layout");
            let rows = vals.par_chunks_mut(stencil).zip(rhs.par_iter_mut()).zip(pixels.par_iter());
            let sigma = p.prior_noise.unwrap_or_else(|| estimate_noise(image));
            let s2 = sigma * sigma;
            rows.for_each(|((row, rhs), &i)| {
                let a = c[i as usize] as f64;
                let v = local_variance(&img, h, w, i as usize, p.prior_window);
                // A plate without measurable noise (σ 0, e.g. flat synthetic colours) is flat
                // where v is 0 too: the limit of σ²/(v + σ²) there is 1, not 0/0.
                let flat = if v + s2 > 0.0 { s2 / (v + s2) } else { 1.0 };
                let weight = p.prior * (2.0 * a - 1.0).abs().powi(p.prior_power) * flat;
                row[centre] += weight;
                *rhs += weight * if a >= 0.5 { 1.0 } else { 0.0 };
            });
        }
        let diag = vals.par_chunks(stencil).map(|row| row[centre]).collect();
        BandSystem { pixels, stencil, cols, vals, diag, rhs }
    }

    /// `out = L_U v`, rows in parallel.
    pub fn apply(&self, v: &[f64], out: &mut [f64]) {
        let st = self.stencil;
        out.par_iter_mut().enumerate().for_each(|(k, o)| {
            let (cols, vals) = (&self.cols[k * st..(k + 1) * st], &self.vals[k * st..(k + 1) * st]);
            *o = cols.iter().zip(vals).filter(|(&c, _)| c != NONE).map(|(&c, &a)| a * v[c as usize]).sum();
        });
    }

    /// `L_U` in compressed sparse columns (it is symmetric, so these are its rows).
    fn to_csc(&self) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
        let (mut starts, mut rows, mut vals) = (Vec::with_capacity(self.pixels.len() + 1), Vec::new(), Vec::new());
        starts.push(0);
        for (cols, v) in self.cols.chunks(self.stencil).zip(self.vals.chunks(self.stencil)) {
            for (&c, &x) in cols.iter().zip(v) {
                if c != NONE {
                    rows.push(c);
                    vals.push(x);
                }
            }
            starts.push(rows.len());
        }
        (starts, rows, vals)
    }

    /// The incomplete Cholesky factor of `L_U` and the shift it took, if one worked.
    pub fn ichol(&self, p: &IcholParams) -> Option<(Factor, f64)> {
        let (starts, rows, vals) = self.to_csc();
        let f = IncompleteCholesky::factor_with_retries(&CscMatrix { col_start: &starts, rows: &rows, vals: &vals }, p);
        f.map(|(f, s)| (f.into_factor(), s))
    }

    /// Jacobi preconditioner: `out = r / diag(L_U)`.
    pub fn jacobi(&self, r: &[f64], out: &mut [f64]) {
        out.par_iter_mut().zip(r.par_iter()).zip(self.diag.par_iter()).for_each(|((o, r), d)| *o = r / d);
    }
}

/// Solves the band system of `image` / `trimap` (a crop holding the whole band): the
/// unknown pixels (flat indices into the crop), their alpha, and how the solve went.
fn solve_band(
    image: ArrayView3<f32>,
    trimap: ArrayView2<u8>,
    init: Option<ArrayView2<f32>>,
    p: &ClosedFormParams,
) -> (Vec<u32>, Vec<f64>, SolveStats) {
    let w = trimap.ncols();
    let t0 = Instant::now();
    let sys = BandSystem::assemble(image, trimap, init, p);
    let mut x: Vec<f64> = match (init, p.warm_start) {
        (Some(a), true) => sys.pixels.iter().map(|&i| a[[i as usize / w, i as usize % w]] as f64).collect(),
        _ => vec![0.0; sys.pixels.len()],
    };
    let assemble_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (factor, shift) = match p.preconditioner {
        Preconditioner::Ichol(ip) => sys.ichol(&ip).map_or((None, None), |(f, s)| (Some(f), Some(s))),
        Preconditioner::Jacobi => (None, None),
    };
    let setup_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let precond = |r: &[f64], out: &mut [f64]| match &factor {
        Some(f) => {
            out.copy_from_slice(r);
            f.solve_in_place(out);
        }
        None => sys.jacobi(r, out),
    };
    let tol = Tolerance { rtol: p.rtol, atol: 0.0, max_iter: p.max_iter };
    let mut stats = pcg(|v, o| sys.apply(v, o), precond, &sys.rhs, &mut x, tol);
    (stats.setup_ms, stats.solve_ms) = (setup_ms, t1.elapsed().as_secs_f64() * 1e3);
    (stats.assemble_ms, stats.ichol_shift) = (assemble_ms, shift);
    (sys.pixels, x, stats)
}

/// Closed-form alpha on the unknown pixels of `trimap` ([`FG`], [`UNKNOWN`], background
/// otherwise). `init` (the coarse matte) is the starting point when `p.warm_start`.
/// Known pixels come out as 0 or 1, unknown ones clipped to 0..1, as pymatting's
/// `estimate_alpha_cf` does. Only the band's bounding box (grown by the windows' reach) is
/// visited, which leaves the system unchanged.
pub fn closed_form_alpha(
    image: ArrayView3<f32>,
    trimap: ArrayView2<u8>,
    init: Option<ArrayView2<f32>>,
    p: &ClosedFormParams,
) -> (Array2<f32>, SolveStats) {
    let (h, w) = trimap.dim();
    assert!(h > 2 * p.radius && w > 2 * p.radius, "closed_form_alpha: image smaller than a window");
    let mut alpha = trimap.mapv(|t| if t == FG { 1.0f32 } else { 0.0 });
    let Some(bbox) = bounding_box(trimap, UNKNOWN) else { return (alpha, SolveStats { converged: true, ..Default::default() }) };
    let r = bbox.grow(2 * p.radius + 1, h, w);
    let (ys, xs) = (r.y0..r.y1, r.x0..r.x1);
    let crop = image.slice(s![ys.clone(), xs.clone(), ..]);
    let smoothed = p.denoise.map(|(radius, eps)| self_guided_smooth(crop, radius, eps));
    let plate = smoothed.as_ref().map_or(crop, |s| s.view());
    let mut p = *p;
    if p.epsilon_noise > 0.0 || p.prior > 0.0 {
        let sigma = *p.prior_noise.get_or_insert_with(|| estimate_noise(plate));
        p.epsilon += p.epsilon_noise * sigma * sigma;
    }
    let (pixels, x, stats) = solve_band(plate, trimap.slice(s![ys.clone(), xs.clone()]), init.map(|a| a.slice_move(s![ys, xs])), &p);
    for (&i, &v) in pixels.iter().zip(&x) {
        let (y, x) = (r.y0 + i as usize / r.width(), r.x0 + i as usize % r.width());
        alpha[[y, x]] = v.clamp(0.0, 1.0) as f32;
    }
    (alpha, stats)
}
