//! Frames loaded ahead of the tracker: [`PrefetchSource`] wraps a [`FrameSource`] and
//! decodes and squashes the frames a pass will ask for next on background threads, so the
//! tracking thread finds each frame's network input ready instead of decoding it itself.
//!
//! - **Access pattern.** The direction is the one of the last two requests (forward passes
//!   ask for rising frames, backward passes for falling ones); the next `ahead` frames in
//!   that direction are loaded. A request that jumps elsewhere moves the window there and
//!   drops what was loaded outside it.
//! - **Bounded.** Loaded inputs and decodes in flight (counted at the full frame's 8-bit
//!   size) stay within a byte budget; one frame is always allowed so progress never stops.
//! - **Same bytes.** Workers call the wrapped source's own
//!   [`load_input`](FrameSource::load_input), so the tracker gets exactly what it would have
//!   computed itself; prefetching changes when, never what.
//! - **Errors.** A frame that fails to load keeps its error (naming the file and the frame)
//!   and hands it to the tracker when it asks for that frame; frames before it are used
//!   normally. A panicking decoder becomes an error too.
//! - **Shutdown.** Dropping the source (the session that owns it ends, is cancelled, or
//!   fails) stops the workers and joins them: a decode in progress finishes, nothing else
//!   starts, and no thread outlives the source.
use super::frame_source::FrameSource;
use crate::error::{Error, Result};
use crate::image::Rgb8Image;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How far and with how many threads to load ahead.
#[derive(Debug, Clone, Copy)]
pub struct PrefetchOptions {
    /// Frames loaded ahead of the last request.
    pub ahead: usize,
    /// Loader threads.
    pub threads: usize,
    /// Bytes of loaded inputs plus decodes in flight.
    pub byte_budget: usize,
}

impl Default for PrefetchOptions {
    fn default() -> Self {
        Self { ahead: 4, threads: 2, byte_budget: 256 << 20 }
    }
}

/// What the loader did (for logs and benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrefetchStats {
    /// Frames handed to the tracker.
    pub served: usize,
    /// Of those, frames that were ready when asked for.
    pub ready_hits: usize,
    /// Frames loaded on the tracker's own thread (nothing was under way for them).
    pub loaded_inline: usize,
    /// Frames loaded and dropped unused (the access pattern changed).
    pub wasted: usize,
    /// Seconds spent loading (decode + conversion + squash) on any thread.
    pub load_seconds: f64,
    /// Seconds the tracker waited for a frame or loaded one itself.
    pub wait_seconds: f64,
}

impl PrefetchStats {
    /// Share of the loading time the tracker did not wait for (0 to 1).
    pub fn hidden_share(&self) -> f64 {
        if self.load_seconds > 0.0 {
            (1.0 - self.wait_seconds / self.load_seconds).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Loads a source's frames ahead of the tracker on background threads.
pub struct PrefetchSource {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    len: usize,
    size: (u32, u32),
}

struct Shared {
    inner: Arc<dyn FrameSource + Send + Sync>,
    options: PrefetchOptions,
    state: Mutex<State>,
    /// Workers wait here for something to load.
    work: Condvar,
    /// The tracker waits here for a frame in flight.
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// The network's input size, known from the first request.
    image_size: Option<u32>,
    /// The last frame asked for, and the direction requests are moving in (+1 or −1).
    cursor: Option<usize>,
    step: isize,
    ready: HashMap<usize, Result<Rgb8Image>>,
    in_flight: HashSet<usize>,
    /// Bytes of `ready` plus the reservations of `in_flight`.
    bytes: usize,
    shutdown: bool,
    stats: PrefetchStats,
}

impl State {
    /// Frames the window covers, nearest first.
    fn window(&self, len: usize, ahead: usize) -> Vec<usize> {
        let Some(c) = self.cursor else { return Vec::new() };
        (1..=ahead as isize).map(|i| c as isize + self.step * i).take_while(|f| (0..len as isize).contains(f)).map(|f| f as usize).collect()
    }
}

/// Bytes an entry of `ready` holds.
fn entry_bytes(r: &Result<Rgb8Image>) -> usize {
    r.as_ref().map_or(0, |img| img.data.len())
}

impl PrefetchSource {
    /// Starts `options.threads` loaders over `inner` (at least one thread, at least one
    /// frame ahead).
    pub fn new(inner: Arc<dyn FrameSource + Send + Sync>, options: PrefetchOptions) -> Self {
        let options = PrefetchOptions { ahead: options.ahead.max(1), threads: options.threads.max(1), ..options };
        let (len, size) = (inner.len(), inner.frame_size());
        let shared = Arc::new(Shared {
            inner,
            options,
            state: Mutex::new(State { step: 1, ..State::default() }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (0..options.threads)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("frame-loader-{i}"))
                    .spawn(move || shared.worker())
                    .expect("spawning a frame loader thread")
            })
            .collect();
        Self { shared, workers, len, size }
    }

    /// What the loader has done so far.
    pub fn stats(&self) -> PrefetchStats {
        self.shared.state.lock().stats
    }
}

impl Shared {
    /// Bytes a decode in flight reserves: the full frame in 8 bits plus its input.
    fn reservation(&self, image_size: u32) -> usize {
        let (w, h) = self.inner.frame_size();
        w as usize * h as usize * 3 + (image_size as usize).pow(2) * 3
    }

    fn worker(&self) {
        let mut st = self.state.lock();
        loop {
            if st.shutdown {
                return;
            }
            let Some((frame, image_size)) = self.next_job(&st) else {
                self.work.wait(&mut st);
                continue;
            };
            let reserve = self.reservation(image_size);
            st.in_flight.insert(frame);
            st.bytes += reserve;
            drop(st);
            let started = Instant::now();
            let result = self.load_guarded(frame, image_size);
            let took = started.elapsed().as_secs_f64();
            st = self.state.lock();
            st.in_flight.remove(&frame);
            st.bytes -= reserve;
            st.stats.load_seconds += took;
            // Keep it only if it is still wanted: same input size, and the frame asked for
            // now (the tracker may be waiting for it) or one of the window.
            let wanted = st.image_size == Some(image_size)
                && (st.cursor == Some(frame) || st.window(self.inner.len(), self.options.ahead).contains(&frame));
            if wanted && !st.ready.contains_key(&frame) {
                st.bytes += entry_bytes(&result);
                st.ready.insert(frame, result);
            } else {
                st.stats.wasted += 1;
            }
            self.done.notify_all();
        }
    }

    /// The nearest frame of the window that is neither loaded nor loading, if the budget
    /// allows another decode.
    fn next_job(&self, st: &State) -> Option<(usize, u32)> {
        let image_size = st.image_size?;
        let frame =
            st.window(self.inner.len(), self.options.ahead).into_iter().find(|f| !st.ready.contains_key(f) && !st.in_flight.contains(f))?;
        let busy = !st.ready.is_empty() || !st.in_flight.is_empty();
        if busy && st.bytes + self.reservation(image_size) > self.options.byte_budget {
            return None;
        }
        Some((frame, image_size))
    }

    /// The wrapped source's load, with a panic turned into an error naming the frame.
    fn load_guarded(&self, frame: usize, image_size: u32) -> Result<Rgb8Image> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.load_input(frame, image_size))).unwrap_or_else(|panic| {
            Err(Error::invalid("frame", format!("loading frame {frame} failed: {}", samurai_core::error::panic_text(&*panic))))
        })
    }
}

