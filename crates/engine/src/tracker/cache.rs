//! Per-frame result cache with a byte budget (least recently used entries go first).
//! Entries are keyed by the pass that produced them and the frame, so a keyframe edit only
//! orphans the entries of the passes that start at that keyframe. The cache is shared
//! (`Arc<Mutex<…>>`) so a host can serve cached frames while a propagation runs elsewhere.
use super::pass::{Direction, PassSpec};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tch::Tensor;

/// Identifies a pass: object, keyframe, a digest of its prompts (every bit of the box,
/// points and mask) and direction. Model and tuning are fixed for a session; changing them
/// starts a new session (and cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PassKey {
    pub object: u64,
    pub keyframe: usize,
    pub prompt: [u8; 32],
    pub direction: Direction,
}

impl PassKey {
    pub fn new(object: u64, spec: &PassSpec) -> Self {
        Self { object, keyframe: spec.keyframe, prompt: spec.digest, direction: spec.direction }
    }

    /// Step index of clip frame `frame`, if the pass reaches it.
    pub fn step_of_frame(&self, frame: usize) -> Option<usize> {
        super::pass::step_of_frame(self.keyframe, self.direction, frame)
    }
}

/// What is kept of one step's output. Plain data (no tensor), so records can be shared
/// between threads (`tch::Tensor` is not `Sync`).
#[derive(Debug)]
pub struct FrameRecord {
    /// `S/4 × S/4` float32 logits, row-major.
    pub low_res: Vec<f32>,
    /// `S/4`.
    pub side: i64,
    pub object_score: f32,
    pub best_iou: f32,
    pub chosen: usize,
    pub kf_score: Option<f32>,
    pub memory_frames: Vec<usize>,
}

impl FrameRecord {
    fn bytes(&self) -> usize {
        self.low_res.len() * 4 + self.memory_frames.len() * 8 + 64
    }

    /// The logits as a `[1, 1, S/4, S/4]` CPU tensor.
    pub fn low_res_logits(&self) -> Tensor {
        Tensor::from_slice(&self.low_res).view([1, 1, self.side, self.side])
    }
}

struct Entry {
    record: Arc<FrameRecord>,
    last_use: u64,
}

/// The cache proper; use through [`SharedCache`].
pub struct ResultCache {
    budget: usize,
    used: usize,
    clock: u64,
    entries: HashMap<(PassKey, usize), Entry>,
}

/// A cloneable handle to one cache.
pub type SharedCache = Arc<Mutex<ResultCache>>;

impl ResultCache {
    /// A cache holding at most `budget` bytes (at least one entry is always kept).
    pub fn new(budget: usize) -> Self {
        Self { budget, used: 0, clock: 0, entries: HashMap::new() }
    }

    pub fn shared(budget: usize) -> SharedCache {
        Arc::new(Mutex::new(Self::new(budget)))
    }

    pub fn get(&mut self, key: PassKey, frame: usize) -> Option<Arc<FrameRecord>> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(&(key, frame)).map(|e| {
            e.last_use = clock;
            e.record.clone()
        })
    }

    pub fn contains(&self, key: PassKey, frame: usize) -> bool {
        self.entries.contains_key(&(key, frame))
    }

    pub fn insert(&mut self, key: PassKey, frame: usize, record: FrameRecord) -> Arc<FrameRecord> {
        self.clock += 1;
        let record = Arc::new(record);
        let bytes = record.bytes();
        if let Some(old) = self.entries.insert((key, frame), Entry { record: record.clone(), last_use: self.clock }) {
            self.used -= old.record.bytes();
        }
        self.used += bytes;
        self.evict();
        record
    }

    /// Drops least recently used entries until the budget holds.
    fn evict(&mut self) {
        while self.used > self.budget && self.entries.len() > 1 {
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.last_use).map(|(k, _)| *k).expect("non-empty");
            if let Some(e) = self.entries.remove(&oldest) {
                self.used -= e.record.bytes();
            }
        }
    }

    /// Removes every entry whose pass is not in `live`.
    pub fn retain_passes(&mut self, live: &dyn Fn(&PassKey) -> bool) {
        let before: Vec<(PassKey, usize)> = self.entries.keys().copied().filter(|(k, _)| !live(k)).collect();
        for key in before {
            if let Some(e) = self.entries.remove(&key) {
                self.used -= e.record.bytes();
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.used = 0;
    }

    /// Bytes currently held.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(object: u64) -> PassKey {
        PassKey::new(object, &PassSpec::from_box(0, [0.0, 0.0, 1.0, 1.0], Direction::Forward))
    }

    fn record() -> FrameRecord {
        FrameRecord {
            low_res: vec![0.0; 256],
            side: 16,
            object_score: 0.0,
            best_iou: 0.0,
            chosen: 0,
            kf_score: None,
            memory_frames: vec![],
        }
    }

    #[test]
    fn budget_evicts_least_recently_used() {
        let one = record().bytes();
        let mut c = ResultCache::new(3 * one);
        for f in 0..3 {
            c.insert(key(1), f, record());
        }
        assert!(c.get(key(1), 0).is_some()); // frame 0 is now the most recent
        c.insert(key(1), 3, record());
        assert!(c.contains(key(1), 0));
        assert!(!c.contains(key(1), 1), "frame 1 was the least recently used");
        assert_eq!(c.len(), 3);
        assert!(c.used_bytes() <= 3 * one);
    }

    #[test]
    fn orphaned_passes_are_dropped() {
        let mut c = ResultCache::new(usize::MAX);
        c.insert(key(1), 0, record());
        c.insert(key(2), 0, record());
        c.retain_passes(&|k| k.object == 2);
        assert_eq!(c.len(), 1);
        assert!(c.contains(key(2), 0));
    }
}
