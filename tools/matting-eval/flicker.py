"""Temporal stability of the refinement on a still shot with sensor noise.

A composite (composites.py) is copied N times with independent Gaussian sensor noise
(sigma 2/255 per channel, re-quantised to 8 bits) and, since the network would react to the
noise too, independent jitter of its low-resolution logits (sigma 0.25 per cell). Every
copy is refined (raw / fast / quality) and the flicker is the mean absolute frame-to-frame
alpha difference over the band (the union of the copies' unknown bands), next to the mean
error against the ground truth.

`report_heldout` does the same for held-out cases (heldout.py) at given logit scales of the
coarse input, with the logit jitter scaled too (sigma 0.25 x scale), and a check per row
that fast and quality flicker at most as much as raw (`eval.py --set heldout --flicker N`).
"""
import os
import subprocess

import numpy as np
from PIL import Image

import composites

NOISE = 2.0 / 255.0
LOGIT_JITTER = 0.25
CASES = ["plain", "hair"]


def _frames(d, n, rng, logits_file="logits.npy", sub="flicker", jitter=LOGIT_JITTER):
    plate = np.asarray(Image.open(os.path.join(d, "plate.png")), dtype=np.float32) / 255.0
    logits = np.load(os.path.join(d, logits_file))
    out = []
    for t in range(n):
        fd = os.path.join(d, sub, f"{t:02d}")
        os.makedirs(fd, exist_ok=True)
        noisy = np.clip(np.round((plate + rng.normal(scale=NOISE, size=plate.shape)) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(os.path.join(fd, "plate.png"))
        np.save(os.path.join(fd, "logits.npy"), (logits + rng.normal(scale=jitter, size=logits.shape)).astype(np.float32))
        out.append(fd)
    return out


def measure(exe, clips, out, band, n, name, settings=None):
    spec = next(c for c in composites.CASES if c["name"] == name)
    d = composites.write_case(clips, spec, out)
    return _measure_frames(exe, d, band, n, settings)


def measure_heldout(exe, clips, out, band, n, name, scale, settings=None):
    """A held-out case (heldout.py) at one logit scale: the copies' logits are the case's
    logits at that scale plus jitter of sigma LOGIT_JITTER x scale per cell."""
    import heldout

    spec = next(c for c in heldout.CASES if c["name"] == name)
    d = heldout.write_case(clips, spec, out)
    tag = heldout.scale_tag(scale)
    return _measure_frames(exe, d, band, n, settings, logits_file=os.path.basename(heldout.logits_path(d, scale)),
                           sub=f"flicker_{tag}", jitter=LOGIT_JITTER * scale)


def _measure_frames(exe, d, band, n, settings, **frame_args):
    gt = np.load(os.path.join(d, "alpha.npy"))
    frames = _frames(d, n, np.random.default_rng(42), **frame_args)
    alphas = {"raw": [], "fast": [], "quality": []}
    union = np.zeros(gt.shape, bool)
    for fd in frames:
        cmd = ["nice", "-n", "10", exe, "--plate", os.path.join(fd, "plate.png"), "--logits", os.path.join(fd, "logits.npy"),
               "--out", fd, "--band", str(band), "--modes", "off,fast,quality"]
        if settings:
            cmd += ["--settings", settings]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        union |= np.load(os.path.join(fd, "trimap.npy")) == 128
        for m, f in [("raw", "alpha_off"), ("fast", "alpha_fast"), ("quality", "alpha_quality")]:
            alphas[m].append(np.load(os.path.join(fd, f + ".npy")))
    rows = {}
    for m, seq in alphas.items():
        diffs = [np.abs(seq[t] - seq[t - 1])[union].mean() for t in range(1, len(seq))]
        errs = [np.abs(a - gt)[union].mean() for a in seq]
        rows[m] = {"flicker": float(np.mean(diffs)), "error": float(np.mean(errs))}
    return rows, int(union.sum())


def report(exe, clips, out, band, n, settings=None, cases=None):
    print(f"\nFlicker on a still shot: {n} noisy copies (sensor noise sigma {NOISE * 255:.0f}/255, logit jitter "
          f"sigma {LOGIT_JITTER}), mean |alpha_t - alpha_t-1| over the band (x 1e3), and mean |alpha - gt| there (x 1e3)\n")
    print("| image | band px | raw flicker | fast flicker | quality flicker | raw error | fast error | quality error |")
    print("|---|---|---|---|---|---|---|---|")
    for name in cases or CASES:
        rows, px = measure(exe, clips, out, band, n, name, settings)
        f = [rows[m]["flicker"] * 1e3 for m in ["raw", "fast", "quality"]]
        e = [rows[m]["error"] * 1e3 for m in ["raw", "fast", "quality"]]
        print(f"| {name} | {px} | " + " | ".join(f"{v:.2f}" for v in f + e) + " |")


def report_heldout(exe, clips, out, band, n, settings=None, cases=None, scales=None):
    """Flicker of held-out cases at several logit scales; returns the rows (for the results JSON)."""
    import heldout

    cases = cases or heldout.FLICKER_CASES
    scales = scales or heldout.FLICKER_SCALES
    print(f"\nFlicker on a still shot (held-out set): {n} noisy copies (sensor noise sigma {NOISE * 255:.0f}/255, logit "
          f"jitter sigma {LOGIT_JITTER} x scale), mean |alpha_t - alpha_t-1| over the band (x 1e3), and mean "
          f"|alpha - gt| there (x 1e3)\n")
    print("| image | scale | band px | raw flicker | fast flicker | quality flicker | raw error | fast error | quality error |")
    print("|---|---|---|---|---|---|---|---|---|")
    results, checks = [], []
    for name in cases:
        for scale in scales:
            rows, px = measure_heldout(exe, clips, out, band, n, name, scale, settings)
            f = [rows[m]["flicker"] * 1e3 for m in ["raw", "fast", "quality"]]
            e = [rows[m]["error"] * 1e3 for m in ["raw", "fast", "quality"]]
            print(f"| {name} | {scale:g} | {px} | " + " | ".join(f"{v:.2f}" for v in f + e) + " |")
            ok = rows["fast"]["flicker"] <= rows["raw"]["flicker"] and rows["quality"]["flicker"] <= rows["raw"]["flicker"]
            checks.append((f"{name} @ scale {scale:g}: flicker of fast and quality ≤ raw "
                           f"({f[1]:.2f}, {f[2]:.2f} vs {f[0]:.2f})", ok))
            results.append({"image": name, "scale": scale, "band_pixels": px, **rows, "passed": ok})
    print()
    for line, ok in checks:
        print(f"- [{'x' if ok else ' '}] {line}")
    return results
