//! SAMURAI motion model (SAMURAI §4.1, "motion modeling"): a constant-velocity Kalman filter
//! over boxes, ported from SAMURAI's `sam2/utils/kalman_filter.py` class `KalmanFilter`
//! (itself the DeepSORT/ByteTrack filter) in plain `f64`, plus the box helpers that
//! `sam2_base.py` `_forward_sam_heads` uses around it (`xyxy_to_xyah`, `xyah_to_xyxy`,
//! `compute_iou`, and the min/max box of a mask's positive pixels).
//!
//! State: `[cx, cy, a, h, vx, vy, va, vh]` where `a = w / h`. The measurement is the first
//! four entries. All noise levels scale with the current height estimate `h`.

use crate::error::{Error, Result};

/// An axis-aligned box `[x1, y1, x2, y2]` (SAMURAI uses inclusive pixel min/max, no +1).
pub type BoxXyxy = [f64; 4];

type Vec4 = [f64; 4];
type Vec8 = [f64; 8];
type Mat4 = [[f64; 4]; 4];
type Mat8 = [[f64; 8]; 8];

/// Mean and covariance of the 8-d box state.
#[derive(Clone, Debug, PartialEq)]
pub struct KalmanState {
    pub mean: [f64; 8],
    pub covariance: [[f64; 8]; 8],
}

/// The filter's fixed model: transition matrix and the noise weights relative to `h`.
#[derive(Clone, Debug, PartialEq)]
pub struct KalmanFilter {
    /// Constant-velocity transition `F` (identity with `dt` coupling position to velocity).
    motion: Mat8,
    /// Position-like noise weight σp (1/20 in the reference).
    std_weight_position: f64,
    /// Velocity noise weight σv (1/160 in the reference).
    std_weight_velocity: f64,
}

impl Default for KalmanFilter {
    fn default() -> Self {
        let dt = 1.0;
        let mut motion = identity8();
        for (i, row) in motion.iter_mut().take(4).enumerate() {
            row[4 + i] = dt;
        }
        KalmanFilter { motion, std_weight_position: 1.0 / 20.0, std_weight_velocity: 1.0 / 160.0 }
    }
}

impl KalmanFilter {
    /// Starts a track at `measurement_xyah` with zero velocity and a diagonal covariance
    /// whose standard deviations are proportional to the measured height.
    pub fn initiate(&self, measurement_xyah: [f64; 4]) -> KalmanState {
        let h = measurement_xyah[3];
        let (p, v) = (self.std_weight_position, self.std_weight_velocity);
        let std = [2.0 * p * h, 2.0 * p * h, 1e-2, 2.0 * p * h, 10.0 * v * h, 10.0 * v * h, 1e-5, 10.0 * v * h];
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&measurement_xyah);
        KalmanState { mean, covariance: diag_squared(&std) }
    }

    /// One constant-velocity step: `x' = F x`, `P' = F P Fᵀ + Q`, where `Q` is built from
    /// the height of the state *before* the step.
    pub fn predict(&self, s: &KalmanState) -> KalmanState {
        let h = s.mean[3];
        let (p, v) = (self.std_weight_position, self.std_weight_velocity);
        let std = [p * h, p * h, 1e-2, p * h, v * h, v * h, 1e-5, v * h];
        let q = diag_squared(&std);
        let mean = mat8_vec(&self.motion, &s.mean);
        let fp = mat8_mul(&self.motion, &s.covariance);
        let fpft = mat8_mul(&fp, &transpose8(&self.motion));
        let mut covariance = fpft;
        for i in 0..8 {
            for j in 0..8 {
                covariance[i][j] += q[i][j];
            }
        }
        KalmanState { mean, covariance }
    }

    /// Maps the state into measurement space: `(H x, H P Hᵀ + R)` with measurement noise
    /// `R` built from the state's height.
    pub fn project(&self, s: &KalmanState) -> ([f64; 4], [[f64; 4]; 4]) {
        let h = s.mean[3];
        let p = self.std_weight_position;
        let r = [p * h, p * h, 1e-1, p * h];
        let mut mean = [0.0; 4];
        mean.copy_from_slice(&s.mean[..4]);
        let mut cov = [[0.0; 4]; 4];
        for i in 0..4 {
            cov[i].copy_from_slice(&s.covariance[i][..4]);
            cov[i][i] += r[i] * r[i];
        }
        (mean, cov)
    }

    /// Measurement correction. The gain `K = P Hᵀ S⁻¹` is obtained, like the reference's
    /// `cho_factor`/`cho_solve`, from a lower Cholesky factor of the innovation covariance
    /// `S` (only its lower triangle is read). Fails, as the reference raises, when `S` is
    /// not positive definite (only possible with non-finite or degenerate inputs).
    pub fn update(&self, s: &KalmanState, measurement_xyah: [f64; 4]) -> Result<KalmanState> {
        let (proj_mean, proj_cov) = self.project(s);
        let chol = cholesky4(&proj_cov)
            .ok_or_else(|| Error::invalid("Kalman innovation covariance", format!("not positive definite: {proj_cov:?}")))?;
        let gain = kalman_gain(&chol, &s.covariance);
        let innovation: Vec4 = std::array::from_fn(|i| measurement_xyah[i] - proj_mean[i]);
        let mean: Vec8 = std::array::from_fn(|i| s.mean[i] + (0..4).map(|k| innovation[k] * gain[i][k]).sum::<f64>());
        let ks = mat_8x4_times_4x4(&gain, &proj_cov);
        let mut covariance = s.covariance;
        for (i, row) in covariance.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                *c -= (0..4).map(|k| ks[i][k] * gain[j][k]).sum::<f64>();
            }
        }
        Ok(KalmanState { mean, covariance })
    }
}

