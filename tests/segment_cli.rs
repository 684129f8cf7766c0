//! `samurai-roto segment` against the reference image predictor, and strict loading.
//! Acceptance (issue 2): on an image and box the network has never seen, with a random-init
//! tiny checkpoint written by the reference, logits within 1e-3 (absolute) of
//! `SAM2ImagePredictor.predict(box=..., multimask_output=False, return_logits=True)` and a
//! binary mask IoU ≥ 0.999, at image sizes 256 and 1024. A checkpoint with a renamed or a
//! reshaped tensor, or cut in half, is rejected with an error naming the problem.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Kind, Tensor};

const LOGIT_TOL: f64 = 1e-3;
const MIN_IOU: f64 = 0.999;

/// The official-format tiny checkpoint of the block fixtures at `n` (generated on demand).
fn checkpoint(n: i64) -> PathBuf {
    common::tiny_checkpoint(n)
}

fn segment(ckpt: &Path, image: &Path, bbox: &str, n: i64, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_samurai-roto"))
        .args(["--threads", "2", "segment", "--checkpoint"])
        .arg(ckpt)
        .arg("--image")
        .arg(image)
        .args(["--box", bbox, "--image-size", &n.to_string(), "--device", "cpu"])
        .arg("--out")
        .arg(out.join("mask.png"))
        .arg("--logits")
        .arg(out.join("logits.npy"))
        .output()
        .expect("run samurai-roto")
}

fn compare_with_reference(n: i64, image: &Path, bbox: &str) {
    let ckpt = checkpoint(n);
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference.npy");
    common::run_python(
        &common::root().join("tests/parity/make_segment_reference.py"),
        &[
            "predict",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--image-size",
            &n.to_string(),
            "--image",
            image.to_str().unwrap(),
            "--box",
            bbox,
            "--out",
            reference.to_str().unwrap(),
        ],
    );
    let out = segment(&ckpt, image, bbox, n, tmp.path());
    assert!(out.status.success(), "segment failed: {}", String::from_utf8_lossy(&out.stderr));
    let ours = Tensor::read_npy(tmp.path().join("logits.npy")).unwrap();
    let theirs = Tensor::read_npy(&reference).unwrap();
    assert_eq!(ours.size(), theirs.size());
    let err = common::max_abs_diff(&ours, &theirs);
    let (a, b) = (ours.gt(0.0), theirs.gt(0.0));
    let inter = a.logical_and(&b).sum(Kind::Int64).int64_value(&[]) as f64;
    let union = a.logical_or(&b).sum(Kind::Int64).int64_value(&[]) as f64;
    let iou = if union == 0.0 { 1.0 } else { inter / union };
    eprintln!("segment@{n}: max |Δlogit| {err:.3e} (tol {LOGIT_TOL:e}), mask IoU {iou:.6} (min {MIN_IOU}), {union} px in union");
    assert!(err <= LOGIT_TOL, "segment@{n}: max |Δlogit| {err:.3e} > {LOGIT_TOL:e}");
    assert!(iou >= MIN_IOU, "segment@{n}: IoU {iou} < {MIN_IOU}");
    let png = image::open(tmp.path().join("mask.png")).unwrap().into_luma8();
    let png_on = png.pixels().filter(|p| p.0[0] == 255).count() as i64;
    assert_eq!(png_on, a.sum(Kind::Int64).int64_value(&[]), "mask.png agrees with the logits");
}

#[test]
fn segment_matches_the_reference_image_predictor_at_256() {
    // A dog frame and the woman's box: neither was used to build any fixture.
    compare_with_reference(256, &common::clips().join("dog/00150.jpg"), "225,215,445,565");
}

#[test]
fn segment_matches_the_reference_image_predictor_at_1024() {
    compare_with_reference(1024, &common::clips().join("dog/00210.jpg"), "453,375,703,555");
}

