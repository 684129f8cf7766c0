"""Reference outputs of PyPI pymatting for the refinement parity tests
(crates/core/tests/refine_parity.rs), generated on first use into a git-ignored folder.

For each case (a small composite I = aF + (1-a)B of two shared-clip frames with a soft
ellipse, thin strands and a motion-blurred edge) it writes:
  image.npy   float32 H x W x 3 (0..1), the composite;
  alpha.npy   float32 H x W, the ground-truth alpha;
  trimap.npy  uint8 H x W: 0 background, 128 unknown, 255 foreground;
  alpha_cf.npy float64 H x W, pymatting.estimate_alpha_cf(image, trimap) with its defaults
              (epsilon 1e-7, radius 1, ichol preconditioner, CG rtol 1e-7);
  fg_ml.npy / bg_ml.npy  float32 H x W x 3, estimate_foreground_ml(image, alpha) with its
              defaults, return_background=True.

Usage: make_reference.py OUT_DIR CLIPS_DIR   (scripts/setup.sh --reference installs pymatting)
"""
import os
import sys

import numpy as np
from PIL import Image

PYMATTING_VERSION = "1.1.16"
CASES = [("64x48", 64, 48, 0), ("96x64", 96, 64, 1)]


def frame(path, w, h):
    img = Image.open(path).convert("RGB").resize((w, h), Image.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


def ground_truth_alpha(w, h, seed):
    """A soft ellipse, two thin strands and a horizontally motion-blurred right edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy, rx, ry = w * 0.45, h * 0.5, w * 0.25, h * 0.3
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    a = np.clip((1.0 - d) * min(rx, ry) / 2.0 + 0.5, 0.0, 1.0)
    for _ in range(2):
        x0, slope = rng.uniform(cx - rx / 2, cx + rx / 2), rng.uniform(-0.6, 0.6)
        line = np.abs(xx - (x0 + slope * (yy - cy)))
        strand = np.clip(1.0 - line / 0.8, 0.0, 1.0) * 0.8 * (yy < cy - ry * 0.5)
        a = np.maximum(a, strand)
    blur = np.zeros_like(a)
    k = 5
    for s in range(k):
        blur += np.roll(a, s - k // 2, axis=1)
    blur /= k
    a = np.where(xx > cx, blur, a)
    return a.astype(np.float32)


def trimap_of(alpha, grow=2):
    from scipy.ndimage import binary_dilation

    unknown = (alpha > 0) & (alpha < 1)
    unknown = binary_dilation(unknown, iterations=grow)
    tri = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    tri[unknown] = 128
    return tri


def make_case(out, clips, name, w, h, seed):
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    fg = frame(os.path.join(clips, "dog", "00010.jpg"), w, h)
    bg = frame(os.path.join(clips, "bedroom", "00000.jpg"), w, h)
    alpha = ground_truth_alpha(w, h, seed)
    image = (alpha[..., None] * fg + (1.0 - alpha[..., None]) * bg).astype(np.float32)
    tri = trimap_of(alpha)
    tri_f = np.where(tri == 255, 1.0, np.where(tri == 0, 0.0, 0.5))
    alpha_cf = estimate_alpha_cf(image.astype(np.float64), tri_f)
    fg_ml, bg_ml = estimate_foreground_ml(image, alpha, return_background=True)
    np.save(os.path.join(d, "image.npy"), image)
    np.save(os.path.join(d, "alpha.npy"), alpha)
    np.save(os.path.join(d, "trimap.npy"), tri)
    np.save(os.path.join(d, "alpha_cf.npy"), alpha_cf.astype(np.float64))
    np.save(os.path.join(d, "fg_ml.npy"), fg_ml.astype(np.float32))
    np.save(os.path.join(d, "bg_ml.npy"), bg_ml.astype(np.float32))
    print(f"{name}: {int((tri == 128).sum())} unknown pixels")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    import pymatting

    if pymatting.__version__ != PYMATTING_VERSION:
        sys.exit(f"pymatting {pymatting.__version__} found, {PYMATTING_VERSION} expected: run scripts/setup.sh --reference")
    out, clips = sys.argv[1], sys.argv[2]
    for name, w, h, seed in CASES:
        make_case(out, clips, name, w, h, seed)


if __name__ == "__main__":
    main()
