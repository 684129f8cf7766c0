//! Temporal stability of edge refinement on a still shot with sensor noise (the issue's
//! "must not flicker more than the raw matte"): eight copies of one hard-edged plate, each
//! with its own Gaussian sensor noise (σ 2/255, re-quantised to 8 bits) and its own jitter
//! of the network's low-resolution logits (σ 0.25), refined one by one; the flicker is the
//! mean |α_t − α_{t−1}| over the union of the bands. The plate is 480×270 with 64×64 logit
//! cells, the geometry of an HD plate under quality 1024's 256×256 logits at a quarter of
//! the size (cells 7.5 × 4.2 pixels; band 16). The 1920×1080 measurement with real footage
//! is `tools/matting-eval` (`eval.py --flicker 10`).
use ndarray::{Array2, Array3};
use samurai_core::refine::{coarse_alpha_from_logits, refine, RefineMode, RefineSettings, UNKNOWN};

/// Deterministic standard normal samples (an LCG and Box–Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const H: usize = 270;
const W: usize = 480;

/// The still shot: a hard-edged, slightly wavy blob of one colour on a gradient of another,
/// and its true alpha reduced to 64×64 cells as logits, as the network would see it.
fn still() -> (Array3<f32>, Array2<f32>) {
    let inside = |y: f64, x: f64| ((y - 135.0).powi(2) + (x - 230.0).powi(2)).sqrt() < 90.0 + 8.0 * (x / 15.0).sin();
    // 4×4 supersampled coverage: anti-aliased hard edges.
    let alpha = Array2::from_shape_fn((H, W), |(y, x)| {
        let n = (0..16).filter(|k| inside(y as f64 + (k / 4) as f64 / 4.0 + 0.125, x as f64 + (k % 4) as f64 / 4.0 + 0.125)).count();
        n as f32 / 16.0
    });
    let plate = Array3::from_shape_fn((H, W, 3), |(y, x, c)| {
        let fg = [0.75, 0.55, 0.35][c];
        let bg = [0.25, 0.35 + 0.2 * x as f32 / W as f32, 0.6][c];
        alpha[[y, x]] * fg + (1.0 - alpha[[y, x]]) * bg
    });
    let (ch, cw) = (H / 64 + 1, W / 64 + 1);
    let logits = Array2::from_shape_fn((64, 64), |(j, i)| {
        let (y0, x0) = (j * H / 64, i * W / 64);
        let cell = alpha.slice(ndarray::s![y0..(y0 + ch).min(H), x0..(x0 + cw).min(W)]);
        let a = cell.mean().unwrap().clamp(0.02, 0.98);
        1.5 * (a / (1.0 - a)).ln()
    });
    (plate, logits)
}

#[test]
fn refined_edges_flicker_less_than_the_raw_matte_on_a_noisy_still() {
    let (plate, logits) = still();
    let mut rng = Normal(2026);
    let modes = [RefineMode::Off, RefineMode::Fast, RefineMode::Quality];
    let mut alphas: Vec<Vec<Array2<f32>>> = vec![Vec::new(); modes.len()];
    let mut band = Array2::from_elem((H, W), false);
    for _ in 0..8 {
        let noisy = plate.mapv(|v| ((v as f64 + 2.0 / 255.0 * rng.sample()).clamp(0.0, 1.0) * 255.0).round() as f32 / 255.0);
        let jittered = logits.mapv(|l| l + 0.25 * rng.sample() as f32);
        let coarse = coarse_alpha_from_logits(jittered.view(), H, W);
        for (m, &mode) in modes.iter().enumerate() {
            let r = refine(noisy.view(), coarse.view(), &RefineSettings { mode, band_px: 16.0, ..RefineSettings::default() }).unwrap();
            if mode != RefineMode::Off {
                band.zip_mut_with(&r.trimap, |b, &t| *b |= t == UNKNOWN);
            }
            alphas[m].push(r.alpha);
        }
    }
    let in_band = band.iter().filter(|&&b| b).count();
    assert!(in_band > 1000, "band of {in_band} pixels");
    let flicker: Vec<f64> = alphas
        .iter()
        .map(|seq| {
            let diffs: f64 = seq
                .windows(2)
                .map(|p| {
                    p[1].iter().zip(p[0].iter()).zip(band.iter()).filter(|(_, &b)| b).map(|((a, b), _)| (a - b).abs() as f64).sum::<f64>()
                })
                .sum();
            diffs / ((seq.len() - 1) * in_band) as f64
        })
        .collect();
    eprintln!(
        "flicker ×1e3 over {in_band} band pixels: raw {:.3}, fast {:.3}, quality {:.3}",
        flicker[0] * 1e3,
        flicker[1] * 1e3,
        flicker[2] * 1e3
    );
    assert!(flicker[0] > 0.0, "the raw matte does not move: the test's noise is not reaching it");
    assert!(flicker[1] <= flicker[0], "fast flickers more than the raw matte: {:.3e} > {:.3e}", flicker[1], flicker[0]);
    assert!(flicker[2] <= flicker[0], "quality flickers more than the raw matte: {:.3e} > {:.3e}", flicker[2], flicker[0]);
}
