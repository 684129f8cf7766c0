"""Writes the fixtures of crates/engine/tests/formats/checkpoint_format.rs into OUTDIR.

Checkpoints are saved the way the SAM 2.1 release files were, `torch.save({"model": sd}, f)`
(reference: sam2/build_sam.py::_load_checkpoint reads them with `torch.load(f)["model"]`).
Next to each checkpoint STEM.pt go the expected values: STEM.txt lists every entry in
state-dict order as `index<TAB>name<TAB>dtype<TAB>shape`, and STEM.npz holds entry i's raw
little-endian bytes (contiguous, row-major) as uint8 array `t<i>`, so the Rust side can
compare bit for bit whatever the dtype (numpy has no bfloat16).

Also writes broken archives for the error-path tests. Usage: write_checkpoints.py OUTDIR
"""
import collections
import os
import pickle
import sys
import zipfile

import numpy as np
import torch


class Small(torch.nn.Module):
    """A module whose state dict covers every dtype and layout the reader must handle."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.norm = torch.nn.BatchNorm1d(3)  # num_batches_tracked: a 0-d int64 tensor
        self.register_buffer("f16", torch.randn(2, 3).half())
        self.register_buffer("b16", torch.randn(5).bfloat16())
        self.register_buffer("f64", torch.randn(3, dtype=torch.float64))
        self.register_buffer("i32", torch.tensor([-7, 1 << 30], dtype=torch.int32))
        self.register_buffer("i16", torch.tensor([-300, 300], dtype=torch.int16))
        self.register_buffer("i8", torch.tensor([-128, 127], dtype=torch.int8))
        self.register_buffer("u8", torch.tensor([0, 255], dtype=torch.uint8))
        self.register_buffer("ids", torch.arange(6, dtype=torch.int64).view(2, 3) - 3)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scalar", torch.tensor(2.5))
        self.register_buffer("empty", torch.zeros(0, 3))
        self.register_buffer("transposed", torch.randn(4, 6).t())  # non-contiguous view
        shared = torch.randn(20)
        self.register_buffer("shared_a", shared[3:11].view(2, 4))  # offset 3 in one storage
        self.register_buffer("shared_b", shared[5:17:3])  # same storage, offset 5, stride 3


def write_expected(sd, out, stem):
    arrays, lines = {}, []
    for i, (name, t) in enumerate(sd.items()):
        t = t.detach()
        raw = t.contiguous().reshape(-1).view(torch.uint8)
        arrays[f"t{i}"] = raw.numpy()
        shape = ",".join(str(s) for s in t.shape)
        lines.append(f"{i}\t{name}\t{t.dtype}\t{shape}")
    np.savez(os.path.join(out, stem + ".npz"), **arrays)
    with open(os.path.join(out, stem + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_small(out):
    torch.manual_seed(0)
    small = Small()
    sd = small.state_dict()
    assert hasattr(sd, "_metadata") and not sd["transposed"].is_contiguous()
    assert sd["shared_a"].untyped_storage().data_ptr() == sd["shared_b"].untyped_storage().data_ptr()
    torch.save({"model": sd}, os.path.join(out, "small.pt"))
    torch.save(sd, os.path.join(out, "small_bare.pt"))
    write_expected(sd, out, "small")
    params = dict(small.named_parameters())  # pickled through torch._utils._rebuild_parameter
    torch.save({"model": params}, os.path.join(out, "small_params.pt"))
    write_expected(params, out, "small_params")


def write_sam_tiny(out):
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor(
        "configs/samurai/sam2.1_hiera_t.yaml", None, device="cpu",
        hydra_overrides_extra=["++model.image_size=256"],
    )
    sd = model.state_dict()
    torch.save({"model": sd}, os.path.join(out, "sam_tiny.pt"))
    write_expected(sd, out, "sam_tiny")
    print(f"sam_tiny: {len(sd)} tensors, {sum(t.numel() for t in sd.values())} values")


class Evil:
    """Unpickling this runs os.system: a reader that executes globals would create the marker."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_zip(path, records):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in records:
            z.writestr(name, data)


def write_broken(out):
    with zipfile.ZipFile(os.path.join(out, "small.pt")) as z:
        small = [(n, z.read(n)) for n in z.namelist()]
    write_zip(os.path.join(out, "no_data_pkl.pt"), [r for r in small if not r[0].endswith("data.pkl")])
    write_zip(os.path.join(out, "missing_storage.pt"), [r for r in small if not r[0].endswith("data/3")])
    marker = os.path.join(out, "PWNED")
    evil = {"model": collections.OrderedDict(weight=Evil(marker))}
    write_zip(os.path.join(out, "forbidden_global.pt"), [
        ("archive/data.pkl", pickle.dumps(evil, protocol=2)),
        ("archive/byteorder", b"little"),
        ("archive/version", b"3\n"),
    ])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    write_small(out)
    write_broken(out)
    write_sam_tiny(out)


if __name__ == "__main__":
    main()
