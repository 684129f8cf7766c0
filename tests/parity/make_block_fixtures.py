#!/usr/bin/env python3
"""Block-level parity fixtures for SamuraiRoto.

Builds a random-initialised SAMURAI / SAM 2.1 reference model (the `sam2` package of
`absolutely-not-samurai==1.0.0`), perturbs every float tensor of its state dict so that
zero- and one-initialised weights matter too, writes the weights as an official-format
checkpoint, and records the inputs and outputs of each network block on a real frame:

    DIR/checkpoint.pt   torch.save({"model": state_dict}) exactly like the official files
    DIR/blocks.npz      named float32 arrays (int64 for point labels), see README.md
    DIR/meta.json       size, image size, versions, seed, tensor count, script sha256

Usage:
    make_block_fixtures.py --size tiny --image-size 256 --out DIR [--frames CLIP_DIR]

When DIR/meta.json records the same script hash and arguments and the outputs exist,
the script exits at once (the Rust tests call it on every run).
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path

REF_PACKAGE = "absolutely-not-samurai"
REF_VERSION = "1.0.0"
TORCH_VERSION = "2.11.0"
SEED = 0
PERTURB_SEED = 1234
PERTURB_SCALE = 0.02
KEEP_AS_INITIALISED = {"sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"}
CONFIGS = {
    "tiny": "configs/samurai/sam2.1_hiera_t.yaml",
    "small": "configs/samurai/sam2.1_hiera_s.yaml",
    "base_plus": "configs/samurai/sam2.1_hiera_b+.yaml",
    "large": "configs/samurai/sam2.1_hiera_l.yaml",
}
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FRAMES = ROOT / ".." / "shared" / "data" / "clips" / "bedroom"
# Bedroom clip: the girl's box in video pixels of the 960x540 frames.
VIDEO_W, VIDEO_H = 960.0, 540.0
BOX_XYXY = (310.0, 0.0, 515.0, 400.0)
# Three clicks (positive, negative, positive) in video pixels.
POINTS_XY = ((400.0, 200.0), (700.0, 300.0), (450.0, 350.0))
POINT_LABELS = (1, 0, 1)
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


def fail(msg):
    print(f"make_block_fixtures: {msg}", file=sys.stderr)
    sys.exit(2)


def check_versions():
    """Pins the reference: fails clearly on any other version (cheap, no torch import)."""
    try:
        ref = importlib.metadata.version(REF_PACKAGE)
        tv = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError as e:
        fail(f"package {e} not installed: run scripts/setup.sh --reference")
    if ref != REF_VERSION:
        fail(f"{REF_PACKAGE} is {ref}, fixtures need exactly {REF_VERSION}")
    if tv.split("+")[0] != TORCH_VERSION:
        fail(f"torch is {tv}, fixtures need exactly {TORCH_VERSION}")
    return {REF_PACKAGE: ref, "torch": tv}


def script_sha256():
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def up_to_date(out, want):
    meta_path = out / "meta.json"
    if not (meta_path.exists() and (out / "checkpoint.pt").exists() and (out / "blocks.npz").exists()):
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return all(meta.get(k) == v for k, v in want.items())


class Timer:
    """Prints the elapsed wall time of each named block."""

    def __init__(self):
        self.times = {}

    def __call__(self, name):
        timer = self

        class _Block:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                timer.times[name] = round(dt, 3)
                print(f"  {name:<22s} {dt:8.2f} s", flush=True)

        return _Block()


def build_model(size, n):
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(SEED)
    model = build_sam2_video_predictor(
        CONFIGS[size], None, device="cpu", hydra_overrides_extra=[f"++model.image_size={n}"]
    )
    model.eval()
    return model


def perturb(model):
    """Adds 0.02·N(0,1) noise (own seeded generator) to every float state-dict tensor."""
    import torch

    gen = torch.Generator().manual_seed(PERTURB_SEED)
    seen = set()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point() or name in KEEP_AS_INITIALISED:
                continue
            if t.data_ptr() in seen:  # a tied tensor is perturbed once
                continue
            seen.add(t.data_ptr())
            t.add_(PERTURB_SCALE * torch.randn(t.shape, generator=gen, dtype=t.dtype))


def check_reload(model, path):
    """The file loads through the reference's own strict loader and keeps every value."""
    import torch
    from sam2.build_sam import _load_checkpoint

    before = {k: v.clone() for k, v in model.state_dict().items()}
    _load_checkpoint(model, str(path))
    after = model.state_dict()
    bad = [k for k in before if not torch.equal(before[k], after[k])]
    if bad or set(before) != set(after):
        fail(f"checkpoint round trip changed {bad[:5]}")


