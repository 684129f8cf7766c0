//! Points and masks as keyframes (issue 10): a point correction in the middle of a tracked
//! range recomputes only the passes that start there and leaves every other frame's bits
//! unchanged; a re-render of the edited frame on screen does not re-run the image encoder
//! (live editing) and gives the bits of a session that keeps no features; random-order
//! requests with point and mask keyframes give the sequential run's bits; a mask
//! keyframe's frame outputs that mask. Random-init tiny checkpoint at 256, bedroom frames.
use crate::common;

use samurai_engine::tracker::{KeyframePrompt, MaskPrompt, PointPrompt, Session, TrackerOptions};
use tch::{Kind, Tensor};

use common::tracking::{assert_bits_equal, frames, lock, mattes, session, BOY, GIRL};

const W: u32 = 960;
const H: u32 = 540;

fn click(x: f64, y: f64, positive: bool) -> PointPrompt {
    PointPrompt { x, y, positive }
}

/// A rectangle matte at the frame's size.
fn rect_mask(r: [u32; 4]) -> MaskPrompt {
    MaskPrompt::from_bits(W, H, (0..W * H).map(|i| (r[0]..r[2]).contains(&(i % W)) && (r[1]..r[3]).contains(&(i / W)))).unwrap()
}

#[test]
fn a_point_correction_recomputes_only_its_passes_and_renders_without_the_encoder() {
    let _g = lock();
    let (_tmp, dir) = frames(12);
    let mut s = session(&dir, TrackerOptions::default());
    s.add_object("girl").unwrap();
    for k in [0, 5, 10] {
        s.set_keyframe("girl", k, GIRL).unwrap();
    }
    let before: Vec<Vec<Tensor>> = (0..12).map(|f| mattes(&mut s, f)).collect();
    // The artist clicks on frame 5: a negative point on the background, with the box.
    let corrected = KeyframePrompt { bbox: Some(GIRL), points: vec![click(330.5, 380.5, false)], mask: None };
    s.set_prompt("girl", 5, corrected.clone()).unwrap();
    let (runs, steps) = (s.stats().encoder_runs, s.stats().steps);
    // Live editing: the frame on screen re-renders with one pass step and no encoder run.
    let edited = mattes(&mut s, 5);
    assert_eq!(s.stats().steps - steps, 1, "one step re-renders the edited frame");
    assert_eq!(s.stats().encoder_runs, runs, "the edited frame's image features were kept");
    assert!(!edited[0].equal(&before[5][0]), "the click changes frame 5");
    let after: Vec<Vec<Tensor>> = (0..12).map(|f| mattes(&mut s, f)).collect();
    // Only the passes starting at 5 ran: forward over 5..=9 and backward over 5..=1.
    assert_eq!(s.stats().steps - steps, 10, "recomputed steps after the correction on frame 5");
    for f in [0, 10, 11] {
        assert_bits_equal(&before[f], &after[f], &format!("frame {f} (outside the corrected spans)"));
    }
    // The live-editing path gives the bits of a session that keeps no image features.
    let mut plain = session(&dir, TrackerOptions { feature_bytes: 0, shown_feature_bytes: 0, ..TrackerOptions::default() });
    plain.add_object("girl").unwrap();
    for k in [0, 10] {
        plain.set_keyframe("girl", k, GIRL).unwrap();
    }
    plain.set_prompt("girl", 5, corrected).unwrap();
    for f in [3, 5, 7] {
        assert_bits_equal(&after[f], &mattes(&mut plain, f), &format!("frame {f} with and without kept features"));
    }
}

/// Girl: box and clicks on 2, a mask on 7; boy: three clicks on 5.
fn prompted(s: &mut Session) {
    s.add_object("girl").unwrap();
    s.add_object("boy").unwrap();
    let clicks = vec![click(410.5, 200.5, true), click(330.0, 30.0, false)];
    s.set_prompt("girl", 2, KeyframePrompt { bbox: Some(GIRL), points: clicks, mask: None }).unwrap();
    s.set_prompt("girl", 7, KeyframePrompt::from_mask(rect_mask([320, 10, 510, 390]))).unwrap();
    let three = vec![click(220.0, 270.0, true), click(220.0, 180.0, true), click(400.0, 300.0, false)];
    s.set_prompt("boy", 5, KeyframePrompt { points: three, ..KeyframePrompt::default() }).unwrap();
    let _ = BOY;
}

