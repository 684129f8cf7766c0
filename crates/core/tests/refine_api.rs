//! The refinement's public API on a small synthetic plate: results do not depend on the
//! number of threads (so a plugin render equals the CLI's), `off` passes the coarse matte
//! through, and the logits entry point equals upsampling first.
use ndarray::{Array2, Array3};
use samurai_core::refine::{coarse_alpha_from_logits, refine, refine_logits, RefineMode, RefineSettings, BG, FG, UNKNOWN};

/// A 150×120 plate: a disc of one textured colour on another, with deterministic noise,
/// and low-resolution logits of the disc (32×32).
fn scene() -> (Array3<f32>, Array2<f32>) {
    let (h, w) = (120usize, 150usize);
    let mut state = 7u64;
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02
    };
    let inside = |y: f32, x: f32| ((y - 60.0).powi(2) + (x - 70.0).powi(2)).sqrt() < 38.0 + 4.0 * (x / 9.0).sin();
    let plate = Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
        let base = if inside(y as f32, x as f32) { [0.8, 0.5, 0.3][c] } else { [0.2, 0.4, 0.6][c] };
        (base + 0.1 * ((x + 2 * y) as f32 / 7.0).sin() + noise()).clamp(0.0, 1.0)
    });
    let logits = Array2::from_shape_fn((32, 32), |(j, i)| {
        let (y, x) = ((j as f32 + 0.5) * h as f32 / 32.0, (i as f32 + 0.5) * w as f32 / 32.0);
        let d = 40.0 - ((y - 60.0).powi(2) + (x - 70.0).powi(2)).sqrt();
        (d / 3.0).clamp(-12.0, 12.0)
    });
    (plate, logits)
}

fn run_with_threads(n: usize, s: &RefineSettings) -> (Array2<f32>, Array3<f32>) {
    let (plate, logits) = scene();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("thread pool");
    let r = pool.install(|| refine_logits(plate.view(), logits.view(), s).expect("valid inputs"));
    (r.alpha, r.foreground.expect("decontaminated"))
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for mode in [RefineMode::Fast, RefineMode::Quality] {
        let s = RefineSettings { mode, band_px: 6.0, decontaminate: true, ..RefineSettings::default() };
        let (a1, f1) = run_with_threads(1, &s);
        let (a3, f3) = run_with_threads(3, &s);
        assert!(a1.iter().zip(&a3).all(|(x, y)| x.to_bits() == y.to_bits()), "{mode:?}: alpha differs");
        assert!(f1.iter().zip(&f3).all(|(x, y)| x.to_bits() == y.to_bits()), "{mode:?}: foreground differs");
    }
}

#[test]
fn refined_modes_snap_outside_the_band_and_stay_in_range() {
    let (plate, logits) = scene();
    for mode in [RefineMode::Fast, RefineMode::Quality] {
        let s = RefineSettings { mode, band_px: 6.0, ..RefineSettings::default() };
        let r = refine_logits(plate.view(), logits.view(), &s).expect("valid inputs");
        assert!(r.stats.band_pixels > 0);
        for (&a, &t) in r.alpha.iter().zip(&r.trimap) {
            assert!((0.0..=1.0).contains(&a));
            match t {
                FG => assert_eq!(a, 1.0),
                BG => assert_eq!(a, 0.0),
                _ => assert_eq!(t, UNKNOWN),
            }
        }
        // The disc's centre is opaque and the corner transparent.
        assert_eq!((r.alpha[[60, 70]], r.alpha[[2, 2]]), (1.0, 0.0), "{mode:?}");
    }
}

#[test]
fn off_passes_the_coarse_matte_through() {
    let (plate, logits) = scene();
    let coarse = coarse_alpha_from_logits(logits.view(), 120, 150);
    let s = RefineSettings { mode: RefineMode::Off, ..RefineSettings::default() };
    let r = refine(plate.view(), coarse.view(), &s).expect("valid inputs");
    assert_eq!(r.alpha, coarse);
    assert!(r.foreground.is_none());
    let via_logits = refine_logits(plate.view(), logits.view(), &s).expect("valid inputs");
    assert_eq!(via_logits.alpha, coarse);
}
