#!/usr/bin/env python3
"""Tracking parity fixtures: the reference SAMURAI run on real frames.

Runs SAMURAI's video predictor (absolutely-not-samurai==1.0.0, CPU) on the first N frames
of a clip with one box on frame 0, forward, with the random-initialised, perturbed model of
make_block_fixtures.py, and records per frame:

    DIR/frames/NNNNN.jpg      symlinks to the clip's first N frames (the tracked clip)
    DIR/checkpoint.pt         the official-format checkpoint both sides load
    DIR/logits/NNNNN.npy      video-resolution float32 logits [H, W] (the reference output)
    DIR/track.npz             chosen[N] (candidate index, 0 on the prompted frame),
                              memory_frames[N, 7] (frames whose memories conditioned the
                              frame, conditioning frame first, -1 padded), object_score[N],
                              best_iou[N], margin[N] (the smallest distance of any decision
                              on that frame to its threshold or runner-up: mask choice,
                              stability and memory IoU thresholds, object-score thresholds)
    DIR/meta.json             arguments, versions, script hashes, timings

The chosen index and memory frames are read off the reference itself: the chosen index by
matching the selected low-res mask against the candidates, the memory frames by matching
the memory tensor handed to memory attention against the stored memory features.

Usage: make_track_fixtures.py --size tiny --image-size 256 --clip bedroom --frames 200 --box x1,y1,x2,y2 --out DIR
"""
import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_block_fixtures as blocks  # noqa: E402  (model recipe and version pins)

CLIPS = HERE.parents[1] / ".." / "shared" / "data" / "clips"


def digest():
    h = hashlib.sha256()
    for p in (Path(__file__), HERE / "make_block_fixtures.py"):
        h.update(p.read_bytes())
    return h.hexdigest()


def link_frames(clip, n, out):
    src = CLIPS / clip
    names = sorted(p for p in os.listdir(src) if p.lower().endswith((".jpg", ".jpeg")))
    if len(names) < n:
        blocks.fail(f"clip {src} has {len(names)} frames, {n} requested")
    dst = out / "frames"
    dst.mkdir(parents=True, exist_ok=True)
    for name in names[:n]:
        link = dst / name
        if not link.exists():
            link.symlink_to((src / name).resolve())
    return dst


