"""Drives SAMURAI's reference KalmanFilter (sam2/utils/kalman_filter.py) through a long
deterministic sequence of initiate / predict / update steps on synthetic integer mask boxes
(with re-initiation, empty boxes and zero-height boxes) and records, after every step, the
state, its projection, the predicted xyxy box and the IoU against several candidate boxes.

Usage: kalman_reference.py OUT_DIR   -> writes OUT_DIR/kalman.npz (all float64 except `op`).
Ops: 0 = initiate(xyxy_to_xyah(box)), 1 = predict, 2 = update(xyxy_to_xyah(box)).
"""
import math
import os
import sys

import numpy as np
from sam2.utils.kalman_filter import KalmanFilter

FRAMES = 400
REINIT = {0: "normal", 150: "zero_height", 290: "empty"}
K = 6


def true_box(t):
    """Integer box of a smoothly moving, resizing object, clipped to a 256² canvas."""
    cx = 120 + 60 * math.sin(t / 40)
    cy = 60 + 0.3 * t
    w = 50 + 10 * math.sin(t / 25)
    h = 80 + 15 * math.cos(t / 30)
    box = [round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)]
    return [int(min(max(v, 0), 255)) for v in box]


def jitter(box, rng, amp):
    return [int(min(max(v + rng.integers(-amp, amp + 1), 0), 255)) for v in box]


def measurement(t, rng, kind=None):
    """The mask box the tracker would see: mostly a noisy true box, sometimes degenerate."""
    if kind is None:
        r = rng.random()
        kind = "empty" if r < 0.04 else "zero_height" if r < 0.08 else "pixel" if r < 0.10 else "normal"
    box = jitter(true_box(t), rng, 3)
    if kind == "empty":
        return [0, 0, 0, 0]
    if kind == "zero_height":
        return [box[0], box[1], box[2], box[1]]
    if kind == "pixel":
        return [box[0], box[1], box[0], box[1]]
    return box


def random_box(rng):
    xs = sorted(int(v) for v in rng.integers(0, 256, 2))
    ys = sorted(int(v) for v in rng.integers(0, 256, 2))
    return [xs[0], ys[0], xs[1], ys[1]]


def candidates(t, rng, kf_mean):
    """Multimask candidate boxes: good, shifted, empty, degenerate, far, and the rounded
    prediction itself (exact overlap)."""
    pred = [int(round(v)) for v in KalmanFilter().xyah_to_xyxy(kf_mean[:4])]
    line = jitter(true_box(t), rng, 2)
    return [
        jitter(true_box(t), rng, 3),
        jitter(true_box(t), rng, 25),
        [0, 0, 0, 0],
        [line[0], line[1], line[0], line[3]],
        random_box(rng),
        pred,
    ]


def main(out_dir):
    rng = np.random.default_rng(20240611)
    kf = KalmanFilter()
    rows = {k: [] for k in ["op", "box", "cands", "xyah", "mean", "cov", "proj_mean", "proj_cov", "iou", "pred_xyxy"]}
    mean = cov = None

    def record(op, box, m, c):
        cands = candidates(len(rows["op"]), rng, m)
        pm, pc = kf.project(m, c)
        rows["op"].append(op)
        rows["box"].append(box)
        rows["cands"].append(cands)
        rows["xyah"].append(kf.xyxy_to_xyah(box))
        rows["mean"].append(m)
        rows["cov"].append(c)
        rows["proj_mean"].append(pm)
        rows["proj_cov"].append(pc)
        rows["iou"].append([float(v) for v in kf.compute_iou(m[:4], cands)])
        rows["pred_xyxy"].append(kf.xyah_to_xyxy(m[:4]))

    for t in range(FRAMES):
        if t in REINIT:
            box = measurement(t, rng, REINIT[t])
            mean, cov = kf.initiate(kf.xyxy_to_xyah(box))
            record(0, box, mean, cov)
            continue
        mean, cov = kf.predict(mean, cov)
        record(1, [0, 0, 0, 0], mean, cov)
        if rng.random() < 0.75:
            box = measurement(t, rng)
            mean, cov = kf.update(mean, cov, kf.xyxy_to_xyah(box))
            record(2, box, mean, cov)

    arrays = {k: np.asarray(v, dtype=np.int64 if k == "op" else np.float64) for k, v in rows.items()}
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "kalman.npz"), **arrays)
    ops = arrays["op"]
    print(f"steps={len(ops)} initiate={(ops == 0).sum()} predict={(ops == 1).sum()} update={(ops == 2).sum()}")


if __name__ == "__main__":
    main(sys.argv[1])
