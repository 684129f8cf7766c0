//! Edge refinement at plate resolution and colour decontamination, in pure Rust
//! (ndarray + rayon, no libtorch), so the plugin, farm renders from a track cache and the
//! CLI all run it.
//!
//! The network's matte is a low-resolution logit map stretched over the plate; its edges
//! are smooth and detail-free. [`refine`] re-solves alpha in an unknown band around the
//! predicted contour, guided by the plate's colours:
//!
//! - [`band`]: the band (a trimap) — pixels where the upsampled probability is uncertain,
//!   widened by a user width in plate pixels; outside it the matte is snapped to 0/1;
//! - [`closed_form`] ([`RefineMode::Quality`]): closed-form matting of Levin, Lischinski &
//!   Weiss ("A Closed-Form Solution to Natural Image Matting", TPAMI 2008): the matting
//!   Laplacian restricted to the band (assembled with rows in parallel), solved by
//!   conjugate gradients ([`solver`]) preconditioned by a thresholded incomplete Cholesky
//!   factor ([`ichol`]) — with [`ClosedFormParams::pymatting`] the same system as
//!   pymatting's `estimate_alpha_cf`; by default plus a prior towards the network's matte
//!   where it is confident and the plate is flat (so sensor noise does not make the band
//!   flicker) — for final renders;
//! - [`fast`] ([`RefineMode::Fast`]): the same solve at reduced resolution (⅓ by
//!   default), brought back to plate resolution by guided upsampling ([`guided`]: the
//!   guided filter of He, Sun & Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013,
//!   used as in He & Sun's "Fast Guided Filter", 2015) — for interactive use;
//! - [`foreground`]: decontamination by the multi-level foreground estimation of Germer,
//!   Uelwer, Conrad & Harmeling ("Fast Multi-Level Foreground Estimation", ICPR 2020), as
//!   pymatting's `estimate_foreground_ml` (by default only the band is swept on the large
//!   levels);
//! - [`image`]: the coarse matte from logits (bilinear upsampling + sigmoid), box
//!   downsampling, noise estimation, premultiplication and deterministic reductions;
//!   [`npy`]: `.npy` files (logits given to the CLI, the harness's exchange format).
//!
//! Results are deterministic: the same inputs give the same bits whatever the number of
//! threads, so a plugin render equals the CLI's. The evaluation (errors against ground
//! truth, pymatting side by side, timings, flicker) is `tools/matting-eval`.
pub mod band;
pub mod closed_form;
pub mod fast;
pub mod foreground;
pub mod guided;
pub mod ichol;
pub mod image;
pub mod npy;
pub mod solver;

pub use band::{BG, FG, UNKNOWN};
pub use closed_form::{closed_form_alpha, ClosedFormParams, Preconditioner};
pub use fast::{fast_alpha, FastParams};
pub use foreground::{estimate_foreground_ml, ForegroundParams};
pub use guided::{guided_filter, GuidedParams};
pub use image::{coarse_alpha_from_logits, premultiply, resize_bilinear};
pub use solver::SolveStats;

use crate::error::{Error, Result};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which refinement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RefineMode {
    /// The coarse matte as it is (no band, no snapping).
    Off,
    /// Closed form at reduced resolution + guided upsampling: interactive speed.
    #[default]
    Fast,
    /// Closed-form matting on the band: for final renders.
    Quality,
}

impl RefineMode {
    pub const ALL: [RefineMode; 3] = [Self::Off, Self::Fast, Self::Quality];

    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Fast => "fast",
            Self::Quality => "quality",
        }
    }

    /// Parses `off`, `fast` or `quality` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s.to_ascii_lowercase())
            .ok_or_else(|| Error::invalid("refine mode", format!("'{s}' is not one of off, fast, quality")))
    }
}

/// Everything that configures a refinement. The defaults are the ones the evaluation
/// harness (`tools/matting-eval`) measured: fast mode, a 16-pixel band, no
/// decontamination. Serialisable (every field optional in YAML), so presets, the plugin's
/// parameters and track-cache keys can carry it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefineSettings {
    pub mode: RefineMode,
    /// Widening of the uncertain region, in plate pixels.
    pub band_px: f32,
    /// Also estimate the decontaminated foreground colours.
    pub decontaminate: bool,
    /// The coarse matte is uncertain strictly between these probabilities.
    pub uncertain: (f32, f32),
    pub fast: FastParams,
    pub closed_form: ClosedFormParams,
    pub foreground: ForegroundParams,
}

impl Default for RefineSettings {
    fn default() -> Self {
        RefineSettings {
            mode: RefineMode::Fast,
            band_px: 16.0,
            decontaminate: false,
            uncertain: (0.02, 0.98),
            fast: FastParams::default(),
            closed_form: ClosedFormParams::default(),
            foreground: ForegroundParams::default(),
        }
    }
}

impl RefineSettings {
    /// The defaults with another mode.
    pub fn with_mode(mode: RefineMode) -> Self {
        RefineSettings { mode, ..Self::default() }
    }
}

/// What a refinement measured.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RefineStats {
    /// Pixels in the unknown band.
    pub band_pixels: usize,
    /// The conjugate-gradient solve (at reduced resolution in fast mode).
    pub solve: Option<SolveStats>,
    /// Milliseconds spent on the band, on alpha, and on the foreground.
    pub band_ms: f64,
    pub alpha_ms: f64,
    pub foreground_ms: f64,
}

