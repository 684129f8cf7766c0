//! Parity of the input pre-processing with the reference (`sam2/utils/misc.py`
//! `_load_img_as_tensor`, `sam2/utils/transforms.py` `SAM2Transforms`): frame decoding,
//! Pillow's bicubic resize and both input tensors, checked against what Pillow, torchvision
//! and the reference package compute on the sample clips (tests/image/reference_preprocess.py).
use crate::common;

use samurai_engine::image::{image_predictor_input_tensor, load_rgb8, resize_bicubic_pil, video_input_tensor, write_npy_f32, Rgb8Image};
use samurai_engine::Error;
use std::path::{Path, PathBuf};
use tch::Tensor;

fn script() -> PathBuf {
    common::root().join("tests/image/reference_preprocess.py")
}

fn frame(clip: &str, i: usize) -> PathBuf {
    common::clips().join(clip).join(format!("{i:05}.jpg"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("cannot create a temporary directory")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (pixels whose RGB differs, max abs channel difference) between two RGB buffers.
fn rgb_diff(ours: &[u8], reference: &[u8]) -> (usize, u8) {
    assert_eq!(ours.len(), reference.len(), "buffer sizes differ");
    let mut count = 0;
    let mut max = 0;
    for (a, b) in ours.chunks(3).zip(reference.chunks(3)) {
        let d = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        count += usize::from(d > 0);
        max = max.max(d);
    }
    (count, max)
}

/// Decodes the first `n` frames of a clip and requires them to equal Pillow's pixels.
fn assert_decode_exact(clip: &str, n: usize) {
    let dir = tempdir();
    let clip_dir = common::clips().join(clip);
    common::run_python(&script(), &["decode", dir.path().to_str().unwrap(), clip_dir.to_str().unwrap(), &n.to_string()]);
    for i in 0..n {
        let ours = load_rgb8(&frame(clip, i)).unwrap_or_else(|e| panic!("{e}"));
        let reference = read(&dir.path().join(format!("{i:05}.rgb")));
        let (count, max) = rgb_diff(&ours.data, &reference);
        assert_eq!((count, max), (0, 0), "{clip} frame {i}: {count} pixels differ from Pillow (max {max})");
    }
    eprintln!("decode {clip}: {n} frames bit-identical to Pillow");
}

#[test]
fn jpeg_decoding_matches_pillow_on_all_bedroom_frames() {
    assert_decode_exact("bedroom", 200);
}

#[test]
fn jpeg_decoding_matches_pillow_on_dog_frames() {
    assert_decode_exact("dog", 50);
}

#[test]
fn png_decoding_matches_pillow_convert_rgb() {
    let dir = tempdir();
    common::run_python(&script(), &["png", dir.path().to_str().unwrap(), common::clips().to_str().unwrap()]);
    for mode in ["rgb", "rgba", "l", "la", "p"] {
        let ours = load_rgb8(&dir.path().join(format!("{mode}.png"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ours.width, ours.height), (320, 240), "{mode}");
        let (count, max) = rgb_diff(&ours.data, &read(&dir.path().join(format!("{mode}.rgb"))));
        assert_eq!((count, max), (0, 0), "PNG mode {mode}: {count} pixels differ (max {max})");
    }
}

#[test]
fn bicubic_resize_matches_pillow_bit_for_bit() {
    let frames = [("bedroom", 0), ("bedroom", 123), ("dog", 0), ("dog", 200)];
    // Square targets (up- and down-scaling axes), odd sizes, single-axis resizes, and both
    // sides of Pillow 13's pass-order rule (vertical first iff the height shrinks by more
    // than twice the width's shrink: 760x140 from 960x540 is horizontal-first, 761x140 not).
    let sizes = [
        (256, 256),
        (512, 512),
        (1024, 1024),
        (333, 197),
        (97, 1500),
        (1, 1),
        (961, 540),
        (960, 7),
        (2000, 37),
        (900, 100),
        (1200, 500),
        (760, 140),
        (761, 140),
        (1280, 300),
        (1040, 380),
    ];
    let specs: Vec<String> = frames.iter().flat_map(|(c, f)| sizes.iter().map(move |(w, h)| format!("{c}/{f}/{w}x{h}"))).collect();
    let dir = tempdir();
    let clips = common::clips();
    let mut args = vec!["resize", dir.path().to_str().unwrap(), clips.to_str().unwrap()];
    args.extend(specs.iter().map(String::as_str));
    common::run_python(&script(), &args);
    for (clip, f) in frames {
        let img = load_rgb8(&frame(clip, f)).unwrap();
        for (w, h) in sizes {
            let ours = resize_bicubic_pil(&img, w, h);
            let reference = read(&dir.path().join(format!("{clip}_{f}_{w}x{h}.rgb")));
            let (count, max) = rgb_diff(&ours.data, &reference);
            assert_eq!((count, max), (0, 0), "{clip}/{f} → {w}x{h}: {count} pixels differ from Pillow (max {max})");
        }
    }
}

#[test]
fn portrait_frames_match_pillow_and_reference() {
    // Portrait footage shrinks the height most, which flips Pillow 13's pass order.
    tch::set_num_threads(2);
    let dir = tempdir();
    let clips = common::clips();
    common::run_python(&script(), &["portrait", dir.path().to_str().unwrap(), clips.to_str().unwrap(), "256", "512", "1024"]);
    let img = load_rgb8(&dir.path().join("portrait.png")).unwrap();
    assert_eq!((img.width, img.height), (540, 960));
    for s in [256u32, 512, 1024] {
        let (count, max) = rgb_diff(&resize_bicubic_pil(&img, s, s).data, &read(&dir.path().join(format!("portrait_{s}.rgb"))));
        assert_eq!((count, max), (0, 0), "portrait → {s}x{s}: {count} pixels differ from Pillow (max {max})");
        let reference = common::read_npy(&dir.path().join(format!("portrait_video_{s}.npy")));
        let err = common::max_abs_diff(&video_input_tensor(&img, i64::from(s)), &reference);
        assert!(err <= 1e-6, "portrait video input at {s}: max |ours - ref| = {err:e}");
    }
}

/// Both input tensors against the reference's own pre-processing at one image size.
fn assert_tensors_match(size: i64) {
    tch::set_num_threads(2);
    let frames = [("bedroom", 0), ("bedroom", 150), ("dog", 0), ("dog", 77)];
    let specs: Vec<String> = frames.iter().map(|(c, f)| format!("{c}/{f}")).collect();
    let dir = tempdir();
    let size_arg = size.to_string();
    let clips = common::clips();
    let mut args = vec!["tensors", dir.path().to_str().unwrap(), clips.to_str().unwrap(), size_arg.as_str()];
    args.extend(specs.iter().map(String::as_str));
    common::run_python(&script(), &args);
    for (clip, f) in frames {
        let tag = format!("{clip}_{f}_{size}");
        let img = load_rgb8(&frame(clip, f)).unwrap();
        let hw = common::read_npy(&dir.path().join(format!("hw_{tag}.npy")));
        let hw: Vec<i64> = Vec::try_from(hw).unwrap();
        assert_eq!(hw, vec![i64::from(img.height), i64::from(img.width)], "{tag}: original size");
        for (kind, ours) in [("video", video_input_tensor(&img, size)), ("image", image_predictor_input_tensor(&img, size))] {
            let reference = common::read_npy(&dir.path().join(format!("{kind}_{tag}.npy")));
            assert_eq!(ours.kind(), tch::Kind::Float);
            let err = common::max_abs_diff(&ours, &reference);
            assert!(err <= 1e-6, "{kind} input {tag}: max |ours - ref| = {err:e} > 1e-6");
            eprintln!("{kind} input {tag}: max abs diff {err:e}");
        }
    }
}

#[test]
fn input_tensors_match_reference_at_256() {
    assert_tensors_match(256);
}

#[test]
fn input_tensors_match_reference_at_1024() {
    assert_tensors_match(1024);
}

fn assert_image_error(path: &Path, what: &str) {
    match load_rgb8(path) {
        Err(e @ Error::Image { .. }) => {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(e.to_string().contains(name), "{what}: error does not name the file: {e}");
        }
        other => panic!("{what}: expected Error::Image, got {other:?}"),
    }
}

#[test]
fn unreadable_files_are_errors_naming_the_file() {
    let dir = tempdir();
    let missing = dir.path().join("missing_00000.jpg");
    assert_image_error(&missing, "missing file");

    let bytes = read(&frame("bedroom", 0));
    let truncated = dir.path().join("truncated_00000.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_image_error(&truncated, "truncated JPEG");

    let text = dir.path().join("notes_00000.jpg");
    std::fs::write(&text, "this is not an image\n").unwrap();
    assert_image_error(&text, "text file");

    let header_only = dir.path().join("header_00000.jpg");
    std::fs::write(&header_only, &bytes[..600]).unwrap();
    assert_image_error(&header_only, "JPEG header only");

    // Pillow refuses the same files, so refusing them is parity, not extra strictness.
    let files = [&truncated, &text, &header_only].map(|p| p.to_str().unwrap().to_string());
    let out = common::run_python(&script(), &["opens", &files[0], &files[1], &files[2]]);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["error"; 3], "Pillow's verdicts: {out}");
}

#[test]
fn npy_writer_round_trips_as_float32() {
    let dir = tempdir();
    let path = dir.path().join("x.npy");
    let t = Tensor::arange(24, (tch::Kind::Int64, tch::Device::Cpu)).view([2, 3, 4]);
    write_npy_f32(&path, &t).unwrap();
    let back = common::read_npy(&path);
    assert_eq!(back.kind(), tch::Kind::Float);
    assert_eq!(back.size(), vec![2, 3, 4]);
    assert_eq!(common::max_abs_diff(&back, &t.to_kind(tch::Kind::Float)), 0.0);
    assert!(write_npy_f32(&dir.path().join("no/such/dir/x.npy"), &t).is_err());
}

#[test]
fn rgb8_image_is_plain_data() {
    let img = Rgb8Image { width: 1, height: 1, data: vec![1, 2, 3] };
    assert_eq!(img.clone(), img);
}
