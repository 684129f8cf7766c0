//! Prompt-type parity with the reference SAMURAI (absolutely-not-samurai 1.0.0, CPU): one
//! object, prompts on frame 0, forward, tiny at 256, 30 frames of each shared clip (past
//! the memory bank's 7 frames and the 16 object pointers, so frames 16 on run with both
//! full), with (a) a box plus a positive and a negative click, (b) three clicks without a box, (c) a
//! mask (the reference's own frame-0 mask from the box, thresholded) given back as
//! `add_new_mask`. Per frame: the same chosen candidate and memory-bank frames, the
//! low-resolution logits the reference stores (and upsamples to the video's size) within
//! 1e-3, and the video-resolution mask IoU ≥ 0.999. As in `parity_track`, the only
//! admissible difference is a decision whose reference margin is below 1e-5 (the
//! comparison then stops). Hole filling is off on both sides. The fixtures store the
//! low-resolution logits (64² a frame) rather than video-resolution ones to keep them small.
use crate::common;

use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::{LoadOptions, Sam2Model, SharedModel};
use samurai_engine::tracker::{BlendMode, FolderSource, KeyframePrompt, MaskPrompt, PointPrompt, Session, TrackerOptions};
use std::path::Path;

use common::track_parity::{mask_iou, Comparison};

/// 30 rather than the 60 it once was, for CI's time budget: every memory and pointer limit
/// is reached by frame 16.
const FRAMES: usize = 30;

fn fixtures(clip: &str, bbox: [f64; 4]) -> std::path::PathBuf {
    let dir = common::fixtures().join("parity_prompts").join(format!("tiny_256_{clip}_{FRAMES}"));
    let box_arg = format!("{},{},{},{}", bbox[0], bbox[1], bbox[2], bbox[3]);
    let out = common::run_python(
        &common::root().join("tests/parity/make_prompt_fixtures.py"),
        &[
            "--size",
            "tiny",
            "--image-size",
            "256",
            "--clip",
            clip,
            "--frames",
            &FRAMES.to_string(),
            "--box",
            &box_arg,
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    eprint!("{out}");
    dir
}

/// The prompts of each case, as the fixture script wrote them.
fn prompts(dir: &Path) -> Vec<(&'static str, KeyframePrompt)> {
    // JSON is YAML: the crate's YAML reader parses it.
    let json: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(dir.join("prompts.json")).unwrap()).unwrap();
    let parse = |case: &str| {
        let c = &json[case];
        let bbox = c["box"].as_sequence().map(|b| std::array::from_fn(|i| b[i].as_f64().unwrap()));
        let points = c["points"]
            .as_sequence()
            .unwrap()
            .iter()
            .zip(c["labels"].as_sequence().unwrap())
            .map(|(p, l)| PointPrompt { x: p[0].as_f64().unwrap(), y: p[1].as_f64().unwrap(), positive: l.as_i64().unwrap() == 1 })
            .collect();
        KeyframePrompt { bbox, points, mask: None }
    };
    let mask = common::read_npy(&dir.join("mask.npy"));
    let (h, w) = mask.size2().unwrap();
    let bits: Vec<u8> = Vec::try_from(mask.flatten(0, -1)).unwrap();
    let mask = MaskPrompt::from_bits(w as u32, h as u32, bits.iter().map(|&v| v > 0)).unwrap();
    vec![("box_points", parse("box_points")), ("three_points", parse("three_points")), ("mask", KeyframePrompt::from_mask(mask))]
}

fn check_case(model: &SharedModel, dir: &Path, case: &str, prompt: KeyframePrompt) {
    let mut tuning = Preset::builtin(ModelSize::Tiny).samurai;
    tuning.fill_hole_area = 0;
    let source = FolderSource::open(&dir.join("frames")).expect("frames");
    let (w, h) = samurai_engine::tracker::FrameSource::frame_size(&source);
    let options = TrackerOptions { mode: BlendMode::Forward, ..TrackerOptions::default() };
    let mut session = Session::new(model.clone(), tuning, Box::new(source), options).expect("session");
    session.add_object("obj").unwrap();
    session.set_prompt("obj", 0, prompt).unwrap();
    let reference = common::read_npz(&dir.join(case).join("track.npz"));
    let name = format!("{}/{case}", dir.file_name().unwrap().to_string_lossy());
    let mut comparison = Comparison::new(name.clone(), &reference);
    for f in 0..FRAMES {
        let records = session.records_at(f).expect("records");
        let rec = &records[0].1[0].1;
        let ref_low = reference["low_res"].get(f as i64).view([1, 1, rec.side, rec.side]);
        let err = common::max_abs_diff(&rec.low_res_logits(), &ref_low);
        let matte = session.mask_at(f).expect("mask").remove(0).logits;
        let ref_video = ref_low.upsample_bilinear2d([h as i64, w as i64], false, None, None).view([h as i64, w as i64]);
        if !comparison.frame(f, rec, err, mask_iou(&matte, &ref_video)) {
            break;
        }
    }
    comparison.finish(FRAMES / 2);
}

fn run(clip: &str, bbox: [f64; 4]) {
    tch::set_num_threads(2);
    let dir = fixtures(clip, bbox);
    let model = Sam2Model::load_detect(&dir.join("checkpoint.pt"), 256, &LoadOptions::default()).expect("load checkpoint").shared();
    for (case, prompt) in prompts(&dir) {
        check_case(&model, &dir, case, prompt);
    }
}

#[test]
fn tiny_256_bedroom_box_points_three_points_mask() {
    run("bedroom", [310.0, 0.0, 515.0, 400.0]);
}

#[test]
fn tiny_256_dog_box_points_three_points_mask() {
    run("dog", [453.0, 375.0, 703.0, 555.0]);
}
