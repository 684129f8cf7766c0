//! SAM 2 mask decoder (the "mask decoder" block of the SAM 2 paper, with its occlusion /
//! object-score head and high-resolution skip features).
//! Reference: `sam2/modeling/sam/mask_decoder.py` (`MaskDecoder`), built by
//! `SAM2Base._build_sam_heads` for SAM 2.1: 3 multimask outputs, two-way transformer
//! (depth 2, 256-d, MLP 2048, 8 heads), IoU head (3 layers, 256 hidden, sigmoid),
//! object-score MLP, high-res features, dynamic multimask via stability.
//!
//! Output tokens `[object score, IoU, 4 mask tokens]` are prepended to the prompt tokens and
//! run through the two-way transformer with the image embedding; the image side is upscaled
//! ×4 (mixing in the stride-4/8 backbone features) and each mask token, through its own
//! hypernetwork MLP, becomes a per-pixel linear classifier over the upscaled features.
use super::transformer::TwoWayTransformer;
use crate::config::ModelConfig;
use crate::model::layers::{matmul, Conv2d, ConvTranspose2d};
use crate::model::sam2_utils::{Activation, LayerNorm2d, Mlp};
use crate::model::weights::Scope;
use tch::{Kind, Tensor};

/// Masks predicted by the single-mask token plus the multimask ones.
const NUM_MULTIMASK_OUTPUTS: i64 = 3;
const NUM_MASK_TOKENS: i64 = NUM_MULTIMASK_OUTPUTS + 1;

/// Result of one decoder call.
#[derive(Debug)]
pub struct MaskDecoderOut {
    /// Low-resolution mask logits `[B, M, 4h, 4w]` (M = 3 with multimask output, else 1).
    pub masks: Tensor,
    /// Predicted IoU of each returned mask `[B, M]`.
    pub iou_pred: Tensor,
    /// Output mask token(s) for the object pointer: `[B, 3, C]` with multimask output and
    /// `use_multimask_token_for_obj_ptr`, else the single-mask token `[B, 1, C]`.
    pub sam_tokens_out: Tensor,
    /// Object presence logit `[B, 1]`.
    pub object_score_logits: Tensor,
}

/// `output_upscaling`: transposed conv ×2 → LN2d → GELU → transposed conv ×2 → GELU.
#[derive(Debug)]
struct OutputUpscaling {
    dc1: ConvTranspose2d,
    ln1: LayerNorm2d,
    dc2: ConvTranspose2d,
}

impl OutputUpscaling {
    /// Sequential indices: 0 deconv, 1 norm, (2 GELU), 3 deconv, (4 GELU).
    fn load(s: &Scope, dim: i64) -> Self {
        Self {
            dc1: ConvTranspose2d::load(&s.sub(0), dim, dim / 4, 2, 2),
            ln1: LayerNorm2d::load(&s.sub(1), dim / 4, 1e-6),
            dc2: ConvTranspose2d::load(&s.sub(3), dim / 4, dim / 8, 2, 2),
        }
    }

    /// `high_res` = (feat_s0 `[B, C/8, 4h, 4w]`, feat_s1 `[B, C/4, 2h, 2w]`), added after
    /// each transposed conv.
    fn forward(&self, src: &Tensor, high_res: Option<(&Tensor, &Tensor)>) -> Tensor {
        let act = Activation::Gelu;
        let x = self.dc1.forward(src);
        let x = match high_res {
            Some((_, s1)) => x + s1,
            None => x,
        };
        let x = act.apply(&self.ln1.forward(&x));
        let x = self.dc2.forward(&x);
        let x = match high_res {
            Some((s0, _)) => x + s0,
            None => x,
        };
        act.apply(&x)
    }
}

/// Raw (pre-selection) predictions of all output tokens.
struct RawPrediction {
    masks: Tensor,
    iou_pred: Tensor,
    mask_tokens_out: Tensor,
    object_score_logits: Tensor,
}

