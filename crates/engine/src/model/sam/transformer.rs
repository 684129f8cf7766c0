//! Attention blocks. Reference: `sam2/modeling/sam/transformer.py` (`Attention`,
//! `RoPEAttention`, `TwoWayAttentionBlock`, `TwoWayTransformer`) — the SAM mask decoder's
//! two-way transformer and the RoPE attention of the memory attention.
use crate::model::layers::{attention, attention_probs, explicit_attention, linear, LayerNorm, Linear};
use crate::model::position_encoding::{apply_rotary_enc, compute_axial_cis, Memo};
use crate::model::sam2_utils::{Activation, Mlp};
use crate::model::weights::Scope;
use tch::{Kind, Tensor};

/// Multi-head attention with an optional down-projected internal width (`Attention`).
#[derive(Debug)]
pub struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    num_heads: i64,
    internal_dim: i64,
}

impl Attention {
    /// `kv_in_dim` defaults to `embedding_dim` when `None`.
    pub fn load(s: &Scope, embedding_dim: i64, num_heads: i64, downsample_rate: i64, kv_in_dim: Option<i64>) -> Self {
        let internal_dim = embedding_dim / downsample_rate;
        let kv = kv_in_dim.unwrap_or(embedding_dim);
        Self {
            q_proj: Linear::load(&s.sub("q_proj"), embedding_dim, internal_dim, true),
            k_proj: Linear::load(&s.sub("k_proj"), kv, internal_dim, true),
            v_proj: Linear::load(&s.sub("v_proj"), kv, internal_dim, true),
            out_proj: Linear::load(&s.sub("out_proj"), internal_dim, embedding_dim, true),
            num_heads,
            internal_dim,
        }
    }

    /// `[B, N, C] -> [B, heads, N, C/heads]`.
    fn separate_heads(&self, x: &Tensor) -> Tensor {
        let (b, n, c) = x.size3().expect("attention input is [B, N, C]");
        x.reshape([b, n, self.num_heads, c / self.num_heads]).transpose(1, 2)
    }

    /// `[B, heads, N, c] -> [B, N, heads·c]`.
    fn recombine_heads(x: &Tensor) -> Tensor {
        let (b, h, n, c) = x.size4().expect("attention output is [B, H, N, C]");
        x.transpose(1, 2).reshape([b, n, h * c])
    }

    fn project(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> (Tensor, Tensor, Tensor) {
        (
            self.separate_heads(&self.q_proj.forward(q)),
            self.separate_heads(&self.k_proj.forward(k)),
            self.separate_heads(&self.v_proj.forward(v)),
        )
    }

    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let out = attention(q, k, v);
        self.out_proj.forward(&Self::recombine_heads(&out))
    }

    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Tensor {
        let (q, k, v) = self.project(q, k, v);
        self.attend(&q, &k, &v)
    }
}

/// Queries per block of [`attend_in_blocks`].
const QUERY_BLOCK: i64 = 256;

/// One head's attention with oneDNN products: `q` `[Lq, c]`, `k` `[Lk, c]`, the values
/// transposed `vt` `[cv, Lk]` → `[Lq, cv]`. Queries go in blocks so the attention matrix of
/// a block stays in cache (and clear of the allocator's mmap threshold): 1024 queries × 7k
/// keys would be 30 MB.
fn attend_in_blocks(q: &Tensor, k: &Tensor, vt: &Tensor, scale: f64) -> Tensor {
    let lq = q.size()[0];
    let ctx: Vec<Tensor> = (0..lq)
        .step_by(QUERY_BLOCK as usize)
        .map(|start| linear(&attention_probs(&q.narrow(0, start, QUERY_BLOCK.min(lq - start)), k, scale), vt, None))
        .collect();
    Tensor::cat(&ctx, 0)
}

