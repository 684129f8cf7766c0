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
4. every pixel of the plate's region of each render against the command line's raster. The
   two anti-alias differently: ours is the area each pixel has inside the curves
   (tiny-skia), Natron 2.5's Roto edges are hard (on the bedroom check, 88 of 518,400 pixels
   of a frame had a value strictly between 0 and 1). So the tolerance is stated in two parts:
   - every pixel with no edge of our shapes within one pixel (our coverage the same over its
     3x3 neighbourhood, and no curve of the frame's shapes within a pixel: a zero-width
     spike of a hole covers nothing in ours but is still an edge) must equal ours within 1/255 (a shape off by a pixel, a hole not
     cut, a shape drawn on a frame where it does not exist all fail here);
   - on the pixels along the edges, the two thresholded at 0.5 must have an IoU of at least
     --edge-iou (0.995) per object over the range (the edge pixels that differ and by how
     much are printed);
   and nothing may be drawn more than 2 px outside the plate's region (1/255; where the matte
   touches the plate's border the curves may pass up to the fit tolerance beyond it). Natron's alpha >= 0.5 against
   the matte (logit > 0) is printed as an IoU per object.
Exits non-zero on any failure of these or of NatronRenderer.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import link_frames, parse_object, read_pfm, render_with_natron  # noqa: E402  (the Natron check's helpers)


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


def curve_pixels(shapes_json, obj, frame, w, h):
    """Pixels whose centre lies within one pixel of a curve of `obj`'s shapes on `frame`
    (shapes.json, plate pixels, y down). A curve can be an edge without changing our
    coverage: a hole's zero-width spike (an outline that runs out and back along one line)
    covers nothing in ours, while a hard-edged rasteriser may cut the row of pixel centres
    it lies on."""
    near = np.zeros((h, w), bool)
    t = np.linspace(0.0, 1.0, 65)[:, None]
    for o in shapes_json["objects"]:
        if o["name"] != obj:
            continue
        for shape in o["shapes"]:
            for key in shape["keys"]:
                if key["frame"] != frame:
                    continue
                pts = key["points"]
                for i, a in enumerate(pts):
                    b = pts[(i + 1) % len(pts)]
                    p0, c0, c1, p1 = (np.array(v, float) for v in (a["pos"], a["out"], b["in"], b["pos"]))
                    c = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t * t * c1 + t ** 3 * p1
                    # Dense enough: 65 samples per segment, segments a few pixels long.
                    xs = np.clip(np.floor(c[:, 0]).astype(int), 0, w - 1)
                    ys = np.clip(np.floor(c[:, 1]).astype(int), 0, h - 1)
                    near[ys, xs] = True
    return ndimage.binary_dilation(near, iterations=1, structure=np.ones((3, 3), bool))


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
    ap.add_argument("--tolerance", type=float, default=1 / 255, help="largest |Natron - ours| away from edges")
    ap.add_argument("--edge-iou", type=float, default=0.995, help="least IoU of Natron >= 0.5 and ours >= 0.5")
    ap.add_argument("--python-path", default="/usr/lib/python3/dist-packages")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    frames = work / "frames"
    sources = link_frames(args.clip, args.count, frames)
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
    last = len(sources) - 1
    writers = [f"Write_{node}" for node in nodes.values()]
    _, seconds = render_with_natron(args.natron_renderer, writers, last, script, args.io_plugins, args.python_path,
                                    work / "natron.log")
    print(f"NatronRenderer: {len(nodes)} Roto node(s) from shapes.py, frames 0-{last} in {seconds:.1f} s")
    failures = []
    shapes_json = json.loads((work / "shapes.json").read_text())
    for name, node in nodes.items():
        inter = union = edge_inter = edge_union = 0
        away_worst = 0.0
        away_count = edge_count = edge_differ = 0
        edge_max = 0.0
        for t in range(len(sources)):
            rendered = read_pfm(out / node / f"{t:05d}.pfm")
            ours = np.load(work / "raster" / name / f"{t:05d}.npy")
            h, w = ours.shape
            fh, fw = rendered.shape[:2]
            if fw < w or fh < h:
                sys.exit(f"{name} frame {t}: Natron rendered {fw}x{fh}, smaller than the {w}x{h} plate")
            theirs = rendered[fh - h:, :w, 0]
            # Where the matte touches the plate's border the curves may pass up to the fit
            # tolerance (1 px) beyond it: beyond 2 px nothing may be drawn.
            outside = max(np.abs(rendered[: fh - h - 2, :, 0]).max(initial=0.0), np.abs(rendered[:, w + 2:, 0]).max(initial=0.0))
            if outside > args.tolerance:
                failures.append(f"{name} frame {t}: Natron drew {outside:.3f} more than 2 px outside the plate's region")
            d = np.abs(theirs - ours)
            away = ndimage.minimum_filter(ours, 3, mode="nearest") == ndimage.maximum_filter(ours, 3, mode="nearest")
            away &= ~curve_pixels(shapes_json, name, t, w, h)
            away_count += int(away.sum())
            away_worst = max(away_worst, float(d[away].max(initial=0.0)))
            edge = ~away
            edge_count += int(edge.sum())
            edge_differ += int((edge & (d > 0.5)).sum())
            edge_max = max(edge_max, float(d[edge].max(initial=0.0)))
            a, b = theirs >= 0.5, ours >= 0.5
            edge_inter += int((a & b).sum())
            edge_union += int((a | b).sum())
            matte = np.load(work / "logits" / name / f"{t:05d}.npy") > 0
            inter += int((a & matte).sum())
            union += int((a | matte).sum())
        edge_iou = edge_inter / max(edge_union, 1)
        print(f"{name}: {len(sources)} frames: {away_count} pixels away from edges, |Natron - ours| max {away_worst:.4f} "
              f"(tolerance {args.tolerance:.4f}); {edge_count} edge pixels, |Natron - ours| max {edge_max:.3f}, "
              f"{edge_differ} over 0.5; IoU of the two at 0.5 {edge_iou:.4f} (at least {args.edge_iou}); "
              f"IoU of Natron's alpha >= 0.5 against the matte {inter / max(union, 1):.4f}")
        if away_worst > args.tolerance:
            failures.append(f"{name}: a pixel away from the edges differs by {away_worst:.4f}")
        if edge_iou < args.edge_iou:
            failures.append(f"{name}: IoU {edge_iou:.4f} of Natron's and our shapes at 0.5, below {args.edge_iou}")
    if failures:
        sys.exit("shapes check FAILED:\n" + "\n".join(failures))
    print("shapes check passed")


if __name__ == "__main__":
    main()