/// Gain `K` (8×4): solves `S Kᵀ = (P Hᵀ)ᵀ` column by column with the factor `L` of `S`.
fn kalman_gain(chol: &Mat4, cov: &Mat8) -> [[f64; 4]; 8] {
    let mut gain = [[0.0; 4]; 8];
    for (i, row) in gain.iter_mut().enumerate() {
        // Column i of (P Hᵀ)ᵀ is row i of P restricted to the measured entries.
        let rhs: Vec4 = std::array::from_fn(|k| cov[i][k]);
        *row = cho_solve4(chol, &rhs);
    }
    gain
}

/// Lower Cholesky factor of a 4×4 matrix read from its lower triangle; `None` unless every
/// pivot is strictly positive (and finite).
fn cholesky4(a: &Mat4) -> Option<Mat4> {
    let mut l = [[0.0; 4]; 4];
    for j in 0..4 {
        let d = a[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        l[j][j] = d.sqrt();
        for i in j + 1..4 {
            let off = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = off / l[j][j];
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b` by forward then backward substitution.
fn cho_solve4(l: &Mat4, b: &Vec4) -> Vec4 {
    let mut y = [0.0; 4];
    for i in 0..4 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        x[i] = (y[i] - (i + 1..4).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

/// `[x1, y1, x2, y2]` → `[cx, cy, w / h, h]`; a zero height is replaced by 1 (so the aspect
/// becomes `w`), exactly as the reference does. Widths/heights are `x2 - x1`, no +1.
pub fn xyxy_to_xyah(b: BoxXyxy) -> [f64; 4] {
    let [x1, y1, x2, y2] = b;
    let w = x2 - x1;
    let h = if y2 - y1 == 0.0 { 1.0 } else { y2 - y1 };
    [(x1 + x2) / 2.0, (y1 + y2) / 2.0, w / h, h]
}

/// `[cx, cy, a, h]` → `[x1, y1, x2, y2]` with width `a · h`.
pub fn xyah_to_xyxy(m: [f64; 4]) -> BoxXyxy {
    let [xc, yc, a, h] = m;
    [xc - a * h / 2.0, yc - h / 2.0, xc + a * h / 2.0, yc + h / 2.0]
}

/// IoU of the filter's predicted box with each candidate box, as the reference's
/// `KalmanFilter.compute_iou`: note `pred_xyah` is the state's `[cx, cy, a, h]` (the first
/// four entries of the mean), converted to xyxy here, while candidates are xyxy.
pub fn compute_iou(pred_xyah: [f64; 4], candidates: &[BoxXyxy]) -> Vec<f64> {
    let pred = xyah_to_xyxy(pred_xyah);
    candidates.iter().map(|c| box_iou(&pred, c)).collect()
}

/// IoU of two xyxy boxes with the reference's conventions: a candidate equal to
/// `[0, 0, 0, 0]` (the empty-mask box) scores 0, areas are `(x2-x1)(y2-y1)` without
/// clamping, and a zero union scores 0.
pub fn box_iou(a: &BoxXyxy, candidate: &BoxXyxy) -> f64 {
    if candidate.iter().all(|&v| v == 0.0) {
        return 0.0;
    }
    let [x1, y1, x2, y2] = *a;
    let [u1, v1, u2, v2] = *candidate;
    let inter = (x2.min(u2) - x1.max(u1)).max(0.0) * (y2.min(v2) - y1.max(v1)).max(0.0);
    let union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter;
    if union != 0.0 {
        inter / union
    } else {
        0.0
    }
}

fn identity8() -> Mat8 {
    std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }))
}

fn diag_squared(std: &Vec8) -> Mat8 {
    std::array::from_fn(|i| std::array::from_fn(|j| if i == j { std[i] * std[i] } else { 0.0 }))
}

fn transpose8(m: &Mat8) -> Mat8 {
    std::array::from_fn(|i| std::array::from_fn(|j| m[j][i]))
}

fn mat8_mul(a: &Mat8, b: &Mat8) -> Mat8 {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..8).map(|k| a[i][k] * b[k][j]).sum()))
}

fn mat8_vec(a: &Mat8, x: &Vec8) -> Vec8 {
    std::array::from_fn(|i| (0..8).map(|k| a[i][k] * x[k]).sum())
}

fn mat_8x4_times_4x4(a: &[[f64; 4]; 8], b: &Mat4) -> [[f64; 4]; 8] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..4).map(|k| a[i][k] * b[k][j]).sum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn box_conversions() {
        assert_eq!(xyxy_to_xyah([10.0, 20.0, 30.0, 60.0]), [20.0, 40.0, 0.5, 40.0]);
        // Zero height becomes 1, so the aspect is the width itself.
        assert_eq!(xyxy_to_xyah([5.0, 7.0, 9.0, 7.0]), [7.0, 7.0, 4.0, 1.0]);
        assert_eq!(xyxy_to_xyah([0.0; 4]), [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(xyah_to_xyxy([20.0, 40.0, 0.5, 40.0]), [10.0, 20.0, 30.0, 60.0]);
    }

    #[test]
    fn initiate_and_predict_hand_values() {
        let kf = KalmanFilter::default();
        let s = kf.initiate([20.0, 40.0, 0.5, 40.0]);
        assert_eq!(s.mean, [20.0, 40.0, 0.5, 40.0, 0.0, 0.0, 0.0, 0.0]);
        let diag: Vec<f64> = (0..8).map(|i| s.covariance[i][i]).collect();
        let want = [16.0, 16.0, 1e-4, 16.0, 6.25, 6.25, 1e-10, 6.25];
        assert!(diag.iter().zip(want).all(|(a, b)| close(*a, b)), "{diag:?}");
        let p = kf.predict(&s);
        assert_eq!(p.mean, s.mean);
        // x: 16 (pos) + 6.25 (vel) + (40/20)^2 (process); x–vx: 6.25; vx: 6.25 + (40/160)^2.
        assert!(close(p.covariance[0][0], 26.25));
        assert!(close(p.covariance[0][4], 6.25) && close(p.covariance[4][0], 6.25));
        assert!(close(p.covariance[4][4], 6.3125));
        assert!(close(p.covariance[2][2], 2e-4 + 1e-10));
        let moving = KalmanState { mean: [1.0, 2.0, 0.5, 10.0, 3.0, -1.0, 0.25, 2.0], ..s };
        assert_eq!(kf.predict(&moving).mean, [4.0, 1.0, 0.75, 12.0, 3.0, -1.0, 0.25, 2.0]);
    }

    #[test]
    fn project_and_update_hand_values() {
        let kf = KalmanFilter::default();
        let s = kf.initiate([20.0, 40.0, 0.5, 40.0]);
        let (m, c) = kf.project(&s);
        assert_eq!(m, [20.0, 40.0, 0.5, 40.0]);
        assert!(close(c[0][0], 20.0) && close(c[2][2], 1e-4 + 1e-2));
        // Decoupled scalar case: K_x = 16/20, new var = 16 - 0.8·20·0.8.
        let u = kf.update(&s, [25.0, 40.0, 0.5, 40.0]).unwrap();
        assert!(close(u.mean[0], 24.0) && close(u.mean[1], 40.0) && u.mean[4] == 0.0);
        assert!(close(u.covariance[0][0], 3.2));
        // After a predict, velocity picks up K_vx = 6.25 / (26.25 + 4).
        let p = kf.predict(&s);
        let u = kf.update(&p, [25.0, 40.0, 0.5, 40.0]).unwrap();
        assert!(close(u.mean[4], 5.0 * 6.25 / 30.25));
        assert!(close(u.mean[0], 20.0 + 5.0 * 26.25 / 30.25));
        // Measuring exactly the mean leaves it unchanged.
        assert_eq!(kf.update(&p, [20.0, 40.0, 0.5, 40.0]).unwrap().mean, p.mean);
    }

    #[test]
    fn update_rejects_non_positive_definite() {
        let kf = KalmanFilter::default();
        let mut s = kf.initiate([20.0, 40.0, 0.5, 40.0]);
        s.covariance[1][1] = f64::NAN;
        assert!(kf.update(&s, [20.0, 40.0, 0.5, 40.0]).is_err());
        s.covariance[1][1] = -100.0;
        assert!(kf.update(&s, [20.0, 40.0, 0.5, 40.0]).is_err());
    }

    #[test]
    fn iou_cases() {
        let pred = [20.0, 40.0, 0.5, 40.0]; // xyxy [10, 20, 30, 60]
        let cands = [[10.0, 20.0, 30.0, 60.0], [20.0, 20.0, 40.0, 60.0], [0.0; 4], [100.0, 100.0, 120.0, 130.0], [15.0, 30.0, 15.0, 50.0]];
        let iou = compute_iou(pred, &cands);
        assert_eq!(iou.len(), 5);
        assert!(close(iou[0], 1.0) && close(iou[1], 1.0 / 3.0));
        assert_eq!(&iou[2..], &[0.0, 0.0, 0.0]);
        // Zero union (degenerate prediction and candidate) scores 0, not NaN.
        assert_eq!(compute_iou([5.0, 5.0, 0.0, 0.0], &[[5.0, 5.0, 5.0, 5.0]]), vec![0.0]);
        // The empty box scores 0 even when it overlaps the prediction.
        assert_eq!(compute_iou([0.0, 0.0, 1.0, 2.0], &[[0.0; 4]]), vec![0.0]);
        assert!(compute_iou(pred, &[]).is_empty());
    }

    fn is_positive_definite8(a: &Mat8) -> bool {
        let mut l = [[0.0; 8]; 8];
        for j in 0..8 {
            let d = a[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
            if d.is_nan() || d <= 0.0 {
                return false;
            }
            l[j][j] = d.sqrt();
            for i in j + 1..8 {
                l[i][j] = (a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>()) / l[j][j];
            }
        }
        true
    }

    #[test]
    fn covariance_stays_symmetric_positive_definite() {
        let kf = KalmanFilter::default();
        let mut seed = 12345u64;
        let mut noise = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut s = kf.initiate(xyxy_to_xyah([100.0, 80.0, 160.0, 200.0]));
        for t in 0..500 {
            s = kf.predict(&s);
            if t % 7 != 3 {
                let x = 100.0 + 0.5 * t as f64 + 6.0 * noise();
                let b = [x, 80.0 + 4.0 * noise(), x + 60.0 + 4.0 * noise(), 200.0 + 4.0 * noise()];
                s = kf.update(&s, xyxy_to_xyah(b.map(f64::round))).unwrap();
            }
            let c = &s.covariance;
            for i in 0..8 {
                for j in 0..8 {
                    let tol = 1e-9 * (c[i][i] * c[j][j]).sqrt();
                    assert!((c[i][j] - c[j][i]).abs() <= tol, "step {t}: asymmetric at ({i},{j})");
                }
            }
            assert!(is_positive_definite8(c), "step {t}: covariance not positive definite");
        }
        assert!((s.mean[4] - 0.5).abs() < 0.2, "velocity estimate {} should track 0.5", s.mean[4]);
    }
}
