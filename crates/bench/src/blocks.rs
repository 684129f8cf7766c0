//! `samurai-bench blocks --checkpoint C --image F --image-size N [--repeat R]`: each network
//! block and the whole single-frame `segment` path.
use crate::support::time;
use anyhow::Result;
use samurai_engine::image;
use samurai_engine::model::{LoadOptions, MemoryFrame, Sam2Model};
use std::path::{Path, PathBuf};
use tch::Tensor;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long)]
    image: PathBuf,
    #[arg(long, default_value_t = 1024)]
    image_size: i64,
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(a: Args) -> Result<String> {
    blocks(&a.checkpoint, &a.image, a.image_size, a.repeat)
}

fn blocks(checkpoint: &Path, image_path: &Path, image_size: i64, repeat: usize) -> Result<String> {
    let model = Sam2Model::load_detect(checkpoint, image_size, &LoadOptions::default())?;
    let img = image::load_rgb8(image_path)?;
    let hw = (img.height as i64, img.width as i64);
    let bbox = [hw.1 as f64 * 0.3, hw.0 as f64 * 0.2, hw.1 as f64 * 0.6, hw.0 as f64 * 0.8];
    let input = image::image_predictor_input_tensor(&img, image_size);
    let _guard = tch::no_grad_guard();
    let t_encoder = time(repeat, || model.forward_image(&input));
    let emb = model.embed_image(&input, hw);
    let t_heads = time(repeat, || model.predict_box(&emb, bbox).expect("box"));
    let out = model.forward_image(&input);
    let feats = model.prepare_backbone_features(&out);
    let pix = model.init_cond_features(&feats);
    let (hr0, hr1) = feats.high_res_nchw();
    let heads = model.forward_sam_heads(&pix, None, None, Some((&hr0, &hr1)), true);
    let t_memenc = time(repeat, || {
        model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false)
    });
    let (mem, pos) =
        model.encode_new_memory(&feats.vision_feats, &feats.feat_sizes, &heads.high_res_masks, &heads.object_score_logits, false);
    let memories: Vec<MemoryFrame> = (0..7).map(|t| MemoryFrame { features: &mem, pos_enc: &pos, t_pos: t }).collect();
    let ptrs: Vec<(i64, Tensor)> = (1..=16).map(|t| (t, heads.obj_ptr.shallow_clone())).collect();
    let t_memattn = time(repeat, || model.condition_on_memory(&feats, &memories, &ptrs, 16));
    let t_total = time(repeat, || {
        let input = image::image_predictor_input_tensor(&img, image_size);
        let emb = model.embed_image(&input, hw);
        model.predict_box(&emb, bbox).expect("box")
    });
    Ok(format!(
        "{{\"image_encoder\": {t_encoder:.5}, \"prompt_and_mask_decoder\": {t_heads:.5}, \"memory_encoder\": {t_memenc:.5}, \"memory_attention\": {t_memattn:.5}, \"single_frame_total\": {t_total:.5}}}"
    ))
}
