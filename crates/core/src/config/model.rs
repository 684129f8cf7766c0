//! SAM 2.1 architecture configuration (`model:` section), upstream key names.
//! Reference: `sam2/configs/sam2.1/sam2.1_hiera_*.yaml`, `SAM2Base.__init__`, `Hiera.__init__`.
use serde::{Deserialize, Serialize};

/// Hiera trunk (`image_encoder.trunk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub embed_dim: i64,
    pub num_heads: i64,
    pub stages: Vec<usize>,
    pub global_att_blocks: Vec<usize>,
    pub window_pos_embed_bkg_spatial_size: [i64; 2],
    pub window_spec: Vec<i64>,
    #[serde(default = "d_q_pool")]
    pub q_pool: usize,
    #[serde(default = "d_q_stride")]
    pub q_stride: [i64; 2],
    #[serde(default = "d_mlp_ratio")]
    pub mlp_ratio: f64,
    #[serde(default = "d_dim_mul")]
    pub dim_mul: f64,
    #[serde(default = "d_dim_mul")]
    pub head_mul: f64,
}

/// FPN neck (`image_encoder.neck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeckConfig {
    pub d_model: i64,
    pub backbone_channel_list: Vec<i64>,
    pub fpn_top_down_levels: Vec<usize>,
    /// Only `nearest` is implemented (the value of every SAM 2.1 config).
    pub fpn_interp_model: String,
}

/// `image_encoder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageEncoderConfig {
    pub scalp: usize,
    pub trunk: TrunkConfig,
    pub neck: NeckConfig,
}

/// `memory_attention` (the layer settings flattened; self- and cross-attention share them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryAttentionConfig {
    pub d_model: i64,
    pub num_layers: usize,
    pub dim_feedforward: i64,
    pub num_heads: i64,
    pub rope_theta: f64,
    pub kv_in_dim: i64,
    pub pos_enc_at_input: bool,
    pub pos_enc_at_attn: bool,
    pub pos_enc_at_cross_attn_keys: bool,
    pub pos_enc_at_cross_attn_queries: bool,
}

/// `memory_encoder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryEncoderConfig {
    pub out_dim: i64,
    pub fuser_num_layers: usize,
    pub fuser_kernel_size: i64,
    pub mask_downsampler_kernel_size: i64,
    pub mask_downsampler_stride: i64,
    pub mask_downsampler_total_stride: i64,
}

/// `sam_mask_decoder_extra_args` (set by both reference builders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskDecoderExtraArgs {
    pub dynamic_multimask_via_stability: bool,
    pub dynamic_multimask_stability_delta: f64,
    pub dynamic_multimask_stability_thresh: f64,
}

/// The SAM 2.1 network architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub image_size: i64,
    pub image_encoder: ImageEncoderConfig,
    pub memory_attention: MemoryAttentionConfig,
    pub memory_encoder: MemoryEncoderConfig,
    pub num_maskmem: usize,
    pub sigmoid_scale_for_mem_enc: f64,
    pub sigmoid_bias_for_mem_enc: f64,
    pub binarize_mask_from_pts_for_mem_enc: bool,
    pub use_mask_input_as_output_without_sam: bool,
    pub directly_add_no_mem_embed: bool,
    pub no_obj_embed_spatial: bool,
    pub use_high_res_features_in_sam: bool,
    pub multimask_output_in_sam: bool,
    pub multimask_output_for_tracking: bool,
    pub use_multimask_token_for_obj_ptr: bool,
    pub multimask_min_pt_num: usize,
    pub multimask_max_pt_num: usize,
    pub iou_prediction_use_sigmoid: bool,
    pub use_obj_ptrs_in_encoder: bool,
    pub max_obj_ptrs_in_encoder: usize,
    pub add_tpos_enc_to_obj_ptrs: bool,
    pub proj_tpos_enc_in_obj_ptrs: bool,
    pub use_signed_tpos_enc_to_obj_ptrs: bool,
    pub only_obj_ptrs_in_the_past_for_eval: bool,
    pub pred_obj_scores: bool,
    pub pred_obj_scores_mlp: bool,
    pub fixed_no_obj_ptr: bool,
    pub use_mlp_for_obj_ptr_proj: bool,
    pub sam_mask_decoder_extra_args: MaskDecoderExtraArgs,
}

impl ModelConfig {
    /// Stride of the image embedding the SAM heads see (1/16 of the input).
    pub const BACKBONE_STRIDE: i64 = 16;

    /// Side of the image embedding grid (`image_size / 16`).
    pub fn feat_size(&self) -> i64 {
        self.image_size / Self::BACKBONE_STRIDE
    }

    /// Returns a copy with another input resolution (a multiple of 64 from 256 to 1024).
    pub fn with_image_size(&self, image_size: i64) -> Result<Self, String> {
        let mut c = self.clone();
        c.image_size = image_size;
        c.validate()?;
        Ok(c)
    }

    /// Checks ranges and the flag values this implementation supports.
    pub fn validate(&self) -> Result<(), String> {
        if !(256..=1024).contains(&self.image_size) || self.image_size % 64 != 0 {
            return Err(format!("image_size: {} is not a multiple of 64 between 256 and 1024", self.image_size));
        }
        let t = &self.image_encoder.trunk;
        if t.stages.len() != 4 || t.window_spec.len() != 4 {
            return Err("image_encoder.trunk: stages and window_spec need 4 entries".into());
        }
        if t.global_att_blocks.iter().any(|&b| b >= t.stages.iter().sum()) {
            return Err("image_encoder.trunk.global_att_blocks: block index out of range".into());
        }
        if self.image_encoder.neck.fpn_interp_model != "nearest" {
            return Err("image_encoder.neck.fpn_interp_model: only 'nearest' is supported".into());
        }
        if self.image_encoder.neck.backbone_channel_list.len() != 4 {
            return Err("image_encoder.neck.backbone_channel_list: needs 4 entries".into());
        }
        if self.num_maskmem < 1 {
            return Err("num_maskmem: must be at least 1".into());
        }
        // The flags below are fixed in every SAM 2.1 config; the network implements only them.
        let fixed = [
            ("use_high_res_features_in_sam", self.use_high_res_features_in_sam),
            ("pred_obj_scores", self.pred_obj_scores),
            ("pred_obj_scores_mlp", self.pred_obj_scores_mlp),
            ("use_obj_ptrs_in_encoder", self.use_obj_ptrs_in_encoder),
            ("use_mlp_for_obj_ptr_proj", self.use_mlp_for_obj_ptr_proj),
            ("directly_add_no_mem_embed", self.directly_add_no_mem_embed),
            ("iou_prediction_use_sigmoid", self.iou_prediction_use_sigmoid),
            ("fixed_no_obj_ptr", self.fixed_no_obj_ptr),
            ("no_obj_embed_spatial", self.no_obj_embed_spatial),
        ];
        for (key, value) in fixed {
            if !value {
                return Err(format!("{key}: only 'true' (the SAM 2.1 setting) is supported"));
            }
        }
        Ok(())
    }
}

fn d_q_pool() -> usize {
    3
}
fn d_q_stride() -> [i64; 2] {
    [2, 2]
}
fn d_mlp_ratio() -> f64 {
    4.0
}
fn d_dim_mul() -> f64 {
    2.0
}