impl FrameSource for PrefetchSource {
    fn len(&self) -> usize {
        self.len
    }

    fn frame_size(&self) -> (u32, u32) {
        self.size
    }

    /// Full-resolution frames are not prefetched (the tracker only asks for inputs).
    fn load(&self, index: usize) -> Result<Rgb8Image> {
        self.shared.inner.load(index)
    }

    fn load_input(&self, index: usize, image_size: u32) -> Result<Rgb8Image> {
        let shared = &*self.shared;
        let waited = Instant::now();
        let mut st = shared.state.lock();
        if st.image_size != Some(image_size) {
            st.image_size = Some(image_size);
            let dropped: usize = st.ready.values().map(entry_bytes).sum();
            st.stats.wasted += st.ready.len();
            st.bytes -= dropped;
            st.ready.clear();
        }
        if let Some(c) = st.cursor {
            if index != c {
                st.step = if index > c { 1 } else { -1 };
            }
        }
        st.cursor = Some(index);
        // Drop what the new window no longer covers (the request itself is taken below).
        let window: HashSet<usize> = st.window(self.len, shared.options.ahead).into_iter().chain([index]).collect();
        let stale: Vec<usize> = st.ready.keys().copied().filter(|f| !window.contains(f)).collect();
        for f in stale {
            let r = st.ready.remove(&f).expect("listed");
            st.bytes -= entry_bytes(&r);
            st.stats.wasted += 1;
        }
        shared.work.notify_all();
        st.stats.served += 1;
        if let Some(r) = st.ready.remove(&index) {
            st.bytes -= entry_bytes(&r);
            st.stats.ready_hits += 1;
            st.stats.wait_seconds += waited.elapsed().as_secs_f64();
            return r;
        }
        if st.in_flight.contains(&index) {
            while !st.ready.contains_key(&index) && st.in_flight.contains(&index) {
                shared.done.wait_for(&mut st, Duration::from_millis(200));
            }
            if let Some(r) = st.ready.remove(&index) {
                st.bytes -= entry_bytes(&r);
                st.stats.wait_seconds += waited.elapsed().as_secs_f64();
                return r;
            }
        }
        // Nothing under way for it: load it here.
        st.stats.loaded_inline += 1;
        drop(st);
        let started = Instant::now();
        let r = shared.load_guarded(index, image_size);
        let mut st = shared.state.lock();
        st.stats.load_seconds += started.elapsed().as_secs_f64();
        st.stats.wait_seconds += waited.elapsed().as_secs_f64();
        r
    }

    fn identity(&self) -> String {
        self.shared.inner.identity()
    }
}

