//! Edge refinement at plate resolution and colour decontamination, in pure Rust
//! (ndarray + rayon, no libtorch), so the plugin, farm renders from a track cache and the
//! CLI all run it.
//!
//! The network's matte is a low-resolution logit map stretched over the plate; its edges
//! are smooth and detail-free. [`refine`] re-solves alpha in an unknown band around the
//! predicted contour, guided by the plate's colours:
//!
//! - [`band`]: the band (a trimap) — pixels within a user width (plate pixels) of the coarse
//!   matte's 0.5 contour, widened where the matte is unsure up to a cap; outside it the
//!   matte is snapped to 0/1;
//! - [`closed_form`] ([`RefineMode::Quality`]): closed-form matting of Levin, Lischinski &
//!   Weiss ("A Closed-Form Solution to Natural Image Matting", TPAMI 2008): the matting
//!   Laplacian restricted to the band (assembled with rows in parallel), solved by
//!   conjugate gradients ([`solver`]) preconditioned by a thresholded incomplete Cholesky
//!   factor ([`ichol`]) — with [`ClosedFormParams::pymatting`] the same system as
//!   pymatting's `estimate_alpha_cf`; by default plus a prior towards the network's matte
//!   where it is confident and the plate is flat (so sensor noise does not make the band
//!   flicker) — for final renders;
//! - [`fast`] ([`RefineMode::Fast`]): the same solve at reduced resolution (⅓ on an HD plate by
//!   default), brought back to plate resolution by guided upsampling ([`guided`]: the
//!   guided filter of He, Sun & Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013,
//!   used as in He & Sun's "Fast Guided Filter", 2015) — for interactive use;
//! - [`fit`]: do no harm — the solved alpha is blended back into the coarse matte wherever
//!   it explains the plate's colours worse than the coarse matte does (local colour models
//!   from the trimap's known pixels), so refinement leaves alone what it cannot improve;
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
pub mod fit;
pub mod foreground;
pub mod guided;
pub mod ichol;
pub mod image;
pub mod npy;
pub mod solver;

pub use band::{BG, FG, UNKNOWN};
pub use closed_form::{closed_form_alpha, ClosedFormParams, Preconditioner};
pub use fast::{fast_alpha, FastParams};
pub use fit::FitParams;
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
    /// Half-width of the band around the coarse matte's 0.5 contour, in plate pixels.
    pub band_px: f32,
    /// Also estimate the decontaminated foreground colours.
    pub decontaminate: bool,
    /// The coarse matte is uncertain strictly between these probabilities: the band widens
    /// to `band_px` around such pixels, ...
    pub uncertain: (f32, f32),
    /// ... but reaches at most `band_cap × band_px` from the contour.
    pub band_cap: f32,
    /// The check that blends the solved alpha back into the coarse matte where it does not
    /// fit the plate ([`fit`]).
    pub fit: FitParams,
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
            band_cap: BAND_CAP,
            fit: FitParams::default(),
            fast: FastParams::default(),
            closed_form: ClosedFormParams::default(),
            foreground: ForegroundParams::default(),
        }
    }
}

/// The default [`RefineSettings::band_cap`]: an unsure matte's band is at most twice as
/// wide as a sure one's (measured with `tools/matting-eval`).
pub const BAND_CAP: f32 = 2.0;

impl RefineSettings {
    /// The defaults with another mode.
    pub fn with_mode(mode: RefineMode) -> Self {
        RefineSettings { mode, ..Self::default() }
    }
}

/// What became of a frame's band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Outcome {
    /// The band was solved (some of it may have fallen back: see
    /// [`RefineStats::refined_share`]).
    #[default]
    Refined,
    /// The coarse matte has no 0.5 contour (the object is absent or fills the frame): no
    /// band, the matte snapped to its side.
    NoEdge,
    /// The band leaves no known foreground or no known background to anchor the solve (the
    /// band covers the frame): the coarse matte is kept as it is.
    NothingKnown,
    /// The band was solved but nowhere explained the plate better than the coarse matte:
    /// the coarse matte is kept.
    NothingFits,
}

