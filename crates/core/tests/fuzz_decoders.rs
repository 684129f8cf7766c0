//! Fuzzing the decoders of untrusted bytes in the libtorch-free layer: the helper's
//! request decoder, the plugin's reply decoder (each with its framing) and the track-cache
//! reader. Each gets 100,000 inputs, random and mutated from valid ones (flipped bytes,
//! cuts, inserted bytes, huge declared lengths; for track caches also with the checksum
//! recomputed after the mutation, so the parser behind it is reached). Checked for every
//! input: no panic, no input taking over a second (a hang), and no single allocation
//! larger than the input justifies (`LIMIT`: 16 bytes per input byte plus 2 MiB, the
//! most serde pre-reserves for a declared sequence, of at most 1 MiB messages).
use samurai_core::lowres::LowResFrame;
use samurai_core::protocol::{self as proto, HelperStats, Reply, Request};
use samurai_core::settings::{BlendMode, DeviceChoice, EngineSettings, ObjectKeys, Tuning};
use samurai_core::track_cache::{TrackCache, TrackCacheHeader};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, recording the largest single request since the last reset.
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is
// updated on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const INPUTS: usize = 100_000;

fn limit(len: usize) -> usize {
    16 * len + (2 << 20)
}

/// xorshift64*: reproducible inputs without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

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

/// Runs `decode` on `INPUTS` inputs; returns (accepted, refused, slowest, largest ratio).
fn fuzz(name: &str, seeds: &[Vec<u8>], seed: u64, mut decode: impl FnMut(&[u8]) -> bool) {
    let mut rng = Rng(seed);
    let (mut ok, mut refused, mut slowest, mut worst) = (0usize, 0usize, Duration::ZERO, 0usize);
    for i in 0..INPUTS {
        let input = mutate(&mut rng, seeds);
        LARGEST.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let accepted = decode(&input);
        let took = start.elapsed();
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(took < Duration::from_secs(1), "{name}: input {i} ({} bytes) took {took:?}", input.len());
        assert!(
            largest <= limit(input.len()),
            "{name}: input {i} ({} bytes) allocated {largest} bytes at once: {:02x?}",
            input.len(),
            &input[..input.len().min(64)]
        );
        slowest = slowest.max(took);
        worst = worst.max(largest);
        if accepted {
            ok += 1
        } else {
            refused += 1
        }
    }
    eprintln!(
        "fuzz {name}: {INPUTS} inputs, {ok} decoded, {refused} refused, slowest {slowest:?}, largest single allocation {worst} bytes"
    );
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
        checkpoint: "/shots/sam2.1_hiera_tiny.pt".into(),
        model_size: None,
        device: DeviceChoice::Cuda(0),
        precision: None,
        image_size: 1024,
        tuning: Some(tuning),
        fill_holes: true,
        mode: BlendMode::Blend,
        non_overlap: true,
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
        ObjectKeys { name: "girl#1".into(), keyframes: [(0, [1.0, 2.0, 300.0, 400.0]), (12, [5.0, 6.0, 310.0, 420.0])].into() },
        ObjectKeys { name: "boy#2".into(), keyframes: [(3, [10.0, 20.0, 30.0, 40.0])].into() },
    ];
    let requests = vec![
        Request::Hello { version: proto::VERSION },
        Request::Configure { session: 3, settings: settings(), range: (0, 99), frame_size: (1920, 1080), objects },
        Request::Track { session: 3, frame: 17 },
        Request::Analyse { session: 3 },
        Request::Frame { frame: 17, width: 1920, height: 1080 },
        Request::FrameUnavailable { frame: 4, reason: "disk offline".into() },
        Request::Go { on: true },
        Request::Stats,
    ];
    let replies = vec![
        Reply::Welcome { version: proto::VERSION, pid: 4242 },
        Reply::NeedFrame { frame: 9 },
        Reply::Progress { done: 3, total: 40 },
        Reply::Result { frame: 9, side: 256, objects: vec!["girl#1".into(), "boy#2".into()] },
        Reply::Failed { message: "checkpoint x not found".into() },
        Reply::Stats(HelperStats { pid: 1, model_loads: 2, sessions: 3 }),
        Reply::Done,
    ];
    // Bodies (the decoders) and framed streams (length prefix + body, read as a stream).
    let mut seeds: Vec<Vec<u8>> = requests.iter().map(|m| postcard::to_stdvec(m).unwrap()).collect();
    seeds.extend(requests.iter().map(framed));
    fuzz("request decoder", &seeds, 1, |b| proto::decode_request(b).is_ok() | proto::read_request(&mut &b[..]).is_ok_and(|r| r.is_some()));
    let mut seeds: Vec<Vec<u8>> = replies.iter().map(|m| postcard::to_stdvec(m).unwrap()).collect();
    seeds.extend(replies.iter().map(framed));
    fuzz("reply decoder", &seeds, 2, |b| proto::decode_reply(b).is_ok() | proto::read_reply(&mut &b[..]).is_ok());
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
        },
        frames: vec![frame(1.0), frame(-2.0), frame(0.5)],
    };
    let valid = cache.to_bytes().unwrap();
    assert!(TrackCache::from_bytes(&valid).is_ok());
    // Half the inputs get a correct checksum after the mutation, as a deliberate forger
    // would write, so the header and data parsing behind the checksum is exercised too.
    let mut flip = false;
    fuzz("track-cache reader", &[valid], 3, |b| {
        flip = !flip;
        if flip && b.len() > 32 {
            let mut fixed = b[..b.len() - 32].to_vec();
            fixed.extend_from_slice(blake3::hash(&fixed).as_bytes());
            TrackCache::from_bytes(&fixed).is_ok()
        } else {
            TrackCache::from_bytes(b).is_ok()
        }
    });
}
