"""Held-out composites (issue 22): never used for tuning the refinement.

Six composites I = aF + (1-a)B at 960x540 (8-bit plates, as composites.py), with F and B
both natural frames of the shared clips, at frame numbers that composites.CASES does not
use (bedroom 30, 75, 105, 140, 165, 195; dog 35, 80, 130, 175, 220, 280), seeds 101..106,
and alphas mixing anti-aliased blobs, thin hair-like strands, Gaussian-soft edges and
motion blur. Three cases put the matte over the dog clip's foliage (strongly textured
background, and a textured foreground from the bedroom clip's striped wall).

The coarse input is made at three logit scales (SCALES): alpha area-reduced to 256x256
(squashed to a square, as composites.coarse_logits), gaussian 0.6, logit of p with the
base logit clipped to [-6, 6], plus a low-frequency contour perturbation (std 1.5 logits)
and per-cell noise (std 0.3); the sum is clipped to [-7.5, 7.5] (so that at scale 0.5 every
pixel is strictly inside (0.02, 0.98)), multiplied by SCALE and clipped to [-20, 20]. The
noise realisation is the same at every scale of a case (same seed), so the 0.5 contour is
the same at every scale and only the sharpness differs: at 0.5 the interior is about +-3
(soft everywhere), at 4 the matte is saturated (sharp).
"""
import os

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

import composites

W, H = 960, 540
SIDE = composites.SIDE
SCALES = (0.5, 1.0, 4.0)
BASE_CLIP = 6.0       # |base logit| at scale 1
SUM_CLIP = 7.5        # |base + perturbation + noise| at scale 1: 0.5 x 7.5 = 3.75 -> sigmoid in (0.023, 0.977)
CONTOUR_NOISE = 1.5   # std of the low-frequency perturbation at scale 1
CELL_NOISE = 0.3      # std of the per-cell noise at scale 1

# Positions and radii as fractions of the width / height (radius of the height), as composites.CASES.
CASES = [
    {"name": "strands-leaves", "seed": 101, "bg": ("dog", 35), "fg": ("bedroom", 30), "blobs": [(0.25, 0.55, 0.28)],
     "strands": (160, (30, 130), (0.4, 1.3), (0.0, -1.0))},
    {"name": "soft-stripes", "seed": 102, "bg": ("bedroom", 75), "fg": ("dog", 80), "blobs": [(0.55, 0.5, 0.34)],
     "soft": 3.0},
    {"name": "motion-leaves", "seed": 103, "bg": ("dog", 130), "fg": ("bedroom", 105), "blobs": [(0.22, 0.45, 0.28)],
     "motion": (21, 1)},
    {"name": "fur-stripes", "seed": 104, "bg": ("bedroom", 140), "fg": ("dog", 175), "blobs": [(0.5, 0.5, 0.3)],
     "strands": (450, (6, 22), (0.4, 0.9), (0.0, -1.0))},
    {"name": "mixed-leaves", "seed": 105, "bg": ("dog", 220), "fg": ("bedroom", 165),
     "blobs": [(0.25, 0.45, 0.26), (0.7, 0.42, 0.2)], "soft": 2.0,
     "strands": (100, (20, 80), (0.4, 1.2), (1.0, -0.5)), "motion": (9, 1)},
    {"name": "plain-leaves", "seed": 106, "bg": ("dog", 280), "fg": ("bedroom", 195), "blobs": [(0.3, 0.45, 0.38)]},
]
FLICKER_CASES = ["strands-leaves", "plain-leaves"]

# A second held-out set, made after issue 22's design was frozen (the first one had been
# looked at while choosing it): the same recipe on frames neither set above uses (bedroom 15,
# 45, 85, 115, 130, 170; dog 5, 60, 110, 160, 235, 265), seeds 201..206. `eval.py --set
# fresh` swaps it in for CASES.
FRESH = [
    {"name": "hair-fresh", "seed": 201, "bg": ("dog", 5), "fg": ("bedroom", 15), "blobs": [(0.6, 0.6, 0.3)],
     "strands": (180, (30, 150), (0.4, 1.2), (0.3, -1.0))},
    {"name": "soft-fresh", "seed": 202, "bg": ("bedroom", 45), "fg": ("dog", 60), "blobs": [(0.4, 0.45, 0.3)],
     "soft": 4.0},
    {"name": "motion-fresh", "seed": 203, "bg": ("dog", 110), "fg": ("bedroom", 85), "blobs": [(0.65, 0.5, 0.3)],
     "motion": (17, 0)},
    {"name": "fur-fresh", "seed": 204, "bg": ("bedroom", 115), "fg": ("dog", 160), "blobs": [(0.35, 0.55, 0.32)],
     "strands": (400, (8, 26), (0.4, 0.9), (0.0, 1.0))},
    {"name": "mixed-fresh", "seed": 205, "bg": ("dog", 235), "fg": ("bedroom", 130),
     "blobs": [(0.3, 0.5, 0.24), (0.72, 0.5, 0.22)], "soft": 3.0,
     "strands": (80, (20, 90), (0.4, 1.2), (-1.0, -0.5)), "motion": (11, 0)},
    {"name": "plain-fresh", "seed": 206, "bg": ("dog", 265), "fg": ("bedroom", 170), "blobs": [(0.55, 0.5, 0.36)]},
]
FRESH_FLICKER_CASES = ["hair-fresh", "plain-fresh"]
FLICKER_SCALES = (1.0, 4.0)


