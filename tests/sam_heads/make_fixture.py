"""Reference outputs of the SAM 2.1 prompt encoder and mask decoder for crates/engine/tests/parity/sam_heads.rs.

Usage: make_fixture.py OUT_DIR IMAGE_SIZE

Builds a random-init SAM 2.1 tiny model at IMAGE_SIZE, perturbs every head parameter
(seeded) so no weight keeps its trivial init, and writes
  OUT_DIR/sam_heads_{S}_weights.npz  state dict of sam_prompt_encoder.* / sam_mask_decoder.*
  OUT_DIR/sam_heads_{S}_io.npz       inputs and outputs of every case
Prints, per single-mask decoder run, whether token 0 was stable (stability fallback taken
or not), so the test can check both paths are covered.
"""
import sys

import numpy as np
import torch

from sam2.build_sam import build_sam2_video_predictor

out_dir, size = sys.argv[1], int(sys.argv[2])
sharpen = float(sys.argv[3]) if len(sys.argv) > 3 else 40.0
torch.set_num_threads(2)
torch.manual_seed(0)
model = build_sam2_video_predictor(
    "configs/samurai/sam2.1_hiera_t.yaml", None, device="cpu",
    hydra_overrides_extra=[f"++model.image_size={size}"],
).eval()
pe, dec = model.sam_prompt_encoder, model.sam_mask_decoder

g = torch.Generator().manual_seed(1234)
weights = {}
with torch.no_grad():
    for prefix, mod in (("sam_prompt_encoder", pe), ("sam_mask_decoder", dec)):
        for name, p in mod.named_parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
        for name, t in mod.state_dict().items():
            weights[f"{prefix}.{name}"] = t.detach().numpy().copy()
    # Make the single-mask token's classifier much sharper than the others so that, on the
    # cases with a strong token-0 response, its mask is stable while the others are not.
    dec.output_hypernetworks_mlps[0].layers[2].weight.mul_(sharpen)
    dec.output_hypernetworks_mlps[0].layers[2].bias.mul_(sharpen)
    weights["sam_mask_decoder.output_hypernetworks_mlps.0.layers.2.weight"] = (
        dec.output_hypernetworks_mlps[0].layers[2].weight.numpy().copy())
    weights["sam_mask_decoder.output_hypernetworks_mlps.0.layers.2.bias"] = (
        dec.output_hypernetworks_mlps[0].layers[2].bias.numpy().copy())
np.savez(f"{out_dir}/sam_heads_{size}_weights.npz", **weights)

h = size // 16
r = lambda *s: torch.randn(*s, generator=g)
io = {
    "image": r(1, 256, h, h),
    # backbone FPN levels (stride 4 and 8); conv_s0 / conv_s1 project them to 32 / 64 ch
    "feat_s0": r(1, 256, 4 * h, 4 * h),
    "feat_s1": r(1, 256, 2 * h, 2 * h),
    "mask_input": 3.0 * r(1, 1, 4 * h, 4 * h),
    # box as two corner points (labels 2/3): padding point appended
    "box.coords": torch.tensor([[[0.1 * size, 0.2 * size], [0.7 * size, 0.9 * size]]]),
    "box.labels": torch.tensor([[2, 3]], dtype=torch.int32),
    # clicks with an explicit padding label: padding point appended too
    "pts.coords": torch.tensor([[[0.5 * size, 0.5 * size], [3.0, size - 1.0], [0.0, 0.0]]]),
    "pts.labels": torch.tensor([[1, 0, -1]], dtype=torch.int32),
    # a click plus a real box tensor: no padding
    "boxarg.coords": torch.tensor([[[0.3 * size, 0.6 * size]]]),
    "boxarg.labels": torch.tensor([[1]], dtype=torch.int32),
    "boxarg.boxes": torch.tensor([[0.2 * size, 0.25 * size, 0.8 * size, 0.7 * size]]),
    # a click plus a mask prompt
    "mask.coords": torch.tensor([[[0.25 * size, 0.75 * size]]]),
    "mask.labels": torch.tensor([[1]], dtype=torch.int32),
    # two prompt sets against one image (repeat_image)
    "batch2.coords": torch.tensor([[[0.2 * size, 0.3 * size], [0.6 * size, 0.6 * size]],
                                   [[0.9 * size, 0.1 * size], [0.4 * size, 0.8 * size]]]),
    "batch2.labels": torch.tensor([[1, 1], [1, 0]], dtype=torch.int32),
}
cases = {
    "box": dict(points=("box.coords", "box.labels"), boxes=None, masks=None),
    "pts": dict(points=("pts.coords", "pts.labels"), boxes=None, masks=None),
    "boxarg": dict(points=("boxarg.coords", "boxarg.labels"), boxes="boxarg.boxes", masks=None),
    "mask": dict(points=("mask.coords", "mask.labels"), boxes=None, masks="mask_input"),
    "maskonly": dict(points=None, boxes=None, masks="mask_input"),
    "batch2": dict(points=("batch2.coords", "batch2.labels"), boxes=None, masks=None),
}

with torch.no_grad():
    io["dense_pe"] = pe.get_dense_pe()
    hr = [dec.conv_s0(io["feat_s0"]), dec.conv_s1(io["feat_s1"])]
    io["hr_s0"], io["hr_s1"] = hr
    stable_flags = []
    for name, c in cases.items():
        pts = (io[c["points"][0]], io[c["points"][1]]) if c["points"] else None
        boxes = io[c["boxes"]] if c["boxes"] else None
        masks = io[c["masks"]] if c["masks"] else None
        sparse, dense = pe(points=pts, boxes=boxes, masks=masks)
        io[f"{name}.sparse"], io[f"{name}.dense"] = sparse, dense
        repeat = sparse.shape[0] != io["image"].shape[0]
        for mm in (True, False):
            m, iou, tok, obj = dec(io["image"], io["dense_pe"], sparse, dense, multimask_output=mm,
                                   repeat_image=repeat, high_res_features=hr)
            tag = f"{name}.mm{int(mm)}"
            io[f"{tag}.masks"], io[f"{tag}.iou_pred"] = m, iou
            io[f"{tag}.sam_tokens_out"], io[f"{tag}.object_score_logits"] = tok, obj
        all_m, _, _, _ = dec.predict_masks(io["image"], io["dense_pe"], sparse, dense, repeat, hr)
        score = dec._get_stability_scores(all_m[:, 0:1])
        stable = (score >= dec.dynamic_multimask_stability_thresh).flatten()
        io[f"{name}.stable"] = stable.to(torch.int64)
        for b, s in enumerate(stable.tolist()):
            stable_flags.append(s)
            print(f"{name}[{b}] stability {score.flatten()[b].item():.4f} stable={s}")
np.savez(f"{out_dir}/sam_heads_{size}_io.npz", **{k: v.detach().numpy() for k, v in io.items()})
print(f"stable={sum(stable_flags)} fallback={len(stable_flags) - sum(stable_flags)}")