def load_frame(path, n):
    """Like the reference's load_video_frames: PIL resize, /255, float32, normalise."""
    import torch
    from sam2.utils.misc import _load_img_as_tensor

    img, _, _ = _load_img_as_tensor(str(path), n)
    img = img.to(torch.float32)
    mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
    return ((img - mean) / std)[None]


def prompts(n):
    """Box / click / mask prompts in model space (squashed n×n frame)."""
    import torch

    sx, sy = n / VIDEO_W, n / VIDEO_H
    x1, y1, x2, y2 = BOX_XYXY
    box = torch.tensor([[[x1 * sx, y1 * sy], [x2 * sx, y2 * sy]]], dtype=torch.float32)
    box_labels = torch.tensor([[2, 3]], dtype=torch.int64)
    pts = torch.tensor([[[x * sx, y * sy] for x, y in POINTS_XY]], dtype=torch.float32)
    pts_labels = torch.tensor([POINT_LABELS], dtype=torch.int64)
    m = n // 4  # mask_input_size = 4 · (n / 16)
    ys, xs = torch.meshgrid(torch.arange(m, dtype=torch.float32), torch.arange(m, dtype=torch.float32), indexing="ij")
    cx, cy, r = 0.43 * m, 0.40 * m, 0.18 * m
    blob = 16.0 * torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)) - 8.0
    blob = blob + 0.5 * torch.sin(xs * 0.7) * torch.cos(ys * 0.3)
    return box, box_labels, pts, pts_labels, blob[None, None].contiguous()


class Recorder:
    def __init__(self):
        self.arrays = {}

    def put(self, name, t):
        import numpy as np
        import torch

        assert name not in self.arrays, name
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu()
            if t.is_floating_point():
                a = t.to(torch.float32).numpy()
            else:
                a = t.to(torch.int64).numpy()
        else:
            a = np.asarray(t)
        self.arrays[name] = np.array(a, order="C", copy=True)  # keeps 0-d arrays 0-d


def record_encoder(model, image, rec, tm):
    with tm("trunk"):
        trunk = model.image_encoder.trunk(image)
    for i, t in enumerate(trunk):
        rec.put(f"trunk.{i}", t)
    with tm("image_encoder"):
        enc = model.image_encoder(image)
    for i, t in enumerate(enc["backbone_fpn"]):
        rec.put(f"backbone_fpn.{i}", t)
    for i, t in enumerate(enc["vision_pos_enc"]):
        rec.put(f"vision_pos_enc.{i}", t)
    rec.put("vision_features", enc["vision_features"])
    with tm("forward_image"):
        fwd = model.forward_image(image)
    for i, t in enumerate(fwd["backbone_fpn"]):
        rec.put(f"forward_image.backbone_fpn.{i}", t)
    _, feats, pos, sizes = model._prepare_backbone_features(fwd)
    for i, (f, p) in enumerate(zip(feats, pos)):
        rec.put(f"vision_feats.{i}", f)
        rec.put(f"vision_pos_embeds.{i}", p)
    return feats, pos, sizes


def record_prompt_encoder(model, n, rec, tm):
    import torch

    box, box_labels, pts, pts_labels, mask = prompts(n)
    pe = model.sam_prompt_encoder
    with tm("prompt_encoder"):
        rec.put("box_coords", box)
        rec.put("box_labels", box_labels)
        sparse, dense = pe(points=(box, box_labels), boxes=None, masks=None)
        rec.put("pe.sparse", sparse)
        rec.put("pe.dense", dense)
        rec.put("pe.dense_pe", pe.get_dense_pe())
        rec.put("pts_coords", pts)
        rec.put("pts_labels", pts_labels)
        sparse, dense = pe(points=(pts, pts_labels), boxes=None, masks=None)
        rec.put("pe_pts.sparse", sparse)
        rec.put("pe_pts.dense", dense)
        # A mask prompt goes with the padding point the reference adds when no click is given.
        pad = torch.zeros(1, 1, 2)
        pad_labels = -torch.ones(1, 1, dtype=torch.int64)
        rec.put("mask_input", mask)
        rec.put("mask_pts_coords", pad)
        rec.put("mask_pts_labels", pad_labels)
        sparse, dense = pe(points=(pad, pad_labels), boxes=None, masks=mask)
        rec.put("pe_mask.sparse", sparse)
        rec.put("pe_mask.dense", dense)
    return box, box_labels


HEAD_NAMES = (
    "low_res_multimasks",
    "high_res_multimasks",
    "ious",
    "low_res_masks",
    "high_res_masks",
    "obj_ptr",
    "object_score_logits",
)


def init_frame_inputs(model, feats, sizes):
    """The init conditioning frame's SAM-head inputs (directly_add_no_mem_embed path)."""
    h, w = sizes[-1]
    pix = (feats[-1] + model.no_mem_embed).permute(1, 2, 0).view(1, model.hidden_dim, h, w)
    high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
    return pix, high_res


