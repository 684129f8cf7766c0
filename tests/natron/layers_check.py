#!/usr/bin/env python3
"""`samurai-roto track --format exr --layers` read by Natron: the layers NatronRenderer lists for
the files and every pixel of each layer's channel, compared with the mattes the track logits
define.

Run through `scripts/natron-layers-check.sh`. What it does, in a work folder:
1. `samurai-roto track --format exr --layers` on the first --count frames of --clip with every
   --object and --logits: `exr/NNNNN.exr` holds a half-float channel `NAME.A` per object and
   `ID`;
2. a Natron script: a Read node on `exr/#####.exr` with its decoder set to openfx-io's ReadOIIO
   (fr.inria.openfx.ReadOIIO, the reader Natron uses for EXR files; the script prints the
   decoder the node reports) prints the layers `getAvailableLayers(-1)` lists, each with its
   channels. Natron lists `NAME` with channel `A` per object, and the bare `ID` channel as a
   layer `ID` with the channel `ID`. Shuffle nodes (openfx-misc's, net.sf.openfx.ShufflePlugin)
   route the channels `B.NAME.A` ... and `B.ID.ID`, three per node, into red, green and blue,
   each written as PFM (float) by openfx-io's WritePFM over the whole range;
3. the same files through openfx-io's older EXR reader (fr.inria.openfx.ReadEXR, marked
   deprecated, superseded by ReadOIIO): its layers are printed and its colour plane's alpha
   written likewise. It cannot read layers: it keeps only R, G, B and A, names each channel by
   the part after its last dot (every `NAME.A` is `A`) and then reads the channel `A` itself,
   which these files lack; so its layers and values are reported, not required;
4. the checks: ReadOIIO's list must hold a layer `NAME` with the channels [A] for each object and
   a layer `ID` with [ID]; every routed channel must be set on its Shuffle (the script prints
   what each Shuffle input reports); each render must have the plate's size, and every pixel
   must equal, exactly (0 and 1 and the small integers of ID are exact in half float), the
   matte (1 where the object's logit > 0, else 0) or the ID matte (the object's number in
   command-line order, from 1, with the largest logit among those > 0, the lower number on
   ties, else 0).
Exits non-zero on any failure of these or of NatronRenderer.
"""
import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check import link_frames, parse_object, read_pfm, render_with_natron  # noqa: E402  (the Natron check's helpers)

MARK = "LAYERS_CHECK "  # the lines the Natron script prints for this check to read


def run(cmd, log=None, env=None):
    out = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if log:
        Path(log).write_text(out.stdout)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited with {out.returncode}:\n{out.stdout[-4000:]}")
    return out.stdout


