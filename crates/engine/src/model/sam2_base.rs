//! The SAM 2.1 model as a whole: loading from a checkpoint and the per-frame steps the
//! tracker composes. Reference: `sam2/modeling/sam2_base.py` (`SAM2Base`: `forward_image`,
//! `_prepare_backbone_features`, `_forward_sam_heads`, `_use_mask_as_output`,
//! `_prepare_memory_conditioned_features` (the network half), `_encode_new_memory`).
//!
//! Stateless after loading: no Kalman filter, no memory bank, no per-video state (those live
//! in the tracker). The SAMURAI mask selection that the reference does inside
//! `_forward_sam_heads` is left to the tracker: [`SamHeadsOut`] keeps every candidate and
//! [`Sam2Model::select_candidate`] rebuilds the outputs for the index the tracker chose.
use super::backbones::image_encoder::{BackboneOut, ImageEncoder};
use super::checkpoint::read_checkpoint;
use super::device::LoadOptions;
use super::layers::{Conv2d, Linear};
use super::memory_attention::MemoryAttention;
use super::memory_encoder::MemoryEncoder;
use super::position_encoding::get_1d_sine_pe;
use super::sam::mask_decoder::{MaskDecoder, MaskDecoderOut};
use super::sam::prompt_encoder::PromptEncoder;
use super::sam2_utils::{Activation, Mlp};
use super::weights::WeightStore;
use crate::config::{ModelConfig, ModelSize};
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Logit written into masks where the object is judged absent (`NO_OBJ_SCORE`).
pub const NO_OBJ_SCORE: f64 = -1024.0;
/// SAMURAI's `min_obj_score_logits` default: below it a mask is forced to "no object".
pub const DEFAULT_MIN_OBJ_SCORE_LOGITS: f64 = -1.0;

/// Flattened multi-level features of one frame (`_prepare_backbone_features`).
pub struct BackboneFeatures {
    /// Per level, sequence-first `[h·w, B, C]`; the last is the 1/16 level.
    pub vision_feats: Vec<Tensor>,
    /// Matching position encodings, `[h·w, B, C]`.
    pub vision_pos_embeds: Vec<Tensor>,
    /// `(h, w)` per level.
    pub feat_sizes: Vec<(i64, i64)>,
}

impl BackboneFeatures {
    /// The top-level feature as `[B, C, h, w]`.
    pub fn top_level_nchw(&self) -> Tensor {
        seq_to_nchw(self.vision_feats.last().expect("three feature levels"), *self.feat_sizes.last().unwrap())
    }

    /// The two high-resolution levels as `[B, C, h, w]` for the mask decoder.
    pub fn high_res_nchw(&self) -> (Tensor, Tensor) {
        (seq_to_nchw(&self.vision_feats[0], self.feat_sizes[0]), seq_to_nchw(&self.vision_feats[1], self.feat_sizes[1]))
    }
}

/// `[h·w, B, C] -> [B, C, h, w]`.
pub fn seq_to_nchw(x: &Tensor, (h, w): (i64, i64)) -> Tensor {
    let (_, b, c) = x.size3().expect("sequence-first feature");
    x.permute([1, 2, 0]).reshape([b, c, h, w])
}

/// Everything the SAM heads produce for one frame (`_forward_sam_heads` outputs).
pub struct SamHeadsOut {
    /// `[B, M, 4h, 4w]` candidate logits (M = 3 with multimask output, else 1).
    pub low_res_multimasks: Tensor,
    /// `[B, M, S, S]` candidates upsampled to the model's input size.
    pub high_res_multimasks: Tensor,
    /// `[B, M]` predicted IoUs.
    pub ious: Tensor,
    /// `[B, 1, 4h, 4w]` the selected candidate.
    pub low_res_masks: Tensor,
    /// `[B, 1, S, S]` the selected candidate.
    pub high_res_masks: Tensor,
    /// `[B, C]` object pointer of the selected candidate (no-object mixing applied).
    pub obj_ptr: Tensor,
    /// `[B, 1]` object-score logits.
    pub object_score_logits: Tensor,
    /// `[B, M, C]` decoder output tokens of every candidate (for re-selection).
    pub sam_output_tokens: Tensor,
    /// Index of the selected candidate of the first batch element (argmax IoU with
    /// multimask output, else 0).
    pub best_index: i64,
    /// `[B, 1]` 1.0 where the object is judged present.
    is_obj_appearing: Tensor,
}