/// The SAM 2.1 mask decoder (`sam_mask_decoder`).
#[derive(Debug)]
pub struct MaskDecoder {
    /// 1×1 projection of the stride-4 backbone level to C/8 channels (applied by `sam2_base`).
    pub conv_s0: Conv2d,
    /// 1×1 projection of the stride-8 backbone level to C/4 channels (applied by `sam2_base`).
    pub conv_s1: Conv2d,
    transformer: TwoWayTransformer,
    /// `[obj_score_token; iou_token; mask_tokens]`: `[6, C]`.
    output_tokens: Tensor,
    output_upscaling: OutputUpscaling,
    output_hypernetworks_mlps: Vec<Mlp>,
    iou_prediction_head: Mlp,
    pred_obj_score_head: Mlp,
    use_multimask_token_for_obj_ptr: bool,
    dynamic_multimask_via_stability: bool,
    stability_delta: f64,
    stability_thresh: f64,
}

impl MaskDecoder {
    /// Loads `sam_mask_decoder.*`. The SAM 2.1 flags (high-res features, sigmoid IoU,
    /// object-score MLP) are required to be on, as `ModelConfig::validate` enforces.
    pub fn load(s: &Scope, cfg: &ModelConfig) -> Self {
        assert!(
            cfg.use_high_res_features_in_sam && cfg.iou_prediction_use_sigmoid && cfg.pred_obj_scores && cfg.pred_obj_scores_mlp,
            "mask decoder: only the SAM 2.1 head flags are supported (see ModelConfig::validate)"
        );
        let dim = cfg.image_encoder.neck.d_model;
        let output_tokens = Tensor::cat(
            &[
                s.sub("obj_score_token").tensor("weight", &[1, dim]),
                s.sub("iou_token").tensor("weight", &[1, dim]),
                s.sub("mask_tokens").tensor("weight", &[NUM_MASK_TOKENS, dim]),
            ],
            0,
        );
        let extra = &cfg.sam_mask_decoder_extra_args;
        Self {
            conv_s0: Conv2d::load(&s.sub("conv_s0"), dim, dim / 8, 1, 1, 0, 1, true),
            conv_s1: Conv2d::load(&s.sub("conv_s1"), dim, dim / 4, 1, 1, 0, 1, true),
            transformer: TwoWayTransformer::load(&s.sub("transformer"), 2, dim, 8, 2048, 2),
            output_tokens,
            output_upscaling: OutputUpscaling::load(&s.sub("output_upscaling"), dim),
            output_hypernetworks_mlps: (0..NUM_MASK_TOKENS)
                .map(|i| Mlp::load(&s.sub("output_hypernetworks_mlps").sub(i), dim, dim, dim / 8, 3, Activation::Relu, false))
                .collect(),
            iou_prediction_head: Mlp::load(&s.sub("iou_prediction_head"), dim, 256, NUM_MASK_TOKENS, 3, Activation::Relu, true),
            pred_obj_score_head: Mlp::load(&s.sub("pred_obj_score_head"), dim, dim, 1, 3, Activation::Relu, false),
            use_multimask_token_for_obj_ptr: cfg.use_multimask_token_for_obj_ptr,
            dynamic_multimask_via_stability: extra.dynamic_multimask_via_stability,
            stability_delta: extra.dynamic_multimask_stability_delta,
            stability_thresh: extra.dynamic_multimask_stability_thresh,
        }
    }

