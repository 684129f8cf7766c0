//! Fast mode: the closed-form solve at reduced resolution, brought back to the plate's
//! resolution by guided upsampling.
//!
//! The plate, the coarse matte and the trimap are reduced by `downscale` (box filter;
//! a block is unknown when any of its pixels is); closed-form matting solves the reduced
//! band (about `downscale²` times fewer unknowns, and fewer iterations); the guided filter's
//! coefficients are fitted to the reduced solution against the reduced plate and applied,
//! upsampled bilinearly, to the full-resolution plate inside the band (He & Sun's "Fast
//! Guided Filter"). Edges land on the plate's colour edges at full resolution.
use super::band::{downsample_trimap, UNKNOWN};
use super::closed_form::{closed_form_alpha, ClosedFormParams, Preconditioner};
use super::guided::{guided_coefficients, upsample_in_band, GuidedParams};
use super::image::{bounding_box, downsample_box, downsample_box2, estimate_noise};
use super::solver::SolveStats;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

/// Parameters of the fast mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FastParams {
    /// Reduction factor of the solve (1: solve at full resolution).
    pub downscale: usize,
    /// The guided upsampling (window radius in reduced pixels, ε).
    pub guided: GuidedParams,
    /// The reduced closed-form solve.
    pub closed_form: ClosedFormParams,
}

impl Default for FastParams {
    fn default() -> Self {
        FastParams {
            downscale: 3,
            guided: GuidedParams { noise_factor: 25.0, ..GuidedParams::default() },
            // The reduced system is small and the start (the coarse matte) close: plain
            // Jacobi-preconditioned CG (about 25 iterations, no factorisation) beats the
            // incomplete Cholesky factor's sequential setup (4 iterations) there: 36/44/47 ms
            // against 47/64/77 ms per 1920×1080 frame on the harness's three cases.
            closed_form: ClosedFormParams { rtol: 1e-3, preconditioner: Preconditioner::Jacobi, ..ClosedFormParams::default() },
        }
    }
}

/// The guided filter's coefficients on the bounding box of the band (grown so that every
/// coefficient the upsampling reads is the whole-image one), zero elsewhere.
fn band_coefficients(small: ArrayView3<f32>, alpha: ArrayView2<f32>, trimap: ArrayView2<u8>, gp: &GuidedParams) -> Array3<f32> {
    let (h, w) = trimap.dim();
    let mut coef = Array3::<f32>::zeros((h, w, 4));
    let Some(rect) = bounding_box(trimap, UNKNOWN) else { return coef };
    let r = rect.grow(2 * gp.radius + 2, h, w);
    let (ys, xs) = (r.y0..r.y1, r.x0..r.x1);
    let c = guided_coefficients(small.slice(s![ys.clone(), xs.clone(), ..]), alpha.slice(s![ys.clone(), xs.clone()]), gp);
    coef.slice_mut(s![ys, xs, ..]).assign(&c);
    coef
}

/// Fast-mode alpha for the unknown band of `trimap` (known pixels are 0 or 1).
pub fn fast_alpha(plate: ArrayView3<f32>, coarse: ArrayView2<f32>, trimap: ArrayView2<u8>, p: &FastParams) -> (Array2<f32>, SolveStats) {
    let f = p.downscale.max(1);
    let (h, w) = trimap.dim();
    if f == 1 || h.div_ceil(f) < 3 || w.div_ceil(f) < 3 {
        return closed_form_alpha(plate, trimap, Some(coarse), &p.closed_form);
    }
    let small = downsample_box(plate, f);
    let coarse_small = downsample_box2(coarse, f);
    let tri_small = downsample_trimap(trimap, f);
    let (alpha_small, stats) = closed_form_alpha(small.view(), tri_small.view(), Some(coarse_small.view()), &p.closed_form);
    let mut gp = p.guided;
    if gp.noise_factor > 0.0 {
        gp.epsilon += gp.noise_factor * estimate_noise(plate).powi(2) as f32;
    }
    let coef = band_coefficients(small.view(), alpha_small.view(), tri_small.view(), &gp);
    (upsample_in_band(coef.view(), plate, trimap, f), stats)
}
