//! Single-image box and point prompting. Reference: `sam2/sam2_image_predictor.py`
//! (`SAM2ImagePredictor.set_image`, `_prep_prompts`, `_predict`) and
//! `sam2/utils/transforms.py` (`SAM2Transforms.transform_boxes`, `postprocess_masks`).
//!
//! The input tensor comes from [`crate::image::image_predictor_input_tensor`] (the
//! predictor's torchvision pre-processing); this module does the rest of `predict(box=...,
//! multimask_output=False, return_logits=True)`.
use super::sam2_base::Sam2Model;
use crate::error::{Error, Result};
use samurai_core::settings::PointPrompt;
use tch::{Kind, Tensor};

/// Image features kept between prompts (`_features` of the reference predictor).
pub struct ImageEmbedding {
    /// `[1, 256, h, w]` top level with `no_mem_embed` added.
    pub image_embed: Tensor,
    /// `[1, 32, 4h, 4w]` and `[1, 64, 2h, 2w]`.
    pub high_res_feats: (Tensor, Tensor),
    /// Original image `(height, width)`.
    pub orig_hw: (i64, i64),
}

/// Result of one box prompt.
pub struct BoxPrediction {
    /// `[H, W]` float32 logits at the image's own resolution.
    pub logits: Tensor,
    /// `[1, 4h, 4w]` low-resolution logits clamped to ±32 (usable as a mask prompt).
    pub low_res_logits: Tensor,
    /// Predicted IoU of the returned mask.
    pub iou: f64,
}

impl Sam2Model {
    /// `set_image`: runs the image encoder on a pre-processed `[1, 3, S, S]` tensor.
    pub fn embed_image(&self, input: &Tensor, orig_hw: (i64, i64)) -> ImageEmbedding {
        tch::no_grad(|| {
            let out = self.forward_image(input);
            let feats = self.prepare_backbone_features(&out);
            ImageEmbedding { image_embed: self.init_cond_features(&feats), high_res_feats: feats.high_res_nchw(), orig_hw }
        })
    }

    /// `predict(box=[x1,y1,x2,y2], multimask_output=False, return_logits=True)` with the box
    /// in pixels of the original image (`normalize_coords=True`).
    pub fn predict_box(&self, emb: &ImageEmbedding, bbox: [f64; 4]) -> Result<BoxPrediction> {
        self.predict(emb, Some(bbox), &[])
    }

    /// `predict(point_coords=..., point_labels=..., box=..., multimask_output=False,
    /// return_logits=True)`: the box's corners (labels 2, 3) first, then the clicks (1
    /// positive, 0 negative), all in pixels of the original image, scaled in float32 as
    /// `SAM2Transforms.transform_coords` does.
    pub fn predict(&self, emb: &ImageEmbedding, bbox: Option<[f64; 4]>, points: &[PointPrompt]) -> Result<BoxPrediction> {
        let (h, w) = emb.orig_hw;
        if let Some(b) = bbox {
            validate_box(b, w, h)?;
        }
        if bbox.is_none() && points.is_empty() {
            return Err(Error::invalid("prompt", "neither a box nor a point was given"));
        }
        for (i, p) in points.iter().enumerate() {
            if !(p.x.is_finite() && p.y.is_finite() && (0.0..=w as f64).contains(&p.x) && (0.0..=h as f64).contains(&p.y)) {
                return Err(Error::invalid("point", format!("point {} at ({}, {}) lies outside the {w}x{h} image", i + 1, p.x, p.y)));
            }
        }
        let s = self.config.image_size as f32;
        let mut xy: Vec<f32> = Vec::new();
        let mut lab: Vec<i32> = Vec::new();
        if let Some(b) = bbox {
            xy.extend([b[0] as f32 / w as f32 * s, b[1] as f32 / h as f32 * s, b[2] as f32 / w as f32 * s, b[3] as f32 / h as f32 * s]);
            lab.extend([2, 3]);
        }
        for p in points {
            xy.extend([p.x as f32 / w as f32 * s, p.y as f32 / h as f32 * s]);
            lab.push(i32::from(p.positive));
        }
        let n = lab.len() as i64;
        Ok(tch::no_grad(|| {
            let coords = Tensor::from_slice(&xy).view([1, n, 2]).to_device(self.device);
            let labels = Tensor::from_slice(&lab).view([1, n]).to_device(self.device);
            let (sparse, dense) = self.sam_prompt_encoder.forward(Some((&coords, &labels)), None, None);
            let (hr0, hr1) = &emb.high_res_feats;
            let dec = self.sam_mask_decoder.forward(
                &emb.image_embed,
                &self.sam_prompt_encoder.get_dense_pe(),
                &sparse,
                &dense,
                false,
                false,
                Some((hr0, hr1)),
            );
            let low = dec.masks.to_kind(Kind::Float);
            let logits = low.upsample_bilinear2d([h, w], false, None, None);
            BoxPrediction {
                logits: logits.get(0).get(0).to_device(tch::Device::Cpu),
                low_res_logits: low.clamp(-32.0, 32.0).get(0).to_device(tch::Device::Cpu),
                iou: dec.iou_pred.to_kind(Kind::Double).double_value(&[0, 0]),
            }
        }))
    }
}

/// A box must be finite, ordered and overlap the image (`samurai_core::prompt::validate_box`,
/// the one check of a box).
pub fn validate_box(b: [f64; 4], width: i64, height: i64) -> Result<()> {
    let side = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Ok(samurai_core::prompt::validate_box(b, side(width), side(height))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_checked() {
        assert!(validate_box([10.0, 10.0, 50.0, 60.0], 100, 100).is_ok());
        assert!(validate_box([50.0, 10.0, 10.0, 60.0], 100, 100).unwrap_err().to_string().contains("empty"));
        assert!(validate_box([150.0, 10.0, 180.0, 60.0], 100, 100).unwrap_err().to_string().contains("outside"));
        assert!(validate_box([f64::NAN, 10.0, 180.0, 60.0], 100, 100).unwrap_err().to_string().contains("non-finite"));
    }
}
