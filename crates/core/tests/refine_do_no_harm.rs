//! Issue 22 on small synthetic plates: the band follows the coarse matte's 0.5 contour, so
//! a matte that is soft everywhere is refined like a sharp one; and where the plate's
//! colours cannot support the solved edge, the band falls back to the coarse matte. The
//! evaluation on composites of real footage is `tools/matting-eval` (`eval.py --set heldout`).
use ndarray::{Array2, Array3};
use samurai_core::refine::{coarse_alpha_from_logits, refine, FitParams, Outcome, RefineMode, RefineSettings, UNKNOWN};

const H: usize = 120;
const W: usize = 160;

/// Deterministic uniform noise in −0.5..0.5.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Coverage (4 × 4 supersampled) of a wavy disc: the true alpha.
fn disc() -> Array2<f32> {
    let inside = |y: f32, x: f32| ((y - 60.0).powi(2) + (x - 80.0).powi(2)).sqrt() < 40.0 + 5.0 * (x / 11.0).sin();
    Array2::from_shape_fn((H, W), |(y, x)| {
        let n = (0..16).filter(|k| inside(y as f32 + (k / 4) as f32 / 4.0 + 0.125, x as f32 + (k % 4) as f32 / 4.0 + 0.125)).count();
        n as f32 / 16.0
    })
}

/// `alpha · F + (1 − alpha) · B` with F and B given per pixel.
fn composite(alpha: &Array2<f32>, fg: impl Fn(usize, usize, usize) -> f32, bg: impl Fn(usize, usize, usize) -> f32) -> Array3<f32> {
    Array3::from_shape_fn((H, W, 3), |(y, x, c)| {
        let a = alpha[[y, x]];
        (a * fg(y, x, c) + (1.0 - a) * bg(y, x, c)).clamp(0.0, 1.0)
    })
}

/// The network-like coarse input: the truth area-reduced to 40 × 40 cells, as logits
/// clipped to ±`interior`, with per-cell noise.
fn logits(alpha: &Array2<f32>, interior: f32, noise: f32, seed: u64) -> Array2<f32> {
    let mut rng = Lcg(seed);
    let (ch, cw) = (H / 40, W / 40);
    Array2::from_shape_fn((40, 40), |(j, i)| {
        let cell = alpha.slice(ndarray::s![j * ch..(j + 1) * ch, i * cw..(i + 1) * cw]);
        let a = cell.mean().unwrap().clamp(1e-4, 1.0 - 1e-4);
        ((a / (1.0 - a)).ln().clamp(-interior, interior) + noise * rng.next()).clamp(-interior, interior)
    })
}

