//! SAM prompt encoder (the "prompt encoder" block of the SAM / SAM 2 papers).
//! Reference: `sam2/modeling/sam/prompt_encoder.py` (`PromptEncoder`), built by
//! `SAM2Base._build_sam_heads` with embed_dim 256, an image embedding of `image_size / 16`
//! and `mask_in_chans = 16`.
//!
//! Points and box corners become sparse tokens (random-Fourier encoding of the pixel centre
//! plus a learned per-label embedding); a mask prompt becomes a dense embedding through a
//! small strided conv stack, and without one a learned "no mask" vector is broadcast.
use crate::model::layers::Conv2d;
use crate::model::position_encoding::PositionEmbeddingRandom;
use crate::model::sam2_utils::{Activation, LayerNorm2d};
use crate::model::weights::Scope;
use tch::{Kind, Tensor};

/// Number of learned point-label embeddings: negative, positive, box corner 1, box corner 2.
const NUM_POINT_EMBEDDINGS: usize = 4;

/// Label marking a padding point (not a real prompt).
const PAD_LABEL: f64 = -1.0;

/// `mask_downscaling`: conv 2×2/2 → LN2d → GELU → conv 2×2/2 → LN2d → GELU → conv 1×1.
#[derive(Debug)]
struct MaskDownscaling {
    conv1: Conv2d,
    norm1: LayerNorm2d,
    conv2: Conv2d,
    norm2: LayerNorm2d,
    proj: Conv2d,
}

impl MaskDownscaling {
    /// Sequential indices in the checkpoint: 0 conv, 1 norm, (2 GELU), 3 conv, 4 norm, (5 GELU), 6 conv.
    fn load(s: &Scope, mask_in_chans: i64, embed_dim: i64) -> Self {
        let hidden = mask_in_chans / 4;
        Self {
            conv1: Conv2d::load(&s.sub(0), 1, hidden, 2, 2, 0, 1, true),
            norm1: LayerNorm2d::load(&s.sub(1), hidden, 1e-6),
            conv2: Conv2d::load(&s.sub(3), hidden, mask_in_chans, 2, 2, 0, 1, true),
            norm2: LayerNorm2d::load(&s.sub(4), mask_in_chans, 1e-6),
            proj: Conv2d::load(&s.sub(6), mask_in_chans, embed_dim, 1, 1, 0, 1, true),
        }
    }

    fn forward(&self, masks: &Tensor) -> Tensor {
        let act = Activation::Gelu;
        let x = act.apply(&self.norm1.forward(&self.conv1.forward(masks)));
        let x = act.apply(&self.norm2.forward(&self.conv2.forward(&x)));
        self.proj.forward(&x)
    }
}

/// Encodes point / box / mask prompts for the mask decoder.
#[derive(Debug)]
pub struct PromptEncoder {
    embed_dim: i64,
    image_embedding_size: (i64, i64),
    input_image_size: (i64, i64),
    pe_layer: PositionEmbeddingRandom,
    /// `[1, C]` each, indexed by label 0..=3.
    point_embeddings: Vec<Tensor>,
    not_a_point_embed: Tensor,
    no_mask_embed: Tensor,
    mask_downscaling: MaskDownscaling,
}

impl PromptEncoder {
    /// Loads `sam_prompt_encoder.*`. Sizes are `(h, w)`; `input_image_size` is the model's
    /// square input resolution and `image_embedding_size` a 16th of it.
    pub fn load(s: &Scope, embed_dim: i64, image_embedding_size: (i64, i64), input_image_size: (i64, i64), mask_in_chans: i64) -> Self {
        let point_embeddings =
            (0..NUM_POINT_EMBEDDINGS).map(|i| s.sub("point_embeddings").sub(i).tensor("weight", &[1, embed_dim])).collect();
        Self {
            embed_dim,
            image_embedding_size,
            input_image_size,
            pe_layer: PositionEmbeddingRandom::load(&s.sub("pe_layer"), embed_dim / 2),
            point_embeddings,
            not_a_point_embed: s.sub("not_a_point_embed").tensor("weight", &[1, embed_dim]),
            no_mask_embed: s.sub("no_mask_embed").tensor("weight", &[1, embed_dim]),
            mask_downscaling: MaskDownscaling::load(&s.sub("mask_downscaling"), mask_in_chans, embed_dim),
        }
    }

