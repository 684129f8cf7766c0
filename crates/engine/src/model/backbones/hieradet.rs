//! Hiera trunk of the SAM 2 image encoder (SAM 2 paper §4 "Image encoder": a hierarchical
//! MAE-pretrained Hiera with windowed absolute position embeddings).
//! Reference: `sam2/modeling/backbones/hieradet.py` (`do_pool`, `MultiScaleAttention`,
//! `MultiScaleBlock`, `Hiera`).
use super::utils::{pad_to_window, window_partition, window_unpartition, PatchEmbed};
use crate::config::TrunkConfig;
use crate::model::layers::{attention, LayerNorm, Linear};
use crate::model::position_encoding::Memo;
use crate::model::sam2_utils::{Activation, Mlp};
use crate::model::weights::Scope;
use tch::Tensor;

/// Max-pools a channels-last map `[B, H, W, C]` by `stride` (kernel = stride, floor mode).
fn pool_channels_last(x: &Tensor, stride: [i64; 2]) -> Tensor {
    x.permute([0, 3, 1, 2]).max_pool2d(stride, stride, [0, 0], [1, 1], false).permute([0, 2, 3, 1])
}

/// Multi-head self-attention over channels-last tokens whose queries may be max-pooled
/// (the first block of stages 2–4 halves the resolution this way).
#[derive(Debug)]
struct MultiScaleAttention {
    qkv: Linear,
    proj: Linear,
    num_heads: i64,
    q_stride: Option<[i64; 2]>,
}

impl MultiScaleAttention {
    fn load(s: &Scope, dim: i64, dim_out: i64, num_heads: i64, q_stride: Option<[i64; 2]>) -> Self {
        Self {
            qkv: Linear::load(&s.sub("qkv"), dim, dim_out * 3, true),
            proj: Linear::load(&s.sub("proj"), dim_out, dim_out, true),
            num_heads,
            q_stride,
        }
    }

    /// `[B, H, W, dim] -> [B, H', W', dim_out]` (H' = H / stride when pooling queries).
    fn forward(&self, x: &Tensor) -> Tensor {
        self.proj.forward(&self.attend(&self.qkv.forward(x)))
    }

    /// The attention proper on projected tokens `[B, H, W, 3·dim_out]`, before `proj`.
    fn attend(&self, qkv: &Tensor) -> Tensor {
        let (b, mut h, mut w, _) = qkv.size4().expect("attention expects [B, H, W, C]");
        let qkv = qkv.reshape([b, h * w, 3, self.num_heads, -1]);
        let parts = qkv.unbind(2);
        let (mut q, k, v) = (parts[0].shallow_clone(), &parts[1], &parts[2]);
        if let Some(stride) = self.q_stride {
            let pooled = pool_channels_last(&q.reshape([b, h, w, -1]), stride);
            (h, w) = (pooled.size()[1], pooled.size()[2]);
            q = pooled.reshape([b, h * w, self.num_heads, -1]);
        }
        let out = attention(&q.transpose(1, 2), &k.transpose(1, 2), &v.transpose(1, 2));
        out.transpose(1, 2).reshape([b, h, w, -1])
    }
}

/// One Hiera block: (windowed) attention with optional query pooling, then an MLP, both
/// pre-norm with residuals. A block that changes the width projects its shortcut.
#[derive(Debug)]
struct MultiScaleBlock {
    norm1: LayerNorm,
    attn: MultiScaleAttention,
    norm2: LayerNorm,
    mlp: Mlp,
    /// Shortcut projection, present when the block changes the channel count.
    proj: Option<Linear>,
    /// Attention window side on the block's input grid; 0 = global attention.
    window: i64,
    q_stride: Option<[i64; 2]>,
}

/// Construction parameters of one block (derived from the trunk config by [`Hiera::load`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct BlockSpec {
    dim: i64,
    dim_out: i64,
    num_heads: i64,
    window: i64,
    q_stride: Option<[i64; 2]>,
}

