//! SAM 2 image encoder (paper §4 "Image encoder"): the Hiera trunk followed by a feature
//! pyramid neck that fuses stride-16/32 features top-down and attaches sine position
//! encodings; the coarsest level is dropped (`scalp`).
//! Reference: `sam2/modeling/backbones/image_encoder.py` (`ImageEncoder`, `FpnNeck`).
use super::hieradet::Hiera;
use crate::config::{ImageEncoderConfig, NeckConfig};
use crate::model::layers::Conv2d;
use crate::model::position_encoding::PositionEmbeddingSine;
use crate::model::weights::Scope;
use tch::Tensor;

/// What the image encoder hands to the SAM heads and the memory modules.
#[derive(Debug)]
pub struct BackboneOut {
    /// The coarsest kept level (`backbone_fpn.last()`), `[B, d_model, S/16, S/16]`.
    pub vision_features: Tensor,
    /// Sine position encodings, one per kept level, finest first.
    pub vision_pos_enc: Vec<Tensor>,
    /// Neck outputs per kept level, finest first (strides 4, 8, 16 with scalp 1).
    pub backbone_fpn: Vec<Tensor>,
}

/// FPN neck: a 1×1 lateral convolution per trunk level to `d_model` channels; the levels in
/// `fpn_top_down_levels` also receive the nearest-×2 upsampled result of the next coarser
/// level. Conv `k` serves trunk level `n − k` (the conv list runs coarsest first).
#[derive(Debug)]
pub struct FpnNeck {
    convs: Vec<Conv2d>,
    backbone_channel_list: Vec<i64>,
    top_down_levels: Vec<usize>,
    position_encoding: PositionEmbeddingSine,
}

impl FpnNeck {
    /// Loads `<scope>.convs.{k}.conv.{weight,bias}` (normally `image_encoder.neck`).
    pub fn load(s: &Scope, cfg: &NeckConfig) -> Self {
        let convs = cfg
            .backbone_channel_list
            .iter()
            .enumerate()
            .map(|(k, &dim)| Conv2d::load(&s.sub("convs").sub(k).sub("conv"), dim, cfg.d_model, 1, 1, 0, 1, true))
            .collect();
        Self {
            convs,
            backbone_channel_list: cfg.backbone_channel_list.clone(),
            top_down_levels: cfg.fpn_top_down_levels.clone(),
            position_encoding: PositionEmbeddingSine::new(cfg.d_model, 10000.0),
        }
    }

    /// Trunk channel widths this neck expects, coarsest first.
    pub fn backbone_channel_list(&self) -> &[i64] {
        &self.backbone_channel_list
    }

    /// Trunk outputs (finest first) → (features, position encodings), finest first.
    pub fn forward(&self, xs: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>) {
        assert_eq!(xs.len(), self.convs.len(), "FPN neck: trunk level count differs from conv count");
        let n = self.convs.len() - 1;
        let mut out: Vec<Option<Tensor>> = (0..=n).map(|_| None).collect();
        let mut prev: Option<Tensor> = None;
        for i in (0..=n).rev() {
            let lateral = self.convs[n - i].forward(&xs[i]);
            let fused = match prev.as_ref().filter(|_| self.top_down_levels.contains(&i)) {
                Some(p) => lateral + upsample_nearest_x2(p),
                None => lateral,
            };
            out[i] = Some(fused.shallow_clone());
            prev = Some(fused);
        }
        let features: Vec<Tensor> = out.into_iter().map(|t| t.expect("every level is filled")).collect();
        let pos = features.iter().map(|f| self.encode_position(f)).collect();
        (features, pos)
    }

    /// Sine position encoding of a feature map, in the map's dtype.
    fn encode_position(&self, f: &Tensor) -> Tensor {
        let (b, _, h, w) = f.size4().expect("neck features are NCHW");
        self.position_encoding.forward(b, h, w, f.device()).to_kind(f.kind())
    }
}

/// `F.interpolate(x.float(), scale_factor=2, mode="nearest")`, cast back to `x`'s kind:
/// the reference relies on autocast for that, which libtorch lacks (bf16 path).
fn upsample_nearest_x2(x: &Tensor) -> Tensor {
    let (_, _, h, w) = x.size4().expect("neck features are NCHW");
    x.to_kind(tch::Kind::Float).upsample_nearest2d([2 * h, 2 * w], Some(2.0), Some(2.0)).to_kind(x.kind())
}

