//! Image-encoder parity on a grid that is not a power of two (image size 320: padded
//! attention windows), against the reference `sam2.modeling.backbones` on a random-init,
//! perturbed model and a real frame. The sizes of issue 2 (all four at 256, tiny at 1024)
//! are covered block by block in `parity_blocks.rs`. Fixtures come from
//! `tests/parity/dev_vision_ref.py` (generated on first run).
use crate::common;

use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::backbones::hieradet::Hiera;
use samurai_engine::model::backbones::image_encoder::ImageEncoder;
use samurai_engine::model::weights::WeightStore;
use std::collections::HashMap;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const REL: f64 = 1e-4;

/// Weights and reference outputs for `size` at `image_size`, generating them if absent.
fn fixture(tag: &str, image_size: i64, trunk_outputs: bool) -> (PathBuf, HashMap<String, Tensor>) {
    let dir = common::fixtures().join("dev_vision");
    let name = format!("{tag}_{image_size}");
    let weights = dir.join(format!("weights_{name}.npz"));
    let out = dir.join(format!("out_{name}.npz"));
    if !weights.exists() || !out.exists() {
        let script = common::root().join("tests/parity/dev_vision_ref.py");
        let size = image_size.to_string();
        let dir_s = dir.to_string_lossy().into_owned();
        let mut args = vec![tag, size.as_str(), dir_s.as_str()];
        if !trunk_outputs {
            args.push("--no-trunk");
        }
        common::run_python(&script, &args);
    }
    (weights, common::read_npz(&out))
}

fn check(size: ModelSize, tag: &str, image_size: i64, trunk_outputs: bool) {
    tch::set_num_threads(2);
    let _guard = tch::no_grad_guard();
    let (weights_path, reference) = fixture(tag, image_size, trunk_outputs);
    let tensors = common::read_npz(&weights_path).into_iter().collect();
    let store = WeightStore::new(&weights_path, tensors, Device::Cpu, Kind::Float);
    let cfg = Preset::builtin(size).model.image_encoder;
    let encoder = ImageEncoder::load(&store.root().sub("image_encoder"), &cfg);
    store.finish(tag).expect("image_encoder keys match the reference state dict");
    let x = &reference["input"];
    if trunk_outputs {
        let trunk: &Hiera = &encoder.trunk;
        for (i, t) in trunk.forward(x).iter().enumerate() {
            common::assert_close(&format!("{tag}@{image_size} trunk.{i}"), t, &reference[&format!("trunk.{i}")], REL);
        }
    }
    let out = encoder.forward(x);
    common::assert_close(&format!("{tag}@{image_size} vision_features"), &out.vision_features, &reference["vision_features"], REL);
    assert_eq!(out.backbone_fpn.len(), 3);
    assert_eq!(out.vision_pos_enc.len(), 3);
    for i in 0..3 {
        common::assert_close(
            &format!("{tag}@{image_size} backbone_fpn.{i}"),
            &out.backbone_fpn[i],
            &reference[&format!("backbone_fpn.{i}")],
            REL,
        );
        common::assert_close(
            &format!("{tag}@{image_size} vision_pos_enc.{i}"),
            &out.vision_pos_enc[i],
            &reference[&format!("vision_pos_enc.{i}")],
            REL,
        );
    }
}

/// A size that is not a power of two: every stage's grid needs window padding.
#[test]
fn tiny_320() {
    check(ModelSize::Tiny, "t", 320, true);
}
