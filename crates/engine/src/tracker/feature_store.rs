//! Image-encoder outputs kept for passes that have yet to visit their frame.
//!
//! Passes advance one direction at a time, so a frame that several passes need (the two
//! passes of a span between keyframes, objects keyed on different frames) would otherwise
//! run the image encoder once per direction. The session keeps a frame's features while a
//! known pass still has to visit it and drops them when none has; a byte budget bounds what
//! is held (the oldest kept frame goes first). Single-direction tracking keeps nothing.
use crate::model::BackboneFeatures;
use std::collections::{HashSet, VecDeque};
use tch::Tensor;

/// Features by frame, oldest first, within a byte budget.
pub struct FeatureStore {
    budget: usize,
    bytes: usize,
    entries: VecDeque<(usize, BackboneFeatures, usize)>,
    /// Kept frames moved to host memory under device memory pressure.
    offloaded: HashSet<usize>,
}

/// Bytes a frame's features hold of their own: the feature levels. The position encodings
/// are the same tensors for every frame (computed once per grid) and are not counted.
fn feature_bytes(f: &BackboneFeatures) -> usize {
    f.vision_feats.iter().map(|t| t.numel() * t.kind().elt_size_in_bytes()).sum()
}

fn shallow(f: &BackboneFeatures) -> BackboneFeatures {
    BackboneFeatures {
        vision_feats: f.vision_feats.iter().map(|t| t.shallow_clone()).collect(),
        vision_pos_embeds: f.vision_pos_embeds.iter().map(|t| t.shallow_clone()).collect(),
        feat_sizes: f.feat_sizes.clone(),
    }
}

impl FeatureStore {
    pub fn new(budget: usize) -> Self {
        Self { budget, bytes: 0, entries: VecDeque::new(), offloaded: HashSet::new() }
    }

    /// The kept features of `frame` (sharing their storage), if any, on the network's
    /// device (features offloaded to the host come back as a copy; the position encodings,
    /// shared by every frame and never offloaded, say which device that is).
    pub fn get(&self, frame: usize) -> Option<BackboneFeatures> {
        let (_, feats, _) = self.entries.iter().find(|(f, _, _)| *f == frame)?;
        let mut out = shallow(feats);
        if let Some(device) = feats.vision_pos_embeds.first().map(Tensor::device) {
            out.vision_feats = out.vision_feats.iter().map(|t| t.to_device(device)).collect();
        }
        Some(out)
    }

    /// Moves the oldest kept frame still on the network's device to host memory; returns
    /// the frame, or `None` when every kept frame is already there.
    pub fn offload_oldest(&mut self) -> Option<usize> {
        let i = self.entries.iter().position(|(f, _, _)| !self.offloaded.contains(f))?;
        let (frame, feats, _) = &mut self.entries[i];
        feats.vision_feats = feats.vision_feats.iter().map(super::offload::to_host).collect();
        self.offloaded.insert(*frame);
        Some(*frame)
    }

    /// Frames whose features are held in host memory.
    pub fn offloaded(&self) -> Vec<usize> {
        self.frames().into_iter().filter(|f| self.offloaded.contains(f)).collect()
    }

    /// Keeps `feats` for `frame` (no-op when already kept or larger than the budget),
    /// dropping the oldest frames while over budget.
    pub fn keep(&mut self, frame: usize, feats: &BackboneFeatures) {
        if self.entries.iter().any(|(f, _, _)| *f == frame) {
            return;
        }
        let size = feature_bytes(feats);
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((f, _, old)) = self.entries.pop_front() else { break };
            self.bytes -= old;
            self.offloaded.remove(&f);
        }
        self.entries.push_back((frame, shallow(feats), size));
        self.bytes += size;
    }

    /// Keeps `feats` for `frame` as the most recently used (an LRU over frames asked for):
    /// a kept frame moves to the back, the oldest go first while over budget.
    pub fn keep_recent(&mut self, frame: usize, feats: &BackboneFeatures) {
        if let Some(i) = self.entries.iter().position(|(f, _, _)| *f == frame) {
            let entry = self.entries.remove(i).expect("index from position");
            self.entries.push_back(entry);
            return;
        }
        self.keep(frame, feats);
    }

    /// Drops the features of `frame`, if kept.
    pub fn drop_frame(&mut self, frame: usize) {
        if let Some(i) = self.entries.iter().position(|(f, _, _)| *f == frame) {
            let (_, _, size) = self.entries.remove(i).expect("index from position");
            self.bytes -= size;
            self.offloaded.remove(&frame);
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Frames held, oldest first.
    pub fn frames(&self) -> Vec<usize> {
        self.entries.iter().map(|(f, _, _)| *f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn feats(v: f32) -> BackboneFeatures {
        // 1000 floats = 4000 bytes per frame; the position encoding is not counted.
        BackboneFeatures {
            vision_feats: vec![Tensor::full([1000, 1, 1], v as f64, (Kind::Float, tch::Device::Cpu))],
            vision_pos_embeds: vec![Tensor::zeros([1000, 1, 1], (Kind::Float, tch::Device::Cpu))],
            feat_sizes: vec![(10, 100)],
        }
    }

    #[test]
    fn keeps_within_the_budget_dropping_the_oldest_first() {
        let mut s = FeatureStore::new(10_000);
        for f in 0..3 {
            s.keep(f, &feats(f as f32));
        }
        assert_eq!((s.frames(), s.bytes()), (vec![1, 2], 8000));
        let got = s.get(2).expect("kept");
        assert_eq!(got.vision_feats[0].double_value(&[0, 0, 0]), 2.0);
        s.keep(2, &feats(9.0));
        assert_eq!(s.get(2).unwrap().vision_feats[0].double_value(&[0, 0, 0]), 2.0, "a kept frame is not replaced");
        s.drop_frame(1);
        assert_eq!((s.frames(), s.bytes()), (vec![2], 4000));
        assert!(s.get(1).is_none());
        s.keep(3, &feats(3.0));
        assert_eq!(s.offload_oldest(), Some(2));
        assert_eq!(s.offload_oldest(), Some(3));
        assert_eq!(s.offload_oldest(), None);
        assert_eq!(s.offloaded(), vec![2, 3]);
        assert_eq!(s.get(3).unwrap().vision_feats[0].double_value(&[0, 0, 0]), 3.0, "offloaded features come back unchanged");
        s.drop_frame(2);
        assert_eq!(s.offloaded(), vec![3]);
        let mut lru = FeatureStore::new(8000);
        lru.keep_recent(0, &feats(0.0));
        lru.keep_recent(1, &feats(1.0));
        lru.keep_recent(0, &feats(0.0));
        lru.keep_recent(2, &feats(2.0));
        assert_eq!(lru.frames(), vec![0, 2], "the frame used again outlives the one used once");
        let mut tiny = FeatureStore::new(3999);
        tiny.keep(0, &feats(0.0));
        assert_eq!(tiny.frames(), Vec::<usize>::new(), "a frame larger than the budget is not kept");
    }
}