/// Attention with axial 2-D rotary position encoding on queries and (the first
/// `len - num_k_exclude_rope`) keys (`RoPEAttention`). The frequencies are computed for the
/// query grid (assumed square), so any image size works.
#[derive(Debug)]
pub struct RoPEAttention {
    attn: Attention,
    rope_theta: f64,
    rope_k_repeat: bool,
    /// Frequencies per grid side and device.
    cis_memo: Memo<(i64, tch::Device)>,
}

impl RoPEAttention {
    pub fn load(s: &Scope, embedding_dim: i64, num_heads: i64, kv_in_dim: Option<i64>, rope_theta: f64, rope_k_repeat: bool) -> Self {
        Self { attn: Attention::load(s, embedding_dim, num_heads, 1, kv_in_dim), rope_theta, rope_k_repeat, cis_memo: Memo::new() }
    }

    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor, num_k_exclude_rope: i64) -> Tensor {
        let a = &self.attn;
        let q = a.separate_heads(&a.q_proj.forward(q));
        let k = a.separate_heads(&a.k_proj.forward(k));
        let lq = q.size()[2];
        let side = (lq as f64).sqrt().round() as i64;
        let head_dim = a.internal_dim / a.num_heads;
        let cis = self.cis_memo.get_or((side, q.device()), || compute_axial_cis(head_dim, side, side, self.rope_theta, q.device()));
        let q = apply_rotary_enc(&q, &cis);
        let lk = k.size()[2];
        let num_k_rope = lk - num_k_exclude_rope;
        assert!(num_k_rope == lq || self.rope_k_repeat, "RoPE keys differ from queries without rope_k_repeat");
        let k = if num_k_rope == 0 {
            k
        } else {
            let rotated = apply_rotary_enc(&k.narrow(2, 0, num_k_rope), &cis);
            Tensor::cat(&[rotated, k.narrow(2, num_k_rope, num_k_exclude_rope)], 2)
        };
        let (b, _, kv_dim) = v.size3().expect("attention values are [B, N, C]");
        let narrow = kv_dim < a.internal_dim;
        if a.num_heads == 1 && explicit_attention(&q) && (narrow || q.kind() != Kind::Float) {
            // Attention with oneDNN products, one batch row at a time. Narrow values (the
            // 64-d memory): attend to them before `v_proj` instead of after. `v_proj` is
            // affine and every row of the attention sums to one, so this is the same result
            // with 1/4 of the products of the attention-weighted sum. In bf16 the
            // self-attention goes this way too: libtorch's fused kernel multiplies bf16 at
            // the fp32 rate on CPUs whose MKL lacks bf16 kernels (see `explicit_attention`).
            // fp32 self-attention keeps the fused kernel (the reference's summation order).
            let scale = 1.0 / (head_dim as f64).sqrt();
            let out: Vec<Tensor> = (0..b)
                .map(|i| {
                    let (qi, ki) = (q.get(i).get(0), k.get(i).get(0).contiguous());
                    if narrow {
                        let vt = v.get(i).transpose(0, 1).contiguous();
                        a.v_proj.forward(&attend_in_blocks(&qi, &ki, &vt, scale))
                    } else {
                        let vt = a.v_proj.forward(&v.get(i)).transpose(0, 1).contiguous();
                        attend_in_blocks(&qi, &ki, &vt, scale)
                    }
                })
                .collect();
            return a.out_proj.forward(&Tensor::stack(&out, 0));
        }
        let v = a.separate_heads(&a.v_proj.forward(v));
        a.attend(&q, &k, &v)
    }
}

/// One block of the two-way transformer (`TwoWayAttentionBlock`).
#[derive(Debug)]
struct TwoWayAttentionBlock {
    self_attn: Attention,
    norm1: LayerNorm,
    cross_attn_token_to_image: Attention,
    norm2: LayerNorm,
    mlp: Mlp,
    norm3: LayerNorm,
    norm4: LayerNorm,
    cross_attn_image_to_token: Attention,
    skip_first_layer_pe: bool,
}

