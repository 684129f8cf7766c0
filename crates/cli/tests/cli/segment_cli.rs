//! `samurai-roto segment` against the reference image predictor, and strict loading.
//! Acceptance (issue 2): on an image and box the network has never seen, with a random-init
//! tiny checkpoint written by the reference, logits within 1e-3 (absolute) of
//! `SAM2ImagePredictor.predict(box=..., multimask_output=False, return_logits=True)` and a
//! binary mask IoU ≥ 0.999, at image sizes 256 and 1024; the same with clicks (issue 10):
//! a box with a positive and a negative click at 256, three clicks without a box at 1024
//! (`predict(point_coords=..., point_labels=..., box=...)`). A checkpoint with a renamed or a
//! reshaped tensor, or cut in half, is rejected with an error naming the problem.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Kind;

const LOGIT_TOL: f64 = 1e-3;
const MIN_IOU: f64 = 0.999;

/// The official-format tiny checkpoint of the block fixtures at `n` (generated on demand).
fn checkpoint(n: i64) -> PathBuf {
    common::tiny_checkpoint(n)
}

fn segment(ckpt: &Path, image: &Path, bbox: &str, n: i64, out: &Path) -> std::process::Output {
    segment_with(ckpt, image, &["--box", bbox], n, out)
}

/// `segment` with the prompt arguments `prompt` (`--box ...`, `--point ...`).
fn segment_with(ckpt: &Path, image: &Path, prompt: &[&str], n: i64, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_samurai-roto"))
        .args(["--threads", "2", "segment", "--checkpoint"])
        .arg(ckpt)
        .arg("--image")
        .arg(image)
        .args(prompt)
        // Parity is fp32's: pinned, since auto would choose bf16 on a CPU with AMX.
        .args(["--image-size", &n.to_string(), "--device", "cpu", "--precision", "fp32"])
        .arg("--out")
        .arg(out.join("mask.png"))
        .arg("--logits")
        .arg(out.join("logits.npy"))
        .output()
        .expect("run samurai-roto")
}

fn compare_with_reference(n: i64, image: &Path, bbox: &str) {
    compare_prompts_with_reference(n, image, Some(bbox), &[]);
}

/// `points`: `x,y,L` clicks (L 1 positive, 0 negative).
fn compare_prompts_with_reference(n: i64, image: &Path, bbox: Option<&str>, points: &[&str]) {
    let ckpt = checkpoint(n);
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference.npy");
    let n_text = n.to_string();
    let mut ref_args = vec!["predict", "--checkpoint", ckpt.to_str().unwrap(), "--image-size", &n_text, "--image", image.to_str().unwrap()];
    let mut our_args = Vec::new();
    if let Some(b) = bbox {
        ref_args.extend(["--box", b]);
        our_args.extend(["--box", b]);
    }
    let joined = points.join(";");
    if !points.is_empty() {
        ref_args.extend(["--points", &joined]);
    }
    for p in points {
        our_args.extend(["--point", p]);
    }
    ref_args.extend(["--out", reference.to_str().unwrap()]);
    common::run_python(&common::root().join("tests/parity/make_segment_reference.py"), &ref_args);
    let out = segment_with(&ckpt, image, &our_args, n, tmp.path());
    assert!(out.status.success(), "segment failed: {}", String::from_utf8_lossy(&out.stderr));
    let ours = common::read_npy(&tmp.path().join("logits.npy"));
    let theirs = common::read_npy(&reference);
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
fn segment_with_a_box_and_clicks_matches_the_reference_at_256() {
    compare_prompts_with_reference(256, &common::clips().join("dog/00150.jpg"), Some("225,215,445,565"), &["335.5,390.5,1", "240,230,0"]);
}

#[test]
fn segment_with_three_clicks_matches_the_reference_at_1024() {
    compare_prompts_with_reference(1024, &common::clips().join("dog/00210.jpg"), None, &["578,465,1", "600.5,420.5,1", "800,300,0"]);
}

#[test]
fn bad_clicks_are_clear_errors() {
    let ckpt = checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let image = common::clips().join("bedroom/00000.jpg");
    let cases: [(&[&str], &str); 4] = [
        (&["--point", "970,10,1"], "(970, 10) lies outside the 960x540 image"),
        (&["--point", "10,10,2"], "label '2' must be 1 (positive) or 0 (negative)"),
        (&["--point", "10,10"], "expected x,y,L"),
        (&[], "needs a prompt"),
    ];
    for (args, needle) in cases {
        let out = segment_with(&ckpt, &image, args, 256, tmp.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: '{needle}' not in {stderr}");
    }
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

/// The bf16 path runs on every CPU: it must produce a mask close to fp32's. `auto` gives
/// exactly what it resolves to on this machine (from its CPU flags), and says which.
#[test]
fn bf16_precision_runs_and_stays_close_to_fp32() {
    let ckpt = checkpoint(256);
    let image = common::clips().join("bedroom/00100.jpg");
    let tmp = tempfile::tempdir().unwrap();
    let run = |precision: &str| {
        let dir = tmp.path().join(precision);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_samurai-roto"))
            .args(["--threads", "2", "--log", "info", "segment", "--checkpoint"])
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
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{precision}: {stderr}");
        (common::read_npy(&dir.join("logits.npy")), stderr)
    };
    let ((a, _), (b, _)) = (run("fp32"), run("bf16"));
    assert_eq!(b.kind(), Kind::Float, "logits are written as float32 in every precision");
    let (ma, mb) = (a.gt(0.0), b.gt(0.0));
    let inter = ma.logical_and(&mb).sum(Kind::Int64).int64_value(&[]) as f64;
    let union = ma.logical_or(&mb).sum(Kind::Int64).int64_value(&[]) as f64;
    let iou = inter / union.max(1.0);
    eprintln!("bf16 vs fp32 mask IoU {iou:.4}, max |Δlogit| {:.3e}", common::max_abs_diff(&a, &b));
    assert!(iou >= 0.9, "bf16 mask IoU {iou} against fp32");

    let (auto, log) = run("auto");
    let chosen = samurai_core::settings::Precision::resolve(None, false);
    assert!(log.contains(&format!("precision {chosen}")), "the log does not say what auto chose ({chosen}):\n{log}");
    let same = if chosen.precision == samurai_core::settings::Precision::Bf16 { &b } else { &a };
    assert!(auto.equal(same), "auto's logits are not {}'s", chosen.precision);
}