#[test]
fn random_request_order_with_point_and_mask_keyframes_gives_the_same_bits() {
    let _g = lock();
    let (_tmp, dir) = frames(10);
    let mut seq = session(&dir, TrackerOptions::default());
    prompted(&mut seq);
    let sequential: Vec<Vec<Tensor>> = (0..10).map(|f| mattes(&mut seq, f)).collect();
    let order = [7, 3, 9, 0, 5, 8, 1, 6, 2, 4, 9, 0];
    let mut shuffled = session(&dir, TrackerOptions { cache_bytes: 1, ..TrackerOptions::default() });
    prompted(&mut shuffled);
    for f in order {
        assert_bits_equal(&sequential[f], &mattes(&mut shuffled, f), &format!("frame {f}"));
    }
}

#[test]
fn a_mask_keyframe_outputs_its_mask() {
    let _g = lock();
    let (_tmp, dir) = frames(6);
    let mut s = session(&dir, TrackerOptions::default());
    s.add_object("girl").unwrap();
    s.set_keyframe("girl", 0, GIRL).unwrap();
    let r = [320u32, 10, 510, 390];
    s.set_prompt("girl", 3, KeyframePrompt::from_mask(rect_mask(r))).unwrap();
    let got = mattes(&mut s, 3).remove(0).gt(0.0);
    let want = Tensor::zeros([H as i64, W as i64], (Kind::Bool, tch::Device::Cpu));
    let _ = want.narrow(0, r[1] as i64, (r[3] - r[1]) as i64).narrow(1, r[0] as i64, (r[2] - r[0]) as i64).fill_(1);
    let inter = got.logical_and(&want).sum(Kind::Int64).int64_value(&[]) as f64;
    let union = got.logical_or(&want).sum(Kind::Int64).int64_value(&[]) as f64;
    // The mask passes through the network's resolution (256², logits at 64²), so only its
    // edge can move: every pixel 16 or more frame pixels away from it is exactly the mask.
    let m = 16i64;
    let inner = got.narrow(0, r[1] as i64 + m, (r[3] - r[1]) as i64 - 2 * m).narrow(1, r[0] as i64 + m, (r[2] - r[0]) as i64 - 2 * m);
    assert!(inner.all().int64_value(&[]) == 1, "the mask's inside is inside");
    let outside = got.logical_and(&want.logical_not()).sum(Kind::Int64).int64_value(&[]);
    let far_out = Tensor::ones([H as i64, W as i64], (Kind::Bool, tch::Device::Cpu));
    let _ = far_out.narrow(0, 0, r[3] as i64 + m).narrow(1, r[0] as i64 - m, (r[2] - r[0]) as i64 + 2 * m).fill_(0);
    assert_eq!(got.logical_and(&far_out).sum(Kind::Int64).int64_value(&[]), 0, "nothing far outside the mask is inside");
    eprintln!("mask keyframe: IoU with the given mask {:.4}, {outside} pixels outside it", inter / union);
    assert!(inter / union >= 0.95, "IoU {}", inter / union);
    // The frames after it follow from the mask keyframe; the ones before from both passes.
    assert_eq!(s.records_at(4).unwrap()[0].1[0].1.memory_frames[0], 3);
}

#[test]
fn bad_prompts_are_reported_clearly() {
    let _g = lock();
    let (_tmp, dir) = frames(3);
    let mut s = session(&dir, TrackerOptions::default());
    s.add_object("girl").unwrap();
    let outside = KeyframePrompt { points: vec![click(970.0, 10.0, true)], ..KeyframePrompt::default() };
    let e = s.set_prompt("girl", 1, outside).unwrap_err().to_string();
    assert!(e.contains("object 'girl' frame 1") && e.contains("(970, 10) lies outside the 960x540 frame"), "{e}");
    let small = KeyframePrompt::from_mask(MaskPrompt::from_bits(4, 4, [true; 16]).unwrap());
    let e = s.set_prompt("girl", 1, small).unwrap_err().to_string();
    assert!(e.contains("4x4 but the frame is 960x540"), "{e}");
    let empty = KeyframePrompt::from_mask(MaskPrompt::from_bits(W, H, (0..W * H).map(|_| false)).unwrap());
    assert!(s.set_prompt("girl", 1, empty).unwrap_err().to_string().contains("empty"));
    assert!(s.set_prompt("girl", 1, KeyframePrompt::default()).unwrap_err().to_string().contains("no box, no point and no mask"));
}
