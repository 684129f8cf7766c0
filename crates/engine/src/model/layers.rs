//! Plain inference layers over tch tensors (no autograd, no VarStore): each holds its
//! weights and runs with `&self`. Weights are fetched by their upstream key names
//! (`<prefix>.weight`, `<prefix>.bias`).
use super::flops;
use super::weights::Scope;
pub use crate::ffi::PostOp;
use tch::{Device, Kind, Tensor};

/// `torch.nn.Linear`.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn load(s: &Scope, in_dim: i64, out_dim: i64, bias: bool) -> Self {
        let weight = s.tensor("weight", &[out_dim, in_dim]);
        let bias = bias.then(|| s.tensor("bias", &[out_dim]));
        Self { weight, bias }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        linear(x, &self.weight, self.bias.as_ref())
    }

    /// `post(forward(x))`, fused into the product on the oneDNN path.
    pub fn forward_post(&self, x: &Tensor, post: PostOp) -> Tensor {
        if onednn_applies(x, &self.weight) {
            flops::record(|| flops::linear(x, &self.weight));
            return crate::ffi::onednn_linear_post(x, &self.weight, self.bias.as_ref(), post);
        }
        let y = self.forward(x);
        match post {
            PostOp::None => y,
            PostOp::Relu => y.relu(),
            PostOp::Gelu => y.gelu("none"),
        }
    }
}

/// `x·wᵀ + b`; fp32 and bf16 on the CPU go through oneDNN (see [`crate::ffi::onednn_linear`]).
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    flops::record(|| flops::linear(x, w));
    if onednn_applies(x, w) {
        crate::ffi::onednn_linear(x, w, b)
    } else {
        x.linear(w, b)
    }
}

/// oneDNN takes the CPU's fp32 and bf16 linears: in bf16 it ran 3–15 % faster than
/// `at::linear` on the tracker's shapes on an AMD EPYC (2 threads), and it is the library
/// that reaches the CPU's bf16 instructions on every vendor (MKL's bf16 GEMM on AMD converts
/// to fp32 and runs its sgemm).
fn onednn_applies(x: &Tensor, w: &Tensor) -> bool {
    x.device() == Device::Cpu && matches!(x.kind(), Kind::Float | Kind::BFloat16) && w.kind() == x.kind() && use_onednn()
}

/// oneDNN for fp32 and bf16 CPU linears unless `SAMURAI_ROTO_MKL_LINEAR=1` (for A/B timing).
fn use_onednn() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("SAMURAI_ROTO_MKL_LINEAR").map_or(true, |v| v != "1"))
}

/// Whether attention over `q` may be computed with explicit products ([`attention_probs`])
/// rather than libtorch's fused kernel: on the CPU in fp32 and bf16. In bf16 the fused
/// kernel hands its blocks to MKL's bf16 GEMM, which on AMD converts them to fp32 (19 % of a
/// bf16 tracked frame's samples went to `mkl_blas_def_sgemm_kernel_0_zen` on an AMD EPYC):
/// bf16 attention at the fp32 rate.
pub fn explicit_attention(q: &Tensor) -> bool {
    q.device() == Device::Cpu && matches!(q.kind(), Kind::Float | Kind::BFloat16) && use_onednn()
}

/// `softmax(q·kᵀ·scale)` for one head: `q` `[Lq, c]`, `k` `[Lk, c]` → `[Lq, Lk]` in `q`'s
/// kind (CPU). The scale is applied to `q` (exactly the reference's order when it is a
/// power of two, as `1/√256` of the memory attention is). bf16 scores go through libtorch's
/// bf16 softmax, which computes in fp32 and rounds its output once (asking it for fp32
/// output instead converts the whole score matrix first: 5× slower).
pub fn attention_probs(q: &Tensor, k: &Tensor, scale: f64) -> Tensor {
    flops::record(|| flops::linear(q, k));
    let scores = crate::ffi::onednn_linear(&q.multiply_scalar(scale), &k.contiguous(), None);
    scores.softmax(-1, scores.kind())
}

/// `a·b` (`torch.matmul`), counted with the network's products (see [`flops`]).
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    flops::record(|| flops::matmul(a, b));
    a.matmul(b)
}

/// Scaled dot-product attention over `[B, H, L, c]` (`F.scaled_dot_product_attention`
/// without mask or dropout): torch's flash kernel, but for bf16 on the CPU.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
    flops::record(|| flops::attention(q, k, v));
    if q.kind() == Kind::BFloat16 && explicit_attention(q) {
        // bf16 on the CPU: two batched products and libtorch's bf16 softmax (fp32 inside,
        // rounded once), about twice the fused kernel's speed, which multiplies bf16 blocks
        // at the fp32 rate where MKL has no bf16 kernels (see `explicit_attention`).
        let c = *q.size().last().expect("attention queries have dimensions");
        let scores = q.multiply_scalar(1.0 / (c as f64).sqrt()).matmul(&k.transpose(-2, -1));
        return scores.softmax(-1, Kind::BFloat16).matmul(v);
    }
    Tensor::scaled_dot_product_attention(q, k, v, None::<Tensor>, 0.0, false, None, false)
}

/// `torch.nn.Conv2d` (square kernel, symmetric stride/padding).
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: i64,
    pub padding: i64,
    pub groups: i64,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub fn load(s: &Scope, in_ch: i64, out_ch: i64, kernel: i64, stride: i64, padding: i64, groups: i64, bias: bool) -> Self {
        let weight = s.tensor("weight", &[out_ch, in_ch / groups, kernel, kernel]);
        let bias = bias.then(|| s.tensor("bias", &[out_ch]));
        Self { weight, bias, stride, padding, groups }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let out = x.conv2d(&self.weight, self.bias.as_ref(), [self.stride], [self.padding], [1], self.groups);
        flops::record(|| flops::conv(&out, &self.weight));
        out
    }
}

/// `torch.nn.ConvTranspose2d` with kernel = stride (as used by the mask decoder upscaling).
#[derive(Debug)]
pub struct ConvTranspose2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: i64,
}

impl ConvTranspose2d {
    pub fn load(s: &Scope, in_ch: i64, out_ch: i64, kernel: i64, stride: i64) -> Self {
        let weight = s.tensor("weight", &[in_ch, out_ch, kernel, kernel]);
        let bias = Some(s.tensor("bias", &[out_ch]));
        Self { weight, bias, stride }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        flops::record(|| flops::conv_transpose(x, &self.weight));
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), [self.stride], [0], [0], 1, [1])
    }
}

/// `torch.nn.LayerNorm` over the last dimension.
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub dim: i64,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(s: &Scope, dim: i64, eps: f64) -> Self {
        Self { weight: s.tensor("weight", &[dim]), bias: s.tensor("bias", &[dim]), dim, eps }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.dim], Some(&self.weight), Some(&self.bias), self.eps, false)
    }
}
