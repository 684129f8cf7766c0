//! Memory attention of SAM 2 (paper §4, "memory attention"): conditions the current frame's
//! image embedding on the memory bank (past memories and object pointers) with a stack of
//! pre-norm transformer layers using axial RoPE.
//! Reference: `sam2/modeling/memory_attention.py` (`MemoryAttentionLayer`, `MemoryAttention`).
use super::layers::{LayerNorm, Linear, PostOp};
use super::sam::transformer::RoPEAttention;
use super::weights::Scope;
use crate::config::MemoryAttentionConfig;
use tch::Tensor;

/// `nn.LayerNorm` default epsilon, used by every norm of this block.
const LN_EPS: f64 = 1e-5;

/// One pre-norm layer: RoPE self-attention, RoPE cross-attention to the memory, ReLU FFN,
/// each as a residual branch (`MemoryAttentionLayer`; dropout is the identity at inference).
#[derive(Debug)]
struct MemoryAttentionLayer {
    self_attn: RoPEAttention,
    cross_attn_image: RoPEAttention,
    linear1: Linear,
    linear2: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    norm3: LayerNorm,
    pos_enc_at_attn: bool,
    pos_enc_at_cross_attn_keys: bool,
    pos_enc_at_cross_attn_queries: bool,
}

impl MemoryAttentionLayer {
    fn load(s: &Scope, cfg: &MemoryAttentionConfig) -> Self {
        let d = cfg.d_model;
        Self {
            self_attn: RoPEAttention::load(&s.sub("self_attn"), d, cfg.num_heads, None, cfg.rope_theta, false),
            cross_attn_image: RoPEAttention::load(&s.sub("cross_attn_image"), d, cfg.num_heads, Some(cfg.kv_in_dim), cfg.rope_theta, true),
            linear1: Linear::load(&s.sub("linear1"), d, cfg.dim_feedforward, true),
            linear2: Linear::load(&s.sub("linear2"), cfg.dim_feedforward, d, true),
            norm1: LayerNorm::load(&s.sub("norm1"), d, LN_EPS),
            norm2: LayerNorm::load(&s.sub("norm2"), d, LN_EPS),
            norm3: LayerNorm::load(&s.sub("norm3"), d, LN_EPS),
            pos_enc_at_attn: cfg.pos_enc_at_attn,
            pos_enc_at_cross_attn_keys: cfg.pos_enc_at_cross_attn_keys,
            pos_enc_at_cross_attn_queries: cfg.pos_enc_at_cross_attn_queries,
        }
    }

    /// Self-attention branch: queries and keys are the normed tokens (plus `query_pos` when
    /// configured), values the normed tokens without it.
    fn self_attention(&self, tgt: &Tensor, query_pos: &Tensor) -> Tensor {
        let normed = self.norm1.forward(tgt);
        let qk = if self.pos_enc_at_attn { &normed + query_pos } else { normed.shallow_clone() };
        tgt + self.self_attn.forward(&qk, &qk, &normed, 0)
    }

    /// Cross-attention branch to the memory; the last `num_k_exclude_rope` memory tokens
    /// (object pointers) are not rotated.
    fn cross_attention(&self, tgt: &Tensor, memory: &Tensor, query_pos: &Tensor, pos: &Tensor, num_k_exclude_rope: i64) -> Tensor {
        let normed = self.norm2.forward(tgt);
        let q = if self.pos_enc_at_cross_attn_queries { &normed + query_pos } else { normed };
        let k = if self.pos_enc_at_cross_attn_keys { memory + pos } else { memory.shallow_clone() };
        tgt + self.cross_attn_image.forward(&q, &k, memory, num_k_exclude_rope)
    }

    /// Batch-first tokens `[B, L, d]`, memory `[B, M, kv]`.
    fn forward(&self, tgt: &Tensor, memory: &Tensor, pos: &Tensor, query_pos: &Tensor, num_k_exclude_rope: i64) -> Tensor {
        let tgt = self.self_attention(tgt, query_pos);
        let tgt = self.cross_attention(&tgt, memory, query_pos, pos, num_k_exclude_rope);
        let ffn = self.linear2.forward(&self.linear1.forward_post(&self.norm3.forward(&tgt), PostOp::Relu));
        tgt + ffn
    }
}

