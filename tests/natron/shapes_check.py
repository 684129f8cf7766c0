#!/usr/bin/env python3
"""The shapes of `samurai-roto shapes` inside Natron: NatronRenderer runs the generated `.py`,
renders each object's Roto node, and every pixel is compared with the shapes rasterised by
the command line.

Run through `scripts/natron-shapes-check.sh` (which builds the command line first). What it
does, in a work folder:
1. `samurai-roto track` on the first --count frames of --clip with every --object and
   --logits (the random-weight checkpoint gives blobby but real mattes);
2. `samurai-roto shapes --logits ... --out shapes.py --raster raster/` (the Natron script,
   and each object's shapes rasterised by the command line: anti-aliased coverage, tiny-skia);
   the same with --out shapes.nk, .svg and .json (written; the .nk cannot run here);
3. a Natron script that runs shapes.py (one Roto node per object) and writes each node's
   alpha as PFM over the project's format (Natron's Roto writes alpha only: red is switched
   on and premultiplied, so red = alpha), rendered by NatronRenderer over the whole range;
4. every pixel of the plate's region of each render against the command line's raster:
   |Natron - ours| <= --tolerance (anti-aliasing differs: Natron's Roto fills through cairo,
   ours through tiny-skia; a shape one pixel off or a missing hole differs by up to 1), and
   Natron's alpha >= 0.5 against the matte (logit > 0) as an IoU, printed per object.
Exits non-zero on any difference above the tolerance or any NatronRenderer failure.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import parse_object, read_pfm  # noqa: E402  (the Natron check's helpers)


def run(cmd, log=None, env=None):
    out = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if log:
        Path(log).write_text(out.stdout)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited with {out.returncode}:\n{out.stdout[-4000:]}")
    return out.stdout


def natron_script(shapes_py, nodes, out_dir):
    lines = ["import NatronEngine", f"exec(open({str(shapes_py)!r}).read())"]
    for node in nodes:
        lines += [
            f"n = shape_nodes[{node!r}]",
            # Natron's Roto writes alpha only; red on and premultiplied: red = alpha.
            "n.getParam('NatronOfxParamProcessR').setValue(True)",
            "n.getParam('premultiply').setValue(True)",
            f"w = app.createNode('fr.inria.openfx.WritePFM')",
            f"w.setScriptName({('Write_' + node)!r})",
            "w.connectInput(0, n)",
            f"w.getParam('filename').setValue({str(out_dir / node / '#####.pfm')!r})",
            "w.getParam('formatType').setValue(0)",
        ]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--natron-renderer", type=Path, required=True)
    ap.add_argument("--io-plugins", required=True, help="folders with openfx-io's PFM writer and openfx-misc's Roto and Merge")
    ap.add_argument("--cli", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--object", action="append", required=True)
    ap.add_argument("--tolerance", type=float, default=0.5, help="largest |Natron - ours| allowed at a pixel")
    ap.add_argument("--python-path", default="/usr/lib/python3/dist-packages")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    frames = work / "frames"
    frames.mkdir(exist_ok=True)
    sources = sorted(p for p in args.clip.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: args.count]
    for p in sources:
        link = frames / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    objects = [parse_object(s) for s in args.object]
    track = [args.cli, "--threads", "2", "track", "--checkpoint", args.checkpoint.resolve(), "--frames", frames,
             "--image-size", args.image_size, "--device", "cpu", "--out", work / "mattes", "--logits", work / "logits"]
    for name, frame, box in objects:
        track += ["--object", f"{name}:{frame}:{','.join(str(v) for v in box)}"]
    run(track, work / "track.log")
    shapes_py = work / "shapes.py"
    printed = run([args.cli, "shapes", "--logits", work / "logits", "--frames", frames, "--out", shapes_py, "--raster", work / "raster"],
                  work / "shapes.log")
    print(printed.strip())
    for ext in ("nk", "svg", "json"):
        run([args.cli, "shapes", "--logits", work / "logits", "--frames", frames, "--out", work / f"shapes.{ext}"])
    names = sorted({name for name, _, _ in objects})
    nodes = {name: "SamuraiRoto_" + "".join(c if c.isalnum() or c == "_" else "_" for c in name) for name in names}
    out = work / "natron"
    script = work / "render_shapes.py"
    script.write_text(natron_script(shapes_py, list(nodes.values()), out))
    env = dict(os.environ)
    env["OFX_PLUGIN_PATH"] = args.io_plugins
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = ":".join(p for p in (args.python_path, env.get("PYTHONPATH")) if p)
    last = len(sources) - 1
    cmd = [args.natron_renderer]
    for node in nodes.values():
        cmd += ["-w", f"Write_{node}", f"0-{last}"]
    start = time.monotonic()
    log = work / "natron.log"
    with open(log, "w") as f:
        rc = subprocess.run([str(c) for c in cmd + [script]], env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    # Natron 2.5's exit race (README, "Checked in Natron"): accepted only after a finished render.
    race = rc == -6 and len(lines) >= 2 and lines[-1] == "QThread: Destroyed while thread is still running"
    if race:
        print("NatronRenderer aborted while exiting after the render (Natron's QThread exit race); frames compared as usual")
    elif rc != 0 or "Traceback" in text or "Rendering Failed" in text:
        sys.exit(f"NatronRenderer failed ({rc}); log {log}:\n{text[-4000:]}")
    print(f"NatronRenderer: {len(nodes)} Roto node(s) from shapes.py, frames 0-{last} in {time.monotonic() - start:.1f} s")
    worst = 0.0
    for name, node in nodes.items():
        inter = union = 0
        diffs = []
        for t in range(len(sources)):
            rendered = read_pfm(out / node / f"{t:05d}.pfm")
            ours = np.load(work / "raster" / name / f"{t:05d}.npy")
            h, w = ours.shape
            fh, fw = rendered.shape[:2]
            if fw < w or fh < h:
                sys.exit(f"{name} frame {t}: Natron rendered {fw}x{fh}, smaller than the {w}x{h} plate")
            theirs = rendered[fh - h:, :w, 0]
            # Nothing may be drawn outside the plate's region either.
            outside = np.abs(rendered[: fh - h, :, 0]).max(initial=0.0), np.abs(rendered[:, w:, 0]).max(initial=0.0)
            if max(outside) > args.tolerance:
                sys.exit(f"{name} frame {t}: Natron drew {max(outside):.3f} outside the plate's region")
            d = np.abs(theirs - ours)
            diffs.append(d)
            matte = np.load(work / "logits" / name / f"{t:05d}.npy") > 0
            inside = theirs >= 0.5
            inter += int((inside & matte).sum())
            union += int((inside | matte).sum())
        d = np.stack(diffs)
        worst = max(worst, float(d.max()))
        print(f"{name}: every pixel of {len(sources)} frames: |Natron - ours| max {d.max():.4f}, mean {d.mean():.2e}, "
              f"pixels over 0.1: {int((d > 0.1).sum())} of {d.size} (tolerance {args.tolerance}); "
              f"IoU of Natron's alpha >= 0.5 against the matte: {inter / max(union, 1):.4f}")
    if worst > args.tolerance:
        sys.exit(f"shapes check FAILED: a pixel differs by {worst:.4f} > {args.tolerance}")
    print("shapes check passed")


if __name__ == "__main__":
    main()
