#!/usr/bin/env python3
"""Prompt-type parity fixtures: the reference SAMURAI run with points and mask prompts.

Same model recipe, decision calibration and probes as make_track_fixtures.py (one object,
frame 0, forward, absolutely-not-samurai==1.0.0 on CPU), with three keyframe prompts on
frame 0 of the first N frames of a clip:

    box_points     the box, then a positive and a negative click (add_new_points_or_box)
    three_points   three clicks, no box (two positive, one negative)
    mask           the reference's own frame-0 mask from the box (video-resolution logits
                   > 0), given back with add_new_mask

and records per case:

    DIR/CASE/track.npz   low_res[N, S/4, S/4] (the stored pred_masks the reference upsamples
                         to the video's size), chosen[N], memory_frames[N, 7],
                         object_score[N], best_iou[N], margin[N] (as make_track_fixtures)
    DIR/prompts.json     the box and the clicks of each case (video pixels)
    DIR/mask.npy         the mask case's prompt, uint8 [H, W] (1 inside)
    DIR/checkpoint.pt, DIR/frames/, DIR/meta.json

Usage: make_prompt_fixtures.py --size tiny --image-size 256 --clip bedroom --frames 60 --box x1,y1,x2,y2 --out DIR
"""
import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_block_fixtures as blocks  # noqa: E402  (model recipe and version pins)
import make_track_fixtures as track  # noqa: E402  (calibration, probes, frame links)

CASES = ("box_points", "three_points", "mask")


def digest():
    h = hashlib.sha256()
    for p in (Path(__file__), HERE / "make_track_fixtures.py", HERE / "make_block_fixtures.py"):
        h.update(p.read_bytes())
    return h.hexdigest()


def clicks(box, w, h):
    """Clicks derived from the box (with .5 positions, so coordinate scaling is exercised)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2 + 0.5, (y1 + y2) / 2 + 0.5
    bw, bh = x2 - x1, y2 - y1
    inside_neg = [x1 + 0.12 * bw + 0.5, y1 + 0.1 * bh + 0.5]
    outside_neg = [min(w - 1.5, x2 + 0.3 * bw), min(h - 1.5, cy)]
    return {
        "box_points": {"box": list(box), "points": [[cx, cy], inside_neg], "labels": [1, 0]},
        "three_points": {"box": None, "points": [[cx, cy], [cx, y1 + 0.3 * bh + 0.5], outside_neg], "labels": [1, 1, 0]},
    }


def reset_kalman(model):
    """The Kalman state lives on the reference model; each case starts from none."""
    model.kf_mean, model.kf_covariance, model.stable_frames, model.frame_cnt = None, None, 0, 0


def run_case(model, probe, state_ref, frames_dir, n, prompt, out):
    import numpy as np
    import torch

    reset_kalman(model)
    rec = {k: np.full(n, np.nan, dtype=np.float64) for k in ("object_score", "best_iou", "margin")}
    rec["chosen"] = np.full(n, -1, dtype=np.int64)
    rec["memory_frames"] = np.full((n, 7), -1, dtype=np.int64)
    side = model.image_size // 4
    rec["low_res"] = np.zeros((n, side, side), dtype=np.float32)
    with torch.inference_mode():
        state = model.init_state(video_path=str(frames_dir))
        state_ref[0] = state
        probe.current = {}
        if "mask" in prompt:
            model.add_new_mask(state, frame_idx=0, obj_id=0, mask=torch.from_numpy(prompt["mask"]).bool())
        else:
            pts = np.array(prompt["points"], dtype=np.float32)
            model.add_new_points_or_box(state, frame_idx=0, obj_id=0, points=pts, labels=np.array(prompt["labels"], np.int32), box=prompt["box"])
        first = dict(probe.current)
        for frame_idx, _, _ in model.propagate_in_video(state):
            cur = first if frame_idx == 0 else probe.current
            stored = state["output_dict"]["cond_frame_outputs"].get(frame_idx) or state["output_dict"]["non_cond_frame_outputs"][frame_idx]
            rec["low_res"][frame_idx] = stored["pred_masks"][0, 0].float().numpy()
            rec["object_score"][frame_idx] = float(stored["object_score_logits"].flatten()[0])
            rec["best_iou"][frame_idx] = float(cur["ious"][cur["chosen"]]) if cur.get("chosen", -1) >= 0 else np.nan
            rec["chosen"][frame_idx] = cur.get("chosen", -1)
            obj = rec["object_score"][frame_idx]
            rec["margin"][frame_idx] = min(cur.get("margin", np.inf), abs(obj), abs(obj - model.min_obj_score_logits))
            mem = cur.get("memory_frames", []) if frame_idx > 0 else []
            rec["memory_frames"][frame_idx, : len(mem)] = mem
            probe.current = {}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "track.npz", **rec)
    print(f"{out.name}: chosen per candidate {np.bincount(rec['chosen'][1:], minlength=3).tolist()}, "
          f"object score range [{np.nanmin(rec['object_score']):.3f}, {np.nanmax(rec['object_score']):.3f}], "
          f"smallest margin {np.nanmin(rec['margin']):.3e}", flush=True)


def reference_mask(model, frames_dir, box):
    """The reference's own frame-0 mask from the box: video-resolution logits > 0."""
    import torch

    reset_kalman(model)
    with torch.inference_mode():
        state = model.init_state(video_path=str(frames_dir))
        _, _, logits = model.add_new_points_or_box(state, frame_idx=0, obj_id=0, box=box)
    return (logits[0, 0] > 0).numpy().astype("uint8")


def run(args, out):
    import numpy as np
    import torch

    torch.set_num_threads(2)
    frames_dir = track.link_frames(args.clip, args.frames, out)
    model = blocks.build_model(args.size, args.image_size)
    blocks.perturb(model)
    box = [float(v) for v in args.box.split(",")]
    track.diversify(model, args.decision_scale, 0.0, 0.0)
    iou_offset, obj_offset = track.calibrate(model, frames_dir, box)
    track.diversify(model, 1.0, iou_offset, obj_offset)
    torch.save({"model": model.state_dict()}, out / "checkpoint.pt")
    mask = reference_mask(model, frames_dir, box)
    np.save(out / "mask.npy", mask)
    h, w = mask.shape
    prompts = clicks(box, w, h)
    (out / "prompts.json").write_text(json.dumps(prompts, indent=1))
    prompts["mask"] = {"mask": mask}
    state_ref = [None]
    probe = track.Probe(model, state_ref)
    t0 = time.perf_counter()
    for case in CASES:
        run_case(model, probe, state_ref, frames_dir, args.frames, prompts[case], out / case)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", required=True, choices=sorted(blocks.CONFIGS))
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--box", required=True, help="x1,y1,x2,y2 in video pixels")
    ap.add_argument("--out", required=True)
    ap.add_argument("--decision-scale", type=float, default=60.0)
    args = ap.parse_args()
    versions = blocks.check_versions()
    out = Path(args.out)
    want = {"args": vars(args), "sha256": digest(), "versions": versions}
    meta = out / "meta.json"
    if meta.exists() and all((out / c / "track.npz").exists() for c in CASES):
        try:
            if all(json.loads(meta.read_text()).get(k) == v for k, v in want.items()):
                return
        except ValueError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    elapsed = run(args, out)
    want["reference_seconds"] = round(elapsed, 2)
    meta.write_text(json.dumps(want, indent=1))
    print(f"reference tracked 3 x {args.frames} frames in {elapsed:.1f} s", flush=True)


if __name__ == "__main__":
    main()
