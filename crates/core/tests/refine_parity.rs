//! Parity of the refinement with PyPI pymatting (the version pinned in
//! `tests/refine/make_reference.py`): the quality mode's closed-form solution against
//! `estimate_alpha_cf`, and the decontamination against `estimate_foreground_ml`, on
//! small composites with the same trimap.
//!
//! The reference outputs are generated on first use into `<repo>/tests/fixtures/refine/`
//! (git-ignored) with `<repo>/.venv/bin/python` (or `$SAMURAI_PYTHON`);
//! `scripts/setup.sh --reference` installs pymatting there.
use ndarray::{Array2, Array3};
use samurai_core::refine::npy;
use samurai_core::refine::{closed_form_alpha, estimate_foreground_ml, ClosedFormParams, ForegroundParams, Preconditioner};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Max |ours − pymatting| of the closed-form alpha. Both solve the same system to a
/// relative residual of 1e-7 (pymatting with its incomplete-Cholesky preconditioner, ours
/// with each of ours), so what is left is the two iterates' distance to the exact
/// solution: measured at most 2.1e-6; the bound leaves a tenfold margin.
const ALPHA_TOL: f32 = 2e-5;
/// Max |ours − pymatting| of the foreground and background colours: the same algorithm in
/// the same order and precision; measured bit-identical (0), the bound allows for
/// rounding of a different libm `pow`/compiler on another machine.
const FG_TOL: f32 = 1e-5;

const CASES: [&str; 2] = ["64x48", "96x64"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// The reference folder, generating it with pymatting when missing.
fn fixtures() -> PathBuf {
    let dir = repo().join("tests/fixtures/refine/pymatting-1.1.16");
    if CASES.iter().all(|c| dir.join(c).join("fg_ml.npy").exists()) {
        return dir;
    }
    let python = std::env::var_os("SAMURAI_PYTHON").map(PathBuf::from).unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(python.exists(), "{} not found: run scripts/setup.sh --reference", python.display());
    let clips = repo().join("../shared/data/clips");
    assert!(clips.is_dir(), "sample clips not found at {}", clips.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/refine/make_reference.py");
    let out = Command::new(&python).arg(&script).arg(&dir).arg(&clips).output().expect("run python");
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn load2(path: &Path) -> Array2<f32> {
    let a = npy::read(path).unwrap_or_else(|e| panic!("{e}"));
    Array2::from_shape_vec((a.shape[0], a.shape[1]), a.data).expect("2-D")
}

fn load3(path: &Path) -> Array3<f32> {
    let a = npy::read(path).unwrap_or_else(|e| panic!("{e}"));
    Array3::from_shape_vec((a.shape[0], a.shape[1], a.shape[2]), a.data).expect("3-D")
}

fn max_abs_diff<'a>(a: impl IntoIterator<Item = &'a f32>, b: impl IntoIterator<Item = &'a f32>) -> f32 {
    a.into_iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn closed_form_matches_pymatting() {
    let dir = fixtures();
    for case in CASES {
        let d = dir.join(case);
        let image = load3(&d.join("image.npy"));
        let trimap = load2(&d.join("trimap.npy")).mapv(|v| v as u8);
        let reference = load2(&d.join("alpha_cf.npy"));
        for pc in [ClosedFormParams::pymatting().preconditioner, Preconditioner::Jacobi] {
            let p = ClosedFormParams { preconditioner: pc, ..ClosedFormParams::pymatting() };
            let (alpha, stats) = closed_form_alpha(image.view(), trimap.view(), None, &p);
            assert!(stats.converged, "{case}: {stats:?}");
            let err = max_abs_diff(&alpha, &reference);
            let sad: f32 = alpha.iter().zip(&reference).map(|(a, b)| (a - b).abs()).sum();
            eprintln!(
                "{case} ({pc:?}): closed form vs pymatting: max abs {err:.2e}, sum abs {sad:.2e} over {} unknowns ({} CG iterations)",
                stats.unknowns, stats.iterations
            );
            assert!(err <= ALPHA_TOL, "{case}: max |ours - pymatting| = {err:.3e} > {ALPHA_TOL:e}");
        }
    }
}

#[test]
fn foreground_matches_pymatting() {
    let dir = fixtures();
    for case in CASES {
        let d = dir.join(case);
        let image = load3(&d.join("image.npy"));
        let alpha = load2(&d.join("alpha.npy"));
        let (fg, bg) = estimate_foreground_ml(image.view(), alpha.view(), &ForegroundParams::pymatting());
        let (ef, eb) = (max_abs_diff(&fg, &load3(&d.join("fg_ml.npy"))), max_abs_diff(&bg, &load3(&d.join("bg_ml.npy"))));
        eprintln!("{case}: foreground vs pymatting: max abs F {ef:.2e}, B {eb:.2e}");
        assert!(ef <= FG_TOL && eb <= FG_TOL, "{case}: max |ours - pymatting| F {ef:.3e}, B {eb:.3e} > {FG_TOL:e}");
    }
}