/// The memory attention stack (`MemoryAttention`, weights under `memory_attention`).
#[derive(Debug)]
pub struct MemoryAttention {
    layers: Vec<MemoryAttentionLayer>,
    norm: LayerNorm,
    pos_enc_at_input: bool,
}

impl MemoryAttention {
    /// `s` is the `memory_attention` scope.
    pub fn load(s: &Scope, cfg: &MemoryAttentionConfig) -> Self {
        let layers = (0..cfg.num_layers).map(|i| MemoryAttentionLayer::load(&s.sub("layers").sub(i), cfg)).collect();
        Self { layers, norm: LayerNorm::load(&s.sub("norm"), cfg.d_model, LN_EPS), pos_enc_at_input: cfg.pos_enc_at_input }
    }

    /// Sequence-first inputs as in the reference: `curr`, `curr_pos` `[L, B, d]` (the
    /// current frame's `h·w` tokens, a square grid), `memory`, `memory_pos` `[M, B, kv]`
    /// whose last `num_obj_ptr_tokens` rows are object-pointer tokens. Returns `[L, B, d]`.
    pub fn forward(&self, curr: &Tensor, curr_pos: &Tensor, memory: &Tensor, memory_pos: &Tensor, num_obj_ptr_tokens: i64) -> Tensor {
        assert_eq!(curr.size()[1], memory.size()[1], "batch size must be the same for curr and memory");
        let output = if self.pos_enc_at_input { curr + curr_pos.multiply_scalar(0.1) } else { curr.shallow_clone() };
        let mut output = output.transpose(0, 1);
        let curr_pos = curr_pos.transpose(0, 1);
        let memory = memory.transpose(0, 1);
        let memory_pos = memory_pos.transpose(0, 1);
        for layer in &self.layers {
            output = layer.forward(&output, &memory, &memory_pos, &curr_pos, num_obj_ptr_tokens);
        }
        self.norm.forward(&output).transpose(0, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::WeightStore;
    use std::path::Path;
    use tch::{Device, Kind};

    fn tiny_cfg() -> MemoryAttentionConfig {
        crate::config::Preset::builtin(crate::config::ModelSize::Tiny).model.memory_attention
    }

    #[test]
    fn asks_for_the_upstream_keys_and_shapes() {
        let store = WeightStore::new(Path::new("none"), vec![], Device::Cpu, Kind::Float);
        let _ = MemoryAttention::load(&store.root().sub("memory_attention"), &tiny_cfg());
        let msg = store.finish("t").unwrap_err().to_string();
        for needle in [
            "'memory_attention.layers.3.cross_attn_image.k_proj.weight' (expected shape [256, 64])",
            "'memory_attention.layers.3.cross_attn_image.v_proj.weight' (expected shape [256, 64])",
            "'memory_attention.layers.0.self_attn.k_proj.weight' (expected shape [256, 256])",
            "'memory_attention.layers.2.linear1.weight' (expected shape [2048, 256])",
            "'memory_attention.layers.2.norm3.bias' (expected shape [256])",
            "'memory_attention.norm.weight' (expected shape [256])",
        ] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
        assert!(!msg.contains("layers.4"), "{msg}");
    }

    /// With all-zero weights every branch adds zero, so the output is the final norm (zero
    /// weight and bias) of the input: all zeros, in sequence-first layout.
    #[test]
    fn shapes_with_object_pointers() {
        let store = WeightStore::new(Path::new("none"), vec![], Device::Cpu, Kind::Float);
        let attn = MemoryAttention::load(&store.root(), &tiny_cfg());
        let opts = (Kind::Float, Device::Cpu);
        let (l, b, m) = (16, 2, 3 * 16 + 8);
        let curr = Tensor::randn([l, b, 256], opts);
        let mem = Tensor::randn([m, b, 64], opts);
        let out = attn.forward(&curr, &curr, &mem, &mem, 8);
        assert_eq!(out.size(), vec![l, b, 256]);
        assert_eq!(out.abs().max().double_value(&[]), 0.0);
    }
}
