//! The colour guided filter of He, Sun & Tang ("Guided Image Filtering", ECCV 2010 /
//! TPAMI 2013), and guided upsampling as in He & Sun's "Fast Guided Filter" (2015).
//!
//! In every `(2r+1)²` window the output is a linear function of the guide's colour,
//! `q = aᵀI + b`, with `a = (Σ + εU)⁻¹ cov(I, p)` and `b = p̄ − aᵀĪ` fitted to the input
//! `p`; the output averages the coefficients of the windows that cover a pixel. Fitted on
//! a low-resolution matte and guide, the averaged coefficients upsampled bilinearly and
//! applied to the full-resolution guide give a full-resolution matte whose edges follow the
//! plate's colours (and thin structures that the low resolution only blends in).
use super::band::{FG, UNKNOWN};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of the guided filter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuidedParams {
    /// Window radius in pixels (of the image the coefficients are fitted on).
    pub radius: usize,
    /// Regularisation ε (on colours in 0..1): larger is smoother, closer to the input.
    pub epsilon: f32,
    /// Multiple `k` of the plate's noise variance added to ε (`ε + k σ²`, σ from
    /// [`super::image::estimate_noise`]) where the coefficients are applied to a noisy
    /// full-resolution plate, so that they do not amplify its noise.
    pub noise_factor: f32,
}

impl Default for GuidedParams {
    fn default() -> Self {
        GuidedParams { radius: 1, epsilon: 1e-5, noise_factor: 0.0 }
    }
}

/// Summed-area table of `channels` values per pixel over a whole image, in f64.
struct Integral {
    h: usize,
    w: usize,
    channels: usize,
    data: Vec<f64>,
}

impl Integral {
    /// Builds the table of `value(y, x, out)`: rows' prefix sums in parallel, then the
    /// running sum down the columns.
    fn new(h: usize, w: usize, channels: usize, value: impl Fn(usize, usize, &mut [f64]) + Sync) -> Integral {
        let stride = (w + 1) * channels;
        let mut data = vec![0f64; (h + 1) * stride];
        data[stride..].par_chunks_mut(stride).enumerate().for_each(|(y, row)| {
            let mut v = vec![0f64; channels];
            for x in 0..w {
                value(y, x, &mut v);
                for c in 0..channels {
                    row[(x + 1) * channels + c] = row[x * channels + c] + v[c];
                }
            }
        });
        for y in 1..=h {
            let (above, rest) = data.split_at_mut(y * stride);
            for (r, a) in rest[..stride].iter_mut().zip(&above[(y - 1) * stride..]) {
                *r += a;
            }
        }
        Integral { h, w, channels, data }
    }

    /// Mean of every channel over the window of radius `r` around `(y, x)`, clipped to the
    /// image, written to `out`.
    fn window_mean(&self, y: usize, x: usize, r: usize, out: &mut [f64]) {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(self.h));
        let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(self.w));
        let n = ((y1 - y0) * (x1 - x0)) as f64;
        let (c, stride) = (self.channels, (self.w + 1) * self.channels);
        let at = |yy: usize, xx: usize, k: usize| self.data[yy * stride + xx * c + k];
        for (k, o) in out.iter_mut().enumerate() {
            *o = (at(y1, x1, k) - at(y0, x1, k) - at(y1, x0, k) + at(y0, x0, k)) / n;
        }
    }
}

/// Solves the 3×3 symmetric system `(Σ + εI) a = v` (Σ given as its upper triangle
/// `[s00, s01, s02, s11, s12, s22]`) by Cramer's rule.
fn solve_sym3(sig: [f64; 6], eps: f64, v: [f64; 3]) -> [f64; 3] {
    let [a, b, c, d, e, f] = sig;
    let (a, d, f) = (a + eps, d + eps, f + eps);
    let (i00, i01, i02) = (d * f - e * e, c * e - b * f, b * e - c * d);
    let (i11, i12, i22) = (a * f - c * c, b * c - a * e, a * d - b * b);
    let det = a * i00 + b * i01 + c * i02;
    [
        (i00 * v[0] + i01 * v[1] + i02 * v[2]) / det,
        (i01 * v[0] + i11 * v[1] + i12 * v[2]) / det,
        (i02 * v[0] + i12 * v[1] + i22 * v[2]) / det,
    ]
}

