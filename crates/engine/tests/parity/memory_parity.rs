//! Dev parity test of the memory encoder and memory attention against the reference
//! (`sam2/modeling/memory_encoder.py`, `memory_attention.py`) with perturbed random weights.
//! Fixtures come from `tests/dev/memory_fixtures.py` (generated here when missing).
use crate::common;

use common::{assert_close, read_npz, run_python};
use samurai_engine::config::{ModelSize, Preset};
use samurai_engine::model::memory_attention::MemoryAttention;
use samurai_engine::model::memory_encoder::MemoryEncoder;
use samurai_engine::model::weights::WeightStore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

const REL: f64 = 1e-4;

/// Fixture paths for one image size, generating them with the reference when missing.
fn fixtures(size: i64) -> (PathBuf, PathBuf) {
    let dir = common::fixtures().join("memory");
    let weights = dir.join(format!("weights_{size}.npz"));
    let io = dir.join(format!("io_{size}.npz"));
    if !weights.exists() || !io.exists() {
        let script = common::root().join("tests/dev/memory_fixtures.py");
        run_python(&script, &[dir.to_str().unwrap(), &size.to_string()]);
    }
    (weights, io)
}

fn load_store(path: &Path) -> WeightStore {
    let tensors = common::read_npz(path).into_iter().collect();
    WeightStore::new(path, tensors, Device::Cpu, Kind::Float)
}

fn get<'a>(io: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    io.get(name).unwrap_or_else(|| panic!("fixture array {name} missing"))
}

fn check_encoder(enc: &MemoryEncoder, io: &HashMap<String, Tensor>, size: i64) {
    let (pix, masks) = (get(io, "enc_pix_feat"), get(io, "enc_masks"));
    for (skip, tag) in [(false, "sigmoid"), (true, "skip")] {
        let (x, pos) = tch::no_grad(|| enc.forward(pix, masks, skip));
        assert_close(&format!("{size} encoder {tag} features"), &x, get(io, &format!("enc_{tag}_features")), REL);
        assert_close(&format!("{size} encoder {tag} pos"), &pos, get(io, &format!("enc_{tag}_pos")), REL);
    }
}

fn check_attention(attn: &MemoryAttention, io: &HashMap<String, Tensor>, size: i64) {
    let (curr, curr_pos) = (get(io, "attn_curr"), get(io, "attn_curr_pos"));
    let (mem, mem_pos) = (get(io, "attn_memory"), get(io, "attn_memory_pos"));
    let out = tch::no_grad(|| attn.forward(curr, curr_pos, mem, mem_pos, 16));
    assert_close(&format!("{size} attention 16 ptr tokens"), &out, get(io, "attn_ptr_out"), REL);
    let spatial = mem.size()[0] - 16;
    let (mem, mem_pos) = (mem.narrow(0, 0, spatial), mem_pos.narrow(0, 0, spatial));
    let out = tch::no_grad(|| attn.forward(curr, curr_pos, &mem, &mem_pos, 0));
    assert_close(&format!("{size} attention no ptr"), &out, get(io, "attn_noptr_out"), REL);
}

fn parity(size: i64) {
    tch::set_num_threads(2);
    let (weights, io_path) = fixtures(size);
    let io = read_npz(&io_path);
    let store = load_store(&weights);
    let cfg = Preset::builtin(ModelSize::Tiny).model;
    let enc = MemoryEncoder::load(&store.root().sub("memory_encoder"), &cfg.memory_encoder, 256);
    let attn = MemoryAttention::load(&store.root().sub("memory_attention"), &cfg.memory_attention);
    store.finish("memory blocks").expect("every fixture weight is used with its shape");
    check_encoder(&enc, &io, size);
    check_attention(&attn, &io, size);
}

#[test]
fn memory_blocks_match_reference_256() {
    parity(256);
}

#[test]
fn memory_blocks_match_reference_1024() {
    parity(1024);
}
