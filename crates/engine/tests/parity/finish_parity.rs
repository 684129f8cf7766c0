//! Bit-identity of the libtorch-free matte finishing (`samurai_core::finish`, what the
//! OpenFX plugin runs) with the libtorch path: `Tensor::upsample_bilinear2d` and
//! `tracker::postprocess::{to_video_resolution, non_overlapping}`, and `finish_frame`
//! against those two composed (the oracle kept here). Every value is compared by its bits.
//!
//! libtorch's x86 kernels for this op contract `a * b + c * d` into a fused multiply-add in
//! their AVX2 and AVX512 builds, which `samurai_core::finish` reproduces; running this test
//! with `ATEN_CPU_CAPABILITY=default` (libtorch's non-FMA build) is expected to fail.
use samurai_core::finish::{finish_frame, non_overlapping, upsample_bilinear};
use samurai_core::lowres::LowResFrame;
use samurai_engine::tracker::postprocess;
use tch::{Kind, Tensor};

/// Output sizes `(width, height)` checked for every source side: the usual frame sizes,
/// odd ones, one taking libtorch's small-output kernel (height + width ≤ 128), one keeping
/// the height, and downsampling.
const OUTPUTS: [(usize, usize); 9] =
    [(1920, 1080), (1280, 720), (853, 480), (64, 48), (61, 67), (257, 255), (300, 64), (100, 90), (40, 30)];

/// Low-resolution sides: SAM 2.1's (image size / 4 for 1024, 512, 256) and odd ones.
const SIDES: [usize; 5] = [256, 128, 64, 37, 255];

/// Seeded logits in about [-30, 30] (a 64-bit LCG), with exact zeros and exact ties.
fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 60.0 - 30.0
        })
        .collect();
    for i in (0..n).step_by(17) {
        v[i] = 0.0;
    }
    for i in (5..n).step_by(23) {
        v[i] = 1.5;
    }
    for i in (7..n).step_by(29) {
        v[i] = -10.0;
    }
    v
}

/// A `[1, 1, side, side]` tensor of `values`.
fn plane(values: &[f32], side: usize) -> Tensor {
    Tensor::from_slice(values).view([1, 1, side as i64, side as i64])
}

/// A tensor's values (any shape) as a flat `Vec<f32>`.
fn flat(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().flatten(0, -1)).expect("f32 values")
}

/// Asserts bit equality of two planes; returns how many values were compared.
fn same_bits(ours: &[f32], theirs: &[f32], what: &str) -> usize {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths differ");
    let differ = ours.iter().zip(theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    if let Some(i) = (0..ours.len()).find(|&i| ours[i].to_bits() != theirs[i].to_bits()) {
        panic!("{what}: {differ} values differ, first at {i}: {} vs {}", ours[i], theirs[i]);
    }
    ours.len()
}

/// Every source side to every output size (and to its own size), with libtorch on 1 and 2
/// threads: `upsample_bilinear` against `upsample_bilinear2d` and `to_video_resolution`.
#[test]
fn upsampling_is_bit_identical_to_libtorch() {
    let mut compared = 0;
    for threads in [1, 2] {
        tch::set_num_threads(threads);
        for (k, &side) in SIDES.iter().enumerate() {
            let src = logits(side * side, 1000 + k as u64);
            let t = plane(&src, side);
            for &(w, h) in OUTPUTS.iter().chain([(side, side)].iter()) {
                let ours = upsample_bilinear(&src, side, side, w, h);
                let what = format!("{side}² → {w}×{h} on {threads} thread(s)");
                let raw = t.upsample_bilinear2d([h as i64, w as i64], false, None, None);
                compared += same_bits(&ours, &flat(&raw), &what);
                let today = postprocess::to_video_resolution(&t, h as i64, w as i64);
                compared += same_bits(&ours, &flat(&today), &what);
            }
        }
    }
    println!("upsampling: {compared} values compared bit for bit");
}

/// Three objects upsampled to 1920×1080 (with whole tied regions and zeros), separated by
/// both `non_overlapping`s.
#[test]
fn non_overlap_is_bit_identical_to_libtorch() {
    let side = 256;
    let mut lows: Vec<Vec<f32>> = (0..3).map(|k| logits(side * side, 7 + k)).collect();
    let tied = lows[0][..side * 40].to_vec();
    lows[1][..side * 40].copy_from_slice(&tied); // objects 0 and 1 tie on the top rows
    let tied = lows[1][side * 100..side * 120].to_vec();
    lows[2][side * 100..side * 120].copy_from_slice(&tied);
    let (w, h) = (1920, 1080);
    let mut ours: Vec<Vec<f32>> = lows.iter().map(|v| upsample_bilinear(v, side, side, w, h)).collect();
    let stacked = Tensor::cat(&ours.iter().map(|v| Tensor::from_slice(v).view([1, 1, h as i64, w as i64])).collect::<Vec<_>>(), 0);
    non_overlapping(&mut ours);
    let theirs = flat(&postprocess::non_overlapping(&stacked));
    let compared = same_bits(&ours.concat(), &theirs, "non-overlap of 3 objects");
    println!("non-overlap: {compared} values compared bit for bit");
}

/// The libtorch finishing, kept here only as the oracle: each object's logits upsampled by
/// `postprocess::to_video_resolution`, then `postprocess::non_overlapping` across objects.
fn libtorch_finish_frame(low: &LowResFrame, frame_size: (u32, u32), non_overlap: bool) -> Vec<(String, Tensor)> {
    let (w, h) = (frame_size.0 as i64, frame_size.1 as i64);
    let mut logits: Vec<Tensor> = low
        .objects
        .iter()
        .map(|(_, v)| postprocess::to_video_resolution(&Tensor::from_slice(v).view([1, 1, low.side, low.side]), h, w))
        .collect();
    if non_overlap && logits.len() > 1 {
        let stacked = postprocess::non_overlapping(&Tensor::cat(&logits, 0));
        logits = (0..logits.len() as i64).map(|i| stacked.narrow(0, i, 1)).collect();
    }
    low.objects.iter().zip(logits).map(|((name, _), l)| (name.clone(), l.view([h, w]))).collect()
}

/// `samurai_core::finish::finish_frame` (the one the tracker, `track` and the plugin use)
/// against the libtorch oracle: one and three objects, with and without the non-overlap
/// constraint, a few frame sizes.
#[test]
fn finish_frame_is_bit_identical_to_the_libtorch_path() {
    let mut compared = 0;
    for (side, frame) in [(256, (1920u32, 1080u32)), (64, (853, 480)), (128, (128, 128))] {
        for objects in [1usize, 3] {
            let mut low = LowResFrame {
                side: side as i64,
                objects: (0..objects).map(|k| (format!("obj{k}"), logits(side * side, 50 + k as u64))).collect(),
            };
            if objects > 1 {
                let tied = low.objects[0].1[..side * 8].to_vec();
                low.objects[2].1[..side * 8].copy_from_slice(&tied);
            }
            for non_overlap in [false, true] {
                let ours = finish_frame(&low, frame, non_overlap);
                let theirs = libtorch_finish_frame(&low, frame, non_overlap);
                assert_eq!(ours.len(), theirs.len());
                for ((name, values), (their_name, matte)) in ours.iter().zip(&theirs) {
                    assert_eq!(name, their_name);
                    let what = format!("{name}, {side}² → {frame:?}, non-overlap {non_overlap}");
                    compared += same_bits(values, &flat(matte), &what);
                }
            }
        }
    }
    println!("finish_frame: {compared} values compared bit for bit");
}
