#!/usr/bin/env python3
"""The reference side of scripts/gpu-check.sh (absolutely-not-samurai==1.0.0 on any device),
and the comparisons of its outputs with ours.

  gpu_check.py checkpoint --size S --image-size N --out C.pt
      a random-initialised official-format checkpoint (the parity recipe: seed 0, +0.02 N(0,1))
  gpu_check.py segment --checkpoint C --size S --image-size N --image F --box x1,y1,x2,y2 --device D --out L.npy
      the image predictor's logits (image encoder, prompt encoder, mask decoder)
  gpu_check.py track --checkpoint C --size S --image-size N --frames DIR --count K --box ... --device D --out DIR
      the video predictor (SAMURAI, fill-hole-area 0), video-resolution logits per frame
  gpu_check.py compare-segment OURS.npy REF.npy
  gpu_check.py compare-track OURS_DIR REF_DIR
      max |difference| against the parity tolerance, and mask IoU; one JSON line each
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import make_block_fixtures as blocks  # noqa: E402  (version pins, config names, model recipe)


def checkpoint(args):
    import torch

    model = blocks.build_model(args.size, args.image_size)
    blocks.perturb(model)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, args.out)
    return {"checkpoint": args.out}


def build(args, video):
    from sam2.build_sam import _load_checkpoint, build_sam2, build_sam2_video_predictor

    extra = [f"++model.image_size={args.image_size}"]
    if video:
        extra.append("++model.fill_hole_area=0")
    make = build_sam2_video_predictor if video else build_sam2
    model = make(blocks.CONFIGS[args.size], None, device=args.device, hydra_overrides_extra=extra)
    _load_checkpoint(model, args.checkpoint)
    return model.eval()


def segment(args):
    import numpy as np
    import torch
    from PIL import Image
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(build(args, video=False))
    n = args.image_size  # the predictor hard-codes the grid sizes of a 1024 input
    predictor._bb_feat_sizes = [(n // 4, n // 4), (n // 8, n // 8), (n // 16, n // 16)]
    img = np.array(Image.open(args.image).convert("RGB"))
    box = np.array([float(v) for v in args.box.split(",")])
    with torch.inference_mode():
        predictor.set_image(img)
        masks, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
    np.save(args.out, masks[0].astype(np.float32))
    return {"logits": args.out}


def track(args):
    import numpy as np
    import torch

    model = build(args, video=True)
    names = sorted(p for p in os.listdir(args.frames) if p.lower().endswith((".jpg", ".jpeg")))[: args.count]
    box = [float(v) for v in args.box.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            os.symlink(os.path.abspath(os.path.join(args.frames, n)), os.path.join(tmp, n))
        with torch.inference_mode():
            state = model.init_state(video_path=tmp)
            model.add_new_points_or_box(state, frame_idx=0, obj_id=0, box=box)
            for frame_idx, _, video_res in model.propagate_in_video(state):
                np.save(out / f"{frame_idx:05d}.npy", video_res[0, 0].float().cpu().numpy())
    return {"frames": len(names), "out": str(out)}


def stats(ours, ref):
    import numpy as np

    diff = float(np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max())
    a, b = ours > 0, ref > 0
    union = int((a | b).sum())
    iou = 1.0 if union == 0 else int((a & b).sum()) / union
    tol = 1e-3 * max(1.0, float(np.abs(ref).max()))
    return diff, tol, iou


def compare_segment(args):
    import numpy as np

    diff, tol, iou = stats(np.load(args.ours), np.load(args.ref))
    return {"max_abs_diff": diff, "tolerance": tol, "iou": iou, "pass": diff <= tol and iou >= 0.999}


def compare_track(args):
    import numpy as np

    ref_dir, ours_dir = Path(args.ref), Path(args.ours)
    frames = sorted(p.name for p in ref_dir.glob("*.npy"))
    if not frames:
        raise SystemExit(f"compare-track: no reference frames in {ref_dir}")
    worst_diff, worst_ratio, min_iou, failed = 0.0, 0.0, 1.0, []
    for name in frames:
        ours = ours_dir / name
        if not ours.exists():
            raise SystemExit(f"compare-track: {ours} is missing (the reference has {name})")
        diff, tol, iou = stats(np.load(ours), np.load(ref_dir / name))
        worst_diff, worst_ratio, min_iou = max(worst_diff, diff), max(worst_ratio, diff / tol), min(min_iou, iou)
        if diff > tol or iou < 0.999:
            failed.append(name)
    return {"frames": len(frames), "max_abs_diff": worst_diff, "max_diff_over_tolerance": worst_ratio, "min_iou": min_iou, "failed_frames": failed, "pass": not failed}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["checkpoint", "segment", "track", "compare-segment", "compare-track"])
    ap.add_argument("ours", nargs="?")
    ap.add_argument("ref", nargs="?")
    ap.add_argument("--checkpoint")
    ap.add_argument("--size", choices=sorted(blocks.CONFIGS))
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--image")
    ap.add_argument("--frames")
    ap.add_argument("--count", type=int)
    ap.add_argument("--box")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.mode.startswith("compare"):
        out = compare_segment(args) if args.mode == "compare-segment" else compare_track(args)
    else:
        blocks.check_versions()
        import torch

        torch.set_num_threads(args.threads)
        # The reference prints banners on stdout; keep stdout for the JSON result.
        with contextlib.redirect_stdout(sys.stderr):
            out = {"checkpoint": checkpoint, "segment": segment, "track": track}[args.mode](args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
