"""Reference side of crates/engine/tests/formats/image_preprocess.rs: what Pillow / torchvision / the SAM 2.1
reference package make of the sample frames, written to a directory for the Rust test.

usage: reference_preprocess.py MODE OUT_DIR [ARGS...]
  decode OUT CLIP_DIR N        Pillow's Image.open(p).convert("RGB") of frames 0..N-1, raw RGB bytes
  resize OUT CLIPS SPEC...     Pillow's default (bicubic) resize; SPEC = clip/frame/WxH
  png OUT CLIPS                PNGs in several modes (+ Pillow's convert("RGB") of each)
  tensors OUT CLIPS S SPEC...  the reference's two input tensors; SPEC = clip/frame
  portrait OUT CLIPS S...       a portrait PNG (bedroom frame 0 transposed), its Pillow resizes
                               to SxS and the reference's video input tensor at each S
  opens PATH...                prints "ok" or "error" per file: does Pillow load it
"""
import os
import sys

import numpy as np
from PIL import Image


def frame_path(clips, clip, frame):
    return os.path.join(clips, clip, "%05d.jpg" % int(frame))


def write_raw(path, arr):
    assert arr.dtype == np.uint8
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


def mode_decode(out, clip_dir, n):
    for i in range(int(n)):
        img = Image.open(os.path.join(clip_dir, "%05d.jpg" % i)).convert("RGB")
        write_raw(os.path.join(out, "%05d.rgb" % i), np.asarray(img))


def mode_resize(out, clips, *specs):
    for spec in specs:
        clip, frame, size = spec.split("/")
        w, h = (int(v) for v in size.split("x"))
        img = Image.open(frame_path(clips, clip, frame)).convert("RGB").resize((w, h))
        write_raw(os.path.join(out, "%s_%s_%dx%d.rgb" % (clip, frame, w, h)), np.asarray(img))


def mode_png(out, clips):
    base = Image.open(frame_path(clips, "dog", 0)).convert("RGB").crop((100, 50, 420, 290))
    rgba = base.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    variants = {
        "rgb": base,
        "rgba": rgba,
        "l": base.convert("L"),
        "la": rgba.convert("LA"),
        "p": base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
    }
    for name, img in variants.items():
        path = os.path.join(out, name + ".png")
        img.save(path)
        write_raw(os.path.join(out, name + ".rgb"), np.asarray(Image.open(path).convert("RGB")))


def mode_tensors(out, clips, size, *specs):
    import torch
    from sam2.utils.transforms import SAM2Transforms

    torch.set_num_threads(2)
    s = int(size)
    transforms = SAM2Transforms(resolution=s, mask_threshold=0.0)
    for spec in specs:
        clip, frame = spec.split("/")
        path = frame_path(clips, clip, frame)
        images, h, w = video_tensor(path, s)
        tag = "%s_%s_%d" % (clip, frame, s)
        np.save(os.path.join(out, "video_%s.npy" % tag), images.numpy())
        np.save(os.path.join(out, "hw_%s.npy" % tag), np.array([h, w], dtype=np.int64))
        # image predictor path, as SAM2ImagePredictor.set_image does it
        rgb = np.array(Image.open(path).convert("RGB"))
        x = transforms(rgb)[None, ...]
        np.save(os.path.join(out, "image_%s.npy" % tag), x.numpy())


def video_tensor(path, s):
    """The reference's video-frame input, as load_video_frames_from_jpg_images builds it."""
    import torch
    from sam2.utils.misc import _load_img_as_tensor

    mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
    images = torch.zeros(1, 3, s, s, dtype=torch.float32)
    images[0], h, w = _load_img_as_tensor(path, s)
    images -= mean
    images /= std
    return images, h, w


def mode_portrait(out, clips, *sizes):
    img = Image.open(frame_path(clips, "bedroom", 0)).convert("RGB").transpose(Image.Transpose.TRANSPOSE)
    path = os.path.join(out, "portrait.png")
    img.save(path)
    for size in sizes:
        s = int(size)
        write_raw(os.path.join(out, "portrait_%d.rgb" % s), np.asarray(img.resize((s, s))))
        images, _, _ = video_tensor(path, s)
        np.save(os.path.join(out, "portrait_video_%d.npy" % s), images.numpy())


def mode_opens(*paths):
    for p in paths:
        try:
            Image.open(p).convert("RGB")
            print("ok")
        except Exception:  # noqa: BLE001 - any failure counts as "Pillow refuses it"
            print("error")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    modes = {"decode": mode_decode, "resize": mode_resize, "png": mode_png,
             "tensors": mode_tensors, "portrait": mode_portrait, "opens": mode_opens}
    modes[mode](*args)


if __name__ == "__main__":
    main()
