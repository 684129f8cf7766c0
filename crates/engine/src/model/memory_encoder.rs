//! Memory encoder of SAM 2 (paper §4, "memory encoder"): fuses a frame's image embedding
//! with its predicted mask into a compact 64-channel memory plus its sine position encoding.
//! Reference: `sam2/modeling/memory_encoder.py` (`MaskDownSampler`, `CXBlock`, `Fuser`,
//! `MemoryEncoder`).
use super::layers::{Conv2d, Linear, PostOp};
use super::position_encoding::PositionEmbeddingSine;
use super::sam2_utils::{Activation, LayerNorm2d};
use super::weights::Scope;
use crate::config::MemoryEncoderConfig;
use tch::Tensor;

/// Number of stride-`stride` stages needed to reach `total_stride`; panics when
/// `total_stride` is not a power of `stride` (the reference asserts the same).
fn downsample_stages(stride: i64, total_stride: i64) -> usize {
    assert!(stride > 1, "mask downsampler stride must be > 1, got {stride}");
    let (mut reached, mut stages) = (1, 0);
    while reached < total_stride {
        reached *= stride;
        stages += 1;
    }
    assert_eq!(reached, total_stride, "mask downsampler total stride {total_stride} is not a power of {stride}");
    stages
}

/// Shrinks a mask by `total_stride` with strided convolutions; every stage multiplies the
/// channel count by `stride²` and is followed by a channel LayerNorm and GELU; a final 1×1
/// convolution maps to the embedding width (`MaskDownSampler`).
#[derive(Debug)]
struct MaskDownSampler {
    stages: Vec<(Conv2d, LayerNorm2d)>,
    out: Conv2d,
}

impl MaskDownSampler {
    /// Weights live in the `encoder` sequential: stage `i` uses indices `3i` (conv) and
    /// `3i + 1` (norm); the GELU at `3i + 2` has none; the final conv follows them.
    fn load(s: &Scope, cfg: &MemoryEncoderConfig, embed_dim: i64) -> Self {
        let enc = s.sub("encoder");
        let (kernel, stride) = (cfg.mask_downsampler_kernel_size, cfg.mask_downsampler_stride);
        let n = downsample_stages(stride, cfg.mask_downsampler_total_stride);
        let padding = (kernel - 1) / 2;
        let mut in_ch = 1;
        let mut stages = Vec::with_capacity(n);
        for i in 0..n {
            let out_ch = in_ch * stride * stride;
            let conv = Conv2d::load(&enc.sub(3 * i), in_ch, out_ch, kernel, stride, padding, 1, true);
            let norm = LayerNorm2d::load(&enc.sub(3 * i + 1), out_ch, 1e-6);
            stages.push((conv, norm));
            in_ch = out_ch;
        }
        let out = Conv2d::load(&enc.sub(3 * n), in_ch, embed_dim, 1, 1, 0, 1, true);
        Self { stages, out }
    }

    fn forward(&self, mask: &Tensor) -> Tensor {
        let mut x = mask.shallow_clone();
        for (conv, norm) in &self.stages {
            x = Activation::Gelu.apply(&norm.forward(&conv.forward(&x)));
        }
        self.out.forward(&x)
    }
}

/// ConvNeXt block: depthwise conv, channel LayerNorm, pointwise MLP (as linear layers on
/// channels-last data) scaled by a learned per-channel `gamma`, residual (`CXBlock`).
#[derive(Debug)]
struct CxBlock {
    dwconv: Conv2d,
    norm: LayerNorm2d,
    pwconv1: Linear,
    pwconv2: Linear,
    gamma: Tensor,
}

impl CxBlock {
    fn load(s: &Scope, dim: i64, kernel: i64) -> Self {
        Self {
            dwconv: Conv2d::load(&s.sub("dwconv"), dim, dim, kernel, 1, (kernel - 1) / 2, dim, true),
            norm: LayerNorm2d::load(&s.sub("norm"), dim, 1e-6),
            pwconv1: Linear::load(&s.sub("pwconv1"), dim, 4 * dim, true),
            pwconv2: Linear::load(&s.sub("pwconv2"), 4 * dim, dim, true),
            gamma: s.tensor("gamma", &[dim]),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.norm.forward(&self.dwconv.forward(x)).permute([0, 2, 3, 1]);
        let y = self.pwconv2.forward(&self.pwconv1.forward_post(&y, PostOp::Gelu));
        let y = (&self.gamma * y).permute([0, 3, 1, 2]);
        x + y
    }
}

/// The memory encoder (`MemoryEncoder`, weights under `memory_encoder`).
#[derive(Debug)]
pub struct MemoryEncoder {
    mask_downsampler: MaskDownSampler,
    pix_feat_proj: Conv2d,
    fuser: Vec<CxBlock>,
    /// `None` when the output width equals the input width (identity in the reference).
    out_proj: Option<Conv2d>,
    position_encoding: PositionEmbeddingSine,
}

impl MemoryEncoder {
    /// `s` is the `memory_encoder` scope; `in_dim` is the image-embedding width (256).
    pub fn load(s: &Scope, cfg: &MemoryEncoderConfig, in_dim: i64) -> Self {
        let fuser_scope = s.sub("fuser").sub("layers");
        let fuser = (0..cfg.fuser_num_layers).map(|i| CxBlock::load(&fuser_scope.sub(i), in_dim, cfg.fuser_kernel_size)).collect();
        let out_proj = (cfg.out_dim != in_dim).then(|| Conv2d::load(&s.sub("out_proj"), in_dim, cfg.out_dim, 1, 1, 0, 1, true));
        Self {
            mask_downsampler: MaskDownSampler::load(&s.sub("mask_downsampler"), cfg, in_dim),
            pix_feat_proj: Conv2d::load(&s.sub("pix_feat_proj"), in_dim, in_dim, 1, 1, 0, 1, true),
            fuser,
            out_proj,
            position_encoding: PositionEmbeddingSine::new(cfg.out_dim, 10000.0),
        }
    }

