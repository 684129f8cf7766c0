//! Shared by the fuzz tests (`crates/core/tests/fuzz_decoders.rs`,
//! `crates/engine/tests/formats/fuzz_checkpoint.rs`): an allocator that records the largest single request, a
//! reproducible generator and the driver that checks every input for panics, hangs and
//! allocations the input does not justify. Each test binary installs the allocator:
//! `#[global_allocator] static ALLOCATOR: Counting = Counting;`.
#![allow(dead_code)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, recording the largest single request since the last reset.
pub struct Counting;
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

/// Inputs per decoder.
pub const INPUTS: usize = 100_000;

pub fn limit(len: usize) -> usize {
    16 * len + (2 << 20)
}

/// xorshift64*: reproducible inputs without a dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs `decode` on [`INPUTS`] inputs made by `input`, checking each (no input over a
/// second, no single allocation over [`limit`]), and prints what it saw.
pub fn fuzz(name: &str, seed: u64, mut input: impl FnMut(&mut Rng) -> Vec<u8>, mut decode: impl FnMut(&[u8]) -> bool) {
    let mut rng = Rng(seed);
    let (mut ok, mut refused, mut slowest, mut worst) = (0usize, 0usize, Duration::ZERO, 0usize);
    for i in 0..INPUTS {
        let input = input(&mut rng);
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
