//! Fast mode: the closed-form solve at reduced resolution, brought back to the plate's
//! resolution by guided upsampling.
//!
//! The plate, the coarse matte and the trimap are reduced by a factor (3 on an HD plate,
//! see [`FastParams::factor`]; box filter;
//! a block is unknown when any of its pixels is); closed-form matting solves the reduced
//! band (about `downscale²` times fewer unknowns, and fewer iterations); the guided filter's
//! coefficients are fitted to the reduced solution against the reduced plate and applied,
//! upsampled bilinearly, to the full-resolution plate inside the band (He & Sun's "Fast
//! Guided Filter"). Edges land on the plate's colour edges at full resolution.
use super::band::{downsample_trimap, UNKNOWN};
use super::closed_form::{closed_form_alpha, ClosedFormParams, Preconditioner};
use super::guided::{dilate_square, guided_coefficients_at, upsample_in_band, GuidedParams};
use super::image::{downsample_box, downsample_box2, estimate_noise};
use super::solver::SolveStats;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

/// Parameters of the fast mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FastParams {
    /// Reduction factor of the solve (1: solve at full resolution); 0: automatic, see
    /// [`FastParams::factor`].
    pub downscale: usize,
    /// The guided upsampling (window radius in reduced pixels, ε).
    pub guided: GuidedParams,
    /// The reduced closed-form solve.
    pub closed_form: ClosedFormParams,
}

impl Default for FastParams {
    fn default() -> Self {
        FastParams {
            downscale: 0,
            guided: GuidedParams { noise_factor: 25.0, ..GuidedParams::default() },
            // The reduced system is small and the start (the coarse matte) close: plain
            // Jacobi-preconditioned CG (about 25 iterations, no factorisation) beats the
            // incomplete Cholesky factor's sequential setup (4 iterations) there: 36/44/47 ms
            // against 47/64/77 ms per 1920×1080 frame on the harness's three cases.
            // The prior judges flatness over 3×3 reduced pixels (already 9×9 plate pixels on
            // an HD plate); quality's wider window made fast worse on every tuned regime.
            closed_form: ClosedFormParams {
                rtol: 1e-3,
                preconditioner: Preconditioner::Jacobi,
                prior_window: 1,
                ..ClosedFormParams::default()
            },
        }
    }
}

/// Rows of the reduced solve that the automatic factor aims at: an HD plate (1080 rows) is
/// solved at a third, as the evaluation measured; a smaller plate at a smaller reduction, so
/// a 960×540 plate is solved at half and an SD or proxy plate at full resolution (where
/// reducing it left logit cells of a few pixels and the reduced solve flickered and leaked).
pub const SOLVE_ROWS: usize = 360;

impl FastParams {
    /// The reduction factor for a `height × width` plate: `downscale` when set, else the
    /// plate's shorter side over [`SOLVE_ROWS`], rounded, between 1 and 8.
    pub fn factor(&self, height: usize, width: usize) -> usize {
        match self.downscale {
            0 => ((height.min(width) as f64 / SOLVE_ROWS as f64).round() as usize).clamp(1, 8),
            f => f,
        }
    }
}

/// The guided filter's coefficients (`h × w × 4`, at the reduced resolution) that
/// [`upsample_in_band`] reads for the unknown blocks of `trimap`: for a plate pixel of
/// reduced block b, those of b and its 8 neighbours, so those of every block within 1 of
/// an unknown block (zero elsewhere).
pub fn band_coefficients(small: ArrayView3<f32>, alpha: ArrayView2<f32>, trimap: ArrayView2<u8>, gp: &GuidedParams) -> Array3<f32> {
    let (h, w) = trimap.dim();
    let unknown: Vec<bool> = trimap.iter().map(|&t| t == UNKNOWN).collect();
    let need = Array2::from_shape_vec((h, w), dilate_square(&unknown, h, w, 1)).expect("shape");
    guided_coefficients_at(small, alpha, gp, need.view())
}

/// Fast-mode alpha for the unknown band of `trimap` (known pixels are 0 or 1).
pub fn fast_alpha(plate: ArrayView3<f32>, coarse: ArrayView2<f32>, trimap: ArrayView2<u8>, p: &FastParams) -> (Array2<f32>, SolveStats) {
    let (h, w) = trimap.dim();
    let f = p.factor(h, w);
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