/// The fitted coefficients `(a, b)` of every window, from the window means `m` of
/// `[I, I·Iᵀ (upper), p, I·p]`.
fn fit(m: &[f64; 13], eps: f64) -> [f64; 4] {
    let mi = [m[0], m[1], m[2]];
    let sig = [
        m[3] - mi[0] * mi[0],
        m[4] - mi[0] * mi[1],
        m[5] - mi[0] * mi[2],
        m[6] - mi[1] * mi[1],
        m[7] - mi[1] * mi[2],
        m[8] - mi[2] * mi[2],
    ];
    let cov = [m[10] - mi[0] * m[9], m[11] - mi[1] * m[9], m[12] - mi[2] * m[9]];
    let a = solve_sym3(sig, eps, cov);
    [a[0], a[1], a[2], m[9] - a[0] * mi[0] - a[1] * mi[1] - a[2] * mi[2]]
}

/// The guided filter's averaged coefficients `(ā, b̄)` (`H × W × 4`) of input `p` with
/// guide `image`, so that the filter's output is `āᵀI + b̄`.
pub fn guided_coefficients(image: ArrayView3<f32>, p: ArrayView2<f32>, gp: &GuidedParams) -> Array3<f32> {
    guided_coefficients_at(image, p, gp, Array2::from_elem(p.dim(), true).view())
}

/// Marks every pixel within `r` (Chebyshev distance: a `(2r+1)²` square) of a marked one.
pub(super) fn dilate_square(marked: &[bool], h: usize, w: usize, r: usize) -> Vec<bool> {
    let mut rows = vec![false; h * w];
    rows.par_chunks_mut(w).zip(marked.par_chunks(w)).for_each(|(out, row)| {
        for (x, _) in row.iter().enumerate().filter(|(_, &m)| m) {
            out[x.saturating_sub(r)..(x + r + 1).min(w)].fill(true);
        }
    });
    let mut out = vec![false; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            o.iter_mut().zip(&rows[yy * w..(yy + 1) * w]).for_each(|(o, &m)| *o |= m);
        }
    });
    out
}