    /// Predicts masks for the prompts. `image_embeddings` `[B or 1, C, h, w]`, `image_pe`
    /// `[1, C, h, w]`, `sparse` `[B, N, C]`, `dense` `[B, C, h, w]`; with `repeat_image`
    /// the image is repeated to the prompt batch. `high_res_features` = (feat_s0, feat_s1)
    /// already projected by `conv_s0` / `conv_s1`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        image_embeddings: &Tensor,
        image_pe: &Tensor,
        sparse: &Tensor,
        dense: &Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: Option<(&Tensor, &Tensor)>,
    ) -> MaskDecoderOut {
        let raw = self.predict_masks(image_embeddings, image_pe, sparse, dense, repeat_image, high_res_features);
        let (masks, iou_pred) = if multimask_output {
            (raw.masks.narrow(1, 1, NUM_MULTIMASK_OUTPUTS), raw.iou_pred.narrow(1, 1, NUM_MULTIMASK_OUTPUTS))
        } else if self.dynamic_multimask_via_stability {
            dynamic_multimask_via_stability(&raw.masks, &raw.iou_pred, self.stability_delta, self.stability_thresh)
        } else {
            (raw.masks.narrow(1, 0, 1), raw.iou_pred.narrow(1, 0, 1))
        };
        let sam_tokens_out = if multimask_output && self.use_multimask_token_for_obj_ptr {
            raw.mask_tokens_out.narrow(1, 1, NUM_MULTIMASK_OUTPUTS)
        } else {
            raw.mask_tokens_out.narrow(1, 0, 1)
        };
        MaskDecoderOut { masks, iou_pred, sam_tokens_out, object_score_logits: raw.object_score_logits }
    }

    /// Runs the transformer and every head on all output tokens (`predict_masks`).
    fn predict_masks(
        &self,
        image_embeddings: &Tensor,
        image_pe: &Tensor,
        sparse: &Tensor,
        dense: &Tensor,
        repeat_image: bool,
        high_res_features: Option<(&Tensor, &Tensor)>,
    ) -> RawPrediction {
        let b = sparse.size()[0];
        let output_tokens = self.output_tokens.unsqueeze(0).expand([b, -1, -1], false);
        let tokens = Tensor::cat(&[output_tokens.to_kind(sparse.kind()), sparse.shallow_clone()], 1);
        let src = if repeat_image {
            image_embeddings.repeat_interleave_self_int(b, Some(0), None)
        } else {
            assert_eq!(image_embeddings.size()[0], b, "mask decoder: image batch differs from prompt batch");
            image_embeddings.shallow_clone()
        };
        let src = src + dense;
        assert_eq!(image_pe.size()[0], 1, "mask decoder: image_pe must have batch 1 (get_dense_pe)");
        let pos_src = image_pe.repeat_interleave_self_int(b, Some(0), None);
        let (bb, c, h, w) = src.size4().expect("image embeddings are [B, C, h, w]");

        let (hs, src) = self.transformer.forward(&src, &pos_src, &tokens);
        let iou_token_out = hs.select(1, 1);
        let mask_tokens_out = hs.narrow(1, 2, NUM_MASK_TOKENS);

        let src = src.transpose(1, 2).reshape([bb, c, h, w]);
        let upscaled = self.output_upscaling.forward(&src, high_res_features);
        let masks = self.hypernetwork_masks(&mask_tokens_out, &upscaled);
        RawPrediction {
            masks,
            iou_pred: self.iou_prediction_head.forward(&iou_token_out),
            object_score_logits: self.pred_obj_score_head.forward(&hs.select(1, 0)),
            mask_tokens_out,
        }
    }

    /// Each mask token through its own MLP, dotted with every upscaled pixel feature.
    fn hypernetwork_masks(&self, mask_tokens_out: &Tensor, upscaled: &Tensor) -> Tensor {
        let hyper: Vec<Tensor> =
            self.output_hypernetworks_mlps.iter().enumerate().map(|(i, mlp)| mlp.forward(&mask_tokens_out.select(1, i as i64))).collect();
        let hyper_in = Tensor::stack(&hyper, 1);
        let (b, c, h, w) = upscaled.size4().expect("upscaled embedding is [B, C, H, W]");
        matmul(&hyper_in, &upscaled.reshape([b, c, h * w])).reshape([b, -1, h, w])
    }
}

/// Stability of mask logits `[..., H, W]`: the ratio of the areas above `+delta` and above
/// `-delta` (1 when the looser area is empty). Returns `[...]` float32.
pub fn stability_scores(mask_logits: &Tensor, delta: f64) -> Tensor {
    let flat = mask_logits.flatten(-2, -1);
    let area_i = flat.gt(delta).sum_dim_intlist(-1, false, Kind::Int64).to_kind(Kind::Float);
    let area_u = flat.gt(-delta).sum_dim_intlist(-1, false, Kind::Int64).to_kind(Kind::Float);
    let ratio = &area_i / &area_u;
    ratio.where_self(&area_u.gt(0.0), &ratio.ones_like())
}

