//! `samurai-roto shapes` (mattes as animated Bezier shapes) from `track --logits` and from
//! a track cache, its bad input, and `track --format exr --layers`. Reduced frames (240×136)
//! and the random tiny checkpoint at 256: seconds.
use crate::cli_support;
use crate::common;

use exr::prelude::{f16, read_all_flat_layers_from_file, FlatSamples};
use samurai_core::lowres::LowResFrame;
use samurai_core::shapes::{json, raster, track, ShapeKind};
use samurai_core::track_cache::{TrackCache, TrackCacheHeader};
use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samurai-roto")).args(args).output().expect("run samurai-roto")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `track` of the girl and the boy on `frames` (quality 256) with `extra` arguments.
fn track(frames: &Path, out: &Path, logits: &Path, extra: &[&str]) -> Output {
    let ckpt = common::tiny_checkpoint(256);
    let mut args = vec![
        "--threads",
        "2",
        "track",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--frames",
        frames.to_str().unwrap(),
        "--object",
        "girl:0:78,0,128,100",
        "--object",
        "boy:0:36,34,74,101",
        "--image-size",
        "256",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--logits",
        logits.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

fn read_logits(path: &Path) -> Vec<f32> {
    samurai_core::refine::npy::read(path).unwrap().data
}

#[test]
fn shapes_from_track_logits_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = cli_support::small_clip(tmp.path(), 3);
    let (out, logits) = (tmp.path().join("out"), tmp.path().join("logits"));
    ok(&track(&frames, &out, &logits, &[]));
    let (fr, lg) = (frames.to_str().unwrap(), logits.to_str().unwrap());
    let json_path = tmp.path().join("s.json");
    // A quarter-size plate: the default 1 px at the clip's 960 px is a quarter pixel here.
    let printed = ok(&cli(&["shapes", "--logits", lg, "--frames", fr, "--out", json_path.to_str().unwrap(), "--tolerance", "0.25"]));
    eprintln!("{printed}");
    let set = json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!((set.size, set.first_frame, set.last_frame), ((240, 136), 0, 2));
    let names: Vec<&str> = set.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["boy", "girl"]);
    for o in &set.objects {
        assert!(o.shapes.iter().any(|s| s.kind == ShapeKind::Outline), "{}: no shape", o.name);
        for f in 0..3 {
            // The random model's tracked mattes are speckle (hundreds of islands): the shapes
            // stand for the islands and holes kept, and must fit those at the goal of 0.97.
            let matte = read_logits(&logits.join(format!("{}/{f:05}.npy", o.name)));
            let cover = raster::rasterise(&o.shapes, f, 240, 136);
            let kept = track::kept_matte(&matte, 240, 136, &set.settings);
            let (iou, fit) = (raster::iou(&cover, &matte), raster::iou_mask(&cover, &kept));
            eprintln!("{} frame {f}: IoU {iou:.4}, against the kept islands and holes {fit:.4}", o.name);
            assert!(fit >= 0.97, "{} frame {f}: IoU {fit} of the shapes against the islands they stand for", o.name);
            assert!(o.shapes.iter().all(|s| s.max_error_px <= set.settings.tolerance_px), "{}: a shape beyond the tolerance", o.name);
        }
        assert!(printed.contains(&format!("{}: {} shape(s)", o.name, o.shapes.len())), "{printed}");
    }
    // The other formats, and the rasterised shapes the Natron check compares with.
    for ext in ["py", "nk"] {
        let path = tmp.path().join(format!("s.{ext}"));
        ok(&cli(&["shapes", "--logits", lg, "--frames", fr, "--out", path.to_str().unwrap(), "--tolerance", "0.25"]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(if ext == "py" { "SamuraiRoto_girl" } else { "curvegroup girl_1 512 bezier" }), "{ext}");
    }
    let raster_dir = tmp.path().join("raster");
    let svg = tmp.path().join("s.svg");
    ok(&cli(&[
        "shapes",
        "--logits",
        lg,
        "--frames",
        fr,
        "--out",
        svg.to_str().unwrap(),
        "--raster",
        raster_dir.to_str().unwrap(),
        "--tolerance",
        "0.25",
    ]));
    for f in 0..3 {
        let text = std::fs::read_to_string(tmp.path().join(format!("s.{f:05}.svg"))).unwrap();
        assert!(text.contains("<image href=") && text.contains("id=\"girl\""), "frame {f}");
        let cover = samurai_core::refine::npy::read(&raster_dir.join(format!("girl/{f:05}.npy"))).unwrap();
        assert_eq!(cover.shape, [136, 240]);
        let girl = &set.objects[1];
        assert_eq!(cover.data, raster::rasterise(&girl.shapes, f, 240, 136));
    }
}

#[test]
fn shapes_from_a_track_cache_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = cli_support::small_clip(tmp.path(), 2);
    // A cache of a disc moving right (16×16 low-resolution logits), as Analyse writes it.
    let side = 16i64;
    let disc = |cx: f32| {
        (0..side * side).map(|i| 3.5 - (((i % side) as f32 + 0.5 - cx).powi(2) + ((i / side) as f32 + 7.5 - 8.0).powi(2)).sqrt()).collect()
    };
    let cache = TrackCache {
        header: TrackCacheHeader {
            key: "test".into(),
            first_frame: 0,
            frames: 2,
            frame_size: (240, 136),
            side,
            objects: vec!["disc".into()],
            frame_hashes: vec!["a".into(), "b".into()],
            precision: None,
        },
        frames: vec![
            LowResFrame { side, objects: vec![("disc".into(), disc(6.0))] },
            LowResFrame { side, objects: vec![("disc".into(), disc(7.0))] },
        ],
    };
    let cache_path = tmp.path().join("shot.srtc");
    cache.write_atomic(&cache_path).unwrap();
    let (fr, cp) = (frames.to_str().unwrap(), cache_path.to_str().unwrap());
    let out = tmp.path().join("c.json");
    let printed = ok(&cli(&["shapes", "--track-cache", cp, "--frames", fr, "--out", out.to_str().unwrap(), "--report"]));
    let set = json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let disc_shapes = &set.objects[0].shapes;
    assert_eq!(disc_shapes.len(), 1, "one disc moving: one shape");
    assert_eq!(disc_shapes[0].keys.len(), 2);
    assert!(printed.contains("disc: point motion per frame"), "{printed}");
    for f in 0..2 {
        let low = cache.frame(f).unwrap();
        let planes = samurai_core::finish::finish_frame(low, (240, 136), false);
        let iou = raster::iou(&raster::rasterise(disc_shapes, f, 240, 136), &planes[0].1);
        assert!(iou >= 0.99, "frame {f}: {iou}");
    }

    // An empty matte is a note, not an error.
    let logits = tmp.path().join("empty");
    std::fs::create_dir_all(logits.join("ghost")).unwrap();
    for f in 0..2 {
        samurai_core::refine::npy::write_f32(&logits.join(format!("ghost/{f:05}.npy")), &[136, 240], &vec![-5.0; 240 * 136]).unwrap();
    }
    let o = cli(&["shapes", "--logits", logits.to_str().unwrap(), "--frames", fr, "--out", tmp.path().join("e.json").to_str().unwrap()]);
    ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("note: frame 0, object ghost: empty matte: no shape on this frame"), "{stderr}");

    let lg = logits.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--logits", lg, "--frames", fr, "--out", "x.txt"], "unknown format 'txt'"),
        (vec!["--logits", lg, "--frames", fr, "--out", "x.json", "--range", "0-5"], "--range '0-5'"),
        (vec!["--logits", lg, "--frames", fr, "--out", "x.json", "--tolerance", "0"], "tolerance"),
        (vec!["--logits", lg, "--frames", fr, "--out", "x.json", "--object", "cat"], "--object cat"),
        (vec!["--logits", fr, "--frames", fr, "--out", "x.json"], "no NAME/NNNNN.npy files"),
        (vec!["--track-cache", fr, "--frames", fr, "--out", "x.json"], "--track-cache"),
        (vec!["--frames", fr, "--out", "x.json"], "--track-cache"),
    ];
    for (args, want) in cases {
        let mut full = vec!["shapes"];
        full.extend(args.iter().copied());
        let o = cli(&full);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: expected an error containing {want:?}, got {err}");
    }
    // A frame of the wrong size is named.
    samurai_core::refine::npy::write_f32(&logits.join("ghost/00001.npy"), &[10, 10], &[0.0; 100]).unwrap();
    let o = cli(&["shapes", "--logits", lg, "--frames", fr, "--out", "x.json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("ghost/00001.npy") && err.contains("[10, 10]"), "{err}");
}

/// Channel name → half-float values of a layered EXR.
fn channels(path: &Path) -> Vec<(String, Vec<f32>)> {
    let image = read_all_flat_layers_from_file(path).unwrap();
    assert_eq!(image.layer_data.len(), 1);
    let layer = &image.layer_data[0];
    assert_eq!((layer.size.width(), layer.size.height()), (240, 136));
    layer
        .channel_data
        .list
        .iter()
        .map(|c| match &c.sample_data {
            FlatSamples::F16(v) => (c.name.to_string(), v.iter().map(|h| h.to_f32()).collect()),
            other => panic!("channel {} is not half float: {other:?}", c.name),
        })
        .collect()
}

#[test]
fn track_writes_one_layered_exr_per_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = cli_support::small_clip(tmp.path(), 2);
    let (out, logits) = (tmp.path().join("layers"), tmp.path().join("logits"));
    ok(&track(&frames, &out, &logits, &["--format", "exr", "--layers"]));
    let mut files: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["00000.exr", "00001.exr"], "one file per frame, no folder per object");
    for f in 0..2 {
        let ch = channels(&out.join(format!("{f:05}.exr")));
        let names: Vec<&str> = ch.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ID", "boy.A", "girl.A"]);
        let girl = read_logits(&logits.join(format!("girl/{f:05}.npy")));
        let boy = read_logits(&logits.join(format!("boy/{f:05}.npy")));
        let as_matte = |l: &[f32]| l.iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
        assert_eq!(ch[2].1, as_matte(&girl), "frame {f}: girl.A is the matte");
        assert_eq!(ch[1].1, as_matte(&boy), "frame {f}: boy.A is the matte");
        // ID: the object (1 girl, 2 boy: the command line's order) with the larger logit among those inside.
        let want: Vec<f32> = girl
            .iter()
            .zip(&boy)
            .map(|(&g, &b)| match (g > 0.0, b > 0.0) {
                (false, false) => 0.0,
                (true, false) => 1.0,
                (false, true) => 2.0,
                (true, true) => {
                    if b > g {
                        2.0
                    } else {
                        1.0
                    }
                }
            })
            .collect();
        assert_eq!(ch[0].1, want, "frame {f}: ID");
        assert!(ch[0].1.contains(&1.0) && ch[0].1.contains(&2.0), "both objects appear in the ID matte");
    }
    // With --refine the layers hold the refined mattes: those track writes per object.
    let (layered, per_object) = (tmp.path().join("rl"), tmp.path().join("ro"));
    ok(&track(&frames, &layered, &tmp.path().join("l2"), &["--format", "exr", "--layers", "--refine", "fast"]));
    ok(&track(&frames, &per_object, &tmp.path().join("l3"), &["--format", "exr", "--refine", "fast"]));
    for f in 0..2 {
        let ch = channels(&layered.join(format!("{f:05}.exr")));
        for (k, name) in [(1, "boy"), (2, "girl")] {
            let refined = image::open(per_object.join(format!("{name}/{f:05}.exr"))).unwrap().into_rgb32f();
            let want: Vec<f32> = refined.pixels().map(|p| f16::from_f32(p.0[0]).to_f32()).collect();
            assert_eq!(ch[k].1, want, "frame {f}: {name}.A is the refined matte (as half)");
            assert!(want.iter().any(|&v| v > 0.0 && v < 1.0), "frame {f}: {name}: a soft edge");
        }
    }
}