/// One memory frame handed to [`Sam2Model::condition_on_memory`].
pub struct MemoryFrame<'a> {
    /// `[B, 64, h, w]` encoded memory.
    pub features: &'a Tensor,
    /// `[B, 64, h, w]` its spatial position encoding.
    pub pos_enc: &'a Tensor,
    /// Temporal slot: 0 for conditioning frames, 1..num_maskmem-1 for recent frames.
    pub t_pos: usize,
}

/// One object's memory as the memory attention's keys (see [`Sam2Model::memory_tokens`]).
pub struct MemoryTokens {
    /// `[M, B, 64]` memory-frame tokens, then object-pointer tokens.
    pub memory: Tensor,
    /// `[M, B, 64]` their encodings.
    pub pos: Tensor,
    /// How many of the last rows are object-pointer tokens (not rotated by RoPE).
    pub num_obj_ptr_tokens: i64,
}

impl MemoryTokens {
    /// Objects whose tokens agree in `(length, pointer tokens)` can share one memory
    /// attention batch.
    pub fn batch_key(&self) -> (i64, i64) {
        (self.memory.size()[0], self.num_obj_ptr_tokens)
    }
}

/// A network shared by several sessions or threads. `tch::Tensor` is `Send` but not
/// `Sync`, so users take turns through the mutex.
pub type SharedModel = std::sync::Arc<parking_lot::Mutex<Sam2Model>>;

/// The SAM 2.1 network.
pub struct Sam2Model {
    pub config: ModelConfig,
    pub size: ModelSize,
    pub device: Device,
    pub kind: Kind,
    pub image_encoder: ImageEncoder,
    pub sam_prompt_encoder: PromptEncoder,
    pub sam_mask_decoder: MaskDecoder,
    pub memory_encoder: MemoryEncoder,
    pub memory_attention: MemoryAttention,
    pub obj_ptr_proj: Mlp,
    pub obj_ptr_tpos_proj: Linear,
    pub mask_downsample: Conv2d,
    /// `[num_maskmem, 1, 1, 64]` temporal encodings of memory slots.
    pub maskmem_tpos_enc: Tensor,
    /// `[1, 1, 256]` added to the features of an initial conditioning frame.
    pub no_mem_embed: Tensor,
    /// `[1, 1, 256]` (unused by SAM 2.1 inference, kept for strict loading).
    pub no_mem_pos_enc: Tensor,
    /// `[1, 256]` object pointer of an absent object.
    pub no_obj_ptr: Tensor,
    /// `[1, 64]` added to memories of frames where the object is absent.
    pub no_obj_embed_spatial: Tensor,
}

impl Sam2Model {
    /// Reads an official checkpoint (`.pt` zip or `.safetensors`), detects the model size,
    /// cross-checks it with `config` and builds the network strictly (every missing,
    /// unexpected, misshapen or mistyped tensor is reported by name in one error).
    pub fn load(checkpoint: &Path, config: &ModelConfig, options: &LoadOptions) -> Result<Self> {
        let tensors = read_checkpoint(checkpoint)?;
        Self::from_tensors(checkpoint, tensors, config, options)
    }

    /// Like [`load`](Self::load) with the built-in preset of the checkpoint's own size at
    /// `image_size` (a multiple of 64 from 256 to 1024).
    pub fn load_detect(checkpoint: &Path, image_size: i64, options: &LoadOptions) -> Result<Self> {
        let tensors = read_checkpoint(checkpoint)?;
        let size = detect_size(checkpoint, &tensors)?;
        let config = crate::config::Preset::builtin(size)
            .model
            .with_image_size(image_size)
            .map_err(|reason| Error::invalid("image size", reason))?;
        Self::from_tensors(checkpoint, tensors, &config, options)
    }

