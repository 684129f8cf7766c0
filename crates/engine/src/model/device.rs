//! Device and precision selection. libtorch has no autocast, so the bf16 path casts the
//! weights at load time and the inputs at each entry point; outputs (mask logits, scores,
//! pointers) are returned as float32 like the reference's `.float()` calls.
//!
//! CUDA paths compile everywhere but are only exercised on a machine with a GPU; this
//! project's CI is CPU-only. bf16 also runs on every CPU, which is how its code path is
//! tested here; `auto` chooses it where the CPU multiplies bf16 fast ([`Precision::auto`]).
//!
//! On the CPU, bf16 products go through oneDNN (linears, the memory attention) or as two
//! batched products around libtorch's bf16 softmax (other attention), not through
//! libtorch's fused attention kernel or MKL, whose bf16 GEMM runs at the fp32 rate on AMD
//! (see `layers::explicit_attention`). Activations stay bf16 between blocks; fp32 is kept,
//! as the reference keeps it under autocast, only where bf16's 8 bits would not do:
//! - products, softmax and layer norms accumulate in fp32 inside their kernels and round
//!   their output once;
//! - position encodings (sine and random Fourier features) and the memory attention's
//!   rotary encoding are computed in fp32 (angles over a 64×64 grid) and cast;
//! - the neck's nearest-neighbour upsampling runs in fp32, as the reference's does (exact
//!   either way);
//! - the mask decoder's outputs (mask logits, IoU and object scores) are cast to fp32, and
//!   everything after them (thresholds, SAMURAI's Kalman scoring, memory selection, the
//!   written logits) is fp32.
use crate::error::{Error, Result};
use tch::{Device, Kind};

pub use samurai_core::settings::{DeviceChoice, Precision, ResolvedPrecision};

/// Resolving a [`DeviceChoice`] to a libtorch device.
pub trait ResolveDevice {
    /// Resolves to a libtorch device, failing clearly when CUDA was asked for but is absent.
    fn resolve(self) -> Result<Device>;
}

impl ResolveDevice for DeviceChoice {
    fn resolve(self) -> Result<Device> {
        let n = crate::ffi::cuda_device_count().max(0) as usize;
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto if n > 0 => Ok(Device::Cuda(0)),
            Self::Auto => {
                tracing::info!("device auto: no CUDA device visible (no GPU, no NVIDIA driver, or a CPU-only build): running on the CPU");
                Ok(Device::Cpu)
            }
            Self::Cuda(i) if i < n => Ok(Device::Cuda(i)),
            Self::Cuda(i) if n == 0 => Err(Error::Device(format!(
                "CUDA device {i} requested, but CUDA is not available (no GPU or a CPU-only libtorch); use --device cpu"
            ))),
            Self::Cuda(i) => Err(Error::Device(format!("CUDA device {i} requested, but only {n} device(s) are visible"))),
        }
    }
}

/// The libtorch kind of a [`Precision`].
pub fn precision_kind(p: Precision) -> Kind {
    match p {
        Precision::F32 => Kind::Float,
        Precision::Bf16 => Kind::BFloat16,
    }
}

/// How to load the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    pub device: Device,
    pub precision: Precision,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { device: Device::Cpu, precision: Precision::F32 }
    }
}

impl LoadOptions {
    /// The user's device and precision (None: auto) resolved on this machine; what `auto`
    /// chose is logged.
    pub fn resolve(device: DeviceChoice, precision: Option<Precision>) -> Result<(Self, ResolvedPrecision)> {
        let device = device.resolve()?;
        let chosen = Precision::resolve(precision, device.is_cuda());
        tracing::info!("precision {chosen}");
        Ok((Self { device, precision: chosen.precision }, chosen))
    }

    /// Checks that the device exists.
    pub fn validate(&self) -> Result<()> {
        if let Device::Cuda(i) = self.device {
            let n = crate::ffi::cuda_device_count().max(0) as usize;
            if i >= n {
                return Err(Error::Device(format!("CUDA device {i} is not available ({n} visible)")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves_devices() {
        assert_eq!(DeviceChoice::parse("cuda:1").unwrap(), DeviceChoice::Cuda(1));
        assert!(DeviceChoice::parse("tpu").unwrap_err().to_string().contains("tpu"));
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), Device::Cpu);
        if crate::ffi::cuda_device_count() == 0 {
            assert_eq!(DeviceChoice::Auto.resolve().unwrap(), Device::Cpu);
            let err = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
            assert!(err.contains("CUDA is not available"), "{err}");
        }
        assert_eq!(Precision::parse("bf16").unwrap(), Precision::Bf16);
        assert!(Precision::parse("fp8").is_err());
    }
}