    /// `pix_feat` `[B, in_dim, h, w]`, `masks` `[B, 1, 16h, 16w]` (logits, or already mapped
    /// values when `skip_mask_sigmoid`). Returns the memory features `[B, out_dim, h, w]`
    /// and their position encoding `[B, out_dim, h, w]`.
    pub fn forward(&self, pix_feat: &Tensor, masks: &Tensor, skip_mask_sigmoid: bool) -> (Tensor, Tensor) {
        let masks = if skip_mask_sigmoid { masks.shallow_clone() } else { masks.sigmoid() };
        let masks = self.mask_downsampler.forward(&masks);
        let pix_feat = pix_feat.to_device(masks.device());
        let mut x = self.pix_feat_proj.forward(&pix_feat) + masks;
        for block in &self.fuser {
            x = block.forward(&x);
        }
        if let Some(proj) = &self.out_proj {
            x = proj.forward(&x);
        }
        let (b, _, h, w) = x.size4().expect("memory features are [B, C, h, w]");
        let pos = self.position_encoding.forward(b, h, w, x.device()).to_kind(x.kind());
        (x, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::WeightStore;
    use std::path::Path;
    use tch::{Device, Kind};

    #[test]
    fn stage_count_matches_the_reference_formula() {
        assert_eq!(downsample_stages(2, 16), 4);
        assert_eq!(downsample_stages(4, 16), 2);
        assert_eq!(downsample_stages(16, 16), 1);
    }

    #[test]
    #[should_panic(expected = "not a power")]
    fn non_power_total_stride_is_rejected() {
        downsample_stages(4, 32);
    }

    fn tiny_cfg() -> MemoryEncoderConfig {
        crate::config::Preset::builtin(crate::config::ModelSize::Tiny).model.memory_encoder
    }

    /// Every key the tiny preset asks for, with its shape, by upstream name.
    #[test]
    fn asks_for_the_upstream_keys_and_shapes() {
        let store = WeightStore::new(Path::new("none"), vec![], Device::Cpu, Kind::Float);
        let _ = MemoryEncoder::load(&store.root().sub("memory_encoder"), &tiny_cfg(), 256);
        let msg = store.finish("t").unwrap_err().to_string();
        for needle in [
            "'memory_encoder.mask_downsampler.encoder.0.weight' (expected shape [4, 1, 3, 3])",
            "'memory_encoder.mask_downsampler.encoder.9.weight' (expected shape [256, 64, 3, 3])",
            "'memory_encoder.mask_downsampler.encoder.12.weight' (expected shape [256, 256, 1, 1])",
            "'memory_encoder.mask_downsampler.encoder.10.weight' (expected shape [256])",
            "'memory_encoder.fuser.layers.1.dwconv.weight' (expected shape [256, 1, 7, 7])",
            "'memory_encoder.fuser.layers.1.gamma' (expected shape [256])",
            "'memory_encoder.out_proj.weight' (expected shape [64, 256, 1, 1])",
        ] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
        assert!(!msg.contains("encoder.13"), "{msg}");
    }

    /// With all-zero weights the CX block is the identity and the output shapes follow the
    /// 1/16 mask downsampling.
    #[test]
    fn output_shapes() {
        let store = WeightStore::new(Path::new("none"), vec![], Device::Cpu, Kind::Float);
        let enc = MemoryEncoder::load(&store.root(), &tiny_cfg(), 256);
        let pix = Tensor::randn([2, 256, 4, 5], (Kind::Float, Device::Cpu));
        let mask = Tensor::randn([2, 1, 64, 80], (Kind::Float, Device::Cpu));
        let (x, pos) = enc.forward(&pix, &mask, false);
        assert_eq!(x.size(), vec![2, 64, 4, 5]);
        assert_eq!(pos.size(), vec![2, 64, 4, 5]);
        let block = &enc.fuser[0];
        assert_eq!(block.forward(&pix).double_value(&[1, 3, 2, 4]), pix.double_value(&[1, 3, 2, 4]));
    }
}