    /// Builds the network from already-read checkpoint tensors (`path` names them in errors).
    pub fn from_tensors(checkpoint: &Path, tensors: Vec<(String, Tensor)>, config: &ModelConfig, options: &LoadOptions) -> Result<Self> {
        let started = std::time::Instant::now();
        options.validate()?;
        config.validate().map_err(|reason| Error::config("model config", reason))?;
        let size = detect_size(checkpoint, &tensors)?;
        let (dim, blocks) = (config.image_encoder.trunk.embed_dim, config.image_encoder.trunk.stages.iter().sum::<usize>());
        if ModelSize::from_trunk_signature(dim, blocks) != Some(size) {
            return Err(Error::config(
                "model config",
                format!(
                    "checkpoint {} holds a {size} model but the config describes a trunk of embed_dim {dim} with {blocks} blocks",
                    checkpoint.display()
                ),
            ));
        }
        let kind = crate::model::device::precision_kind(options.precision);
        let store = WeightStore::new(checkpoint, tensors, options.device, kind);
        let model = tch::no_grad(|| Self::build(&store, config, size, options.device, kind));
        store.finish(size.name())?;
        tracing::info!(size = %size, elapsed_ms = started.elapsed().as_millis() as u64, "loaded SAM 2.1 checkpoint {}", checkpoint.display());
        Ok(model)
    }

    fn build(store: &WeightStore, cfg: &ModelConfig, size: ModelSize, device: Device, kind: Kind) -> Self {
        let r = store.root();
        let hidden = cfg.image_encoder.neck.d_model;
        let mem_dim = cfg.memory_encoder.out_dim;
        let emb = cfg.feat_size();
        Self {
            image_encoder: ImageEncoder::load(&r.sub("image_encoder"), &cfg.image_encoder),
            sam_prompt_encoder: PromptEncoder::load(&r.sub("sam_prompt_encoder"), hidden, (emb, emb), (cfg.image_size, cfg.image_size), 16),
            sam_mask_decoder: MaskDecoder::load(&r.sub("sam_mask_decoder"), cfg),
            memory_encoder: MemoryEncoder::load(&r.sub("memory_encoder"), &cfg.memory_encoder, hidden),
            memory_attention: MemoryAttention::load(&r.sub("memory_attention"), &cfg.memory_attention),
            obj_ptr_proj: Mlp::load(&r.sub("obj_ptr_proj"), hidden, hidden, hidden, 3, Activation::Relu, false),
            obj_ptr_tpos_proj: Linear::load(&r.sub("obj_ptr_tpos_proj"), hidden, mem_dim, true),
            mask_downsample: Conv2d::load(&r.sub("mask_downsample"), 1, 1, 4, 4, 0, 1, true),
            maskmem_tpos_enc: r.tensor("maskmem_tpos_enc", &[cfg.num_maskmem as i64, 1, 1, mem_dim]),
            no_mem_embed: r.tensor("no_mem_embed", &[1, 1, hidden]),
            no_mem_pos_enc: r.tensor("no_mem_pos_enc", &[1, 1, hidden]),
            no_obj_ptr: r.tensor("no_obj_ptr", &[1, hidden]),
            no_obj_embed_spatial: r.tensor("no_obj_embed_spatial", &[1, mem_dim]),
            config: cfg.clone(),
            size,
            device,
            kind,
        }
    }

    /// Wraps the network for sharing.
    pub fn shared(self) -> SharedModel {
        std::sync::Arc::new(parking_lot::Mutex::new(self))
    }

    /// Number of elements of every tensor in a checkpoint (parameters and buffers).
    pub fn parameter_count(tensors: &[(String, Tensor)]) -> i64 {
        tensors.iter().map(|(_, t)| t.numel() as i64).sum()
    }

