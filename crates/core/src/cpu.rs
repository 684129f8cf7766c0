//! What this machine's CPU offers, as the Linux kernel reports it (`/proc/cpuinfo`): its
//! vendor, model name and feature flags. A flag the kernel lists is one it can use: AMX's flags, in
//! particular, appear only where the kernel manages the tile state (Linux 5.16 and later),
//! which is also what libtorch's AMX kernels need. `doctor` prints these, and
//! [`Precision::auto`](crate::settings::Precision::auto) decides from them.
use std::sync::OnceLock;

/// The CPU flags that decide libtorch's kernels and its bf16 matrix paths on x86-64, as the
/// kernel names them.
pub const FLAGS: &[&str] = &["avx2", "fma", "f16c", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"];

/// The vendor, model name and flags of the first CPU in `/proc/cpuinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// `vendor_id`: `GenuineIntel`, `AuthenticAMD`, ...
    pub vendor: Option<String>,
    pub model: Option<String>,
    flags: Vec<String>,
}

/// How a CPU multiplies bfloat16 matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Matrix {
    /// AMX tiles (Intel Xeon since Sapphire Rapids): several times the fp32 rate.
    Amx,
    /// AVX512-BF16 dot products on AMD (Zen 4 and 5), issued at the pace of its fp32
    /// multiply-adds with twice the products each: on this project's AMD EPYC, libtorch's
    /// bf16 matmul ran at 2.2× its fp32 rate (4096×1024 by 1024×1024, 2 threads: 404 against
    /// 147 to 190 GFLOP/s).
    Avx512Bf16Amd,
    /// AVX512-BF16 dot products on other CPUs (Intel Cooper Lake; Intel Xeons whose AMX a
    /// virtual machine does not expose): on this project's other machine without AMX (its
    /// vendor not recorded; its fp32 rate is beyond two Zen 4 cores), libtorch's bf16 matmul
    /// ran at 0.58× its fp32 rate (165 against 285 GFLOP/s).
    Avx512Bf16,
    /// No native bf16 arithmetic: bf16 is converted to fp32 and back around every product.
    None,
}

impl CpuInfo {
    /// Reads `/proc/cpuinfo` (an empty description where it cannot be read: no flags).
    pub fn read() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
    }

    /// This machine's, read once per process.
    pub fn this_machine() -> &'static CpuInfo {
        static INFO: OnceLock<CpuInfo> = OnceLock::new();
        INFO.get_or_init(Self::read)
    }

    /// Parses the text of `/proc/cpuinfo` (the first processor's `model name` and `flags`).
    pub fn parse(text: &str) -> Self {
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        CpuInfo {
            vendor: field("vendor_id"),
            model: field("model name"),
            flags: field("flags").unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
        }
    }

    /// Whether the kernel lists `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// How this CPU multiplies bf16 matrices.
    pub fn bf16_matrix(&self) -> Bf16Matrix {
        if self.has("amx_bf16") && self.has("amx_tile") {
            Bf16Matrix::Amx
        } else if self.has("avx512_bf16") && self.vendor.as_deref() == Some("AuthenticAMD") {
            Bf16Matrix::Avx512Bf16Amd
        } else if self.has("avx512_bf16") {
            Bf16Matrix::Avx512Bf16
        } else {
            Bf16Matrix::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAPPHIRE: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\nflags\t\t: fpu\n";

    #[test]
    fn reads_the_first_processor_and_classifies_bf16_matrix_units() {
        let amx = CpuInfo::parse(SAPPHIRE);
        assert_eq!(amx.model.as_deref(), Some("Intel(R) Xeon(R) Platinum 8480+"));
        assert!(amx.has("avx512_bf16") && !amx.has("amx"), "whole flags only");
        assert_eq!(amx.bf16_matrix(), Bf16Matrix::Amx);
        assert_eq!(amx.vendor.as_deref(), Some("GenuineIntel"));
        let zen4 = CpuInfo::parse("vendor_id : AuthenticAMD\nmodel name : AMD EPYC 9654\nflags : avx2 avx512f avx512_bf16\n");
        assert_eq!(zen4.bf16_matrix(), Bf16Matrix::Avx512Bf16Amd);
        let cooper =
            CpuInfo::parse("vendor_id : GenuineIntel\nmodel name : Intel(R) Xeon(R) Platinum 8380H\nflags : avx512f avx512_bf16\n");
        assert_eq!(cooper.bf16_matrix(), Bf16Matrix::Avx512Bf16);
        // Zen 3 and older: no bf16 arithmetic.
        assert_eq!(CpuInfo::parse("vendor_id : AuthenticAMD\nflags : avx2 fma\n").bf16_matrix(), Bf16Matrix::None);
        // AMX needs both: the tiles and their bf16 instructions.
        let old_kernel = CpuInfo::parse("flags : avx2 amx_bf16\n");
        assert_eq!(old_kernel.bf16_matrix(), Bf16Matrix::None);
        assert_eq!(CpuInfo::parse("").bf16_matrix(), Bf16Matrix::None);
        assert_eq!(CpuInfo::parse("").model, None);
    }
}