/// The refined matte.
#[derive(Debug, Clone)]
pub struct Refined {
    /// Alpha at plate resolution, `H × W`, 0..1.
    pub alpha: Array2<f32>,
    /// Decontaminated foreground colours, `H × W × 3`, straight (not premultiplied; see
    /// [`premultiply`]), when asked for.
    pub foreground: Option<Array3<f32>>,
    /// The trimap used ([`BG`], [`UNKNOWN`], [`FG`]); empty (0×0) in [`RefineMode::Off`].
    pub trimap: Array2<u8>,
    pub stats: RefineStats,
}

/// Checks that `plate` is `H × W × 3` and `coarse` is `H × W`, both finite.
fn validate(plate: &ArrayView3<f32>, coarse: &ArrayView2<f32>) -> Result<()> {
    let (h, w, c) = plate.dim();
    if c != 3 {
        return Err(Error::invalid("plate", format!("{c} channels, expected 3 (RGB)")));
    }
    if coarse.dim() != (h, w) {
        return Err(Error::invalid("matte", format!("{:?} pixels, the plate has {:?}", coarse.dim(), (h, w))));
    }
    if h < 3 || w < 3 {
        return Err(Error::invalid("plate", format!("{h}×{w} is smaller than 3×3")));
    }
    if plate.iter().chain(coarse.iter()).any(|v| !v.is_finite()) {
        return Err(Error::invalid("plate/matte", "non-finite values"));
    }
    Ok(())
}

/// Refines the coarse matte `coarse` (`H × W`, 0..1, at plate resolution; see
/// [`coarse_alpha_from_logits`]) against the plate (`H × W × 3`, 0..1, the plate's
/// colours as displayed, e.g. sRGB).
pub fn refine(plate: ArrayView3<f32>, coarse: ArrayView2<f32>, s: &RefineSettings) -> Result<Refined> {
    validate(&plate, &coarse)?;
    let mut stats = RefineStats::default();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (alpha, trimap) = match s.mode {
        RefineMode::Off => (coarse.to_owned(), Array2::zeros((0, 0))),
        mode => {
            let t = Instant::now();
            let trimap = band::trimap(coarse, s.band_px, s.uncertain.0, s.uncertain.1);
            stats.band_pixels = trimap.iter().filter(|&&t| t == UNKNOWN).count();
            stats.band_ms = ms(t);
            let t = Instant::now();
            // Matting needs known foreground and known background to anchor the band: where
            // the coarse matte is uncertain everywhere (or certain of one side only) there is
            // nothing to refine against, and the coarse matte is kept as it is.
            let anchored = trimap.iter().any(|&t| t == FG) && trimap.iter().any(|&t| t == BG);
            if !anchored {
                stats.alpha_ms = ms(t);
                return Ok(finish(plate, coarse.to_owned(), trimap, stats, s));
            }
            let (alpha, solve) = if mode == RefineMode::Fast {
                fast_alpha(plate, coarse, trimap.view(), &s.fast)
            } else {
                closed_form_alpha(plate, trimap.view(), Some(coarse), &s.closed_form)
            };
            (stats.solve, stats.alpha_ms) = (Some(solve), ms(t));
            (alpha, trimap)
        }
    };
    Ok(finish(plate, alpha, trimap, stats, s))
}

/// Adds the foreground estimate when asked for.
fn finish(plate: ArrayView3<f32>, alpha: Array2<f32>, trimap: Array2<u8>, mut stats: RefineStats, s: &RefineSettings) -> Refined {
    let t = Instant::now();
    let foreground = s.decontaminate.then(|| estimate_foreground_ml(plate, alpha.view(), &s.foreground).0);
    stats.foreground_ms = t.elapsed().as_secs_f64() * 1e3;
    Refined { alpha, foreground, trimap, stats }
}

/// [`refine`] from the network's low-resolution logits (any size): they are upsampled
/// bilinearly to the plate and passed through the sigmoid first.
pub fn refine_logits(plate: ArrayView3<f32>, logits: ArrayView2<f32>, s: &RefineSettings) -> Result<Refined> {
    let (h, w, _) = plate.dim();
    if logits.is_empty() {
        return Err(Error::invalid("logits", "empty"));
    }
    refine(plate, coarse_alpha_from_logits(logits, h, w).view(), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        for m in RefineMode::ALL {
            assert_eq!(RefineMode::parse(&m.name().to_uppercase()).unwrap(), m);
        }
        assert!(RefineMode::parse("best").is_err());
    }

    #[test]
    fn a_matte_with_nothing_known_is_kept_as_it_is() {
        // Uncertain everywhere (no known foreground or background to anchor the band), and
        // certain of one side only: refinement keeps the coarse matte.
        let plate = Array3::from_shape_fn((60, 64, 3), |(y, x, c)| ((x * 7 + y * 3 + c * 5) % 11) as f32 / 11.0);
        let unsure = Array2::from_shape_fn((60, 64), |(y, x)| 0.4 + 0.01 * ((x + y) % 10) as f32);
        let mut one_side = Array2::from_elem((60, 64), 0.99f32);
        one_side[[30, 32]] = 0.6;
        for coarse in [unsure, one_side] {
            for mode in [RefineMode::Fast, RefineMode::Quality] {
                let r = refine(plate.view(), coarse.view(), &RefineSettings::with_mode(mode)).unwrap();
                assert_eq!(r.alpha, coarse, "{mode:?}");
                assert!(!r.trimap.iter().any(|&t| t == BG), "no known background in this case");
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let plate = Array3::<f32>::zeros((8, 8, 3));
        let coarse = Array2::<f32>::zeros((8, 9));
        assert!(refine(plate.view(), coarse.view(), &RefineSettings::default()).is_err());
    }
}