impl MultiScaleBlock {
    fn load(s: &Scope, spec: BlockSpec, mlp_ratio: f64) -> Self {
        let BlockSpec { dim, dim_out, num_heads, window, q_stride } = spec;
        let hidden = (dim_out as f64 * mlp_ratio) as i64;
        Self {
            norm1: LayerNorm::load(&s.sub("norm1"), dim, 1e-6),
            attn: MultiScaleAttention::load(&s.sub("attn"), dim, dim_out, num_heads, q_stride),
            norm2: LayerNorm::load(&s.sub("norm2"), dim_out, 1e-6),
            mlp: Mlp::load(&s.sub("mlp"), dim_out, hidden, dim_out, 2, Activation::Gelu, false),
            proj: (dim != dim_out).then(|| Linear::load(&s.sub("proj"), dim, dim_out, true)),
            window,
            q_stride,
        }
    }

    fn pool(&self, x: Tensor) -> Tensor {
        match self.q_stride {
            Some(stride) => pool_channels_last(&x, stride),
            None => x,
        }
    }

    /// `[B, H, W, dim] -> [B, H', W', dim_out]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let normed = self.norm1.forward(x);
        let shortcut = match &self.proj {
            Some(proj) => self.pool(proj.forward(&normed)),
            None => x.shallow_clone(),
        };
        let attended = if self.window > 0 { self.windowed_attention(&normed, &shortcut) } else { self.attn.forward(&normed) };
        let x = shortcut + attended;
        &x + self.mlp.forward(&self.norm2.forward(&x))
    }

    /// Attention inside `window × window` tiles of the input; with query pooling the tiles
    /// shrink by the stride and are reassembled on the (pooled) shortcut's grid.
    ///
    /// When the grid needs padding, `qkv` runs on the real tokens only and the padding of
    /// its output is filled with `qkv`'s bias (what `qkv` makes of the reference's zero
    /// padding), and `proj` runs after cropping: the same values without spending the
    /// products on padding (72% more tokens at 512 with windows of 14 on a 32×32 grid).
    fn windowed_attention(&self, normed: &Tensor, shortcut: &Tensor) -> Tensor {
        let (_, h, w, _) = normed.size4().expect("block input is [B, H, W, C]");
        let padding = pad_to_window(h, self.window) > 0 || pad_to_window(w, self.window) > 0;
        let (out, mut padded) = match (&self.attn.qkv.bias, padding) {
            (Some(bias), true) => {
                let qkv = self.attn.qkv.forward(normed);
                let (b, c) = (qkv.size()[0], qkv.size()[3]);
                let (hp, wp) = (h + pad_to_window(h, self.window), w + pad_to_window(w, self.window));
                let full = bias.view([1, 1, 1, c]).expand([b, hp, wp, c], false).contiguous();
                full.narrow(1, 0, h).narrow(2, 0, w).copy_(&qkv);
                let (tiles, padded) = window_partition(&full, self.window);
                (self.attn.attend(&tiles), padded)
            }
            _ => {
                let (tiles, padded) = window_partition(normed, self.window);
                (self.attn.forward(&tiles), padded)
            }
        };
        let mut hw = (h, w);
        let mut window = self.window;
        if let Some(stride) = self.q_stride {
            window = self.window / stride[0];
            hw = (shortcut.size()[1], shortcut.size()[2]);
            padded = (hw.0 + pad_to_window(hw.0, window), hw.1 + pad_to_window(hw.1, window));
        }
        let out = window_unpartition(&out, window, padded, hw);
        if padding && self.attn.qkv.bias.is_some() {
            self.attn.proj.forward(&out)
        } else {
            out
        }
    }
}