def run_heads(model, pix, high_res, point_inputs, multimask):
    """_forward_sam_heads; the fork returns 9 values (7 of SAM 2 + best IoU + best KF IoU)."""
    out = model._forward_sam_heads(
        backbone_features=pix,
        point_inputs=point_inputs,
        mask_inputs=None,
        high_res_features=high_res,
        multimask_output=multimask,
    )
    assert len(out) == 9, f"unexpected _forward_sam_heads arity {len(out)}"
    return dict(zip(HEAD_NAMES, out[:7]))


def record_heads(model, feats, sizes, box, box_labels, rec, tm):
    pix, high_res = init_frame_inputs(model, feats, sizes)
    with tm("sam_heads"):
        heads = run_heads(model, pix, high_res, {"point_coords": box, "point_labels": box_labels}, False)
    for k, v in heads.items():
        rec.put(f"heads.{k}", v)
    saved = model.samurai_mode
    model.samurai_mode = False  # plain argmax-IoU selection, no Kalman state touched
    try:
        with tm("sam_heads_multimask"):
            mm = run_heads(model, pix, high_res, None, True)
    finally:
        model.samurai_mode = saved
    assert model.kf_mean is None and model.stable_frames == 0, "Kalman state was touched"
    for k, v in mm.items():
        rec.put(f"heads_mm.{k}", v)
    top2 = mm["ious"][0].sort(descending=True).values[:2]
    margin = float(top2[0] - top2[1])
    print(f"  multimask IoU margin (best - second) {margin:.3e}")
    if margin < 1e-3:
        fail(f"multimask IoU margin {margin:.3e} too small for a stable argmax: change the inputs")
    return heads, mm


def record_memory_encoder(model, feats, sizes, heads, rec, tm):
    import torch

    def enc(logits, from_pts):
        f, p = model._encode_new_memory(
            current_vision_feats=feats,
            feat_sizes=sizes,
            pred_masks_high_res=heads["high_res_masks"],
            object_score_logits=logits,
            is_mask_from_pts=from_pts,
        )
        return f, p[-1]

    with tm("memory_encoder"):
        mem = enc(heads["object_score_logits"], True)
    rec.put("mem.features", mem[0])
    rec.put("mem.pos_enc", mem[1])
    with tm("memory_encoder_soft"):
        soft = enc(heads["object_score_logits"], False)
    rec.put("mem_soft.features", soft[0])
    rec.put("mem_soft.pos_enc", soft[1])
    absent_logits = torch.full_like(heads["object_score_logits"], -5.0)
    with tm("memory_encoder_absent"):
        absent = enc(absent_logits, True)
    rec.put("mem_absent.object_score_logits", absent_logits)
    rec.put("mem_absent.features", absent[0])
    rec.put("mem_absent.pos_enc", absent[1])
    return mem


def other_frame_memory(model, image, box, box_labels):
    """Frame → encoder → box-prompted heads → soft memory (is_mask_from_pts=False)."""
    fwd = model.forward_image(image)
    _, feats, _, sizes = model._prepare_backbone_features(fwd)
    pix, high_res = init_frame_inputs(model, feats, sizes)
    heads = run_heads(model, pix, high_res, {"point_coords": box, "point_labels": box_labels}, False)
    f, p = model._encode_new_memory(
        current_vision_feats=feats,
        feat_sizes=sizes,
        pred_masks_high_res=heads["high_res_masks"],
        object_score_logits=heads["object_score_logits"],
        is_mask_from_pts=False,
    )
    return f, p[-1], heads["obj_ptr"]


