"""The before/after picture of the README: a crop of the 'hair' composite where the raw
matte is worst, as plate, raw / fast / quality / ground-truth alpha, and the cut-out over a
flat colour: raw alpha with the plate's colours, quality alpha with decontaminated colours,
and the ground truth."""
import os

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import uniform_filter

TILE_W, TILE_H = 400, 225
BACKDROP = np.array([0.15, 0.55, 0.25], np.float32)


def _crop_box(err):
    """Top-left corner of the TILE_W x TILE_H window with the largest raw error."""
    s = uniform_filter(err, size=(TILE_H, TILE_W), mode="constant")
    y, x = np.unravel_index(np.argmax(s), s.shape)
    y0 = int(np.clip(y - TILE_H // 2, 0, err.shape[0] - TILE_H))
    x0 = int(np.clip(x - TILE_W // 2, 0, err.shape[1] - TILE_W))
    return y0, x0


def _grey(a):
    return (np.clip(a, 0, 1) * 255).astype(np.uint8)[..., None].repeat(3, -1)


def _over(alpha, colour):
    a = alpha[..., None]
    return (np.clip(a * colour + (1 - a) * BACKDROP, 0, 1) * 255).astype(np.uint8)


def before_after(out, band, path, case="hair"):
    d = os.path.join(out, case)
    run = os.path.join(d, f"run_band{band:g}")
    plate = np.asarray(Image.open(os.path.join(d, "plate.png")), dtype=np.float32) / 255.0
    gt = np.load(os.path.join(d, "alpha.npy"))
    premult = np.load(os.path.join(d, "premult.npy")).astype(np.float32)
    raw, fast, quality = (np.load(os.path.join(run, f"alpha_{m}.npy")) for m in ["off", "fast", "quality"])
    fg = np.load(os.path.join(run, "fg_quality.npy"))
    y0, x0 = _crop_box(np.abs(raw - gt))
    sl = (slice(y0, y0 + TILE_H), slice(x0, x0 + TILE_W))
    gt_colour = premult / np.maximum(gt, 1e-6)[..., None]
    tiles = [
        ("plate", (plate[sl] * 255).astype(np.uint8)), ("raw alpha", _grey(raw[sl])),
        ("fast alpha", _grey(fast[sl])), ("quality alpha", _grey(quality[sl])),
        ("ground truth alpha", _grey(gt[sl])), ("raw: alpha x plate", _over(raw[sl], plate[sl])),
        ("quality + decontaminated", _over(quality[sl], fg[sl])), ("ground truth", _over(gt[sl], gt_colour[sl])),
    ]
    canvas = Image.new("RGB", (4 * TILE_W, 2 * TILE_H), "black")
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        x, y = (i % 4) * TILE_W, (i // 4) * TILE_H
        canvas.paste(Image.fromarray(tile), (x, y))
        draw.rectangle([x, y, x + 8 * len(label) + 8, y + 16], fill="black")
        draw.text((x + 4, y + 3), label, fill="white")
    canvas.save(path, optimize=True)
    print(f"\nbefore/after picture: {path} (crop at x={x0}, y={y0} of '{case}')")