impl Drop for PrefetchSource {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.work.notify_all();
        for w in self.workers.drain(..) {
            // A worker that panicked outside the guarded load has nothing left to clean up.
            let _ = w.join();
        }
        let st = self.shared.state.lock();
        tracing::info!(stats = ?st.stats, hidden_share = st.stats.hidden_share(), "frame loader stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A synthetic clip: frame `i` is filled with `i`; `broken` fails; each load sleeps.
    struct Synthetic {
        len: usize,
        broken: Option<usize>,
        delay: Duration,
        loads: AtomicUsize,
    }

    impl FrameSource for Synthetic {
        fn len(&self) -> usize {
            self.len
        }
        fn frame_size(&self) -> (u32, u32) {
            (8, 4)
        }
        fn load(&self, index: usize) -> Result<Rgb8Image> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            if Some(index) == self.broken {
                return Err(Error::Image { path: format!("clip/{index:05}.exr").into(), reason: format!("frame {index} is truncated") });
            }
            Ok(Rgb8Image { width: 8, height: 4, data: vec![index as u8; 8 * 4 * 3] })
        }
        fn identity(&self) -> String {
            "synthetic".into()
        }
    }

    fn synthetic(len: usize, broken: Option<usize>, delay_ms: u64) -> Arc<Synthetic> {
        Arc::new(Synthetic { len, broken, delay: Duration::from_millis(delay_ms), loads: AtomicUsize::new(0) })
    }

    #[test]
    fn serves_the_same_bytes_forward_and_backward() {
        let inner = synthetic(12, None, 1);
        let pf = PrefetchSource::new(inner.clone(), PrefetchOptions { ahead: 3, threads: 2, byte_budget: 1 << 20 });
        for f in (0..12).chain((0..12).rev()) {
            assert_eq!(pf.load_input(f, 4).unwrap(), inner.load_input(f, 4).unwrap(), "frame {f}");
        }
        let stats = pf.stats();
        assert_eq!(stats.served, 24);
        assert!(stats.ready_hits > 0, "{stats:?}");
    }

    #[test]
    fn frames_in_flight_are_waited_for_not_loaded_twice() {
        let inner = synthetic(20, None, 30);
        let pf = PrefetchSource::new(inner.clone(), PrefetchOptions { ahead: 4, threads: 2, byte_budget: 1 << 20 });
        for f in 0..3 {
            assert_eq!(pf.load_input(f, 4).unwrap().data[0], f as u8);
        }
        let stats = pf.stats();
        // Frame 0 is loaded by the caller; 1 and 2 were started by the loaders meanwhile.
        assert_eq!(stats.loaded_inline, 1, "{stats:?}");
        assert!(stats.load_seconds >= stats.wait_seconds, "{stats:?}");
        drop(pf);
        assert!(inner.loads.load(Ordering::SeqCst) <= 3 + 4, "no frame is loaded twice beyond the window");
    }

    #[test]
    fn a_broken_frame_reaches_the_caller_named_and_shutdown_joins_every_worker() {
        let inner = synthetic(10, Some(5), 2);
        let pf = PrefetchSource::new(inner.clone(), PrefetchOptions { ahead: 4, threads: 3, byte_budget: 1 << 20 });
        for f in 0..5 {
            assert_eq!(pf.load_input(f, 4).unwrap().data[0], f as u8);
        }
        let err = pf.load_input(5, 4).unwrap_err().to_string();
        assert!(err.contains("00005.exr") && err.contains("frame 5"), "{err}");
        // Every worker holds the inner source; once the prefetcher is gone, nothing does.
        drop(pf);
        assert_eq!(Arc::strong_count(&inner), 1, "a loader thread outlived its source");
    }

    #[test]
    fn dropping_in_the_middle_stops_loading() {
        let inner = synthetic(1000, None, 20);
        let pf = PrefetchSource::new(inner.clone(), PrefetchOptions { ahead: 8, threads: 2, byte_budget: 1 << 20 });
        pf.load_input(0, 4).unwrap();
        pf.load_input(1, 4).unwrap();
        drop(pf);
        assert_eq!(Arc::strong_count(&inner), 1);
        let loads = inner.loads.load(Ordering::SeqCst);
        // The requests, the window (8) and at most the decodes in flight: not the clip.
        assert!(loads <= 2 + 8 + 2, "{loads} loads after a drop at frame 1");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(inner.loads.load(Ordering::SeqCst), loads, "loading went on after the drop");
    }

    #[test]
    fn the_byte_budget_bounds_work_ahead() {
        // 8x4 frames: a reservation is 96 + 48 bytes; a budget of 200 allows one at a time.
        let inner = synthetic(50, None, 1);
        let pf = PrefetchSource::new(inner.clone(), PrefetchOptions { ahead: 10, threads: 4, byte_budget: 200 });
        pf.load_input(0, 4).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        {
            let st = pf.shared.state.lock();
            assert!(st.ready.len() + st.in_flight.len() <= 2, "{} ready, {} in flight", st.ready.len(), st.in_flight.len());
            assert!(st.bytes <= 200, "{} bytes", st.bytes);
        }
        for f in 1..50 {
            assert_eq!(pf.load_input(f, 4).unwrap().data[0], f as u8);
        }
    }
}
