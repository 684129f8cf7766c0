//! bf16 against fp32 (issue 21): the same tracking at both precisions stays within a stated
//! tolerance, with the same decisions. Reduced size (the tiny model at 256, 6 bedroom frames,
//! the girl's box on frame 0); `scripts/bench.sh precision` measures 512 and 1024.
use crate::common;

use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::{LoadOptions, Precision, Sam2Model};
use samurai_engine::tracker::{Agreement, FolderSource, Session, TrackerOptions};

use common::tracking::{frames, lock, session, GIRL};

/// The tolerance: mean mask IoU at least 0.95 and no frame below 0.90 (at 256 the masks
/// are 64×64 cells, so one cell of edge weighs more than at 1024, where the benchmark asks
/// for a mean of 0.98); every frame with the same chosen mask and memory frames.
#[test]
fn bf16_tracking_stays_within_tolerance_of_fp32() {
    let _g = lock();
    let (_tmp, dir) = frames(6);
    let bf16 = LoadOptions { precision: Precision::Bf16, ..LoadOptions::default() };
    let model = Sam2Model::load_detect(&common::tiny_checkpoint(256), 256, &bf16).unwrap().shared();
    let tuning = Preset::builtin(ModelSize::Tiny).samurai;
    let mut b = Session::new(model, tuning, Box::new(FolderSource::open(&dir).unwrap()), TrackerOptions::default()).unwrap();
    let mut a = session(&dir, TrackerOptions::default());
    for s in [&mut a, &mut b] {
        s.add_object("girl").unwrap();
        s.set_keyframe("girl", 0, GIRL).unwrap();
    }
    let g = Agreement::measure(&mut a, &mut b, 6).unwrap();
    eprintln!("bf16 against fp32 at 256: {g:?}");
    assert!(g.mean_iou >= 0.95 && g.min_iou >= 0.90, "bf16 drifted from fp32: {g:?}");
    assert_eq!((g.same_chosen_mask, g.same_memory_frames), (6, 6), "bf16 decided otherwise than fp32: {g:?}");
}