impl Outcome {
    /// Why a frame with an edge could not be refined at all, for a warning; `None` when it
    /// was refined or had no edge to refine.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Outcome::Refined | Outcome::NoEdge => None,
            Outcome::NothingKnown => Some("the band leaves no known foreground or background to anchor it (narrow the band)"),
            Outcome::NothingFits => Some("the solved edge fitted the plate nowhere better than the coarse matte"),
        }
    }
}

/// Below this share of the band refined, a frame counts as not refined at all.
pub const NOTHING_REFINED: f64 = 0.005;

/// What a refinement measured.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RefineStats {
    /// Pixels in the unknown band.
    pub band_pixels: usize,
    /// Share of the band's pixels that took the solved alpha (mean blend weight, 0..1); the
    /// rest fell back to the coarse matte.
    pub refined_share: f64,
    pub outcome: Outcome,
    /// The conjugate-gradient solve (at reduced resolution in fast mode).
    pub solve: Option<SolveStats>,
    /// Milliseconds spent on the band, on alpha, and on the foreground.
    pub band_ms: f64,
    pub alpha_ms: f64,
    pub fit_ms: f64,
    pub foreground_ms: f64,
}

impl RefineStats {
    /// One line for a log: the band, how much of it was refined and how much fell back.
    pub fn summary(&self) -> String {
        match self.outcome {
            Outcome::NoEdge => "no edge in the matte, nothing to refine".to_string(),
            o => {
                let refined = 100.0 * self.refined_share;
                let mut line = format!(
                    "{} band pixels, {refined:.1} % refined, {:.1} % fell back to the coarse matte",
                    self.band_pixels,
                    100.0 - refined
                );
                if let Some(why) = o.warning() {
                    line += &format!(" (not refined: {why})");
                }
                line
            }
        }
    }
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
    /// Per band pixel, the weight the solved alpha got against the coarse matte ([`fit`]);
    /// empty (0×0) where no band was solved.
    pub weight: Array2<f32>,
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
    let mut weight = Array2::zeros((0, 0));
    let (alpha, trimap) = match s.mode {
        RefineMode::Off => (coarse.to_owned(), Array2::zeros((0, 0))),
        mode => {
            let t = Instant::now();
            let trimap = band::trimap(coarse, s.band_px, s.uncertain, s.band_cap);
            stats.band_pixels = trimap.iter().filter(|&&t| t == UNKNOWN).count();
            stats.band_ms = ms(t);
            let t = Instant::now();
            if stats.band_pixels == 0 {
                stats.outcome = Outcome::NoEdge;
                let snapped = trimap.mapv(|t| if t == FG { 1.0 } else { 0.0 });
                return Ok(finish(plate, snapped, trimap, weight, stats, s));
            }
            // Matting needs known foreground and known background to anchor the band: where
            // the band covers everything of one side, there is nothing to refine against, and
            // the coarse matte is kept as it is.
            let anchored = trimap.iter().any(|&t| t == FG) && trimap.iter().any(|&t| t == BG);
            if !anchored {
                stats.outcome = Outcome::NothingKnown;
                stats.alpha_ms = ms(t);
                return Ok(finish(plate, coarse.to_owned(), trimap, weight, stats, s));
            }
            let (solved, solve) = if mode == RefineMode::Fast {
                fast_alpha(plate, coarse, trimap.view(), &s.fast)
            } else {
                closed_form_alpha(plate, trimap.view(), Some(coarse), &s.closed_form)
            };
            (stats.solve, stats.alpha_ms) = (Some(solve), ms(t));
            let t = Instant::now();
            let alpha = if s.fit.enabled {
                weight = fit::solved_weight(plate, trimap.view(), coarse, solved.view(), s.band_px, &s.fit);
                stats.refined_share = image::sum_where(weight.view(), trimap.view(), UNKNOWN) / stats.band_pixels as f64;
                let mut alpha = solved;
                ndarray::Zip::from(&mut alpha).and(&weight).and(&trimap).and(coarse).par_for_each(|a, &w, &t, &c| {
                    if t == UNKNOWN {
                        *a = w * *a + (1.0 - w) * c;
                    }
                });
                alpha
            } else {
                stats.refined_share = 1.0;
                weight = trimap.mapv(|t| if t == UNKNOWN { 1.0 } else { 0.0 });
                solved
            };
            if stats.refined_share < NOTHING_REFINED {
                stats.outcome = Outcome::NothingFits;
            }
            stats.fit_ms = ms(t);
            (alpha, trimap)
        }
    };
    Ok(finish(plate, alpha, trimap, weight, stats, s))
}