    /// The point encoding evaluated on the whole image-embedding grid: `[1, C, h, w]`.
    pub fn get_dense_pe(&self) -> Tensor {
        let (h, w) = self.image_embedding_size;
        self.pe_layer.forward(h, w).unsqueeze(0)
    }

    /// Sparse `[B, N', C]` and dense `[B, C, h, w]` prompt embeddings.
    ///
    /// `points` is `(coords [B, N, 2] in input-image pixels (x, y), labels [B, N])` with
    /// labels −1 padding, 0 negative, 1 positive, 2/3 box corners; `boxes` is `[B, 4]`
    /// (x1, y1, x2, y2); `masks` is `[B, 1, 4h, 4w]` logits. When points come without a
    /// box, one padding point is appended (as the reference does).
    pub fn forward(&self, points: Option<(&Tensor, &Tensor)>, boxes: Option<&Tensor>, masks: Option<&Tensor>) -> (Tensor, Tensor) {
        let bs = Self::batch_size(points, boxes, masks);
        let device = self.no_mask_embed.device();
        let mut sparse = vec![Tensor::empty([bs, 0, self.embed_dim], (self.no_mask_embed.kind(), device))];
        if let Some((coords, labels)) = points {
            sparse.push(self.embed_points(coords, labels, boxes.is_none()));
        }
        if let Some(b) = boxes {
            sparse.push(self.embed_boxes(b));
        }
        let sparse = Tensor::cat(&sparse, 1);
        let dense = match masks {
            Some(m) => self.mask_downscaling.forward(m),
            None => {
                let (h, w) = self.image_embedding_size;
                self.no_mask_embed.reshape([1, -1, 1, 1]).expand([bs, -1, h, w], false)
            }
        };
        (sparse, dense)
    }

    /// Batch size from the first prompt given (points, then boxes, then masks), else 1.
    fn batch_size(points: Option<(&Tensor, &Tensor)>, boxes: Option<&Tensor>, masks: Option<&Tensor>) -> i64 {
        points.map(|(c, _)| c.size()[0]).or_else(|| boxes.map(|b| b.size()[0])).or_else(|| masks.map(|m| m.size()[0])).unwrap_or(1)
    }

    /// Encodes point prompts, optionally appending one padding point per batch item.
    fn embed_points(&self, coords: &Tensor, labels: &Tensor, pad: bool) -> Tensor {
        let coords = coords + 0.5;
        let labels = labels.to_kind(Kind::Float);
        let (coords, labels) = if pad {
            let b = coords.size()[0];
            let pad_point = Tensor::zeros([b, 1, 2], (coords.kind(), coords.device()));
            let pad_label = Tensor::full([b, 1], PAD_LABEL, (Kind::Float, labels.device()));
            (Tensor::cat(&[coords, pad_point], 1), Tensor::cat(&[labels, pad_label], 1))
        } else {
            (coords, labels)
        };
        let (ih, iw) = self.input_image_size;
        let pe = self.pe_layer.forward_with_coords(&coords, ih, iw);
        self.add_label_embeddings(&pe, &labels)
    }

    /// Zeroes the encoding of padding points and adds each point's label embedding.
    fn add_label_embeddings(&self, pe: &Tensor, labels: &Tensor) -> Tensor {
        let labels = labels.to_device(pe.device());
        let is_pad = labels.eq(PAD_LABEL).unsqueeze(-1);
        let mut out = pe.where_self(&is_pad.logical_not(), &pe.zeros_like());
        out += is_pad.to_kind(pe.kind()) * &self.not_a_point_embed;
        for (label, embed) in self.point_embeddings.iter().enumerate() {
            let hit = labels.eq(label as f64).unsqueeze(-1).to_kind(pe.kind());
            out += hit * embed;
        }
        out
    }