/// Single-mask output with fallback: keeps token 0's mask when its stability score is at
/// least `thresh`, otherwise takes the multimask output (tokens 1..=3) with the highest
/// predicted IoU. `all_masks` `[B, 4, H, W]`, `all_iou` `[B, 4]` → `[B, 1, H, W]`, `[B, 1]`.
pub fn dynamic_multimask_via_stability(all_masks: &Tensor, all_iou: &Tensor, delta: f64, thresh: f64) -> (Tensor, Tensor) {
    let multi_masks = all_masks.narrow(1, 1, NUM_MULTIMASK_OUTPUTS);
    let multi_iou = all_iou.narrow(1, 1, NUM_MULTIMASK_OUTPUTS);
    let best = multi_iou.argmax(-1, true); // [B, 1]
    let (b, _, h, w) = multi_masks.size4().expect("masks are [B, M, H, W]");
    let best_masks = multi_masks.gather(1, &best.view([b, 1, 1, 1]).expand([b, 1, h, w], false), false);
    let best_iou = multi_iou.gather(1, &best, false);

    let single_masks = all_masks.narrow(1, 0, 1);
    let single_iou = all_iou.narrow(1, 0, 1);
    let is_stable = stability_scores(&single_masks, delta).ge(thresh); // [B, 1]
    let masks = single_masks.where_self(&is_stable.view([b, 1, 1, 1]), &best_masks);
    let iou = single_iou.where_self(&is_stable, &best_iou);
    (masks, iou)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    #[test]
    fn stability_counts_strict_thresholds() {
        // > 0.05: {0.5, 0.06} = 2; > -0.05: {0.5, 0.06, 0.05, 0.0, -0.04} = 5 (0.05 itself
        // is not above +delta; -0.05 is not above -delta).
        let m = t(&[0.5, 0.06, 0.05, 0.0, -0.04, -0.05, -1.0, -2.0], &[1, 1, 2, 4]);
        let s = stability_scores(&m, 0.05);
        assert_eq!(s.size(), vec![1, 1]);
        assert!((s.double_value(&[0, 0]) - 0.4).abs() < 1e-7, "{s}");
    }

    #[test]
    fn stability_is_one_when_nothing_is_above_minus_delta() {
        let m = Tensor::full([2, 1, 3, 3], -5.0, (Kind::Float, Device::Cpu));
        let s = stability_scores(&m, 0.05);
        assert_eq!(Vec::<f32>::try_from(s.flatten(0, -1)).unwrap(), vec![1.0, 1.0]);
    }

    #[test]
    fn dynamic_fallback_picks_best_multimask_only_when_unstable() {
        // Batch item 0: token 0 is clean (stable); item 1: token 0 is mostly in the band.
        let stable = [3.0f32, -3.0, 3.0, -3.0];
        let unstable = [0.01f32, 0.02, -0.01, 3.0];
        let mut v = Vec::new();
        for single in [stable, unstable] {
            v.extend_from_slice(&single);
            for k in 1..=3 {
                v.extend(std::iter::repeat_n(k as f32 * 10.0, 4));
            }
        }
        let masks = t(&v, &[2, 4, 2, 2]);
        let iou = t(&[0.9, 0.1, 0.7, 0.3, 0.2, 0.1, 0.3, 0.8], &[2, 4]);
        let (m, i) = dynamic_multimask_via_stability(&masks, &iou, 0.05, 0.98);
        assert_eq!(m.size(), vec![2, 1, 2, 2]);
        assert_eq!(Vec::<f32>::try_from(i.flatten(0, -1)).unwrap(), vec![0.9, 0.8]);
        assert_eq!(Vec::<f32>::try_from(m.get(0).flatten(0, -1)).unwrap(), stable.to_vec());
        assert_eq!(Vec::<f32>::try_from(m.get(1).flatten(0, -1)).unwrap(), vec![30.0; 4]);
    }
}
