//! Preconditioned conjugate gradients (Hestenes & Stiefel), the iteration of pymatting's
//! `solver.cg` (same stopping rule: `‖r‖ < atol` or `‖r‖ < rtol · ‖b‖`), with parallel
//! vector operations and deterministic reductions.
use super::image::dot;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SolveStats {
    /// Unknowns of the system.
    pub unknowns: usize,
    /// Iterations run.
    pub iterations: usize,
    /// Final `‖r‖ / ‖b‖` (0 when `b` is 0).
    pub relative_residual: f64,
    /// Whether the tolerance was reached within the iteration limit.
    pub converged: bool,
    /// The diagonal shift the incomplete Cholesky factor took (`None`: Jacobi was used).
    pub ichol_shift: Option<f64>,
    /// Milliseconds spent assembling the system.
    pub assemble_ms: f64,
    /// Milliseconds spent assembling the system and the preconditioner.
    pub setup_ms: f64,
    /// Milliseconds spent iterating.
    pub solve_ms: f64,
}

/// The stopping rule and iteration limit of [`pcg`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
    pub max_iter: usize,
}

/// `y ← y + s·x`, in parallel.
fn axpy(y: &mut [f64], s: f64, x: &[f64]) {
    y.par_iter_mut().zip(x.par_iter()).for_each(|(y, x)| *y += s * x);
}

/// Solves `A x = b` for symmetric positive definite `A` by preconditioned conjugate
/// gradients, starting from the `x` given. `apply(v, out)` writes `A v`; `precond(r, out)`
/// writes `M⁻¹ r`. Returns how it ended; `x` holds the last iterate either way.
pub fn pcg(
    apply: impl Fn(&[f64], &mut [f64]),
    precond: impl Fn(&[f64], &mut [f64]),
    b: &[f64],
    x: &mut [f64],
    tol: Tolerance,
) -> SolveStats {
    let n = b.len();
    let norm_b = dot(b, b).sqrt();
    let mut stats = SolveStats { unknowns: n, ..Default::default() };
    let rel = |norm_r: f64| if norm_b > 0.0 { norm_r / norm_b } else { 0.0 };
    let done = |norm_r: f64| norm_r < tol.atol || norm_r < tol.rtol * norm_b;
    let mut r = vec![0f64; n];
    apply(x, &mut r);
    r.par_iter_mut().zip(b.par_iter()).for_each(|(r, b)| *r = b - *r);
    let mut norm_r = dot(&r, &r).sqrt();
    stats.relative_residual = rel(norm_r);
    if n == 0 || done(norm_r) {
        stats.converged = true;
        return stats;
    }
    let mut z = vec![0f64; n];
    precond(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut ap = vec![0f64; n];
    for it in 1..=tol.max_iter {
        apply(&p, &mut ap);
        let alpha = rz / dot(&p, &ap);
        axpy(x, alpha, &p);
        axpy(&mut r, -alpha, &ap);
        norm_r = dot(&r, &r).sqrt();
        stats.iterations = it;
        stats.relative_residual = rel(norm_r);
        if done(norm_r) {
            stats.converged = true;
            return stats;
        }
        precond(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        p.par_iter_mut().zip(z.par_iter()).for_each(|(p, z)| *p = z + beta * *p);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_tridiagonal_system() {
        // 1-D Poisson matrix tridiag(-1, 2, -1), n = 50, with a Jacobi preconditioner.
        let n = 50;
        let apply = |v: &[f64], out: &mut [f64]| {
            for i in 0..n {
                let l = if i > 0 { v[i - 1] } else { 0.0 };
                let r = if i + 1 < n { v[i + 1] } else { 0.0 };
                out[i] = 2.0 * v[i] - l - r;
            }
        };
        let want: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).sin()).collect();
        let mut b = vec![0.0; n];
        apply(&want, &mut b);
        let mut x = vec![0.0; n];
        let tol = Tolerance { rtol: 1e-12, atol: 0.0, max_iter: 200 };
        let st = pcg(apply, |r: &[f64], z: &mut [f64]| z.iter_mut().zip(r).for_each(|(z, r)| *z = r / 2.0), &b, &mut x, tol);
        assert!(st.converged, "{st:?}");
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9);
        }
    }
}