#[test]
fn damaged_checkpoints_are_rejected_by_name() {
    let ckpt = checkpoint(256);
    let dir = common::fixtures().join("segment_corrupt");
    common::run_python(
        &common::root().join("tests/parity/make_segment_reference.py"),
        &["corrupt", "--checkpoint", ckpt.to_str().unwrap(), "--out-dir", dir.to_str().unwrap()],
    );
    let image = common::clips().join("bedroom/00000.jpg");
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "renamed.pt",
            vec![
                "missing key 'sam_mask_decoder.iou_prediction_head.layers.0.weight'",
                "unexpected key 'sam_mask_decoder.iou_prediction_head.layers.0.weight_renamed'",
            ],
        ),
        ("reshaped.pt", vec!["'memory_encoder.out_proj.weight': shape [32, 256] in file, model expects [64, 256, 1, 1]"]),
        ("truncated.pt", vec!["truncated.pt"]),
        ("no_such_file.pt", vec!["not found", "sam2.1_hiera_tiny.pt"]),
    ];
    for (file, needles) in cases {
        let out = segment(&dir.join(file), &image, "310,0,515,400", 256, tmp.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was accepted");
        assert_eq!(out.status.code(), Some(1), "{file}: a clean error exit, not a crash: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{file}: '{n}' not in:\n{stderr}");
        }
    }
}

#[test]
fn bad_boxes_and_images_are_clear_errors() {
    let ckpt = checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let image = common::clips().join("bedroom/00000.jpg");
    for (bbox, needle) in [("2000,10,2100,50", "outside"), ("50,10,20,40", "empty"), ("1,2,3", "four")] {
        let out = segment(&ckpt, &image, bbox, 256, tmp.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bbox}: {stderr}");
        assert!(stderr.contains(needle), "{bbox}: '{needle}' not in {stderr}");
    }
    let out = segment(&ckpt, &tmp.path().join("missing.jpg"), "1,1,5,5", 256, tmp.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jpg"));
}

#[test]
fn inspect_reports_size_and_counts() {
    let ckpt = checkpoint(256);
    let out = Command::new(env!("CARGO_BIN_EXE_samurai-roto")).args(["inspect", "--checkpoint"]).arg(&ckpt).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("model size: tiny"), "{stdout}");
    assert!(stdout.contains("tensors:    471"), "{stdout}");
    assert!(stdout.contains("load time:"), "{stdout}");
}

/// The bf16 path (meant for CUDA) runs on CPU here: it must produce a mask close to fp32's.
#[test]
fn bf16_precision_runs_and_stays_close_to_fp32() {
    let ckpt = checkpoint(256);
    let image = common::clips().join("bedroom/00100.jpg");
    let tmp32 = tempfile::tempdir().unwrap();
    let tmp16 = tempfile::tempdir().unwrap();
    let run = |dir: &Path, precision: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_samurai-roto"))
            .args(["--threads", "2", "segment", "--checkpoint"])
            .arg(&ckpt)
            .arg("--image")
            .arg(&image)
            .args(["--box", "310,0,515,400", "--image-size", "256", "--device", "cpu", "--precision", precision])
            .arg("--out")
            .arg(dir.join("mask.png"))
            .arg("--logits")
            .arg(dir.join("logits.npy"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{precision}: {}", String::from_utf8_lossy(&out.stderr));
        Tensor::read_npy(dir.join("logits.npy")).unwrap()
    };
    let (a, b) = (run(tmp32.path(), "fp32"), run(tmp16.path(), "bf16"));
    assert_eq!(b.kind(), Kind::Float, "logits are written as float32 in every precision");
    let (ma, mb) = (a.gt(0.0), b.gt(0.0));
    let inter = ma.logical_and(&mb).sum(Kind::Int64).int64_value(&[]) as f64;
    let union = ma.logical_or(&mb).sum(Kind::Int64).int64_value(&[]) as f64;
    let iou = inter / union.max(1.0);
    eprintln!("bf16 vs fp32 mask IoU {iou:.4}, max |Δlogit| {:.3e}", common::max_abs_diff(&a, &b));
    assert!(iou >= 0.9, "bf16 mask IoU {iou} against fp32");
}
