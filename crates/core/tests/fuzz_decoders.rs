//! Fuzzing the decoders of untrusted bytes in the libtorch-free layer: the helper's
//! request decoder, the plugin's reply decoder (each with its framing), and the track-cache
//! and farm pass-file readers. Each gets 100,000 inputs, random and mutated from valid ones
//! (flipped bytes, cuts, inserted bytes, huge declared lengths; for both files also with
//! the checksum recomputed after the mutation, so the parser behind it is reached).
//! Checked for every input: no panic, no input taking over a second (a hang), and no
//! single allocation larger than the input justifies (`LIMIT`: 16 bytes per input byte
//! plus 2 MiB, the most serde pre-reserves for a declared sequence, of at most 1 MiB
//! messages).
use samurai_core::lowres::LowResFrame;
use samurai_core::protocol::{self as proto, HelperStats, Reply, Request};
use samurai_core::settings::{
    BlendMode, DeviceChoice, EngineSettings, KeyframePrompt, MaskPrompt, ObjectKeys, PointPrompt, Precision, Tuning,
};
use samurai_core::track_cache::{TrackCache, TrackCacheHeader};

#[path = "support/fuzz.rs"]
mod support;
use support::{fuzz, Counting, Rng};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A random input, or a valid one mutated: flipped bytes, a cut, inserted bytes, or a
/// run of 0xff (huge varint or little-endian lengths).
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(4) == 0 {
        let n = rng.below(600);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 | 1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            2 => v.truncate(at),
            3 => v.splice(at..at, (0..1 + rng.below(8)).map(|_| rng.next() as u8)).for_each(drop),
            _ => v.splice(at..at, std::iter::repeat_n(0xff, 1 + rng.below(10))).for_each(drop),
        }
    }
    v
}

fn settings() -> EngineSettings {
    let tuning = Tuning {
        stable_frames_threshold: 15,
        stable_ious_threshold: 0.3,
        min_obj_score_logits: -1.0,
        kf_score_weight: 0.25,
        memory_bank_iou_threshold: 0.5,
        memory_bank_obj_score_threshold: 0.0,
        memory_bank_kf_score_threshold: 0.0,
        fill_hole_area: 8,
    };
    EngineSettings {
        model: samurai_core::models::ModelSource::File("/shots/sam2.1_hiera_tiny.pt".into()),
        device: DeviceChoice::Cuda(0),
        precision: None,
        image_size: 1024,
        tuning: Some(tuning),
        fill_holes: true,
        mode: BlendMode::Blend,
        non_overlap: true,
        gpu_memory_limit_mb: 0,
        frame_prefetch: true,
    }
}

fn framed<T: serde::Serialize>(m: &T) -> Vec<u8> {
    let mut v = Vec::new();
    proto::write_message(&mut v, m).unwrap();
    v
}

#[test]
fn protocol_decoders_survive_random_and_mutated_messages() {
    let objects = vec![
        ObjectKeys::from_boxes("girl#1", [(0, [1.0, 2.0, 300.0, 400.0]), (12, [5.0, 6.0, 310.0, 420.0])]),
        ObjectKeys {
            name: "boy#2".into(),
            keyframes: [
                (
                    3,
                    KeyframePrompt {
                        points: vec![PointPrompt { x: 20.0, y: 30.0, positive: true }],
                        ..KeyframePrompt::from_box([10.0, 20.0, 30.0, 40.0])
                    },
                ),
                (7, KeyframePrompt::from_mask(MaskPrompt::from_bits(1920, 1080, (0..1920 * 1080).map(|i| i % 1920 < 50)).unwrap())),
            ]
            .into(),
        },
    ];
    let requests = [
        Request::Hello { version: proto::VERSION },
        Request::Configure { session: 3, settings: settings(), range: (0, 99), frame_size: (1920, 1080), objects },
        Request::Track { session: 3, frame: 17 },
        Request::Analyse { session: 3 },
        Request::Frame { frame: 17, width: 1920, height: 1080 },
        Request::FrameUnavailable { frame: 4, reason: "disk offline".into() },
        Request::Go { on: true },
        Request::Stats,
        Request::HashFrameFiles { paths: vec!["/shots/sh010/plate.1001.exr".into()], checkpoint: Some("/models/x.pt".into()) },
    ];
    let replies = [
        Reply::Welcome { version: proto::VERSION, pid: 4242 },
        Reply::NeedFrame { frame: 9 },
        Reply::Progress { done: 3, total: 40 },
        Reply::Result { frame: 9, side: 256, objects: vec!["girl#1".into(), "boy#2".into()], precision: Precision::Bf16 },
        Reply::Failed(samurai_core::EngineError::new(samurai_core::ErrorKind::Model, "checkpoint x not found")),
        Reply::Failed(samurai_core::EngineError::cancelled("tracking towards frame 6 was cancelled")),
        Reply::Stats(HelperStats { pid: 1, model_loads: 2, sessions: 3 }),
        Reply::Done,
        Reply::FrameFiles {
            frames: vec![proto::FrameFileHash { width: 1920, height: 1080, hash: "0f".repeat(32) }],
            model_size: Some(samurai_core::config::ModelSize::Small),
        },
    ];
    // Bodies (the decoders) and framed streams (length prefix + body, read as a stream).
    let mut seeds: Vec<Vec<u8>> = requests.iter().map(|m| postcard::to_stdvec(m).unwrap()).collect();
    seeds.extend(requests.iter().map(framed));
    fuzz(
        "request decoder",
        1,
        |r| mutate(r, &seeds),
        |b| proto::decode_request(b).is_ok() | proto::read_request(&mut &b[..]).is_ok_and(|r| r.is_some()),
    );
    let mut seeds: Vec<Vec<u8>> = replies.iter().map(|m| postcard::to_stdvec(m).unwrap()).collect();
    seeds.extend(replies.iter().map(framed));
    fuzz("reply decoder", 2, |r| mutate(r, &seeds), |b| proto::decode_reply(b).is_ok() | proto::read_reply(&mut &b[..]).is_ok());
}