def object_pointer_tokens(model, ptrs, t_diffs, t_diff_max):
    """Pointers [P,1,256] → 4P tokens of 64 with projected sine temporal positions."""
    import torch
    from sam2.modeling.sam2_utils import get_1d_sine_pe

    c, d = model.hidden_dim, model.mem_dim
    obj_ptrs = torch.stack(ptrs, dim=0)
    obj_pos = get_1d_sine_pe(torch.tensor(t_diffs) / t_diff_max, dim=c)
    obj_pos = model.obj_ptr_tpos_proj(obj_pos).unsqueeze(1).expand(-1, 1, d)
    obj_ptrs = obj_ptrs.reshape(-1, 1, c // d, d).permute(0, 2, 1, 3).flatten(0, 1)
    obj_pos = obj_pos.repeat_interleave(c // d, dim=0)
    return obj_ptrs, obj_pos


def record_memory_attention(model, frames, n, feats, pos, mem, heads, heads_mm, box, box_labels, rec, tm):
    """Scenario: current frame index 4, conditioning frame 0 (t_pos 0), SAMURAI's memory
    bank picks frames 2 and 3 (t_pos 5, 6); object pointers of frames 0 (t 4), 3, 2, 1."""
    import torch

    with tm("other_frames"):
        m1 = other_frame_memory(model, load_frame(frames / "00001.jpg", n), box, box_labels)
        m2 = other_frame_memory(model, load_frame(frames / "00002.jpg", n), box, box_labels)
    nm = model.num_maskmem
    mems, mem_pos = [], []
    for t_pos, (f, p) in ((0, mem), (5, m1[:2]), (6, m2[:2])):
        mems.append(f.flatten(2).permute(2, 0, 1))
        mem_pos.append(p.flatten(2).permute(2, 0, 1) + model.maskmem_tpos_enc[nm - t_pos - 1])
    t_diff_max = model.max_obj_ptrs_in_encoder - 1
    ptrs = [heads["obj_ptr"], m2[2], m1[2], heads_mm["obj_ptr"]]
    t_diffs = [4, 1, 2, 3]
    obj_ptrs, obj_pos = object_pointer_tokens(model, ptrs, t_diffs, t_diff_max)
    memory = torch.cat(mems + [obj_ptrs], dim=0)
    memory_pos = torch.cat(mem_pos + [obj_pos], dim=0)
    num_tokens = obj_ptrs.shape[0]
    with tm("memory_attention"):
        out = model.memory_attention(
            curr=[feats[-1]], curr_pos=[pos[-1]], memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=num_tokens
        )
    rec.put("mattn.curr", feats[-1])
    rec.put("mattn.curr_pos", pos[-1])
    rec.put("mattn.memory", memory)
    rec.put("mattn.memory_pos", memory_pos)
    rec.put("mattn.num_obj_ptr_tokens", torch.tensor(num_tokens, dtype=torch.int64))
    rec.put("mattn.obj_ptr_t_diffs", torch.tensor(t_diffs, dtype=torch.int64))
    rec.put("mattn.out", out)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--frames", type=Path, default=DEFAULT_FRAMES)
    args = ap.parse_args()
    if args.image_size <= 0 or args.image_size % 64:
        fail(f"--image-size must be a positive multiple of 64, got {args.image_size}")
    return args


def generate(args, versions, want):
    import numpy as np
    import torch

    if torch.__version__.split("+")[0] != TORCH_VERSION:
        fail(f"imported torch is {torch.__version__}, fixtures need {TORCH_VERSION}")
    torch.set_num_threads(2)
    frames = args.frames.resolve()
    for f in ("00000.jpg", "00001.jpg", "00002.jpg"):
        if not (frames / f).exists():
            fail(f"frame {frames / f} missing (the fixtures need the sample clips)")
    out, n, tm, rec = args.out, args.image_size, Timer(), Recorder()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("meta.json", "blocks.npz", "checkpoint.pt"):
        (out / stale).unlink(missing_ok=True)
    with tm("build_model"):
        model = build_model(args.size, n)
    with tm("perturb"):
        perturb(model)
    sd = model.state_dict()
    with tm("save_checkpoint"):
        torch.save({"model": sd}, out / "checkpoint.pt")
    with tm("reload_checkpoint"):
        check_reload(model, out / "checkpoint.pt")
    with torch.inference_mode():
        image = load_frame(frames / "00000.jpg", n)
        rec.put("image", image)
        feats, pos, sizes = record_encoder(model, image, rec, tm)
        box, box_labels = record_prompt_encoder(model, n, rec, tm)
        heads, mm = record_heads(model, feats, sizes, box, box_labels, rec, tm)
        mem = record_memory_encoder(model, feats, sizes, heads, rec, tm)
        record_memory_attention(model, frames, n, feats, pos, mem, heads, mm, box, box_labels, rec, tm)
    np.savez(out / "blocks.npz", **rec.arrays)
    meta = dict(want)
    meta.update(
        versions=versions,
        seed=SEED,
        perturb_seed=PERTURB_SEED,
        perturb_scale=PERTURB_SCALE,
        checkpoint_tensors=len(sd),
        checkpoint_bytes=(out / "checkpoint.pt").stat().st_size,
        arrays=len(rec.arrays),
        seconds=tm.times,
    )
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def main():
    args = parse_args()
    versions = check_versions()
    want = {
        "script_sha256": script_sha256(),
        "size": args.size,
        "image_size": args.image_size,
        "frames": str(args.frames.resolve()),
    }
    if up_to_date(args.out, want):
        print(f"{args.out}: up to date")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    t0 = time.perf_counter()
    print(f"generating {args.size}@{args.image_size} into {args.out}", flush=True)
    generate(args, versions, want)
    print(f"  {'total':<22s} {time.perf_counter() - t0:8.2f} s")


if __name__ == "__main__":
    main()
