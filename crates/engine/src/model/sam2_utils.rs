//! Small shared blocks. Reference: `sam2/modeling/sam2_utils.py` (`MLP`, `LayerNorm2d`,
//! `get_activation_fn`, `get_1d_sine_pe`).
use super::layers::{Linear, PostOp};
use super::weights::Scope;
use tch::Tensor;

pub use super::position_encoding::get_1d_sine_pe;

/// Activation functions used by the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// Exact (erf) GELU, as `nn.GELU()` / `F.gelu`.
    Gelu,
}

impl Activation {
    /// The same function as a post-op fused into the preceding product.
    pub fn post_op(self) -> PostOp {
        match self {
            Activation::Relu => PostOp::Relu,
            Activation::Gelu => PostOp::Gelu,
        }
    }

    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu("none"),
        }
    }
}

/// `MLP`: `num_layers` linear layers, activation between them, optional final sigmoid.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    act: Activation,
    sigmoid_output: bool,
}

impl Mlp {
    /// Loads `<scope>.layers.{i}.{weight,bias}`.
    pub fn load(
        s: &Scope,
        input_dim: i64,
        hidden_dim: i64,
        output_dim: i64,
        num_layers: usize,
        act: Activation,
        sigmoid_output: bool,
    ) -> Self {
        let mut dims = vec![input_dim];
        dims.extend(std::iter::repeat_n(hidden_dim, num_layers - 1));
        dims.push(output_dim);
        let layers = (0..num_layers).map(|i| Linear::load(&s.sub("layers").sub(i), dims[i], dims[i + 1], true)).collect();
        Self { layers, act, sigmoid_output }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let n = self.layers.len();
        let mut x = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = if i + 1 < n { layer.forward_post(&x, self.act.post_op()) } else { layer.forward(&x) };
        }
        if self.sigmoid_output {
            x.sigmoid()
        } else {
            x
        }
    }
}

/// `LayerNorm2d`: normalises over channels of an NCHW tensor, computed exactly as the
/// reference (mean, biased variance, `sqrt(var + eps)`).
#[derive(Debug)]
pub struct LayerNorm2d {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm2d {
    pub fn load(s: &Scope, channels: i64, eps: f64) -> Self {
        Self { weight: s.tensor("weight", &[channels]), bias: s.tensor("bias", &[channels]), eps }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let u = x.mean_dim(1, true, None);
        let d = x - &u;
        let s = d.square().mean_dim(1, true, None);
        let x = d / (s + self.eps).sqrt();
        self.weight.view([-1, 1, 1]) * x + self.bias.view([-1, 1, 1])
    }
}