#[test]
fn track_cache_reader_survives_random_and_mutated_files() {
    let frame =
        |k: f32| LowResFrame { side: 4, objects: vec![("a#1".into(), vec![k; 16]), ("b#2".into(), (0..16).map(|i| i as f32).collect())] };
    let cache = TrackCache {
        header: TrackCacheHeader {
            key: "k".repeat(64),
            first_frame: 10,
            frames: 3,
            frame_size: (64, 48),
            side: 4,
            objects: vec!["a#1".into(), "b#2".into()],
            frame_hashes: vec!["h".repeat(64); 3],
            precision: None,
        },
        frames: vec![frame(1.0), frame(-2.0), frame(0.5)],
    };
    let valid = cache.to_bytes().unwrap();
    assert!(TrackCache::from_bytes(&valid).is_ok());
    fuzz_sealed("track-cache reader", 3, valid, |b| TrackCache::from_bytes(b).is_ok());
}

/// Fuzzes a reader of a checksummed container file from one valid file. Half the inputs get
/// a correct checksum after the mutation, as a deliberate forger would write, so the header
/// and data parsing behind the checksum is exercised too.
fn fuzz_sealed(name: &str, seed: u64, valid: Vec<u8>, parse: impl Fn(&[u8]) -> bool) {
    let mut flip = false;
    let seeds = [valid];
    fuzz(
        name,
        seed,
        |r| mutate(r, &seeds),
        |b| {
            flip = !flip;
            if flip && b.len() > 32 {
                let mut fixed = b[..b.len() - 32].to_vec();
                fixed.extend_from_slice(blake3::hash(&fixed).as_bytes());
                parse(&fixed)
            } else {
                parse(b)
            }
        },
    );
}

#[test]
fn pass_file_reader_survives_random_and_mutated_files() {
    use samurai_core::farm::{Direction, PassFileHeader, PassFilePass, PassResults};
    let pass = |object: &str, keyframe, direction, frames| PassFilePass {
        object: object.into(),
        keyframe,
        direction,
        digest: "d".repeat(64),
        frames,
    };
    let results = PassResults {
        header: PassFileHeader {
            plan: "p".repeat(64),
            group: 3,
            side: 4,
            passes: vec![pass("a", 20, Direction::Forward, (20, 22)), pass("b", 20, Direction::Forward, (21, 21))],
            device: "cpu".into(),
            precision: "fp32".into(),
        },
        logits: vec![vec![vec![1.0; 16], vec![-2.0; 16], (0..16).map(|i| i as f32).collect()], vec![vec![0.5; 16]]],
    };
    let valid = results.to_bytes().unwrap();
    assert!(PassResults::from_bytes(&valid).is_ok());
    fuzz_sealed("pass-file reader", 4, valid, |b| PassResults::from_bytes(b).is_ok());
}
