//! Parity of `tracker::kalman` (SAMURAI §4.1 motion model) with SAMURAI's
//! `sam2/utils/kalman_filter.py` `KalmanFilter`: `tests/tracker/kalman_reference.py` drives the
//! reference through ~700 initiate / predict / update steps (re-initiation, empty and
//! zero-height boxes, IoU against six candidates including the empty box) and this test
//! replays the same inputs, read back from the npz, comparing every intermediate in f64.
use crate::common;

use samurai_engine::tracker::kalman::{compute_iou, xyah_to_xyxy, xyxy_to_xyah, BoxXyxy, KalmanFilter, KalmanState};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Both sides compute in f64, so the bound is far tighter than the project's fp32 one:
/// max |ours − ref| ≤ 1e-9 · max(1, max |ref|) per recorded quantity.
const REL_TOL: f64 = 1e-9;

fn values(npz: &HashMap<String, Tensor>, key: &str) -> Vec<f64> {
    let t = npz.get(key).unwrap_or_else(|| panic!("kalman.npz has no array {key}"));
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("npz array to Vec<f64>")
}

fn boxes(flat: &[f64]) -> Vec<BoxXyxy> {
    flat.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

/// Everything the reference recorded after one step, flattened in the npz layout.
#[derive(Default)]
struct Recorded {
    xyah: Vec<f64>,
    mean: Vec<f64>,
    cov: Vec<f64>,
    proj_mean: Vec<f64>,
    proj_cov: Vec<f64>,
    iou: Vec<f64>,
    pred_xyxy: Vec<f64>,
}

impl Recorded {
    fn push(&mut self, kf: &KalmanFilter, s: &KalmanState, input: BoxXyxy, cands: &[BoxXyxy]) {
        let (pm, pc) = kf.project(s);
        let m4 = [s.mean[0], s.mean[1], s.mean[2], s.mean[3]];
        self.xyah.extend(xyxy_to_xyah(input));
        self.mean.extend(s.mean);
        self.cov.extend(s.covariance.iter().flatten());
        self.proj_mean.extend(pm);
        self.proj_cov.extend(pc.iter().flatten());
        self.iou.extend(compute_iou(m4, cands));
        self.pred_xyxy.extend(xyah_to_xyxy(m4));
    }
}

/// Replays the reference's op sequence from its recorded inputs.
fn replay(npz: &HashMap<String, Tensor>) -> Recorded {
    let ops = values(npz, "op");
    let inputs = boxes(&values(npz, "box"));
    let cands = boxes(&values(npz, "cands"));
    let per_row = cands.len() / ops.len();
    let kf = KalmanFilter::default();
    let mut state: Option<KalmanState> = None;
    let mut out = Recorded::default();
    for (i, &op) in ops.iter().enumerate() {
        let prev = state.as_ref();
        let need = || prev.unwrap_or_else(|| panic!("step {i}: op {op} before initiate"));
        let next = match op as i64 {
            0 => kf.initiate(xyxy_to_xyah(inputs[i])),
            1 => kf.predict(need()),
            2 => kf.update(need(), xyxy_to_xyah(inputs[i])).unwrap_or_else(|e| panic!("step {i}: {e}")),
            other => panic!("step {i}: unknown op {other}"),
        };
        out.push(&kf, &next, inputs[i], &cands[i * per_row..(i + 1) * per_row]);
        state = Some(next);
    }
    out
}

#[test]
fn kalman_matches_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = common::root().join("tests/tracker/kalman_reference.py");
    let summary = common::run_python(&script, &[dir.path().to_str().expect("utf-8 tempdir")]);
    eprintln!("reference: {}", summary.trim());
    let npz = common::read_npz(&dir.path().join("kalman.npz"));

    let ops = values(&npz, "op");
    assert!(ops.len() >= 300, "only {} steps recorded", ops.len());
    for code in [0.0, 1.0, 2.0] {
        assert!(ops.iter().filter(|&&o| o == code).count() > 1, "op {code} barely exercised");
    }
    let ours = replay(&npz);
    let fields: [(&str, &Vec<f64>); 7] = [
        ("xyah", &ours.xyah),
        ("mean", &ours.mean),
        ("cov", &ours.cov),
        ("proj_mean", &ours.proj_mean),
        ("proj_cov", &ours.proj_cov),
        ("iou", &ours.iou),
        ("pred_xyxy", &ours.pred_xyxy),
    ];
    for (name, v) in fields {
        let reference = npz[name].to_kind(Kind::Double);
        let mine = Tensor::from_slice(v).reshape(reference.size());
        common::assert_close(name, &mine, &reference, REL_TOL);
    }
}
