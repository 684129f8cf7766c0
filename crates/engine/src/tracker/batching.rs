//! How many objects step together. Objects whose passes stand on the same frame with the
//! same memory layout run memory attention, the mask decoder and the memory encoder as one
//! batch ([`step_tracked`](super::pass::step_tracked)); this module decides how large a
//! batch may be, from the image size and the device's free memory. Explicit batches run on
//! the CPU too (bit for bit what each object gets alone there), but the automatic policy
//! keeps the CPU one by one, where batching was measured not to pay.
use crate::model::Sam2Model;
use std::num::NonZeroUsize;
use tch::Device;

/// Largest batch the automatic policy forms, whatever the memory.
pub const MAX_AUTO_BATCH: usize = 16;

/// Share of the device's free memory a batch's working set may take.
const FREE_MEMORY_SHARE: f64 = 0.5;

/// Object batching of tracked steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectBatch {
    /// On a GPU, as many objects as fit in half the device's free memory (see
    /// [`batch_limit`]), at most [`MAX_AUTO_BATCH`]. On the CPU one by one: measured there
    /// (`scripts/bench.sh objects`, tiny at 512, idle 2-core machine), a batch costs more
    /// than its objects alone (×1.03 for 2 objects, ×1.05 for 4, ×1.30 for 8): a lone
    /// object's memory-attention activations stay in cache, a batch's do not, and there are
    /// no kernel launches to save.
    #[default]
    Auto,
    /// At most this many objects per batch; 1 steps each object on its own.
    AtMost(NonZeroUsize),
}

impl ObjectBatch {
    /// One object at a time.
    pub const ONE_BY_ONE: Self = Self::AtMost(NonZeroUsize::MIN);

    /// From a command-line or settings value: 0 means automatic.
    pub fn from_count(n: usize) -> Self {
        NonZeroUsize::new(n).map_or(Self::Auto, Self::AtMost)
    }

    /// The batch size to use now with `model`.
    pub fn limit(&self, model: &Sam2Model) -> usize {
        match self {
            Self::AtMost(n) => n.get(),
            Self::Auto if model.device == Device::Cpu => 1,
            Self::Auto => batch_limit(working_bytes_per_object(model), free_bytes(model.device)),
        }
    }
}

/// Objects per batch for a per-object working set of `per_object` bytes when `free`
/// bytes are free (`None`: unknown, no limit but [`MAX_AUTO_BATCH`]).
pub fn batch_limit(per_object: u64, free: Option<u64>) -> usize {
    match free {
        None => MAX_AUTO_BATCH,
        Some(free) => (((free as f64 * FREE_MEMORY_SHARE) / per_object.max(1) as f64) as usize).clamp(1, MAX_AUTO_BATCH),
    }
}

/// Free memory of the network's device as the CUDA driver reports it (`None` off CUDA or
/// when it cannot be read).
fn free_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cuda(i) => crate::ffi::cuda_memory_stats(i as i8).ok().and_then(|s| u64::try_from(s.free_bytes).ok()),
        _ => None,
    }
}

/// An upper estimate of what one more object adds to a batched tracked step, in bytes,
/// at the network's image size `S` (float32 activations): the mask decoder's candidates
/// and the memory encoder's input at `S²` (about five planes), and the memory attention
/// with every memory slot and pointer filled — keys and values projected to 256 channels,
/// and the query × key attention matrix (a fused attention kernel needs less).
pub fn working_bytes_per_object(model: &Sam2Model) -> u64 {
    let c = &model.config;
    let s = c.image_size as u64;
    let queries = (c.feat_size() * c.feat_size()) as u64;
    let pointer_tokens = (c.max_obj_ptrs_in_encoder as u64) * (c.image_encoder.neck.d_model / c.memory_encoder.out_dim) as u64;
    let keys = c.num_maskmem as u64 * queries + pointer_tokens;
    let d = c.memory_attention.d_model as u64;
    4 * (5 * s * s + queries * keys + 2 * keys * d + 4 * queries * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_follows_free_memory_within_bounds() {
        assert_eq!(batch_limit(100, None), MAX_AUTO_BATCH);
        assert_eq!(batch_limit(100, Some(0)), 1, "always at least one object");
        assert_eq!(batch_limit(100, Some(800)), 4, "half the free memory");
        assert_eq!(batch_limit(100, Some(1 << 40)), MAX_AUTO_BATCH);
    }

    #[test]
    fn zero_means_automatic() {
        assert_eq!(ObjectBatch::from_count(0), ObjectBatch::Auto);
        assert_eq!(ObjectBatch::from_count(1), ObjectBatch::ONE_BY_ONE);
        assert_eq!(ObjectBatch::from_count(3), ObjectBatch::AtMost(NonZeroUsize::new(3).unwrap()));
    }
}