impl TwoWayAttentionBlock {
    fn load(s: &Scope, dim: i64, heads: i64, mlp_dim: i64, downsample: i64, skip_first_layer_pe: bool) -> Self {
        Self {
            self_attn: Attention::load(&s.sub("self_attn"), dim, heads, 1, None),
            norm1: LayerNorm::load(&s.sub("norm1"), dim, 1e-5),
            cross_attn_token_to_image: Attention::load(&s.sub("cross_attn_token_to_image"), dim, heads, downsample, None),
            norm2: LayerNorm::load(&s.sub("norm2"), dim, 1e-5),
            mlp: Mlp::load(&s.sub("mlp"), dim, mlp_dim, dim, 2, Activation::Relu, false),
            norm3: LayerNorm::load(&s.sub("norm3"), dim, 1e-5),
            norm4: LayerNorm::load(&s.sub("norm4"), dim, 1e-5),
            cross_attn_image_to_token: Attention::load(&s.sub("cross_attn_image_to_token"), dim, heads, downsample, None),
            skip_first_layer_pe,
        }
    }

    fn forward(&self, queries: &Tensor, keys: &Tensor, query_pe: &Tensor, key_pe: &Tensor) -> (Tensor, Tensor) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn.forward(queries, queries, queries)
        } else {
            let q = queries + query_pe;
            queries + self.self_attn.forward(&q, &q, queries)
        };
        let queries = self.norm1.forward(&queries);

        let q = &queries + query_pe;
        let k = keys + key_pe;
        let queries = self.norm2.forward(&(&queries + self.cross_attn_token_to_image.forward(&q, &k, keys)));

        let queries = self.norm3.forward(&(&queries + self.mlp.forward(&queries)));

        let q = &queries + query_pe;
        let keys = self.norm4.forward(&(keys + self.cross_attn_image_to_token.forward(&k, &q, &queries)));
        (queries, keys)
    }
}

/// The mask decoder's two-way transformer (`TwoWayTransformer`): depth 2, 8 heads,
/// MLP 2048, attention downsample 2 in SAM 2.1.
#[derive(Debug)]
pub struct TwoWayTransformer {
    layers: Vec<TwoWayAttentionBlock>,
    final_attn_token_to_image: Attention,
    norm_final_attn: LayerNorm,
}

impl TwoWayTransformer {
    pub fn load(s: &Scope, depth: usize, dim: i64, heads: i64, mlp_dim: i64, downsample: i64) -> Self {
        let layers =
            (0..depth).map(|i| TwoWayAttentionBlock::load(&s.sub("layers").sub(i), dim, heads, mlp_dim, downsample, i == 0)).collect();
        Self {
            layers,
            final_attn_token_to_image: Attention::load(&s.sub("final_attn_token_to_image"), dim, heads, downsample, None),
            norm_final_attn: LayerNorm::load(&s.sub("norm_final_attn"), dim, 1e-5),
        }
    }

    /// `image_embedding`, `image_pe`: `[B, C, h, w]`; `point_embedding`: `[B, N, C]`.
    /// Returns the processed tokens `[B, N, C]` and image keys `[B, h·w, C]`.
    pub fn forward(&self, image_embedding: &Tensor, image_pe: &Tensor, point_embedding: &Tensor) -> (Tensor, Tensor) {
        let image_embedding = image_embedding.flatten(2, -1).permute([0, 2, 1]);
        let image_pe = image_pe.flatten(2, -1).permute([0, 2, 1]);
        let mut queries = point_embedding.shallow_clone();
        let mut keys = image_embedding;
        for layer in &self.layers {
            (queries, keys) = layer.forward(&queries, &keys, point_embedding, &image_pe);
        }
        let q = &queries + point_embedding;
        let k = &keys + &image_pe;
        let queries = self.norm_final_attn.forward(&(&queries + self.final_attn_token_to_image.forward(&q, &k, &keys)));
        (queries, keys)
    }
}
