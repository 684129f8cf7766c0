"""A synthetic occlusion clip for the precision measurements (issue 21): the first COUNT
frames of a clip with an opaque, textured panel sliding across the whole frame, so the
tracked object is covered part of the way, then wholly, then uncovered again (SAMURAI's
occlusion handling: object scores, memory selection, the Kalman filter).

    .venv/bin/python benches/occlusion_clip.py --src ../shared/data/clips/bedroom \
        --count 24 --out bench-out/occlusion [--width 260]

The panel moves at a constant speed from beyond the left edge to beyond the right edge over
the clip; its texture (diagonal stripes in two greys) keeps it from looking like
background. Frames are written as JPEG (quality 95) named 00000.jpg, ...
"""
import argparse
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", required=True)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=260, help="panel width in pixels")
    args = ap.parse_args()
    names = sorted(n for n in os.listdir(args.src) if n.lower().endswith((".jpg", ".jpeg", ".png")))[: args.count]
    if len(names) < 2:
        raise SystemExit(f"{args.src}: fewer than 2 frames")
    os.makedirs(args.out, exist_ok=True)
    for i, name in enumerate(names):
        img = np.asarray(Image.open(os.path.join(args.src, name)).convert("RGB")).copy()
        h, w, _ = img.shape
        # Left edge from -width (frame 0) to w (last frame).
        x0 = int(round(-args.width + (w + args.width) * i / (len(names) - 1)))
        a, b = max(x0, 0), min(x0 + args.width, w)
        if a < b:
            yy, xx = np.mgrid[0:h, a:b]
            stripes = ((xx + yy) // 24) % 2
            img[:, a:b] = np.where(stripes[..., None] == 1, 150, 90).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(args.out, f"{i:05d}.jpg"), quality=95)
    print(f"{len(names)} frames in {args.out}")


if __name__ == "__main__":
    main()
