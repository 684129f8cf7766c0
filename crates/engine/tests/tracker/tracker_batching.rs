//! Object batching (issue 12): objects whose passes stand on the same frame step as one
//! batch (memory attention per memory layout, mask decoder, memory encoder). On the CPU a
//! batch gives every object exactly the bits it gets stepping alone, so results stay a pure
//! function of the keyframes whichever objects happen to step together: checked here bit
//! for bit, with every decision (chosen candidate, memory frames, scores), for three objects
//! keyed on different frames (passes of different ages and memory layouts share frames).
use crate::common;

use samurai_engine::tracker::{ObjectBatch, Session, TrackerOptions};
use std::num::NonZeroUsize;

use common::tracking::{assert_bits_equal, frames, lock, mattes, session, BOY, GIRL};

/// A third object: the lamp and wall at the top right of the room.
const ROOM: [f64; 4] = [600.0, 60.0, 900.0, 300.0];

/// Girl keyed on frames 0 and 9, boy on 3, the room on 5: forward, backward and blended
/// spans whose passes reach the same frames at different steps.
fn three_objects(s: &mut Session) {
    for (name, frame, b) in [("girl", 0, GIRL), ("girl", 9, GIRL), ("boy", 3, BOY), ("room", 5, ROOM)] {
        if s.objects().iter().all(|o| o.name != name) {
            s.add_object(name).unwrap();
        }
        s.set_keyframe(name, frame, b).unwrap();
    }
}

fn options(batch: ObjectBatch) -> TrackerOptions {
    TrackerOptions { object_batch: batch, ..TrackerOptions::default() }
}

#[test]
fn batched_objects_equal_one_by_one_bit_for_bit() {
    let _g = lock();
    let n = 12;
    let (_tmp, dir) = frames(n);
    let mut alone = session(&dir, options(ObjectBatch::ONE_BY_ONE));
    let mut batched = session(&dir, options(ObjectBatch::AtMost(NonZeroUsize::new(3).unwrap())));
    three_objects(&mut alone);
    three_objects(&mut batched);
    for f in 0..n {
        assert_bits_equal(&mattes(&mut alone, f), &mattes(&mut batched, f), &format!("frame {f}"));
        let (a, b) = (alone.records_at(f).unwrap(), batched.records_at(f).unwrap());
        for ((name, ra), (_, rb)) in a.iter().zip(&b) {
            for ((da, x), (db, y)) in ra.iter().zip(rb) {
                assert_eq!(da, db);
                let what = format!("{name} frame {f} {da:?}");
                assert_eq!(x.chosen, y.chosen, "{what}: chosen candidate");
                assert_eq!(x.memory_frames, y.memory_frames, "{what}: memory frames");
                assert_eq!(x.object_score.to_bits(), y.object_score.to_bits(), "{what}: object score");
                assert_eq!(x.best_iou.to_bits(), y.best_iou.to_bits(), "{what}: predicted IoU");
                assert_eq!(x.kf_score.map(f32::to_bits), y.kf_score.map(f32::to_bits), "{what}: Kalman score");
                assert_eq!(x.low_res, y.low_res, "{what}: low-resolution logits");
            }
        }
    }
    let (sa, sb) = (alone.stats(), batched.stats());
    assert_eq!(sa.steps, sb.steps, "the same pass steps either way");
    assert_eq!(sa.batches, 0, "one by one never batches");
    assert!(sb.batches >= 6, "objects stepped together on several frames: {sb:?}");
    assert!(sb.batched_steps >= 2 * sb.batches && sb.batched_steps <= 3 * sb.batches, "{sb:?}");
}

#[test]
fn a_batch_limit_of_two_splits_three_objects() {
    let _g = lock();
    let (_tmp, dir) = frames(4);
    let mut s = session(&dir, options(ObjectBatch::AtMost(NonZeroUsize::new(2).unwrap())));
    for (name, b) in [("girl", GIRL), ("boy", BOY), ("room", ROOM)] {
        s.add_object(name).unwrap();
        s.set_keyframe(name, 0, b).unwrap();
    }
    for f in 0..4 {
        mattes(&mut s, f);
    }
    let st = s.stats();
    // Frames 1–3: three tracked steps each, as a batch of two and one alone.
    assert_eq!((st.batches, st.batched_steps), (3, 6), "{st:?}");
}