    /// Encodes boxes `[B, 4]` as two corner tokens each.
    fn embed_boxes(&self, boxes: &Tensor) -> Tensor {
        let corners = (boxes + 0.5).reshape([-1, 2, 2]);
        let (ih, iw) = self.input_image_size;
        let pe = self.pe_layer.forward_with_coords(&corners, ih, iw);
        let corner_embeds = Tensor::cat(&[&self.point_embeddings[2], &self.point_embeddings[3]], 0);
        pe + corner_embeds.unsqueeze(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::WeightStore;
    use std::path::Path;
    use tch::Device;

    /// A tiny encoder (C = 8, 2×2 embedding, 32×32 input) whose label embeddings are
    /// one-hot rows, so the label logic can be read off the output.
    fn tiny_store() -> WeightStore {
        let c = 8;
        let f = (Kind::Float, Device::Cpu);
        let mut t: Vec<(String, Tensor)> = (0..4)
            .map(|i| {
                (format!("point_embeddings.{i}.weight"), Tensor::zeros([1, c], f).index_fill(1, &Tensor::from_slice(&[i as i64]), 100.0))
            })
            .collect();
        t.push(("not_a_point_embed.weight".into(), Tensor::full([1, c], -7.0, f)));
        t.push(("no_mask_embed.weight".into(), Tensor::arange(c, f).unsqueeze(0)));
        t.push(("pe_layer.positional_encoding_gaussian_matrix".into(), Tensor::ones([2, c / 2], f)));
        for (k, shape) in [("0", vec![1i64, 1, 2, 2]), ("3", vec![4, 1, 2, 2]), ("6", vec![c, 4, 1, 1])] {
            t.push((format!("mask_downscaling.{k}.weight"), Tensor::ones(shape.as_slice(), f)));
            t.push((format!("mask_downscaling.{k}.bias"), Tensor::zeros([shape[0]], f)));
        }
        for (k, n) in [("1", 1i64), ("4", 4)] {
            t.push((format!("mask_downscaling.{k}.weight"), Tensor::ones([n], f)));
            t.push((format!("mask_downscaling.{k}.bias"), Tensor::zeros([n], f)));
        }
        WeightStore::new(Path::new("tiny"), t, Device::Cpu, Kind::Float)
    }

    #[test]
    fn labels_pick_embeddings_and_padding_is_appended() {
        let store = tiny_store();
        let pe = PromptEncoder::load(&store.root(), 8, (2, 2), (32, 32), 4);
        store.finish("tiny").unwrap();
        let coords = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([1, 3, 2]);
        let labels = Tensor::from_slice(&[1i32, 0, -1]).reshape([1, 3]);
        let (sparse, dense) = pe.forward(Some((&coords, &labels)), None, None);
        assert_eq!(sparse.size(), vec![1, 4, 8]);
        // Given padding point and the appended one: exactly the not-a-point vector.
        for n in [2, 3] {
            assert!(sparse.get(0).get(n).eq_tensor(&Tensor::full([8], -7.0, (Kind::Float, Device::Cpu))).all().int64_value(&[]) == 1);
        }
        // Positive point gets +100 on channel 1, negative on channel 0 (sin/cos are in [-1, 1]).
        assert!(sparse.double_value(&[0, 0, 1]) > 99.0 && sparse.double_value(&[0, 0, 0]).abs() <= 1.0);
        assert!(sparse.double_value(&[0, 1, 0]) > 99.0 && sparse.double_value(&[0, 1, 1]).abs() <= 1.0);
        assert_eq!(dense.size(), vec![1, 8, 2, 2]);
        assert_eq!(dense.double_value(&[0, 5, 1, 0]), 5.0);
    }

    #[test]
    fn boxes_suppress_padding_and_masks_give_dense_grid() {
        let store = tiny_store();
        let pe = PromptEncoder::load(&store.root(), 8, (2, 2), (32, 32), 4);
        let coords = Tensor::from_slice(&[1.0f32, 2.0]).reshape([1, 1, 2]);
        let labels = Tensor::from_slice(&[1i32]).reshape([1, 1]);
        let boxes = Tensor::from_slice(&[0.0f32, 0.0, 10.0, 10.0]).reshape([1, 4]);
        let mask = Tensor::ones([1, 1, 8, 8], (Kind::Float, Device::Cpu));
        let (sparse, dense) = pe.forward(Some((&coords, &labels)), Some(&boxes), Some(&mask));
        assert_eq!(sparse.size(), vec![1, 3, 8]);
        assert!(sparse.double_value(&[0, 1, 2]) > 99.0 && sparse.double_value(&[0, 2, 3]) > 99.0);
        assert_eq!(dense.size(), vec![1, 8, 2, 2]);
        assert_eq!(pe.get_dense_pe().size(), vec![1, 8, 2, 2]);
    }
}