/// Trunk + neck + scalp.
#[derive(Debug)]
pub struct ImageEncoder {
    pub trunk: Hiera,
    pub neck: FpnNeck,
    scalp: usize,
}

impl ImageEncoder {
    /// Loads `<scope>.trunk.*` and `<scope>.neck.*` (normally `image_encoder`). A trunk
    /// whose channel widths differ from the neck's is recorded as a weight problem.
    pub fn load(s: &Scope, cfg: &ImageEncoderConfig) -> Self {
        let trunk = Hiera::load(&s.sub("trunk"), &cfg.trunk);
        let neck = FpnNeck::load(&s.sub("neck"), &cfg.neck);
        if trunk.channel_list() != neck.backbone_channel_list() {
            s.store().report(format!(
                "{}: trunk channels {:?} differ from neck.backbone_channel_list {:?}",
                s.key("neck"),
                trunk.channel_list(),
                neck.backbone_channel_list()
            ));
        }
        Self { trunk, neck, scalp: cfg.scalp }
    }

    /// `[B, 3, S, S]` normalised image → FPN features and position encodings with the
    /// `scalp` coarsest levels removed; `vision_features` is the coarsest kept level.
    pub fn forward(&self, x: &Tensor) -> BackboneOut {
        let (mut features, mut pos) = self.neck.forward(&self.trunk.forward(x));
        let keep = features.len().saturating_sub(self.scalp);
        features.truncate(keep);
        pos.truncate(keep);
        let vision_features = features.last().expect("scalp leaves at least one level").shallow_clone();
        BackboneOut { vision_features, vision_pos_enc: pos, backbone_fpn: features }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelSize, Preset};
    use crate::model::weights::WeightStore;
    use std::path::Path;
    use tch::{Device, Kind};

    fn randn(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, Device::Cpu))
    }

    /// Neck on random trunk-shaped inputs with hand-set 1×1 weights: checks the level
    /// order, the top-down levels and the position encoding against a direct computation.
    #[test]
    fn neck_fuses_only_top_down_levels() {
        let cfg = Preset::builtin(ModelSize::Tiny).model.image_encoder.neck;
        let mut tensors = Vec::new();
        for (k, &dim) in cfg.backbone_channel_list.iter().enumerate() {
            tensors.push((format!("neck.convs.{k}.conv.weight"), randn(&[256, dim, 1, 1])));
            tensors.push((format!("neck.convs.{k}.conv.bias"), randn(&[256])));
        }
        let w: Vec<(Tensor, Tensor)> = (0..4).map(|k| (tensors[2 * k].1.shallow_clone(), tensors[2 * k + 1].1.shallow_clone())).collect();
        let store = WeightStore::new(Path::new("mem"), tensors, Device::Cpu, Kind::Float);
        let neck = FpnNeck::load(&store.root().sub("neck"), &cfg);
        store.finish("neck").expect("all neck keys used");
        let xs = [randn(&[1, 96, 16, 16]), randn(&[1, 192, 8, 8]), randn(&[1, 384, 4, 4]), randn(&[1, 768, 2, 2])];
        let (feats, pos) = neck.forward(&xs);
        let lat = |i: usize| xs[i].conv2d(&w[3 - i].0, Some(&w[3 - i].1), [1], [0], [1], 1);
        let l3 = lat(3);
        let l2 = lat(2) + l3.repeat_interleave_self_int(2, 2, None).repeat_interleave_self_int(2, 3, None);
        for (got, want) in feats.iter().zip([lat(0), lat(1), l2, l3]) {
            assert!((got - want).abs().max().double_value(&[]) < 1e-4);
        }
        assert_eq!(pos[1].size(), vec![1, 256, 8, 8]);
        let pe = PositionEmbeddingSine::new(256, 10000.0).forward(1, 8, 8, Device::Cpu);
        assert_eq!((&pos[1] - pe).abs().max().double_value(&[]), 0.0);
    }
}