/// [`guided_coefficients`] at the pixels where `need` is true (zero elsewhere): only the
/// windows within the radius of a needed pixel are fitted, each from its own pixels (the
/// window clipped to the image, as the whole-image filter clips it), so a thin band of a
/// large image costs what the band holds. A window's sums are taken directly, so the cost
/// grows with its area (the refinement's radius is 1: 3 × 3 windows).
pub fn guided_coefficients_at(image: ArrayView3<f32>, p: ArrayView2<f32>, gp: &GuidedParams, need: ArrayView2<bool>) -> Array3<f32> {
    let (h, w) = p.dim();
    let r = gp.radius;
    let (image, p, need) = (image.as_standard_layout(), p.as_standard_layout(), need.as_standard_layout());
    let (img, pv, need) = (image.as_slice().expect("std"), p.as_slice().expect("std"), need.as_slice().expect("std"));
    let window = |y: usize, x: usize| ((y.saturating_sub(r), (y + r + 1).min(h)), (x.saturating_sub(r), (x + r + 1).min(w)));
    // The fitted (a, b) of every window a needed pixel averages.
    let fitted_at = dilate_square(need, h, w, r);
    let mut fitted = vec![[0f64; 4]; h * w];
    fitted.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, out) in row.iter_mut().enumerate() {
            if !fitted_at[y * w + x] {
                continue;
            }
            let ((y0, y1), (x0, x1)) = window(y, x);
            let mut m = [0f64; 13];
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let i = yy * w + xx;
                    let (i0, i1, i2, v) = (img[3 * i] as f64, img[3 * i + 1] as f64, img[3 * i + 2] as f64, pv[i] as f64);
                    let terms = [i0, i1, i2, i0 * i0, i0 * i1, i0 * i2, i1 * i1, i1 * i2, i2 * i2, v, i0 * v, i1 * v, i2 * v];
                    m.iter_mut().zip(terms).for_each(|(m, t)| *m += t);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            m.iter_mut().for_each(|m| *m /= n);
            *out = fit(&m, gp.epsilon as f64);
        }
    });
    let mut out = vec![0f32; h * w * 4];
    out.par_chunks_mut(w * 4).enumerate().for_each(|(y, row)| {
        for (x, o) in row.chunks_exact_mut(4).enumerate() {
            if !need[y * w + x] {
                continue;
            }
            let ((y0, y1), (x0, x1)) = window(y, x);
            let mut m = [0f64; 4];
            for yy in y0..y1 {
                for c in &fitted[yy * w + x0..yy * w + x1] {
                    m.iter_mut().zip(c).for_each(|(m, c)| *m += c);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            o.iter_mut().zip(m).for_each(|(o, m)| *o = (m / n) as f32);
        }
    });
    Array3::from_shape_vec((h, w, 4), out).expect("shape")
}

/// Edge-preserving smoothing of an `H × W × 3` image: every channel filtered by the
/// guided filter with itself as guide (window radius `radius`, ε `epsilon`), which
/// averages where a window's variance is below ε (sensor noise) and keeps edges whose
/// contrast is well above it.
pub fn self_guided_smooth(image: ArrayView3<f32>, radius: usize, epsilon: f32) -> Array3<f32> {
    let (h, w, c) = image.dim();
    let mut out = Array3::<f32>::zeros((h, w, c));
    for k in 0..c {
        let stats = Integral::new(h, w, 2, |y, x, o| {
            let v = image[[y, x, k]] as f64;
            o.copy_from_slice(&[v, v * v]);
        });
        let mut ab = Array3::<f64>::zeros((h, w, 2));
        ab.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(y, mut row)| {
            let mut m = [0f64; 2];
            for x in 0..w {
                stats.window_mean(y, x, radius, &mut m);
                let var = m[1] - m[0] * m[0];
                let a = var / (var + epsilon as f64);
                row[[x, 0]] = a;
                row[[x, 1]] = (1.0 - a) * m[0];
            }
        });
        let mean = Integral::new(h, w, 2, |y, x, o| o.copy_from_slice(&[ab[[y, x, 0]], ab[[y, x, 1]]]));
        let mut ch = out.index_axis_mut(Axis(2), k);
        ch.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(y, mut row)| {
            let mut m = [0f64; 2];
            for x in 0..w {
                mean.window_mean(y, x, radius, &mut m);
                row[x] = (m[0] * image[[y, x, k]] as f64 + m[1]) as f32;
            }
        });
    }
    out
}

/// The guided filter of `p` with guide `image` (output clamped to 0..1).
pub fn guided_filter(image: ArrayView3<f32>, p: ArrayView2<f32>, gp: &GuidedParams) -> Array2<f32> {
    let coef = guided_coefficients(image, p, gp);
    Array2::from_shape_fn(p.dim(), |(y, x)| {
        let v = (0..3).map(|k| coef[[y, x, k]] * image[[y, x, k]]).sum::<f32>() + coef[[y, x, 3]];
        v.clamp(0.0, 1.0)
    })
}

