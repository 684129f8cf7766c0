"""Dev fixtures for the memory encoder / memory attention parity test (crates/engine/tests/parity/memory_parity.rs).

Builds a random-init SAMURAI SAM 2.1 tiny model at the given image size, perturbs every
memory_encoder / memory_attention parameter (seeded), and writes to OUT_DIR:
  weights_<size>.npz  state-dict entries of memory_encoder.* and memory_attention.*
  io_<size>.npz       inputs and reference outputs
Usage: memory_fixtures.py OUT_DIR SIZE [SIZE ...]
"""
import os
import sys

import numpy as np
import torch
from sam2.build_sam import build_sam2_video_predictor

torch.set_num_threads(2)


def build(size):
    torch.manual_seed(0)
    m = build_sam2_video_predictor(
        "configs/samurai/sam2.1_hiera_t.yaml", None, device="cpu",
        hydra_overrides_extra=[f"++model.image_size={size}"])
    m.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for p in list(m.memory_encoder.parameters()) + list(m.memory_attention.parameters()):
            p.add_(0.02 * torch.randn_like(p))
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()
          if k.startswith(("memory_encoder.", "memory_attention."))}
    return m, sd


def encoder_cases(m, size, b, io):
    h = size // 16
    pix = torch.randn(b, 256, h, h)
    mask = 5.0 * torch.randn(b, 1, size, size)
    io["enc_pix_feat"], io["enc_masks"] = pix, mask
    for skip in (False, True):
        out = m.memory_encoder(pix, mask, skip_mask_sigmoid=skip)
        tag = "skip" if skip else "sigmoid"
        io[f"enc_{tag}_features"] = out["vision_features"]
        io[f"enc_{tag}_pos"] = out["vision_pos_enc"][0]


def attention_cases(m, size, b, io):
    l = (size // 16) ** 2
    curr, curr_pos = torch.randn(l, b, 256), torch.randn(l, b, 256)
    io["attn_curr"], io["attn_curr_pos"] = curr, curr_pos
    # 3 spatial memories plus 4 object pointers of 256 split into 4 tokens of 64 each
    mem = torch.randn(3 * l + 16, b, 64)
    mem_pos = torch.randn(3 * l + 16, b, 64)
    io["attn_memory"], io["attn_memory_pos"] = mem, mem_pos
    io["attn_ptr_out"] = m.memory_attention(
        curr=curr, curr_pos=curr_pos, memory=mem, memory_pos=mem_pos, num_obj_ptr_tokens=16)
    io["attn_noptr_out"] = m.memory_attention(
        curr=curr, curr_pos=curr_pos, memory=mem[: 3 * l], memory_pos=mem_pos[: 3 * l],
        num_obj_ptr_tokens=0)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for size in map(int, sys.argv[2:]):
        m, sd = build(size)
        b = 2 if size <= 512 else 1
        io = {}
        torch.manual_seed(2)
        with torch.no_grad():
            encoder_cases(m, size, b, io)
            attention_cases(m, size, b, io)
        np.savez(os.path.join(out_dir, f"weights_{size}.npz"), **sd)
        np.savez(os.path.join(out_dir, f"io_{size}.npz"),
                 **{k: v.contiguous().numpy() for k, v in io.items()})
        print(f"size {size}: {len(sd)} weights, {len(io)} arrays")


if __name__ == "__main__":
    main()