class Probe:
    """Wraps the reference model to read its decisions without changing them."""

    def __init__(self, model, state_ref):
        self.model = model
        self.state_ref = state_ref
        self.hw = (model.image_size // 16) ** 2
        self.current = {}
        orig_heads = model._forward_sam_heads
        orig_attn = model.memory_attention.forward

        def heads(*args, **kwargs):
            before = (self.model.kf_mean, self.model.kf_covariance, self.model.stable_frames)
            out = orig_heads(*args, **kwargs)
            self.on_heads(out, before, kwargs.get("multimask_output", False))
            return out

        def attn(*args, **kwargs):
            self.on_memory(kwargs["memory"], kwargs.get("num_obj_ptr_tokens", 0))
            return orig_attn(*args, **kwargs)

        model._forward_sam_heads = heads
        model.memory_attention.forward = attn

    def on_heads(self, out, before, multimask):
        import torch

        low_multi, high_multi, ious, low = out[0], out[1], out[2], out[3]
        m = low_multi.shape[1]
        chosen = [i for i in range(m) if torch.equal(low_multi[:, i : i + 1], low)]
        self.current["chosen"] = chosen[0] if chosen else -1
        self.current["ious"] = ious[0].tolist()
        self.current["margin"] = self.margin(ious[0], high_multi, before, multimask)

    def margin(self, ious, high_multi, before, multimask):
        """Distance of this frame's decisions to flipping (mask choice and thresholds)."""
        m = self.model
        vals = [float(v) for v in ious]
        margins = []
        if multimask and len(vals) > 1:
            kf_mean, kf_cov, stable = before
            scores = vals
            if kf_mean is not None and stable >= m.stable_frames_threshold:
                mean, _ = m.kf.predict(kf_mean, kf_cov)
                boxes = [box_of(high_multi[0, i]) for i in range(len(vals))]
                kf = m.kf.compute_iou(mean[:4], boxes)
                scores = [m.kf_score_weight * k + (1 - m.kf_score_weight) * v for k, v in zip(kf, vals)]
            top = sorted(scores, reverse=True)
            if top[0] != top[1]:  # an exact tie is settled by argmax's first-index rule
                margins.append(top[0] - top[1])
            best = vals[max(range(len(scores)), key=lambda i: scores[i])]
            margins.append(abs(best - m.stable_ious_threshold))
            margins.append(abs(best - m.memory_bank_iou_threshold))
        return min(margins) if margins else float("inf")

    def on_memory(self, memory, num_ptr_tokens):
        import torch

        state = self.state_ref[0]
        spatial = memory[: memory.shape[0] - num_ptr_tokens]
        chunks = spatial.shape[0] // self.hw
        stores = []
        for key in ("cond_frame_outputs", "non_cond_frame_outputs"):
            for f, out in state["output_dict"][key].items():
                if out.get("maskmem_features") is not None:
                    stores.append((f, out["maskmem_features"].float().flatten(2).permute(2, 0, 1)))
        frames = []
        for c in range(chunks):
            chunk = spatial[c * self.hw : (c + 1) * self.hw].float()
            hits = [f for f, feat in stores if feat.shape == chunk.shape and torch.equal(feat, chunk)]
            frames.append(hits[0] if len(hits) == 1 else -2)
        self.current["memory_frames"] = frames


def box_of(mask):
    import torch

    nz = torch.argwhere(mask > 0.0)
    if len(nz) == 0:
        return [0, 0, 0, 0]
    y0, x0 = nz.min(dim=0).values
    y1, x1 = nz.max(dim=0).values
    return [x0.item(), y0.item(), x1.item(), y1.item()]


def diversify(model, scale, iou_offset, obj_offset):
    """Makes the random network's decisions vary from frame to frame.

    With random weights the IoU head predicts ~0.52 for every candidate and the object
    score hovers just above 0, so every frame would pick candidate 0 and every memory would
    qualify: a parity run would never exercise SAMURAI's choices. So, for the last layer of
    the IoU head and of the object-score head: scale the weights by `scale` and set the
    biases to `-iou_offset` / `-obj_offset` (calibrated on the clip, see `calibrate`), which spreads the outputs across the thresholds (0.3 / 0.5 IoU,
    -1 / 0 object score); and give the three multimask candidates the same IoU row, so the
    candidate choice is made by the Kalman filter's box IoU (phase C) rather than always
    by the same row. No other block is touched.
    """
    import torch

    sd = model.state_dict()
    iou_w = sd["sam_mask_decoder.iou_prediction_head.layers.2.weight"]
    iou_b = sd["sam_mask_decoder.iou_prediction_head.layers.2.bias"]
    obj_w = sd["sam_mask_decoder.pred_obj_score_head.layers.2.weight"]
    obj_b = sd["sam_mask_decoder.pred_obj_score_head.layers.2.bias"]
    with torch.no_grad():
        iou_w[2:] = iou_w[1]
        for w, b, offset in ((iou_w, iou_b, iou_offset), (obj_w, obj_b, obj_offset)):
            w.mul_(scale)
            b.fill_(-offset)


def calibrate(model, frames_dir, box, probe_frames=12):
    """Median raw (bias-free) outputs of the two scaled heads on the first tracked frames.

    Used as the offsets of `diversify`, so that on this clip the predicted IoU hovers around
    0.5 and the object score around 0 (slightly above: -0.2 shifts it so memories qualify
    more often than not).
    """
    import torch

    names = ["sam_mask_decoder.iou_prediction_head.layers.2", "sam_mask_decoder.pred_obj_score_head.layers.2"]
    layers = [model.sam_mask_decoder.iou_prediction_head.layers[2], model.sam_mask_decoder.pred_obj_score_head.layers[2]]
    seen = {n: [] for n in names}
    hooks = [layer.register_forward_hook(lambda m, i, o, n=n: seen[n].append((o - m.bias).flatten()[:2].clone())) for n, layer in zip(names, layers)]
    with torch.inference_mode():
        state = model.init_state(video_path=str(frames_dir))
        model.add_new_points_or_box(state, frame_idx=0, obj_id=0, box=box)
        for i, _ in enumerate(model.propagate_in_video(state, max_frame_num_to_track=probe_frames)):
            pass
    for h in hooks:
        h.remove()
    # The Kalman state lives on the reference model: reset it for the real run.
    model.kf_mean, model.kf_covariance, model.stable_frames, model.frame_cnt = None, None, 0, 0
    iou = torch.stack([v[1] for v in seen[names[0]][1:]]).median().item()  # a multimask row
    obj = torch.stack([v[0] for v in seen[names[1]][1:]]).median().item()
    return iou, obj - 0.2


def run(args, out):
    import numpy as np
    import torch

    torch.set_num_threads(2)
    frames_dir = link_frames(args.clip, args.frames, out)
    model = blocks.build_model(args.size, args.image_size)
    blocks.perturb(model)
    box = [float(v) for v in args.box.split(",")]
    diversify(model, args.decision_scale, 0.0, 0.0)
    iou_offset, obj_offset = calibrate(model, frames_dir, box)
    diversify(model, 1.0, iou_offset, obj_offset)
    print(f"decision offsets: IoU {iou_offset:.4f}, object score {obj_offset:.4f}", flush=True)
    torch.save({"model": model.state_dict()}, out / "checkpoint.pt")
    state_ref = [None]
    probe = Probe(model, state_ref)
    (out / "logits").mkdir(exist_ok=True)
    n = args.frames
    rec = {k: np.full(n, np.nan, dtype=np.float64) for k in ("object_score", "best_iou", "margin")}
    rec["chosen"] = np.full(n, -1, dtype=np.int64)
    rec["memory_frames"] = np.full((n, 7), -1, dtype=np.int64)
    t0 = time.perf_counter()
    with torch.inference_mode():
        state = model.init_state(video_path=str(frames_dir))
        state_ref[0] = state
        model.add_new_points_or_box(state, frame_idx=0, obj_id=0, box=box)
        first = dict(probe.current)
        for frame_idx, _, video_res in model.propagate_in_video(state):
            cur = first if frame_idx == 0 else probe.current
            np.save(out / "logits" / f"{frame_idx:05d}.npy", video_res[0, 0].float().numpy())
            stored = state["output_dict"]["cond_frame_outputs"].get(frame_idx) or state["output_dict"]["non_cond_frame_outputs"][frame_idx]
            rec["object_score"][frame_idx] = float(stored["object_score_logits"].flatten()[0])
            rec["best_iou"][frame_idx] = float(cur["ious"][cur["chosen"]]) if cur.get("chosen", -1) >= 0 else np.nan
            rec["chosen"][frame_idx] = cur.get("chosen", -1)
            obj = rec["object_score"][frame_idx]
            rec["margin"][frame_idx] = min(cur.get("margin", np.inf), abs(obj), abs(obj - model.min_obj_score_logits))
            mem = cur.get("memory_frames", []) if frame_idx > 0 else []
            rec["memory_frames"][frame_idx, : len(mem)] = mem
            probe.current = {}
    elapsed = time.perf_counter() - t0
    np.savez(out / "track.npz", **rec)
    mem = rec["memory_frames"]
    skips = sum(1 for r in mem[2:] if len(r[r >= 0]) > 2 and (np.diff(r[r >= 0][1:]) > 1).any())
    print(f"decisions: chosen per candidate {np.bincount(rec['chosen'][1:], minlength=3).tolist()}, "
          f"frames whose memory skips a frame {skips}, object score range "
          f"[{np.nanmin(rec['object_score']):.3f}, {np.nanmax(rec['object_score']):.3f}], "
          f"best IoU range [{np.nanmin(rec['best_iou']):.3f}, {np.nanmax(rec['best_iou']):.3f}], "
          f"smallest margin {np.nanmin(rec['margin']):.3e}", flush=True)
    return elapsed


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
    if meta.exists() and (out / "track.npz").exists():
        try:
            if all(json.loads(meta.read_text()).get(k) == v for k, v in want.items()):
                return
        except ValueError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    elapsed = run(args, out)
    want["reference_seconds"] = round(elapsed, 2)
    want["reference_seconds_per_frame"] = round(elapsed / args.frames, 3)
    meta.write_text(json.dumps(want, indent=1))
    print(f"reference tracked {args.frames} frames in {elapsed:.1f} s", flush=True)


if __name__ == "__main__":
    main()
