//! Device and precision selection. libtorch has no autocast, so the bf16 path casts the
//! weights at load time and the inputs at each entry point; outputs (mask logits, scores,
//! pointers) are returned as float32 like the reference's `.float()` calls.
//!
//! CUDA paths compile everywhere but are only exercised on a machine with a GPU; this
//! project's CI is CPU-only. bf16 also runs (slowly) on CPU, which is how its code path is
//! tested here.
use crate::error::{Error, Result};
use tch::{Device, Kind};

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    /// Parses `auto`, `cpu`, `cuda` or `cuda:N`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(Self::Cuda(n)),
                None => Err(Error::invalid("device", format!("'{s}' is not one of auto, cpu, cuda, cuda:N"))),
            },
        }
    }

    /// Resolves to a libtorch device, failing clearly when CUDA was asked for but is absent.
    pub fn resolve(self) -> Result<Device> {
        let n = crate::ffi::cuda_device_count().max(0) as usize;
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto if n > 0 => Ok(Device::Cuda(0)),
            Self::Auto => Ok(Device::Cpu),
            Self::Cuda(i) if i < n => Ok(Device::Cuda(i)),
            Self::Cuda(i) if n == 0 => Err(Error::Device(format!(
                "CUDA device {i} requested, but CUDA is not available (no GPU or a CPU-only libtorch); use --device cpu"
            ))),
            Self::Cuda(i) => Err(Error::Device(format!("CUDA device {i} requested, but only {n} device(s) are visible"))),
        }
    }
}

/// Numeric precision of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// float32 everywhere (reference parity).
    #[default]
    F32,
    /// bfloat16 weights and activations (meant for CUDA; allowed on CPU for testing).
    Bf16,
}

impl Precision {
    pub fn kind(self) -> Kind {
        match self {
            Self::F32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
        }
    }

    /// Parses `fp32`/`f32`/`float32` or `bf16`/`bfloat16`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" | "float" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            other => Err(Error::invalid("precision", format!("'{other}' is not one of fp32, bf16"))),
        }
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