    /// Image encoder plus the decoder's `conv_s0`/`conv_s1` on the two finest levels
    /// (`forward_image`). `img`: `[B, 3, S, S]` normalised float32.
    pub fn forward_image(&self, img: &Tensor) -> BackboneOut {
        let img = img.to_device(self.device).to_kind(self.kind);
        let mut out = self.image_encoder.forward(&img);
        out.backbone_fpn[0] = self.sam_mask_decoder.conv_s0.forward(&out.backbone_fpn[0]);
        out.backbone_fpn[1] = self.sam_mask_decoder.conv_s1.forward(&out.backbone_fpn[1]);
        out
    }

    /// Flattens the three levels to sequence-first form (`_prepare_backbone_features`).
    pub fn prepare_backbone_features(&self, out: &BackboneOut) -> BackboneFeatures {
        let flat = |x: &Tensor| x.flatten(2, -1).permute([2, 0, 1]);
        BackboneFeatures {
            vision_feats: out.backbone_fpn.iter().map(flat).collect(),
            vision_pos_embeds: out.vision_pos_enc.iter().map(|p| flat(&p.to_kind(self.kind))).collect(),
            feat_sizes: out.vision_pos_enc.iter().map(|p| (p.size()[2], p.size()[3])).collect(),
        }
    }

    /// Features of an initial conditioning frame: the top level plus `no_mem_embed`
    /// (`directly_add_no_mem_embed`), as `[B, C, h, w]`.
    pub fn init_cond_features(&self, feats: &BackboneFeatures) -> Tensor {
        let top = feats.vision_feats.last().expect("three levels") + &self.no_mem_embed;
        seq_to_nchw(&top, *feats.feat_sizes.last().unwrap())
    }

    /// Prompt encoder + mask decoder + object pointer (`_forward_sam_heads`), with SAMURAI's
    /// default occlusion threshold; see [`forward_sam_heads_with`](Self::forward_sam_heads_with).
    pub fn forward_sam_heads(
        &self,
        backbone_features: &Tensor,
        points: Option<(&Tensor, &Tensor)>,
        mask_inputs: Option<&Tensor>,
        high_res: Option<(&Tensor, &Tensor)>,
        multimask_output: bool,
    ) -> SamHeadsOut {
        self.forward_sam_heads_with(backbone_features, points, mask_inputs, high_res, multimask_output, DEFAULT_MIN_OBJ_SCORE_LOGITS)
    }

