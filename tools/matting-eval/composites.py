"""Composites with known alpha for the matting evaluation, and the coarse input the network
would give for them.

Every case is I = aF + (1-a)B at 1920x1080 (8-bit, as a plate would be), with B a frame of
one shared clip and F a frame of the other (or a procedural colour field), and a procedural
alpha: smooth blobs with anti-aliased hard edges, thin strands (hair), Gaussian-soft
edges and motion blur (blurred premultiplied colour and alpha together).

The coarse input imitates SAM 2 at quality 1024: the frame is squashed to a square, so the
alpha is area-reduced to 256x256; as logits (log(p/(1-p)), slightly sharpened) with a
low-frequency contour perturbation and per-cell noise. The refinement upsamples those
logits bilinearly to the plate and takes the sigmoid, as the plugin does.
"""
import os

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter, uniform_filter1d

W, H = 1920, 1080
SIDE = 256


def frame(clips, clip, idx, w=W, h=H):
    path = os.path.join(clips, clip, f"{idx:05d}.jpg")
    img = Image.open(path).convert("RGB").resize((w, h), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def procedural_colour(rng, w=W, h=H):
    """A smooth colour field with fine texture (skin/fabric-like)."""
    base = rng.uniform(0.2, 0.9, size=3)
    low = gaussian_filter(rng.normal(size=(h // 8, w // 8, 3)), (6, 6, 0)) * 2.0
    low = np.asarray(Image.fromarray(((low - low.min()) / np.ptp(low) * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)) / 255.0
    fine = rng.normal(scale=0.03, size=(h, w, 1))
    return np.clip(base * (0.7 + 0.6 * low) + fine, 0, 1).astype(np.float32)


def blob(rng, cx, cy, r0, w=W, h=H):
    """Anti-aliased blob: radius r0 (1 + sum of random harmonics) around (cx, cy)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.arctan2(yy - cy, xx - cx)
    rho = np.hypot(xx - cx, yy - cy)
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += rng.uniform(0.0, 0.12 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.clip(r0 * r - rho + 0.5, 0.0, 1.0)


def strands(rng, alpha, n, length, width, direction, w=W, h=H, ss=4):
    """Coverage of n thin curves starting on the blob's edge, drawn 4x supersampled."""
    edge = np.argwhere((alpha > 0.4) & (alpha < 0.6))
    canvas = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(n):
        y, x = edge[rng.integers(len(edge))].astype(np.float64)
        ang = np.arctan2(*direction[::-1]) + rng.normal(scale=0.5)
        pts = [(x * ss, y * ss)]
        for _ in range(int(rng.uniform(*length) / 4)):
            ang += rng.normal(scale=0.15)
            x, y = x + 4 * np.cos(ang), y + 4 * np.sin(ang)
            pts.append((x * ss, y * ss))
        draw.line(pts, fill=int(255 * rng.uniform(0.5, 1.0)), width=max(1, int(rng.uniform(*width) * ss)))
    cov = np.asarray(canvas.resize((w, h), Image.BOX), dtype=np.float32) / 255.0
    return cov


def soften(alpha, rng, sigma):
    """Gaussian-soft edge on about half of the contour (a smooth angular weight)."""
    h, w = alpha.shape
    weight = gaussian_filter(rng.normal(size=(h // 16, w // 16)), 6)
    weight = np.asarray(Image.fromarray(weight.astype(np.float32)).resize((w, h), Image.BILINEAR))
    weight = np.clip(weight / (np.abs(weight).max() + 1e-9) * 3 + 0.5, 0, 1)
    return alpha * (1 - weight) + gaussian_filter(alpha, sigma) * weight


def motion_blur(premult, alpha, length, axis=1):
    """Box motion blur of premultiplied colour and alpha along an axis."""
    return uniform_filter1d(premult, length, axis=axis), uniform_filter1d(alpha, length, axis=axis)


def composite(fg, alpha, bg, premult=None):
    if premult is None:
        premult = fg * alpha[..., None]
    img = premult + (1 - alpha[..., None]) * bg
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def build_case(clips, spec):
    """One composite from its spec: returns plate (uint8 HxWx3), alpha (f32), true premultiplied F."""
    rng = np.random.default_rng(spec["seed"])
    bg = frame(clips, spec["bg"][0], spec["bg"][1])
    fg = procedural_colour(rng) if spec["fg"] == "procedural" else frame(clips, spec["fg"][0], spec["fg"][1])
    alpha = np.zeros((H, W), np.float32)
    for cx, cy, r0 in spec["blobs"]:
        alpha = np.maximum(alpha, blob(rng, cx * W, cy * H, r0 * H))
    if "soft" in spec:
        alpha = soften(alpha, rng, spec["soft"])
    if "strands" in spec:
        n, length, width, direction = spec["strands"]
        cov = strands(rng, alpha, n, length, width, direction)
        hair = np.clip(rng.uniform(0.05, 0.9, size=3) * (1 + rng.normal(scale=0.1, size=(H, W, 1))), 0, 1)
        fg = fg * (1 - cov[..., None]) + hair.astype(np.float32) * cov[..., None]
        alpha = np.maximum(alpha, cov)
    premult = fg * alpha[..., None]
    if "motion" in spec:
        premult, alpha = motion_blur(premult, alpha, spec["motion"][0], axis=spec["motion"][1])
    return composite(fg, alpha, bg, premult), alpha.astype(np.float32), premult.astype(np.float32)


def coarse_logits(alpha, rng, contour_noise=1.5, cell_noise=0.3):
    """The network-like coarse input: alpha area-reduced to 256x256, as sharpened logits
    plus a low-frequency contour perturbation and per-cell noise."""
    small = np.asarray(Image.fromarray(alpha).resize((SIDE, SIDE), Image.BOX), dtype=np.float64)
    small = gaussian_filter(small, 0.6)
    p = np.clip(small, 1e-4, 1 - 1e-4)
    z = 1.5 * np.log(p / (1 - p))
    field = gaussian_filter(rng.normal(size=(SIDE, SIDE)), 8)
    field *= contour_noise / (field.std() + 1e-9)
    z = z + field + rng.normal(scale=cell_noise, size=(SIDE, SIDE))
    return np.clip(z, -20, 20).astype(np.float32)


CASES = [
    {"name": "hair", "seed": 1, "bg": ("bedroom", 0), "fg": ("dog", 50), "blobs": [(0.5, 0.62, 0.33)],
     "strands": (220, (60, 260), (0.4, 1.6), (0.0, -1.0))},
    {"name": "soft", "seed": 2, "bg": ("dog", 100), "fg": ("bedroom", 150), "blobs": [(0.45, 0.5, 0.35)], "soft": 6.0},
    {"name": "motion", "seed": 3, "bg": ("bedroom", 120), "fg": ("dog", 20), "blobs": [(0.55, 0.5, 0.3)],
     "motion": (41, 1)},
    {"name": "fur", "seed": 4, "bg": ("dog", 200), "fg": "procedural", "blobs": [(0.5, 0.5, 0.3)],
     "strands": (900, (10, 40), (0.5, 1.2), (0.0, -1.0))},
    {"name": "two-blobs", "seed": 5, "bg": ("bedroom", 60), "fg": ("dog", 150),
     "blobs": [(0.3, 0.5, 0.25), (0.72, 0.45, 0.22)], "motion": (25, 0)},
    {"name": "mixed", "seed": 6, "bg": ("dog", 10), "fg": ("bedroom", 90), "blobs": [(0.5, 0.55, 0.32)],
     "soft": 4.0, "strands": (150, (40, 160), (0.4, 1.4), (1.0, -0.5)), "motion": (15, 1)},
    {"name": "plain", "seed": 7, "bg": ("bedroom", 180), "fg": ("dog", 250), "blobs": [(0.5, 0.5, 0.4)]},
    {"name": "hanging-hair", "seed": 8, "bg": ("dog", 250), "fg": "procedural", "blobs": [(0.5, 0.3, 0.25)],
     "strands": (300, (100, 400), (0.4, 1.2), (0.0, 1.0))},
]


def write_case(clips, spec, out):
    """Writes plate.png, alpha.npy, premult.npy and logits.npy for one case into out/<name>/."""
    d = os.path.join(out, spec["name"])
    if os.path.exists(os.path.join(d, "logits.npy")):
        return d
    alpha = save_composite(d, *build_case(clips, spec))
    np.save(os.path.join(d, "logits.npy"), coarse_logits(alpha, np.random.default_rng(100 + spec["seed"])))
    return d


def save_composite(d, plate, alpha, premult):
    """Writes plate.png, alpha.npy and premult.npy (float16) into d (made if missing); returns alpha."""
    os.makedirs(d, exist_ok=True)
    Image.fromarray(plate).save(os.path.join(d, "plate.png"))
    np.save(os.path.join(d, "alpha.npy"), alpha)
    np.save(os.path.join(d, "premult.npy"), premult.astype(np.float16))
    return alpha