/// Adds the foreground estimate when asked for.
fn finish(
    plate: ArrayView3<f32>,
    alpha: Array2<f32>,
    trimap: Array2<u8>,
    weight: Array2<f32>,
    mut stats: RefineStats,
    s: &RefineSettings,
) -> Refined {
    let t = Instant::now();
    let foreground = s.decontaminate.then(|| estimate_foreground_ml(plate, alpha.view(), &s.foreground).0);
    stats.foreground_ms = t.elapsed().as_secs_f64() * 1e3;
    Refined { alpha, foreground, trimap, weight, stats }
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
    fn a_matte_without_an_edge_is_snapped_to_its_side() {
        // Unsure everywhere but below ½ (no 0.5 contour), and sure of one side with one
        // unsure pixel on the same side: no band, the matte snapped to its side.
        let plate = Array3::from_shape_fn((60, 64, 3), |(y, x, c)| ((x * 7 + y * 3 + c * 5) % 11) as f32 / 11.0);
        let unsure = Array2::from_shape_fn((60, 64), |(y, x)| 0.4 + 0.01 * ((x + y) % 10) as f32);
        let mut one_side = Array2::from_elem((60, 64), 0.99f32);
        one_side[[30, 32]] = 0.6;
        for (coarse, side) in [(unsure, 0.0), (one_side, 1.0)] {
            for mode in [RefineMode::Fast, RefineMode::Quality] {
                let r = refine(plate.view(), coarse.view(), &RefineSettings::with_mode(mode)).unwrap();
                assert!(r.alpha.iter().all(|&a| a == side), "{mode:?}");
                assert_eq!((r.stats.outcome, r.stats.band_pixels), (Outcome::NoEdge, 0));
                assert_eq!(r.stats.outcome.warning(), None, "no edge is not a failure");
            }
        }
    }

    #[test]
    fn a_band_that_leaves_nothing_known_keeps_the_coarse_matte_and_says_so() {
        let plate = Array3::from_shape_fn((40, 48, 3), |(y, x, c)| ((x * 7 + y * 3 + c * 5) % 11) as f32 / 11.0);
        let coarse = Array2::from_shape_fn((40, 48), |(_, x)| if x < 24 { 0.1 } else { 0.9 });
        let s = RefineSettings { band_px: 40.0, ..RefineSettings::with_mode(RefineMode::Quality) };
        let r = refine(plate.view(), coarse.view(), &s).unwrap();
        assert_eq!(r.alpha, coarse);
        assert_eq!(r.stats.outcome, Outcome::NothingKnown);
        assert!(r.stats.outcome.warning().is_some() && r.stats.summary().contains("not refined"), "{}", r.stats.summary());
    }

    #[test]
    fn shapes_are_checked() {
        let plate = Array3::<f32>::zeros((8, 8, 3));
        let coarse = Array2::<f32>::zeros((8, 9));
        assert!(refine(plate.view(), coarse.view(), &RefineSettings::default()).is_err());
    }
}