/// The Hiera trunk: patch embedding, windowed absolute position embedding and four stages
/// of [`MultiScaleBlock`]s; returns the output of every stage (strides 4, 8, 16, 32).
#[derive(Debug)]
pub struct Hiera {
    patch_embed: PatchEmbed,
    /// Background embedding `[1, C, bh, bw]`, resized bicubically to the token grid.
    pos_embed: Tensor,
    /// Window embedding `[1, C, w0, w0]`, tiled over the token grid.
    pos_embed_window: Tensor,
    blocks: Vec<MultiScaleBlock>,
    /// [`pos_embed_for`](Self::pos_embed_for) per grid.
    pos_memo: Memo<(i64, i64)>,
    /// Index of the last block of each stage.
    stage_ends: Vec<usize>,
    /// Output width of each stage, finest first.
    stage_dims: Vec<i64>,
}

impl Hiera {
    /// Loads the trunk from `s` (normally `image_encoder.trunk`).
    pub fn load(s: &Scope, cfg: &TrunkConfig) -> Self {
        let specs = block_specs(cfg);
        let stage_ends = stage_ends(&cfg.stages);
        let [bh, bw] = cfg.window_pos_embed_bkg_spatial_size;
        let w0 = cfg.window_spec[0];
        let blocks_scope = s.sub("blocks");
        let blocks = specs.iter().enumerate().map(|(i, spec)| MultiScaleBlock::load(&blocks_scope.sub(i), *spec, cfg.mlp_ratio)).collect();
        Self {
            patch_embed: PatchEmbed::load(&s.sub("patch_embed"), cfg.embed_dim),
            pos_embed: s.tensor("pos_embed", &[1, cfg.embed_dim, bh, bw]),
            pos_embed_window: s.tensor("pos_embed_window", &[1, cfg.embed_dim, w0, w0]),
            stage_dims: stage_ends.iter().map(|&e| specs[e].dim_out).collect(),
            stage_ends,
            blocks,
            pos_memo: Memo::new(),
        }
    }

    /// Channel widths in the reference's `channel_list` order: coarsest stage first
    /// (e.g. `[768, 384, 192, 96]` for tiny), which is what the neck's
    /// `backbone_channel_list` must equal.
    pub fn channel_list(&self) -> Vec<i64> {
        self.stage_dims.iter().rev().copied().collect()
    }

    /// Channel widths per stage, finest first (the order of [`forward`](Self::forward)'s outputs).
    pub fn stage_dims(&self) -> Vec<i64> {
        self.stage_dims.clone()
    }

    /// Position embedding for an `h × w` token grid, channels-last `[1, h, w, C]`: the
    /// background embedding resized bicubically (align_corners false) plus the window
    /// embedding tiled across the grid.
    fn pos_embed_for(&self, h: i64, w: i64) -> Tensor {
        self.pos_memo.get_or((h, w), || self.compute_pos_embed(h, w))
    }

    fn compute_pos_embed(&self, h: i64, w: i64) -> Tensor {
        let ws = self.pos_embed_window.size();
        let resized = self.pos_embed.upsample_bicubic2d([h, w], false, None, None);
        let tiled = self.pos_embed_window.repeat([1, 1, h / ws[2], w / ws[3]]);
        (resized + tiled).permute([0, 2, 3, 1])
    }

    /// `[B, 3, S, S]` normalised image → the four stage outputs, NCHW, finest first.
    pub fn forward(&self, x: &Tensor) -> Vec<Tensor> {
        let x = self.patch_embed.forward(x);
        let (h, w) = (x.size()[1], x.size()[2]);
        let mut x = x + self.pos_embed_for(h, w);
        let mut outputs = Vec::with_capacity(self.stage_ends.len());
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x);
            if self.stage_ends.contains(&i) {
                outputs.push(x.permute([0, 3, 1, 2]));
            }
        }
        outputs
    }
}

/// Index of the last block of each stage.
fn stage_ends(stages: &[usize]) -> Vec<usize> {
    stages
        .iter()
        .scan(0, |acc, &n| {
            *acc += n;
            Some(*acc - 1)
        })
        .collect()
}

