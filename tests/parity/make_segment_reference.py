#!/usr/bin/env python3
"""Reference outputs for `samurai-roto segment` and strict-loading checks.

  make_segment_reference.py predict --checkpoint C --size tiny --image-size N --image F [--box x1,y1,x2,y2] [--points "x,y,L;x,y,L"] --out OUT.npy
      The reference image predictor (build_sam2 + SAM2ImagePredictor, as its README
      shows) on an image decoded by Pillow: predict(point_coords=..., point_labels=...,
      box=..., multimask_output=False, return_logits=True); writes the (H, W) float32 logits.
  make_segment_reference.py corrupt --checkpoint C --out-dir DIR
      Writes official-format variants of C with one tensor renamed (renamed.pt) and one
      reshaped (reshaped.pt), plus the file cut in half (truncated.pt).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_block_fixtures as blocks  # noqa: E402  (version pins, config names)

RENAMED_FROM = "sam_mask_decoder.iou_prediction_head.layers.0.weight"
RENAMED_TO = "sam_mask_decoder.iou_prediction_head.layers.0.weight_renamed"
RESHAPED = "memory_encoder.out_proj.weight"


def predict(args):
    import numpy as np
    import torch
    from PIL import Image
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    torch.set_num_threads(2)
    model = build_sam2(blocks.CONFIGS[args.size], args.checkpoint, device="cpu", hydra_overrides_extra=[f"++model.image_size={args.image_size}"])
    predictor = SAM2ImagePredictor(model)
    # The reference predictor hard-codes the backbone grid sizes of a 1024 input
    # (`_bb_feat_sizes`); at another image size it must be told the real ones.
    s = args.image_size
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    image = np.array(Image.open(args.image).convert("RGB"))
    box = np.array([float(v) for v in args.box.split(",")], dtype=np.float32) if args.box else None
    coords, labels = None, None
    if args.points:
        pts = [[float(v) for v in p.split(",")] for p in args.points.split(";")]
        coords = np.array([[p[0], p[1]] for p in pts], dtype=np.float32)
        labels = np.array([int(p[2]) for p in pts], dtype=np.int32)
    with torch.inference_mode():
        predictor.set_image(image)
        masks, ious, _ = predictor.predict(point_coords=coords, point_labels=labels, box=box, multimask_output=False, return_logits=True)
    np.save(args.out, masks[0].astype(np.float32))
    print(f"reference iou {float(ious[0]):.6f} shape {masks[0].shape}")


def corrupt(args):
    import torch

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sd = torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"]
    renamed = sd.copy()
    renamed[RENAMED_TO] = renamed.pop(RENAMED_FROM)
    torch.save({"model": renamed}, out / "renamed.pt")
    reshaped = sd.copy()
    reshaped[RESHAPED] = reshaped[RESHAPED].reshape(-1)[: reshaped[RESHAPED].numel() // 2].clone().reshape(32, -1)
    torch.save({"model": reshaped}, out / "reshaped.pt")
    data = Path(args.checkpoint).read_bytes()
    (out / "truncated.pt").write_bytes(data[: len(data) // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["predict", "corrupt"])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--size", default="tiny", choices=sorted(blocks.CONFIGS))
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--image")
    ap.add_argument("--box")
    ap.add_argument("--points", help="x,y,L clicks separated by ';' (L 1 positive, 0 negative)")
    ap.add_argument("--out")
    ap.add_argument("--out-dir")
    args = ap.parse_args()
    blocks.check_versions()
    predict(args) if args.mode == "predict" else corrupt(args)


if __name__ == "__main__":
    main()