def natron_script(exr_pattern, groups, out_dir, readexr):
    """groups: [(writer name, [Shuffle option for R, G, B])]; the options name input B (Shuffle's
    main input, where the Read is connected) then the layer and the channel."""
    lines = [
        "import NatronEngine",
        f"MARK = {MARK!r}",
        "def layers(name, node):",
        "    for l in node.getAvailableLayers(-1):",
        "        print(MARK + 'layer ' + repr((name, l.getLayerName(), list(l.getComponentsNames()))))",
        "def shuffle_write(name, src, chans, pattern):",
        "    s = app.createNode('net.sf.openfx.ShufflePlugin')",
        "    s.setScriptName('Shuffle_' + name)",
        "    s.connectInput(0, src)",
        "    s.getParam('outputComponents').setValue('rgba')",
        "    for p, c in zip(('outputR', 'outputG', 'outputB', 'outputA'), chans + ['1']):",
        "        q = s.getParam(p)",
        "        q.setValue(c)",
        "        print(MARK + 'route ' + repr((name, p, c, q.getOption(q.getValue()))))",
        "    w = app.createNode('fr.inria.openfx.WritePFM')",
        "    w.setScriptName('Write_' + name)",
        "    w.connectInput(0, s)",
        "    w.getParam('filename').setValue(pattern)",
        # Natron picks the encoder for .pfm by preference: with openfx-io's OIIO bundle loaded
        # that is WriteOIIO (which crashed here in supportsAlpha); WritePFM by its ID.
        "    w.getParam('encodingPluginChoice').setValue('fr.inria.openfx.WritePFM')",
        "    print(MARK + 'encoder ' + repr((name, w.getParam('encodingPluginID').getValue())))",
        "    w.getParam('formatType').setValue(0)  # the input's format",
        "r = app.createNode('fr.inria.openfx.ReadOIIO')",
        "r.setScriptName('ReadOIIO')",
        f"r.getParam('filename').setValue({exr_pattern!r})",
        "r.getParam('decodingPluginChoice').setValue('fr.inria.openfx.ReadOIIO')",
        "print(MARK + 'decoder ' + repr(('ReadOIIO', r.getParam('decodingPluginID').getValue())))",
        "layers('ReadOIIO', r)",
    ]
    for name, chans in groups:
        lines.append(f"shuffle_write({name!r}, r, {chans!r}, {str(out_dir / name / '#####.pfm')!r})")
    if readexr:
        lines += [
            # Created by its ID this node is the plugin itself, not Natron's Read around it.
            "e = app.createNode('fr.inria.openfx.ReadEXR')",
            "e.setScriptName('ReadEXR')",
            f"e.getParam('filename').setValue({exr_pattern!r})",
            "print(MARK + 'decoder ' + repr(('ReadEXR', e.getPluginID())))",
            "layers('ReadEXR', e)",
            "shuffle_write('readexr', e, ['B.uk.co.thefoundry.OfxImagePlaneColour.A', '0', '0'], "
            f"{str(out_dir / 'readexr' / '#####.pfm')!r})",
        ]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--natron-renderer", type=Path, required=True)
    ap.add_argument("--io-plugins", required=True,
                    help="folders with openfx-io's OIIO, EXR and PFM bundles and openfx-misc's Shuffle")
    ap.add_argument("--cli", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--object", action="append", required=True)
    ap.add_argument("--no-readexr", action="store_true", help="leave out the deprecated ReadEXR's report")
    ap.add_argument("--python-path", default="/usr/lib/python3/dist-packages")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    frames = work / "frames"
    sources = link_frames(args.clip, args.count, frames)
    objects = [parse_object(s) for s in args.object]
    names = list(dict.fromkeys(name for name, _, _ in objects))  # command-line order: the ID numbers
    track = [args.cli, "--threads", "2", "track", "--checkpoint", args.checkpoint.resolve(), "--frames", frames,
             "--image-size", args.image_size, "--device", "cpu", "--format", "exr", "--layers",
             "--out", work / "exr", "--logits", work / "logits"]
    for name, frame, box in objects:
        track += ["--object", f"{name}:{frame}:{','.join(str(v) for v in box)}"]
    start = time.monotonic()
    run(track, work / "track.log")
    count = len(sources)
    missing = [t for t in range(count) if not (work / "exr" / f"{t:05d}.exr").is_file()]
    if missing:
        sys.exit(f"track --format exr --layers wrote no exr/NNNNN.exr for frames {missing}")
    print(f"track --format exr --layers: {count} frames, objects {', '.join(names)}, in {time.monotonic() - start:.1f} s")

    # What each render holds: (writer, [(what, layer, channel)] for red, green, blue).
    wanted = [(name, name, "A") for name in names] + [("ID", "ID", "ID")]
    groups = []
    for i in range(0, len(wanted), 3):
        part = wanted[i:i + 3]
        groups.append((f"layers{i // 3}", part))
    out = work / "natron"
    script = work / "read_layers.py"
    script.write_text(natron_script(str(work / "exr" / "#####.exr"),
                                    [(g, [f"B.{layer}.{chan}" for _, layer, chan in part]) for g, part in groups],
                                    out, not args.no_readexr))
    last = count - 1
    writers = [f"Write_{g}" for g, _ in groups] + ([] if args.no_readexr else ["Write_readexr"])
    log = work / "natron.log"
    lines, seconds = render_with_natron(args.natron_renderer, writers, last, script, args.io_plugins, args.python_path, log)
    print(f"NatronRenderer: frames 0-{last} in {seconds:.1f} s (log {log})")

    marked = [ast.literal_eval(line[len(MARK):].split(" ", 1)[1]) for line in lines if line.startswith(MARK)]
    kinds = [line[len(MARK):].split(" ", 1)[0] for line in lines if line.startswith(MARK)]
    by_kind = {}
    for kind, value in zip(kinds, marked):
        by_kind.setdefault(kind, []).append(value)
    failures = []
    decoders = dict(by_kind.get("decoder", []))
    print(f"Read node's decoder: {decoders.get('ReadOIIO')}")
    if decoders.get("ReadOIIO") != "fr.inria.openfx.ReadOIIO":
        failures.append(f"the Read node decodes with {decoders.get('ReadOIIO')!r}, not fr.inria.openfx.ReadOIIO")
    for reader in ("ReadOIIO",) + (() if args.no_readexr else ("ReadEXR",)):
        listed = [(layer, chans) for r, layer, chans in by_kind.get("layer", []) if r == reader]
        print(f"{reader}: getAvailableLayers(-1): " + ", ".join(f"{layer} {chans}" for layer, chans in listed))
    oiio = {layer: chans for r, layer, chans in by_kind.get("layer", []) if r == "ReadOIIO"}
    for what, layer, chan in wanted:
        if oiio.get(layer) != [chan]:
            failures.append(f"ReadOIIO lists no layer {layer!r} with the channels [{chan!r}] (has {oiio.get(layer)!r})")
    for writer, param, asked, got in by_kind.get("route", []):
        if asked != got:
            failures.append(f"Shuffle_{writer} {param}: asked for {asked!r}, the parameter holds {got!r}")
    for writer, encoder in by_kind.get("encoder", []):
        if encoder != "fr.inria.openfx.WritePFM":
            failures.append(f"Write_{writer} encodes with {encoder!r}, not fr.inria.openfx.WritePFM")

    # The expected mattes, per frame, from the logits.
    expected = {}
    for t in range(count):
        logits = np.stack([np.load(work / "logits" / name / f"{t:05d}.npy") for name in names])
        inside = logits > 0
        best = np.argmax(np.where(inside, logits, -np.inf), axis=0)  # the first of equal maxima
        ident = np.where(inside.any(axis=0), best + 1, 0).astype(np.float32)
        for i, name in enumerate(names):
            expected[(name, t)] = inside[i].astype(np.float32)
        expected[("ID", t)] = ident
    for g, part in groups:
        stats = {what: [0, 0, 0, set()] for what, _, _ in part}  # pixels, mismatches, worst, values
        for t in range(count):
            path = out / g / f"{t:05d}.pfm"
            if not path.is_file():
                failures.append(f"{g}: Natron wrote no {path}")
                continue
            rendered = read_pfm(path)
            for c, (what, layer, chan) in enumerate(part):
                want = expected[(what, t)]
                if rendered.shape[:2] != want.shape:
                    failures.append(f"{what} frame {t}: Natron rendered {rendered.shape[1]}x{rendered.shape[0]}, "
                                    f"the plate is {want.shape[1]}x{want.shape[0]}")
                    continue
                got = rendered[..., c]
                s = stats[what]
                s[0] += got.size
                s[1] += int((got != want).sum())
                s[2] = max(s[2], float(np.abs(got - want).max()))
                s[3] |= set(np.unique(got).tolist())
        for what, layer, chan in part:
            pixels, bad, worst, values = stats[what]
            print(f"{what} (layer {layer}, channel {chan}): {count} frames, {pixels} pixels, {bad} mismatches "
                  f"(largest difference {worst:g}); values {sorted(values)}")
            if bad:
                failures.append(f"{what}: {bad} of {pixels} pixels differ from the track logits' matte")
            if pixels != count * expected[(what, 0)].size:
                failures.append(f"{what}: compared {pixels} pixels, expected {count * expected[(what, 0)].size}")
    if not args.no_readexr:
        listed = {layer for r, layer, _ in by_kind.get("layer", []) if r == "ReadEXR"}
        found = [layer for _, layer, _ in wanted if layer in listed]
        values, shapes = set(), set()
        for t in range(count):
            path = out / "readexr" / f"{t:05d}.pfm"
            if path.is_file():
                rendered = read_pfm(path)
                shapes.add(f"{rendered.shape[1]}x{rendered.shape[0]}")
                values |= set(np.unique(rendered[..., 0]).tolist())
        print(f"ReadEXR (deprecated, not required): lists {found or 'none'} of the layers; its alpha "
              f"({', '.join(sorted(shapes)) or 'not written'}) holds the values {sorted(values)}: it cannot read these layers")
    if failures:
        sys.exit("layers check FAILED:\n" + "\n".join(failures))
    print("layers check passed")


if __name__ == "__main__":
    main()
