//! Plain inference layers over tch tensors (no autograd, no VarStore): each holds its
//! weights and runs with `&self`. Weights are fetched by their upstream key names
//! (`<prefix>.weight`, `<prefix>.bias`).
use super::weights::Scope;
use tch::Tensor;

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
        x.linear(&self.weight, self.bias.as_ref())
    }
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
        x.conv2d(&self.weight, self.bias.as_ref(), [self.stride], [self.padding], [1], self.groups)
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