def build_case(clips, spec):
    """One held-out composite: plate (uint8 HxWx3), alpha (f32), true premultiplied F."""
    rng = np.random.default_rng(spec["seed"])
    bg = composites.frame(clips, spec["bg"][0], spec["bg"][1], w=W, h=H)
    fg = composites.frame(clips, spec["fg"][0], spec["fg"][1], w=W, h=H)
    alpha = np.zeros((H, W), np.float32)
    for cx, cy, r0 in spec["blobs"]:
        alpha = np.maximum(alpha, composites.blob(rng, cx * W, cy * H, r0 * H, w=W, h=H))
    if "soft" in spec:
        alpha = composites.soften(alpha, rng, spec["soft"])
    if "strands" in spec:
        n, length, width, direction = spec["strands"]
        cov = composites.strands(rng, alpha, n, length, width, direction, w=W, h=H)
        hair = np.clip(rng.uniform(0.05, 0.9, size=3) * (1 + rng.normal(scale=0.1, size=(H, W, 1))), 0, 1)
        fg = fg * (1 - cov[..., None]) + hair.astype(np.float32) * cov[..., None]
        alpha = np.maximum(alpha, cov)
    premult = fg * alpha[..., None]
    if "motion" in spec:
        premult, alpha = composites.motion_blur(premult, alpha, spec["motion"][0], axis=spec["motion"][1])
    return composites.composite(fg, alpha, bg, premult), alpha.astype(np.float32), premult.astype(np.float32)


def unit_logits(alpha, rng):
    """The coarse input at scale 1 (before the final +-20 clip): the same for every scale."""
    small = np.asarray(Image.fromarray(alpha).resize((SIDE, SIDE), Image.BOX), dtype=np.float64)
    small = gaussian_filter(small, 0.6)
    p = np.clip(small, 1e-4, 1 - 1e-4)
    z = np.clip(np.log(p / (1 - p)), -BASE_CLIP, BASE_CLIP)
    field = gaussian_filter(rng.normal(size=(SIDE, SIDE)), 8)
    field *= CONTOUR_NOISE / (field.std() + 1e-9)
    z = z + field + rng.normal(scale=CELL_NOISE, size=(SIDE, SIDE))
    return np.clip(z, -SUM_CLIP, SUM_CLIP)


def scaled_logits(unit, scale):
    return np.clip(unit * scale, -20, 20).astype(np.float32)


def scale_tag(scale):
    return f"s{scale:g}"


def logits_path(d, scale):
    return os.path.join(d, f"logits_{scale_tag(scale)}.npy")


def write_case(clips, spec, out):
    """Writes plate.png, alpha.npy, premult.npy and logits_s<scale>.npy (every SCALE) into out/<name>/."""
    d = os.path.join(out, spec["name"])
    if all(os.path.exists(logits_path(d, s)) for s in SCALES):
        return d
    alpha = composites.save_composite(d, *build_case(clips, spec))
    unit = unit_logits(alpha, np.random.default_rng(1000 + spec["seed"]))
    for s in SCALES:
        np.save(logits_path(d, s), scaled_logits(unit, s))
    return d


if __name__ == "__main__":
    # Builds the cases and prints a summary of each (a check of the construction).
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "../.."))
    clips = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "../shared/data/clips")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "tests/fixtures/matting-eval-heldout")
    for spec in CASES:
        d = write_case(clips, spec, out)
        a = np.load(os.path.join(d, "alpha.npy"))
        line = f"{spec['name']}: alpha mean {a.mean():.3f}, partial {((a > 0.01) & (a < 0.99)).mean():.3f}"
        for s in SCALES:
            z = np.load(logits_path(d, s))
            p = 1 / (1 + np.exp(-z.astype(np.float64)))
            line += f"; {scale_tag(s)}: p in [{p.min():.3f}, {p.max():.3f}], fg cells {(z > 0).mean():.3f}"
        print(line)
