//! Device memory pressure: above a configurable number of bytes in use on the network's
//! device, the session moves what it keeps between steps to host memory, oldest first —
//! first the image features kept for passes that have yet to visit their frame, then the
//! memory-bank entries of the passes (each pass's oldest step first). They come back to
//! the device when a step needs them (a copy for that step; the host copy stays), so the
//! results are identical: moving a tensor between devices does not change a bit.
//!
//! The reading is injectable ([`MemoryReading`]): [`CudaAllocatorReading`] reads the CUDA
//! caching allocator's statistics through the cxx shim; tests inject their own to drive
//! the offload on a CPU-only machine.
use std::fmt;
use std::sync::Arc;
use tch::Device;

/// Bytes in use on a device, as the offload policy sees them.
pub trait MemoryReading: Send + Sync {
    /// Bytes in use on `device` now, or `None` when unknown (nothing is then offloaded).
    fn bytes_in_use(&self, device: Device) -> Option<u64>;
}

/// The CUDA caching allocator's allocated bytes on the device (`None` off CUDA).
#[derive(Debug, Clone, Copy, Default)]
pub struct CudaAllocatorReading;

impl MemoryReading for CudaAllocatorReading {
    fn bytes_in_use(&self, device: Device) -> Option<u64> {
        match device {
            Device::Cuda(i) => crate::ffi::cuda_memory_stats(i as i8).ok().map(|s| s.allocated_bytes.max(0) as u64),
            _ => None,
        }
    }
}

/// When to offload: above `threshold_bytes` in use according to `reading`.
#[derive(Clone)]
pub struct OffloadPolicy {
    pub threshold_bytes: u64,
    pub reading: Arc<dyn MemoryReading>,
}

impl OffloadPolicy {
    /// The CUDA allocator's reading with a threshold in bytes.
    pub fn cuda(threshold_bytes: u64) -> Self {
        Self { threshold_bytes, reading: Arc::new(CudaAllocatorReading) }
    }

    /// Whether `device` is above the threshold now.
    pub fn over(&self, device: Device) -> bool {
        self.reading.bytes_in_use(device).is_some_and(|b| b > self.threshold_bytes)
    }
}

impl fmt::Debug for OffloadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffloadPolicy").field("threshold_bytes", &self.threshold_bytes).finish_non_exhaustive()
    }
}

/// A copy of `t` in host memory with storage of its own (on a CPU-only machine too, so the
/// round trip is really exercised there).
pub fn to_host(t: &tch::Tensor) -> tch::Tensor {
    if t.device() == Device::Cpu {
        t.copy()
    } else {
        t.to_device(Device::Cpu)
    }
}