    /// `_forward_sam_heads`: masks whose object-score logit is not above
    /// `min_obj_score_logits` are forced to [`NO_OBJ_SCORE`]. With multimask output the
    /// candidate with the best predicted IoU is selected (plain SAM 2); the tracker may pick
    /// another with [`select_candidate`](Self::select_candidate).
    pub fn forward_sam_heads_with(
        &self,
        backbone_features: &Tensor,
        points: Option<(&Tensor, &Tensor)>,
        mask_inputs: Option<&Tensor>,
        high_res: Option<(&Tensor, &Tensor)>,
        multimask_output: bool,
        min_obj_score_logits: f64,
    ) -> SamHeadsOut {
        let b = backbone_features.size()[0];
        let (coords, labels) = match points {
            Some((c, l)) => (c.to_device(self.device).to_kind(Kind::Float), l.to_device(self.device)),
            None => (Tensor::zeros([b, 1, 2], (Kind::Float, self.device)), Tensor::full([b, 1], -1, (Kind::Int, self.device))),
        };
        let mask_prompt = mask_inputs.map(|m| self.mask_prompt(m));
        let (sparse, dense) = self.sam_prompt_encoder.forward(Some((&coords, &labels)), None, mask_prompt.as_ref());
        let decode = |image: &Tensor, sparse: &Tensor, dense: &Tensor, high_res: Option<(&Tensor, &Tensor)>| {
            self.sam_mask_decoder.forward(image, &self.sam_prompt_encoder.get_dense_pe(), sparse, dense, multimask_output, false, high_res)
        };
        let dec = if b > 1 && self.device == Device::Cpu {
            // Objects batched on the CPU decode one by one: oneDNN sums the decoder's small
            // products (a handful of token rows) in an order that depends on the row count,
            // so a batched decode would differ from a lone object's in the last bits, and a
            // frame's matte would depend on which objects happened to step with it. Memory
            // attention and the memory encoder batch bit for bit and stay batched.
            let row = |t: &Tensor, i: i64| if t.size()[0] == b { t.narrow(0, i, 1) } else { t.shallow_clone() };
            let parts: Vec<_> = (0..b)
                .map(|i| {
                    let hr = high_res.map(|(s0, s1)| (row(s0, i), row(s1, i)));
                    decode(&row(backbone_features, i), &row(&sparse, i), &row(&dense, i), hr.as_ref().map(|(s0, s1)| (s0, s1)))
                })
                .collect();
            let cat = |f: &dyn Fn(&MaskDecoderOut) -> &Tensor| Tensor::cat(&parts.iter().map(f).collect::<Vec<_>>(), 0);
            MaskDecoderOut {
                masks: cat(&|p| &p.masks),
                iou_pred: cat(&|p| &p.iou_pred),
                sam_tokens_out: cat(&|p| &p.sam_tokens_out),
                object_score_logits: cat(&|p| &p.object_score_logits),
            }
        } else {
            decode(backbone_features, &sparse, &dense, high_res)
        };
        let object_score_logits = dec.object_score_logits.to_kind(Kind::Float);
        let is_obj_appearing = object_score_logits.gt(min_obj_score_logits);
        let no_obj = Tensor::from(NO_OBJ_SCORE).to_kind(Kind::Float).to_device(self.device);
        let low_res_multimasks = dec.masks.to_kind(Kind::Float).where_self(&is_obj_appearing.view([b, 1, 1, 1]), &no_obj);
        let s = self.config.image_size;
        let high_res_multimasks = low_res_multimasks.upsample_bilinear2d([s, s], false, None, None);
        let ious = dec.iou_pred.to_kind(Kind::Float);
        let best: Vec<i64> = if multimask_output {
            Vec::<i64>::try_from(ious.argmax(1, false).to_device(Device::Cpu)).expect("int64 argmax")
        } else {
            vec![0; b as usize]
        };
        let mut out = SamHeadsOut {
            low_res_masks: Tensor::new(),
            high_res_masks: Tensor::new(),
            obj_ptr: Tensor::new(),
            low_res_multimasks,
            high_res_multimasks,
            ious,
            object_score_logits,
            sam_output_tokens: dec.sam_tokens_out,
            best_index: 0,
            is_obj_appearing: is_obj_appearing.to_kind(Kind::Float),
        };
        self.select_candidates(&mut out, &best);
        out
    }

    /// Makes candidate `index` the selected output of every batch element: masks and the
    /// object pointer (with the no-object mixing of `fixed_no_obj_ptr`).
    pub fn select_candidate(&self, out: &mut SamHeadsOut, index: i64) {
        let b = out.low_res_multimasks.size()[0] as usize;
        self.select_candidates(out, &vec![index; b]);
    }

