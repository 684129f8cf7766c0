//! The cxx bridge to `cpp/shim.cpp`: libtorch C++ calls that `tch` does not expose (CUDA
//! caching-allocator statistics and cache release, called from `model/`; libtorch's build
//! description, for `samurai-roto doctor`).
//!
//! The CUDA paths compile on every machine but can only be exercised where a GPU is present;
//! on a CPU-only machine every call reports "CUDA is not available" as an error.

#[cxx::bridge(namespace = "samurai_roto")]
mod bridge {
    /// Caching-allocator figures for one CUDA device, in bytes.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    struct DeviceMemoryStats {
        allocated_bytes: i64,
        peak_allocated_bytes: i64,
        reserved_bytes: i64,
        peak_reserved_bytes: i64,
        num_ooms: i64,
        /// Free and total device memory as the driver reports them (every process's use
        /// counts); -1 when the allocator cannot say.
        free_bytes: i64,
        total_bytes: i64,
    }

    unsafe extern "C++" {
        include!("samurai-roto-engine/cpp/shim.h");
        fn cuda_available() -> bool;
        fn cuda_device_count() -> i64;
        fn cuda_memory_stats(device: i8) -> Result<DeviceMemoryStats>;
        fn cuda_empty_cache() -> Result<()>;
        fn cuda_reset_peak_stats(device: i8) -> Result<()>;
        fn libtorch_config() -> Result<String>;
        fn libtorch_header_version() -> String;
    }
}

pub use bridge::DeviceMemoryStats;

/// Whether libtorch sees a usable CUDA device.
pub fn cuda_available() -> bool {
    bridge::cuda_available()
}

/// Number of visible CUDA devices.
pub fn cuda_device_count() -> i64 {
    bridge::cuda_device_count()
}

/// An exception of the shim (libtorch's own text) as a device error.
fn device_error(e: cxx::Exception) -> crate::Error {
    crate::Error::Device(e.what().to_owned())
}

/// Memory statistics of the CUDA caching allocator for `device`.
pub fn cuda_memory_stats(device: i8) -> crate::Result<DeviceMemoryStats> {
    bridge::cuda_memory_stats(device).map_err(device_error)
}

/// Releases cached, unused CUDA memory back to the driver.
pub fn cuda_empty_cache() -> crate::Result<()> {
    bridge::cuda_empty_cache().map_err(device_error)
}

/// Resets the peak memory counters of `device`.
pub fn cuda_reset_peak_stats(device: i8) -> crate::Result<()> {
    bridge::cuda_reset_peak_stats(device).map_err(device_error)
}

/// The loaded libtorch's description of its build (`at::show_config()`): its version
/// (`TORCH_VERSION=` in the build settings), the CPU capability its kernels dispatch to
/// (`CPU capability usage:`), oneDNN's version, the CUDA runtime when built with CUDA.
pub fn libtorch_config() -> crate::Result<String> {
    bridge::libtorch_config().map_err(device_error)
}

/// The libtorch version of the headers the shim was compiled against.
pub fn libtorch_header_version() -> String {
    bridge::libtorch_header_version()
}

extern "C" {
    /// `cpp/shim.cpp`: fp32 linear through oneDNN, `at::linear` when oneDNN refuses.
    fn samurai_roto_onednn_linear(
        x: *const torch_sys::C_tensor,
        w: *const torch_sys::C_tensor,
        b: *const torch_sys::C_tensor,
        post: *const std::ffi::c_char,
    ) -> *mut torch_sys::C_tensor;
}

/// An elementwise function oneDNN applies to a product's output as it writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOp {
    None,
    Relu,
    /// Exact (erf) GELU.
    Gelu,
}

/// `x·wᵀ + b` computed by oneDNN (`mkldnn::_linear_pointwise`) rather than MKL's sgemm:
/// the same fp32 products, summed in another order, faster on few cores.
pub fn onednn_linear(x: &tch::Tensor, w: &tch::Tensor, b: Option<&tch::Tensor>) -> tch::Tensor {
    onednn_linear_post(x, w, b, PostOp::None)
}

/// [`onednn_linear`] followed by `post`, fused.
pub fn onednn_linear_post(x: &tch::Tensor, w: &tch::Tensor, b: Option<&tch::Tensor>, post: PostOp) -> tch::Tensor {
    let b = b.map_or(std::ptr::null(), tch::Tensor::as_ptr);
    let post = match post {
        PostOp::None => c"none",
        PostOp::Relu => c"relu",
        PostOp::Gelu => c"gelu",
    };
    // SAFETY: the shim only reads the three tensors and the string and returns a new heap
    // `at::Tensor` (never null: it falls back to `at::linear`), whose ownership passes to tch.
    unsafe { tch::Tensor::from_ptr(samurai_roto_onednn_linear(x.as_ptr(), w.as_ptr(), b, post.as_ptr())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_only_machine_reports_cuda_errors_instead_of_crashing() {
        if cuda_available() {
            let stats = cuda_memory_stats(0).expect("stats on a CUDA machine");
            assert!(stats.reserved_bytes >= stats.allocated_bytes);
        } else {
            assert_eq!(cuda_device_count(), 0);
            let err = cuda_memory_stats(0).unwrap_err();
            assert!(matches!(&err, crate::Error::Device(what) if what.contains("CUDA is not available")), "{err}");
            assert!(cuda_empty_cache().is_err());
        }
    }

    #[test]
    fn libtorch_describes_its_build_and_version() {
        let config = libtorch_config().unwrap();
        let version = libtorch_header_version();
        assert!(version.chars().next().is_some_and(|c| c.is_ascii_digit()), "{version}");
        assert!(config.contains(&format!("TORCH_VERSION={version}")), "{config}");
        assert!(config.contains("CPU capability usage:"), "{config}");
    }
}