/// Guided upsampling into the band: for every unknown pixel of `trimap` (full
/// resolution), the coefficients `coef` (fitted at `1/factor` resolution) are sampled
/// bilinearly and applied to the full-resolution `image`; known pixels get their trimap
/// value. Rows in parallel.
pub fn upsample_in_band(coef: ArrayView3<f32>, image: ArrayView3<f32>, trimap: ArrayView2<u8>, factor: usize) -> Array2<f32> {
    let (h, w) = trimap.dim();
    let (hl, wl, _) = coef.dim();
    let taps = |d: usize, len: usize| {
        let s = ((d as f32 + 0.5) / factor as f32 - 0.5).max(0.0);
        let i0 = (s as usize).min(len - 1);
        (i0, (i0 + 1).min(len - 1), s - i0 as f32)
    };
    let cols: Vec<(usize, usize, f32)> = (0..w).map(|x| taps(x, wl)).collect();
    let (coef, image, trimap) = (coef.as_standard_layout(), image.as_standard_layout(), trimap.as_standard_layout());
    let (c, img, tri) = (coef.as_slice().expect("std"), image.as_slice().expect("std"), trimap.as_slice().expect("std"));
    let mut out = vec![0f32; h * w];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let (y0, y1, fy) = taps(y, hl);
        let (r0, r1) = (&c[y0 * wl * 4..(y0 + 1) * wl * 4], &c[y1 * wl * 4..(y1 + 1) * wl * 4]);
        for (x, (o, &t)) in row.iter_mut().zip(&tri[y * w..(y + 1) * w]).enumerate() {
            *o = match t {
                UNKNOWN => {
                    let (x0, x1, fx) = cols[x];
                    let px = &img[(y * w + x) * 3..(y * w + x) * 3 + 3];
                    let mut q = 0.0;
                    for k in 0..4 {
                        let top = (1.0 - fx) * r0[x0 * 4 + k] + fx * r0[x1 * 4 + k];
                        let bottom = (1.0 - fx) * r1[x0 * 4 + k] + fx * r1[x1 * 4 + k];
                        q += ((1.0 - fy) * top + fy * bottom) * if k < 3 { px[k] } else { 1.0 };
                    }
                    q.clamp(0.0, 1.0)
                }
                FG => 1.0,
                _ => 0.0,
            };
        }
    });
    Array2::from_shape_vec((h, w), out).expect("shape")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_input_is_reproduced() {
        // A matte that is an exact linear function of the guide is reproduced (ε → 0).
        let (h, w) = (20, 30);
        let image =
            Array3::from_shape_fn((h, w, 3), |(y, x, c)| (x as f32 / w as f32) * (0.5 + 0.2 * c as f32) + 0.01 * y as f32 * c as f32);
        let p = Array2::from_shape_fn((h, w), |(_, x)| x as f32 / w as f32);
        let q = guided_filter(image.view(), p.view(), &GuidedParams { radius: 2, epsilon: 1e-9, noise_factor: 0.0 });
        for (a, b) in q.iter().zip(p.iter()) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn coefficients_where_needed_are_the_whole_image_ones() {
        let (h, w) = (23, 31);
        let image = Array3::from_shape_fn((h, w, 3), |(y, x, c)| (((x * 13 + y * 7 + c * 5) % 17) as f32 / 17.0).sqrt());
        let p = Array2::from_shape_fn((h, w), |(y, x)| ((x * 3 + y * 11) % 7) as f32 / 7.0);
        let need = Array2::from_shape_fn((h, w), |(y, x)| (x + 2 * y) % 5 == 0 || y == 0 || x == w - 1);
        for radius in [1, 2] {
            let gp = GuidedParams { radius, epsilon: 1e-3, noise_factor: 0.0 };
            let all = guided_coefficients(image.view(), p.view(), &gp);
            let some = guided_coefficients_at(image.view(), p.view(), &gp, need.view());
            for ((y, x, k), &v) in some.indexed_iter() {
                let want = if need[[y, x]] { all[[y, x, k]] } else { 0.0 };
                assert!((v - want).abs() < 1e-6, "radius {radius}, ({y}, {x}, {k}): {v} against {want}");
            }
        }
    }

    #[test]
    fn upsampling_puts_the_edge_on_the_plate_edge() {
        // Full resolution: plate edge at x = 10. Low resolution (factor 4): a soft matte.
        let (h, w, f) = (16, 24, 4);
        let image = Array3::from_shape_fn((h, w, 3), |(_, x, _)| if x >= 10 { 0.9 } else { 0.1 });
        let small = Array3::from_shape_fn((h / f, w / f, 3), |(_, x, _)| [0.1, 0.1, 0.5, 0.9, 0.9, 0.9][x]);
        let p = Array2::from_shape_fn((h / f, w / f), |(_, x)| [0.0, 0.0, 0.5, 1.0, 1.0, 1.0][x]);
        let coef = guided_coefficients(small.view(), p.view(), &GuidedParams { radius: 1, epsilon: 1e-6, noise_factor: 0.0 });
        let tri = Array2::from_elem((h, w), UNKNOWN);
        let q = upsample_in_band(coef.view(), image.view(), tri.view(), f);
        let row = q.row(8);
        assert!(row[9] < 0.05 && row[10] > 0.95, "{row:?}");
    }
}