    /// Makes candidate `indices[i]` the selected output of batch element `i` (objects
    /// decoded as one batch each choose their own candidate).
    pub fn select_candidates(&self, out: &mut SamHeadsOut, indices: &[i64]) {
        let size = out.low_res_multimasks.size();
        assert_eq!(size[0] as usize, indices.len(), "one candidate index per batch element");
        let m = size[1];
        let picked: Vec<i64> = indices.iter().map(|&i| if m > 1 { i } else { 0 }).collect();
        let tokens = out.sam_output_tokens.size()[1];
        let token_index: Vec<i64> = picked.iter().map(|&i| if tokens > 1 { i } else { 0 }).collect();
        // Row by row: a narrow is a view, so one-element batches keep the exact tensors
        // they had before batching existed.
        let rows = |t: &Tensor, idx: &[i64]| -> Tensor {
            let parts: Vec<Tensor> = idx.iter().enumerate().map(|(row, &i)| t.narrow(0, row as i64, 1).narrow(1, i, 1)).collect();
            if parts.len() == 1 {
                parts.into_iter().next().expect("one row")
            } else {
                Tensor::cat(&parts, 0)
            }
        };
        out.low_res_masks = rows(&out.low_res_multimasks, &picked);
        out.high_res_masks = rows(&out.high_res_multimasks, &picked);
        let token = rows(&out.sam_output_tokens, &token_index).squeeze_dim(1);
        let ptr = if indices.len() > 1 && self.device == Device::Cpu {
            // Row by row on the CPU, as the decoder (see `forward_sam_heads_with`).
            let ptrs: Vec<Tensor> = (0..indices.len() as i64).map(|i| self.obj_ptr_proj.forward(&token.narrow(0, i, 1))).collect();
            Tensor::cat(&ptrs, 0)
        } else {
            self.obj_ptr_proj.forward(&token)
        }
        .to_kind(Kind::Float);
        let lambda = &out.is_obj_appearing;
        let no_obj_ptr = self.no_obj_ptr.to_kind(Kind::Float);
        out.obj_ptr = lambda * ptr + (lambda.neg() + 1.0) * no_obj_ptr;
        out.best_index = picked[0];
    }

    /// Resizes a mask prompt to the prompt encoder's input size with antialiased bilinear
    /// interpolation when needed (as `_forward_sam_heads` does).
    fn mask_prompt(&self, mask: &Tensor) -> Tensor {
        let side = 4 * self.config.feat_size();
        let m = mask.to_device(self.device).to_kind(Kind::Float);
        let sz = m.size();
        let m = if sz[2] != side || sz[3] != side { m.internal_upsample_bilinear2d_aa([side, side], false, None, None) } else { m };
        m.to_kind(self.kind)
    }

    /// `_use_mask_as_output`: a binary mask prompt becomes the output directly (±10 logits),
    /// with an object pointer from the decoder run on the downsampled mask.
    pub fn use_mask_as_output(
        &self,
        backbone_features: &Tensor,
        high_res: Option<(&Tensor, &Tensor)>,
        mask_inputs: &Tensor,
    ) -> SamHeadsOut {
        let m = mask_inputs.to_device(self.device).to_kind(Kind::Float);
        let high = &m * 20.0 - 10.0;
        let (h, w) = (high.size()[2], high.size()[3]);
        let low = high.internal_upsample_bilinear2d_aa([h / 4, w / 4], false, None, None);
        let down = self.mask_downsample.forward(&m.to_kind(self.kind));
        let heads = self.forward_sam_heads(backbone_features, None, Some(&down), high_res, false);
        let appearing = m.flatten(1, -1).gt(0.0).any_dim(1, false).to_kind(Kind::Float).unsqueeze(-1);
        // The decoder's pointer has already been mixed with `no_obj_ptr` by its own object
        // score; the reference mixes it again by whether the mask has any pixel (so an empty
        // decoder score and a non-empty mask keep `no_obj_ptr`, as upstream does).
        let no_obj_ptr = self.no_obj_ptr.to_kind(Kind::Float);
        let obj_ptr = &appearing * &heads.obj_ptr + (appearing.neg() + 1.0) * no_obj_ptr;
        let b = m.size()[0];
        SamHeadsOut {
            low_res_multimasks: low.shallow_clone(),
            high_res_multimasks: high.shallow_clone(),
            ious: Tensor::ones([b, 1], (Kind::Float, self.device)),
            low_res_masks: low,
            high_res_masks: high,
            obj_ptr,
            object_score_logits: &appearing * 20.0 - 10.0,
            sam_output_tokens: heads.sam_output_tokens,
            best_index: 0,
            is_obj_appearing: appearing,
        }
    }