fn sad(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

#[test]
fn a_soft_everywhere_matte_is_refined_around_its_contour() {
    // Warm disc on a cool background; the coarse input is unsure everywhere (|logit| ≤ 3,
    // so every pixel is strictly inside (0.02, 0.98)), as a network unsure of the object.
    let truth = disc();
    let plate = composite(
        &truth,
        |_, x, c| [0.8, 0.5, 0.3][c] + 0.05 * (x as f32 / 5.0).sin(),
        |y, _, c| [0.2, 0.35, 0.6][c] + 0.05 * (y as f32 / 7.0).cos(),
    );
    let coarse = coarse_alpha_from_logits(logits(&truth, 3.0, 0.5, 3).view(), H, W);
    assert!(coarse.iter().all(|&p| p > 0.02 && p < 0.98), "the input is soft everywhere");
    let raw = sad(&coarse, &truth);
    for mode in [RefineMode::Fast, RefineMode::Quality] {
        let s = RefineSettings { band_px: 6.0, ..RefineSettings::with_mode(mode) };
        let r = refine(plate.view(), coarse.view(), &s).unwrap();
        let band = r.trimap.iter().filter(|&&t| t == UNKNOWN).count();
        assert_eq!(r.stats.outcome, Outcome::Refined, "{mode:?}");
        // Within 2 × 6 pixels of the contour (the cap), not the whole frame.
        assert!(band < H * W / 2, "{mode:?}: the band follows the contour, not the whole frame ({band} pixels)");
        let err = sad(&r.alpha, &truth);
        assert!(err <= 0.5 * raw, "{mode:?}: SAD {err} against the raw matte's {raw}");
        assert!(r.stats.refined_share > 0.5, "{mode:?}: {}", r.stats.summary());
    }
}

#[test]
fn where_the_plate_cannot_tell_the_band_falls_back_to_a_sure_coarse_matte() {
    // The background is a texture made of the foreground's own colour and another, so the
    // colours cannot place the edge; the coarse matte is sure and right. The solve follows
    // the texture. The fit check gives back what the colours contradict and large
    // departures from the sure coarse matte; small departures on pixels whose colour both
    // sides share are only blended (measured: about 40 % of the solve's error given back
    // in both modes, still several times the raw matte's error on this adversarial plate;
    // the README's known limits say so).
    let truth = disc();
    let mut rng = Lcg(11);
    let texture: Vec<f32> = (0..H * W).map(|_| rng.next() + 0.5).collect();
    let fg = |_: usize, _: usize, c: usize| [0.75, 0.45, 0.3][c];
    let bg = |y: usize, x: usize, c: usize| {
        let t = if (x / 3 + y / 4).is_multiple_of(3) ^ (texture[y * W + x] > 0.7) { 1.0 } else { 0.0 };
        t * [0.75, 0.45, 0.3][c] + (1.0 - t) * [0.3, 0.5, 0.7][c]
    };
    let plate = composite(&truth, fg, bg);
    let coarse = coarse_alpha_from_logits(logits(&truth, 12.0, 0.0, 5).view(), H, W);
    let raw = sad(&coarse, &truth);
    for mode in [RefineMode::Fast, RefineMode::Quality] {
        let on = refine(plate.view(), coarse.view(), &RefineSettings::with_mode(mode)).unwrap();
        let off_settings = RefineSettings { fit: FitParams { enabled: false, ..FitParams::default() }, ..RefineSettings::with_mode(mode) };
        let off = refine(plate.view(), coarse.view(), &off_settings).unwrap();
        let (e_on, e_off) = (sad(&on.alpha, &truth), sad(&off.alpha, &truth));
        eprintln!("{mode:?}: raw {raw:.1}, solved {e_off:.1}, with the fit check {e_on:.1} ({})", on.stats.summary());
        assert!(e_off > raw, "{mode:?}: this plate must mislead the solve (solved {e_off}, raw {raw})");
        assert!(e_on < 0.7 * e_off, "{mode:?}: the fit check kept {e_on} of the solve's {e_off}");
        assert!(on.stats.refined_share < 0.8, "{mode:?}: {}", on.stats.summary());
    }
}

#[test]
fn a_plate_without_noise_or_texture_gives_a_finite_matte() {
    // Two flat colours (the noise estimate reads 0 and most windows have no variance): the
    // prior's flatness σ²/(v + σ²) must not become 0/0.
    let truth = disc();
    let plate = composite(&truth, |_, _, c| [0.9, 0.8, 0.15][c], |_, _, c| [0.1, 0.2, 0.35][c]);
    let coarse = coarse_alpha_from_logits(logits(&truth, 3.0, 0.0, 1).view(), H, W);
    for mode in [RefineMode::Fast, RefineMode::Quality] {
        let r = refine(plate.view(), coarse.view(), &RefineSettings { band_px: 6.0, ..RefineSettings::with_mode(mode) }).unwrap();
        assert!(r.alpha.iter().all(|a| a.is_finite()) && r.stats.refined_share.is_finite(), "{mode:?}: {}", r.stats.summary());
        assert!(sad(&r.alpha, &truth) < 0.5 * sad(&coarse, &truth), "{mode:?}");
    }
}