/// Per-block settings, following the reference's construction loop: the first block of a
/// new stage widens the channels/heads and pools queries (for the first `q_pool` stage
/// changes) but still uses the previous stage's window; global blocks use window 0.
fn block_specs(cfg: &TrunkConfig) -> Vec<BlockSpec> {
    let ends = stage_ends(&cfg.stages);
    let q_pool_blocks: Vec<usize> = ends[..ends.len() - 1].iter().map(|e| e + 1).take(cfg.q_pool).collect();
    let depth: usize = cfg.stages.iter().sum();
    let (mut dim, mut heads, mut stage) = (cfg.embed_dim, cfg.num_heads, 0usize);
    let mut specs = Vec::with_capacity(depth);
    for i in 0..depth {
        let mut window = cfg.window_spec[stage];
        if cfg.global_att_blocks.contains(&i) {
            window = 0;
        }
        let mut dim_out = dim;
        if i > 0 && ends.contains(&(i - 1)) {
            dim_out = (dim as f64 * cfg.dim_mul) as i64;
            heads = (heads as f64 * cfg.head_mul) as i64;
            stage += 1;
        }
        let q_stride = q_pool_blocks.contains(&i).then_some(cfg.q_stride);
        specs.push(BlockSpec { dim, dim_out, num_heads: heads, window, q_stride });
        dim = dim_out;
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelSize, Preset};
    use crate::model::weights::WeightStore;
    use std::path::Path;
    use tch::{Device, Kind};

    fn trunk(size: ModelSize) -> TrunkConfig {
        Preset::builtin(size).model.image_encoder.trunk
    }

    #[test]
    fn tiny_block_layout_matches_reference_loop() {
        let specs = block_specs(&trunk(ModelSize::Tiny));
        assert_eq!(specs.len(), 12);
        // stages [1, 2, 7, 2], windows [8, 4, 14, 7], global blocks 5, 7, 9
        let windows: Vec<i64> = specs.iter().map(|s| s.window).collect();
        assert_eq!(windows, vec![8, 8, 4, 4, 14, 0, 14, 0, 14, 0, 14, 7]);
        let dims: Vec<(i64, i64, i64)> = specs.iter().map(|s| (s.dim, s.dim_out, s.num_heads)).collect();
        assert_eq!(dims[1], (96, 192, 2));
        assert_eq!(dims[3], (192, 384, 4));
        assert_eq!(dims[10], (384, 768, 8));
        let pooled: Vec<usize> = (0..12).filter(|&i| specs[i].q_stride.is_some()).collect();
        assert_eq!(pooled, vec![1, 3, 10]);
    }

    #[test]
    fn channel_lists_of_all_presets_match_neck() {
        for size in [ModelSize::Tiny, ModelSize::Small, ModelSize::BasePlus, ModelSize::Large] {
            let ie = Preset::builtin(size).model.image_encoder;
            let specs = block_specs(&ie.trunk);
            let ends = stage_ends(&ie.trunk.stages);
            let dims: Vec<i64> = ends.iter().rev().map(|&e| specs[e].dim_out).collect();
            assert_eq!(dims, ie.neck.backbone_channel_list, "{size}");
        }
    }

    /// Tiny trunk with placeholder (zero) weights: pos-embed shape on a non-square grid and
    /// the per-stage output shapes at 256.
    #[test]
    fn tiny_forward_shapes_at_256() {
        let cfg = trunk(ModelSize::Tiny);
        let store = WeightStore::new(Path::new("zeros"), Vec::new(), Device::Cpu, Kind::Float);
        let hiera = Hiera::load(&store.root().sub("image_encoder.trunk"), &cfg);
        assert_eq!(hiera.channel_list(), vec![768, 384, 192, 96]);
        let pe = hiera.pos_embed_for(64, 48);
        assert_eq!(pe.size(), vec![1, 64, 48, 96]);
        let out = tch::no_grad(|| hiera.forward(&Tensor::zeros([1, 3, 256, 256], (Kind::Float, Device::Cpu))));
        let shapes: Vec<Vec<i64>> = out.iter().map(|t| t.size()).collect();
        assert_eq!(shapes, vec![vec![1, 96, 64, 64], vec![1, 192, 32, 32], vec![1, 384, 16, 16], vec![1, 768, 8, 8]]);
    }
}