    /// The network half of `_prepare_memory_conditioned_features` for a non-initial frame:
    /// concatenates the chosen memory frames (spatial + temporal encodings) and object
    /// pointers (split into 64-d tokens with projected sine temporal encodings) and runs the
    /// memory attention. `obj_ptrs` holds `(signed temporal distance, [B, C] pointer)`;
    /// `max_obj_ptrs` is `min(num_frames, max_obj_ptrs_in_encoder)`. Returns `[B, C, h, w]`.
    pub fn condition_on_memory(
        &self,
        feats: &BackboneFeatures,
        memories: &[MemoryFrame],
        obj_ptrs: &[(i64, Tensor)],
        max_obj_ptrs: usize,
    ) -> Tensor {
        let b = feats.vision_feats.last().expect("three levels").size()[1];
        let tokens = self.memory_tokens(memories, obj_ptrs, max_obj_ptrs, b);
        self.condition_on_memory_tokens(feats, &[&tokens])
    }

    /// The memory attention's keys for one object (or a batch `b` sharing the frame's
    /// memories): memory frames with their spatial and temporal encodings, then the object
    /// pointers as tokens.
    pub fn memory_tokens(&self, memories: &[MemoryFrame], obj_ptrs: &[(i64, Tensor)], max_obj_ptrs: usize, b: i64) -> MemoryTokens {
        let num_maskmem = self.config.num_maskmem;
        let mut memory = Vec::new();
        let mut memory_pos = Vec::new();
        for mem in memories {
            memory.push(mem.features.to_kind(self.kind).flatten(2, -1).permute([2, 0, 1]));
            let pos = mem.pos_enc.to_kind(self.kind).flatten(2, -1).permute([2, 0, 1]);
            memory_pos.push(pos + self.maskmem_tpos_enc.get((num_maskmem - mem.t_pos - 1) as i64));
        }
        let mut num_obj_ptr_tokens = 0;
        if !obj_ptrs.is_empty() {
            let (tokens, pos) = self.obj_ptr_tokens(obj_ptrs, max_obj_ptrs, b);
            num_obj_ptr_tokens = tokens.size()[0];
            memory.push(tokens);
            memory_pos.push(pos);
        }
        MemoryTokens { memory: Tensor::cat(&memory, 0), pos: Tensor::cat(&memory_pos, 0), num_obj_ptr_tokens }
    }

    /// Memory attention of one frame's features against each object's memory tokens, the
    /// objects as one batch: `tokens` must agree in length and pointer count (see
    /// [`MemoryTokens::batch_key`]). Returns `[Σ B, C, h, w]`, objects in `tokens`' order.
    pub fn condition_on_memory_tokens(&self, feats: &BackboneFeatures, tokens: &[&MemoryTokens]) -> Tensor {
        let curr = feats.vision_feats.last().expect("three levels");
        let curr_pos = feats.vision_pos_embeds.last().expect("three levels");
        let key = tokens[0].batch_key();
        assert!(tokens.iter().all(|t| t.batch_key() == key), "objects batched in memory attention need the same memory layout");
        let (memory, memory_pos) = if tokens.len() == 1 {
            (tokens[0].memory.shallow_clone(), tokens[0].pos.shallow_clone())
        } else {
            (
                Tensor::cat(&tokens.iter().map(|t| &t.memory).collect::<Vec<_>>(), 1),
                Tensor::cat(&tokens.iter().map(|t| &t.pos).collect::<Vec<_>>(), 1),
            )
        };
        let b = memory.size()[1];
        let (curr, curr_pos) = if curr.size()[1] == b {
            (curr.shallow_clone(), curr_pos.shallow_clone())
        } else {
            // The frame is shared by every object of the batch.
            (curr.expand([-1, b, -1], false).contiguous(), curr_pos.expand([-1, b, -1], false).contiguous())
        };
        let out = self.memory_attention.forward(&curr, &curr_pos, &memory, &memory_pos, key.1);
        seq_to_nchw(&out, *feats.feat_sizes.last().unwrap())
    }

