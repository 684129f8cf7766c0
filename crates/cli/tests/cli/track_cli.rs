//! `samurai-roto track`, the main job: outputs, formats and error messages.
use crate::cli_support;
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tch::Kind;

fn checkpoint() -> PathBuf {
    common::tiny_checkpoint(256)
}

/// `<tmp>/bedroom` with the first `n` bedroom frames.
fn clip(tmp: &Path, n: usize) -> PathBuf {
    cli_support::linked_clip(tmp, "bedroom", n)
}

fn track(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samurai-roto")).args(["--threads", "2", "track"]).args(args).output().expect("run samurai-roto")
}

#[test]
fn tracks_two_objects_from_the_prompts_file() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 4);
    let (out, logits) = (tmp.path().join("out"), tmp.path().join("logits"));
    let ckpt = checkpoint();
    let prompts = common::clips().join("prompts.yaml");
    let o = track(&[
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--frames",
        frames.to_str().unwrap(),
        "--prompts",
        prompts.to_str().unwrap(),
        "--image-size",
        "256",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--logits",
        logits.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["girl", "boy"] {
        for f in 0..4 {
            let png = image::open(out.join(format!("{name}/{f:05}.png"))).unwrap().into_luma8();
            assert_eq!(png.dimensions(), (960, 540));
            let l = common::read_npy(&logits.join(format!("{name}/{f:05}.npy")));
            assert_eq!(l.size(), vec![540, 960]);
            let on = png.pixels().filter(|p| p.0[0] == 255).count() as i64;
            assert_eq!(on, l.gt(0.0).sum(Kind::Int64).int64_value(&[]), "{name} frame {f}: png agrees with logits");
        }
    }
}

#[test]
fn range_exr_and_object_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 5);
    let out = tmp.path().join("out");
    let ckpt = checkpoint();
    let o = track(&[
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--frames",
        frames.to_str().unwrap(),
        "--object",
        "girl:2:310,0,515,400",
        "--image-size",
        "256",
        "--device",
        "cpu",
        "--range",
        "1-3",
        "--format",
        "exr",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written: Vec<String> =
        std::fs::read_dir(out.join("girl")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut written = written;
    written.sort();
    assert_eq!(written, vec!["00001.exr", "00002.exr", "00003.exr"]);
    let exr = image::open(out.join("girl/00002.exr")).unwrap().into_rgb32f();
    assert!(exr.pixels().all(|p| p.0[0] == 0.0 || p.0[0] == 1.0));
    assert!(exr.pixels().any(|p| p.0[0] == 1.0), "the keyframe's matte is not empty");
}

/// `track --refine` writes, for each frame and object, what `samurai-roto refine` writes for
/// that frame and `track`'s logits (EXR: float bits; PNG: 16-bit). Small frames: the
/// random model's logits are uncertain almost everywhere, so the band is the whole frame.
#[test]
fn refined_mattes_equal_the_refine_command() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = cli_support::small_clip(tmp.path(), 2);
    let ckpt = checkpoint();
    for (mode, band, format) in [("quality", "8", "exr"), ("fast", "16", "png")] {
        let (out, logits) = (tmp.path().join(format!("out-{mode}")), tmp.path().join(format!("logits-{mode}")));
        let o = track(&[
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--frames",
            frames.to_str().unwrap(),
            "--object",
            "girl:0:78,0,128,100",
            "--image-size",
            "256",
            "--device",
            "cpu",
            "--refine",
            mode,
            "--band",
            band,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
            "--logits",
            logits.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for f in 0..2 {
            let alone = tmp.path().join(format!("refine-{mode}-{f}.{format}"));
            let r = Command::new(env!("CARGO_BIN_EXE_samurai-roto"))
                .args(["refine", "--mode", mode, "--band", band, "--image"])
                .arg(frames.join(format!("{f:05}.png")))
                .arg("--matte")
                .arg(logits.join(format!("girl/{f:05}.npy")))
                .arg("--out")
                .arg(&alone)
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
            let tracked = std::fs::read(out.join(format!("girl/{f:05}.{format}"))).unwrap();
            let img = image::open(out.join(format!("girl/{f:05}.{format}"))).unwrap().into_rgb32f();
            assert_eq!(img.dimensions(), (240, 136));
            let soft = img.pixels().filter(|p| p.0[0] > 0.0 && p.0[0] < 1.0).count();
            assert!(soft > 0, "{mode} frame {f}: no soft edge pixel");
            let refined = image::open(&alone).unwrap().into_rgb32f();
            assert!(img == refined, "{mode} frame {f}: track --refine differs from refine ({} bytes written)", tracked.len());
            eprintln!("track --refine {mode} --band {band}: frame {f} = refine's output ({soft} soft pixels)");
        }
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 3);
    let ckpt = checkpoint();
    let ck = ckpt.to_str().unwrap();
    let fr = frames.to_str().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(common::clips().join("bedroom/00000.jpg"), broken.join("00000.jpg")).unwrap();
    std::fs::write(broken.join("00001.jpg"), b"not a jpeg").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--checkpoint", ck, "--frames", fr, "--out", out], "no object given"),
        (vec!["--checkpoint", ck, "--frames", fr, "--object", "girl:9:310,0,515,400", "--out", out], "frame 9"),
        (vec!["--checkpoint", ck, "--frames", fr, "--object", "girl:0:2000,0,2100,40", "--out", out], "outside"),
        (vec!["--checkpoint", ck, "--frames", fr, "--object", "girl-0-1,2,3,4", "--out", out], "NAME:FRAME"),
        (vec!["--checkpoint", ck, "--frames", fr, "--object", "girl:0:310,0,515,400", "--range", "2-7", "--out", out], "--range"),
        (vec!["--checkpoint", ck, "--frames", fr, "--object", "girl:0:310,0,515,400", "--refine", "best", "--out", out], "refine mode"),
        (
            vec!["--checkpoint", ck, "--frames", fr, "--object", "girl:0:310,0,515,400", "--refine", "fast", "--band=-3", "--out", out],
            "--band",
        ),
        (
            vec!["--checkpoint", ck, "--frames", empty.to_str().unwrap(), "--object", "girl:0:1,1,9,9", "--out", out],
            "no JPEG, PNG or EXR frames",
        ),
        (
            vec![
                "--checkpoint",
                ck,
                "--frames",
                broken.to_str().unwrap(),
                "--object",
                "girl:0:10,10,90,90",
                "--image-size",
                "256",
                "--out",
                out,
            ],
            "00001.jpg",
        ),
        (vec!["--checkpoint", "/nonexistent/c.pt", "--frames", fr, "--object", "girl:0:1,1,9,9", "--out", out], "sam2.1_hiera_tiny.pt"),
    ];
    for (args, needle) in cases {
        let o = track(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: '{needle}' not in:\n{stderr}");
    }
}

/// A rectangle matte PNG at the bedroom's size (inside: 255).
fn rect_png(path: &Path, r: [u32; 4], size: (u32, u32)) {
    let img = image::GrayImage::from_fn(size.0, size.1, |x, y| {
        image::Luma([if (r[0]..r[2]).contains(&x) && (r[1]..r[3]).contains(&y) { 255 } else { 0 }])
    });
    img.save(path).unwrap();
}

#[test]
fn points_and_masks_match_the_tracker() {
    use samurai_engine::config::{ModelSize, Preset};
    use samurai_engine::model::{LoadOptions, Sam2Model};
    use samurai_engine::tracker::{FolderSource, KeyframePrompt, MaskPrompt, PointPrompt, Session, TrackerOptions};
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 4);
    let logits = tmp.path().join("logits");
    let mask = tmp.path().join("boy.png");
    let r = [150u32, 140, 290, 400];
    rect_png(&mask, r, (960, 540));
    let ckpt = checkpoint();
    let mask_arg = format!("boy:2:{}", mask.display());
    let o = track(&[
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--frames",
        frames.to_str().unwrap(),
        "--object",
        "girl:0:310,0,515,400",
        "--point",
        "girl:0:400.5,200,1",
        "--point",
        "girl:0:330,380,0",
        "--point",
        "boy:2:220,270,1",
        "--mask",
        &mask_arg,
        "--image-size",
        "256",
        "--device",
        "cpu",
        // The tracker below runs fp32 (`LoadOptions::default()`); `track`'s default, auto,
        // is bf16 on a CPU with AMX or AMD's AVX512-BF16.
        "--precision",
        "fp32",
        "--out",
        tmp.path().join("out").to_str().unwrap(),
        "--logits",
        logits.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tch::set_num_threads(2);
    let model = Sam2Model::load_detect(&ckpt, 256, &LoadOptions::default()).unwrap().shared();
    let tuning = Preset::builtin(ModelSize::Tiny).samurai;
    let mut s = Session::new(model, tuning, Box::new(FolderSource::open(&frames).unwrap()), TrackerOptions::default()).unwrap();
    s.add_object("girl").unwrap();
    s.add_object("boy").unwrap();
    let click = |x, y, positive| PointPrompt { x, y, positive };
    let girl = KeyframePrompt {
        bbox: Some([310.0, 0.0, 515.0, 400.0]),
        points: vec![click(400.5, 200.0, true), click(330.0, 380.0, false)],
        mask: None,
    };
    s.set_prompt("girl", 0, girl).unwrap();
    let bits = (0..960u32 * 540).map(|i| (r[0]..r[2]).contains(&(i % 960)) && (r[1]..r[3]).contains(&(i / 960)));
    let boy =
        KeyframePrompt { points: vec![click(220.0, 270.0, true)], mask: Some(MaskPrompt::from_bits(960, 540, bits).unwrap()), bbox: None };
    s.set_prompt("boy", 2, boy).unwrap();
    for f in 0..4 {
        for m in s.mask_at(f).unwrap() {
            let cli = common::read_npy(&logits.join(format!("{}/{f:05}.npy", m.name)));
            assert!(cli.equal(&m.logits), "{} frame {f}: track's logits differ from the tracker's", m.name);
        }
    }
}

#[test]
fn bad_points_and_masks_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = clip(tmp.path(), 3);
    let ckpt = checkpoint();
    let (small, empty) = (tmp.path().join("small.png"), tmp.path().join("empty.png"));
    rect_png(&small, [0, 0, 10, 10], (480, 270));
    rect_png(&empty, [0, 0, 0, 0], (960, 540));
    let (ck, fr) = (ckpt.to_str().unwrap(), frames.to_str().unwrap());
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let small_arg = format!("girl:0:{}", small.display());
    let empty_arg = format!("girl:0:{}", empty.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--point", "girl:0:970,10,1"], "(970, 10) lies outside the 960x540 frame"),
        (vec!["--point", "girl:0:10,10,2"], "label '2' must be 1 (positive) or 0 (negative)"),
        (vec!["--point", "girl:0:10,10"], "expected x,y,L"),
        (vec!["--mask", &small_arg], "small.png is 480x270 but the frames are 960x540"),
        (vec!["--mask", &empty_arg], "empty.png is empty"),
        (vec!["--mask", "girl:0:/nonexistent/m.png"], "/nonexistent/m.png"),
    ];
    for (prompt, needle) in cases {
        let mut args = vec!["--checkpoint", ck, "--frames", fr, "--image-size", "256", "--out", out];
        args.extend(prompt.iter().copied());
        let o = track(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{prompt:?}: {stderr}");
        assert!(stderr.contains(needle), "{prompt:?}: '{needle}' not in:\n{stderr}");
    }
}