    /// Object pointers as memory tokens: `[P·(C/64), B, 64]` and their encodings.
    fn obj_ptr_tokens(&self, obj_ptrs: &[(i64, Tensor)], max_obj_ptrs: usize, b: i64) -> (Tensor, Tensor) {
        let c = self.config.image_encoder.neck.d_model;
        let mem_dim = self.config.memory_encoder.out_dim;
        let ptrs = Tensor::stack(&obj_ptrs.iter().map(|(_, p)| p.to_kind(self.kind)).collect::<Vec<_>>(), 0);
        let t_diff_max = (max_obj_ptrs as f64 - 1.0).max(1.0);
        let pos_list: Vec<f32> = obj_ptrs.iter().map(|(t, _)| *t as f32).collect();
        let obj_pos = Tensor::from_slice(&pos_list).to_device(self.device).divide_scalar(t_diff_max);
        let obj_pos = get_1d_sine_pe(&obj_pos, c, 10000.0).to_kind(self.kind);
        let obj_pos = self.obj_ptr_tpos_proj.forward(&obj_pos).unsqueeze(1).expand([-1, b, mem_dim], false);
        let split = c / mem_dim;
        let ptrs = ptrs.reshape([-1, b, split, mem_dim]).permute([0, 2, 1, 3]).flatten(0, 1);
        let obj_pos = obj_pos.repeat_interleave_self_int(split, Some(0), None);
        (ptrs, obj_pos)
    }

    /// `_encode_new_memory`: encodes a frame's features with its predicted mask into a
    /// memory (`[B, 64, h, w]`) and its position encoding. Prompted frames' masks are
    /// binarised (`binarize_mask_from_pts_for_mem_enc`); absent objects get
    /// `no_obj_embed_spatial` (object-score logit ≤ 0).
    pub fn encode_new_memory(
        &self,
        vision_feats: &[Tensor],
        feat_sizes: &[(i64, i64)],
        pred_masks_high_res: &Tensor,
        object_score_logits: &Tensor,
        is_mask_from_pts: bool,
    ) -> (Tensor, Tensor) {
        let pix_feat = seq_to_nchw(vision_feats.last().expect("three levels"), *feat_sizes.last().unwrap());
        let masks = pred_masks_high_res.to_device(self.device).to_kind(Kind::Float);
        let mask_for_mem = if self.config.binarize_mask_from_pts_for_mem_enc && is_mask_from_pts {
            masks.gt(0.0).to_kind(Kind::Float)
        } else {
            masks.sigmoid()
        };
        let mask_for_mem = mask_for_mem * self.config.sigmoid_scale_for_mem_enc + self.config.sigmoid_bias_for_mem_enc;
        let (features, pos) = self.memory_encoder.forward(&pix_feat, &mask_for_mem.to_kind(self.kind), true);
        let absent = object_score_logits.to_device(self.device).gt(0.0).to_kind(Kind::Float).neg() + 1.0;
        let absent = absent.to_kind(self.kind).view([-1, 1, 1, 1]);
        let features = &features + absent * self.no_obj_embed_spatial.view([1, -1, 1, 1]);
        (features, pos)
    }
}

/// Identifies the model size from the trunk's patch-embed width and block count.
pub fn detect_size(path: &Path, tensors: &[(String, Tensor)]) -> Result<ModelSize> {
    let key = "image_encoder.trunk.patch_embed.proj.weight";
    let embed = tensors
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, t)| t.size()[0])
        .ok_or_else(|| Error::checkpoint(path, format!("no '{key}': this is not a SAM 2.1 checkpoint")))?;
    let blocks = tensors
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("image_encoder.trunk.blocks.")?.split('.').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    ModelSize::from_trunk_signature(embed, blocks).ok_or_else(|| {
        Error::checkpoint(path, format!("trunk with embed_dim {embed} and {blocks} blocks matches none of tiny, small, base_plus, large"))
    })
}
