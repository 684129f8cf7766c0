#!/usr/bin/env python3
"""SamuraiRoto inside Natron: renders the installed bundle with NatronRenderer and compares
every pixel with `samurai-roto track` on the same checkpoint, frames and boxes.

Run through `scripts/natron-check.sh` (which builds and installs the bundle first). Natron
is not installable from this project's registries, so this is not part of `scripts/test.sh`;
the README's "Checked in Natron" section says how it was built and what this printed.

What it does, in a work folder:
1. the first --count frames of --clip as 8-bit RGB PNG files (`frames/00000.png` ...);
2. `samurai-roto track` on them with every --object (blend mode, --image-size) and --logits;
   with several --cli, each one's mattes and logits must equal the first one's byte for byte;
3. a Natron script: Read (PNG) -> SamuraiRoto (the objects' boxes keyed on their frames,
   output "ID matte", threshold 0, softness 0) -> Write (PFM, float), rendered by
   NatronRenderer over the whole range ("live");
4. with --farm: the same graph with a track cache file, the Analyse button pressed from
   Python, then two more NatronRenderer processes rendering the two halves of the range
   from the cache ("farm");
5. with --fault-kill: the live graph rendered again by a new NatronRenderer while SIGKILL
   ends its helper in the middle of a frame (once the helper has built its tracker): the
   node must compute that frame again in a new helper and say so once, and every file must
   equal the live render's byte for byte ("fault");
6. with --roto-key FRAME: a Roto node without input (openfx-misc's Roto and Merge plugins,
   built by scripts/build-natron.sh) holding one closed Bezier around the first object, as
   the node's Keyframe matte input, keyed on FRAME for an object with no other prompt: its
   ID matte must equal `track --mask` with the Roto rendered over the plate's region
   (rendered by NatronRenderer on its own, thresholded at 0.5) on every frame ("roto-key");
7. with --fault-term: the live graph rendered by a new NatronRenderer whose helper is
   stopped (SIGSTOP) inside a frame, then SIGTERM to NatronRenderer, as a farm or a desktop
   ends a stalled render: it must exit within two seconds, with the plugin's abort message,
   and leave no helper behind.
Each Natron render must equal, pixel for pixel, the ID matte the track logits define: the
object with the largest logit among those whose logit is > 0, numbered from 1, else 0.
Each NatronRenderer process must map no libtorch of its own (the network runs in the
helper), with --foreign-torch exactly the foreign libc10 and libtorch_cpu (the Natron script
reads /proc/self/maps). With --clean-env, NatronRenderer and the command line(s) run in a
minimal environment, as on a workstation with only a release archive unpacked (no venv, no
LD_LIBRARY_PATH).
"""
import argparse
import ast
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

PLUGIN_ID = "org.samuraiRoto.SamuraiRoto"
# The Natron script prints the libtorch libraries mapped into NatronRenderer on this line.
MAPPED = "SamuraiRoto check: libtorch in NatronRenderer: "


def link_frames(clip, count, frames):
    """Links the first `count` images of `clip` (JPEG or PNG, sorted by name) into the folder
    `frames` (made if needed); returns the sources."""
    frames.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in clip.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    for p in sources:
        link = frames / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    return sources


def render_with_natron(renderer, writers, last, script, io_plugins, python_path, log):
    """Runs `script` in NatronRenderer, rendering the Write nodes `writers` over frames
    0-`last`, with the plugin folders `io_plugins`, its output in `log`. Exits on a failed
    render; Natron 2.5's exit race (README, "Checked in Natron") is accepted only after a
    finished render. Returns the log's non-empty lines and the seconds it took."""
    env = dict(os.environ)
    env["OFX_PLUGIN_PATH"] = io_plugins
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = ":".join(p for p in (python_path, env.get("PYTHONPATH")) if p)
    cmd = [renderer]
    for w in writers:
        cmd += ["-w", w]
    cmd += [f"0-{last}", script]  # one frame range for every writer
    start = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.run([str(c) for c in cmd], env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    text = Path(log).read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    race = rc == -6 and len(lines) >= 2 and lines[-1] == "QThread: Destroyed while thread is still running"
    if race:
        print("NatronRenderer aborted while exiting after the render (Natron's QThread exit race); frames compared as usual")
    elif rc != 0 or "Traceback" in text or "Rendering Failed" in text:
        sys.exit(f"NatronRenderer failed ({rc}); log {log}:\n{text[-4000:]}")
    return lines, time.monotonic() - start


def parse_object(spec):
    """NAME:FRAME:x1,y1,x2,y2 (the track command's syntax)."""
    try:
        name, frame, box = spec.split(":")
        x1, y1, x2, y2 = (float(v) for v in box.split(","))
        return name, int(frame), (x1, y1, x2, y2)
    except ValueError:
        sys.exit(f"--object {spec!r}: expected NAME:FRAME:x1,y1,x2,y2")


def read_pfm(path):
    """A PFM file as an (H, W, C) float32 array, rows top-down."""
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (header {kind!r})")
        w, h = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        data = np.frombuffer(f.read(), dtype="<f4" if scale < 0 else ">f4")
    c = 3 if kind == b"PF" else 1
    if data.size != w * h * c:
        raise ValueError(f"{path}: {data.size} floats for {w}x{h}x{c}")
    return data.reshape(h, w, c)[::-1]


def expected_ids(logits_dir, names, frame):
    """The ID matte of `track`'s logits at `frame`."""
    stack = np.stack([np.load(logits_dir / name / f"{frame:05d}.npy") for name in names])
    masked = np.where(stack > 0, stack, -np.inf)
    best = masked.argmax(axis=0)
    return np.where(np.isfinite(masked.max(axis=0)), best + 1, 0).astype(np.float32)


# The Natron script line printing the libtorch libraries mapped into NatronRenderer (flush:
# NatronRenderer may abort while exiting, see run_natron, losing buffered output).
MAPS_LINE = ("print(%r + repr(sorted({l.split()[-1] for l in open('/proc/self/maps') if '/libc10' in l or '/libtorch' in l})), "
             "flush=True)" % MAPPED)


def natron_script(args, frames_dir, size, objects, out_pattern, cache=None, analyse=False, extra=()):
    """The Natron Python script of the graph Read -> SamuraiRoto -> Write (`extra`: lines
    run before the Write is created)."""
    w, h = size
    lines = [
        "import NatronEngine",
        MAPS_LINE,
        "read = app.createNode('fr.inria.openfx.ReadPNG')",
        "read.setScriptName('Frames')",
        f"read.getParam('filename').setValue({str(frames_dir / '#####.png')!r})",
        f"roto = app.createNode({PLUGIN_ID!r})",
        "roto.setScriptName('SamuraiRoto1')",
        "roto.connectInput(0, read)",
        "roto.getParam('model').setValue(4)  # checkpoint file (the Checkpoint below)",
        f"roto.getParam('checkpoint').setValue({str(args.checkpoint)!r})",
        f"roto.getParam('imageSize').setValue({ {1024: 0, 768: 1, 512: 2, 256: 3}[args.image_size] })",
        "roto.getParam('outputMode').setValue(2)  # ID matte",
        "roto.getParam('threshold').setValue(0.0)",
        "roto.getParam('softness').setValue(0.0)",
        "roto.getParam('propagation').setValue(0)  # blend",
        "roto.getParam('edgeRefine').setValue(0)  # compared with track's unrefined mattes",
    ]
    for i, (name, keys) in enumerate(objects.items(), start=1):
        lines.append(f"roto.getParam('obj{i}Enable').setValue(True)")
        lines.append(f"roto.getParam('obj{i}Name').setValue({name!r})")
        for frame, (x1, y1, x2, y2) in keys:
            # Frame pixels (y down) to OFX canonical coordinates (y up, pixel aspect 1).
            for param, (x, y) in (("BoxBL", (x1, h - y2)), ("BoxTR", (x2, h - y1))):
                lines.append(f"roto.getParam('obj{i}{param}').setValueAtTime({x!r}, {frame}, 0)")
                lines.append(f"roto.getParam('obj{i}{param}').setValueAtTime({y!r}, {frame}, 1)")
    lines += list(extra)
    if cache is not None:
        lines.append(f"roto.getParam('trackCacheFile').setValue({str(cache)!r})")
    if analyse:
        lines.append("roto.getParam('analyse').trigger()")
        lines.append(f"assert os.path.isfile({str(cache)!r}), 'Analyse wrote no track cache'")
        lines.insert(0, "import os")
    lines += [
        "write = app.createNode('fr.inria.openfx.WritePFM')",
        "write.setScriptName('Mattes')",
        "write.connectInput(0, roto)",
        f"write.getParam('filename').setValue({out_pattern!r})",
        "write.getParam('formatType').setValue(0)  # the input's format, not the project's (HD)",
    ]
    return "\n".join(lines) + "\n"


# The Roto shape of --roto-key: a closed polygon (canonical coordinates, y up) around the
# bedroom clip's girl on its first frames, whose bounding box (the Roto node's region) is
# smaller than the 960x540 plate and away from its origin.
ROTO_SHAPE = [(335.0, 150.0), (495.0, 150.0), (505.0, 390.0), (465.0, 525.0), (370.0, 525.0), (325.0, 390.0)]
# The Natron script prints the Roto node's region of definition on this line.
ROTO_ROD = "SamuraiRoto check: Roto region: "


def roto_lines(frame):
    """Natron script lines creating `shape`, a Roto node without input holding ROTO_SHAPE."""
    (x0, y0), rest = ROTO_SHAPE[0], ROTO_SHAPE[1:]
    lines = [
        "shape = app.createNode('fr.inria.built-in.Roto')",
        "shape.setScriptName('Shape')",
        f"bezier = shape.getRotoContext().createBezier({x0!r}, {y0!r}, {frame})",
    ]
    lines += [f"bezier.addControlPoint({x!r}, {y!r})" for x, y in rest]
    lines += [
        "bezier.setCurveFinished(True)",
        # Natron's Roto node writes alpha only by default, and PFM holds RGB: red on and
        # premultiplied makes red = 1 x alpha, the float alpha the node reads (checked).
        "shape.getParam('NatronOfxParamProcessR').setValue(True)",
        "shape.getParam('premultiply').setValue(True)",
        f"rod = shape.getRegionOfDefinition({frame}, 0)",
        f"print({ROTO_ROD!r} + repr((rod.x1, rod.y1, rod.x2, rod.y2)), flush=True)",
    ]
    return lines


def roto_alone_script(frame, out_pattern, writer="PFM"):
    """The Natron script rendering the Roto node alone (its format: the project's, which
    holds the plate's region at the canonical origin) to PFM (or PNG)."""
    lines = ["import NatronEngine", MAPS_LINE] + roto_lines(frame)
    lines += [
        f"write = app.createNode('fr.inria.openfx.Write{writer}')",
        "write.setScriptName('Mattes')",
        "write.connectInput(0, shape)",
        f"write.getParam('filename').setValue({out_pattern!r})",
        "write.getParam('formatType').setValue(0)",
    ]
    return "\n".join(lines) + "\n"


def roto_key_lines(frame):
    """Lines appended to natron_script's: the Roto shape into the Keyframe matte input
    (found by its label), keyed on `frame` for object 1 through the alpha channel."""
    return roto_lines(frame) + [
        "index = [i for i in range(roto.getMaxInputCount()) if roto.getInputLabel(i) == 'Keyframe matte']",
        "assert len(index) == 1, [roto.getInputLabel(i) for i in range(roto.getMaxInputCount())]",
        "connected = roto.connectInput(index[0], shape)",
        "print('SamuraiRoto check: Keyframe matte connected:', connected, flush=True)",
        "assert connected, 'Natron refused the Roto node as the Keyframe matte input'",
        "roto.getParam('obj1MatteChannel').setValue(4)  # alpha",
        f"roto.getParam('obj1MatteKey').setValueAtTime(True, {frame})",
    ]


def base_env(args, work):
    """The environment of the processes this check starts: the caller's, or with --clean-env
    only PATH=/usr/bin:/bin and a fresh HOME (what `env -i` plus those two would give)."""
    if not args.clean_env:
        return dict(os.environ)
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home)}


def differing_files(a, b):
    """Relative paths of the files under `a` and `b` that are missing on one side or differ."""
    names = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    names |= {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    return sorted(str(n) for n in names if not ((a / n).is_file() and (b / n).is_file()
                                                 and (a / n).read_bytes() == (b / n).read_bytes()))


def natron_env(args, log_path):
    """NatronRenderer's environment (its helper's log beside `log_path`)."""
    env = base_env(args, Path(log_path).parent)
    env["OFX_PLUGIN_PATH"] = f"{args.plugins}:{args.io_plugins}"
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Natron disables site-packages: PySide2 and qtpy must be on PYTHONPATH.
    env["PYTHONPATH"] = ":".join(p for p in (args.python_path, env.get("PYTHONPATH")) if p)
    # The helper process's log beside NatronRenderer's.
    env["SAMURAI_ROTO_HELPER_LOG"] = str(Path(log_path).with_suffix(".helper.log"))
    if args.foreign_torch:
        # Nuke's process, simulated: another libtorch on LD_LIBRARY_PATH and loaded at start
        # (its static initialisers fill its registries before our plugin is opened).
        lib = args.foreign_torch / "lib"
        missing = [n for n in ("libc10.so", "libtorch_cpu.so") if not (lib / n).is_file()]
        if missing:  # ld.so would only warn and the check would pass without a foreign libtorch
            sys.exit(f"--foreign-torch {args.foreign_torch}: {missing} missing (run scripts/foreign-torch.sh)")
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (str(lib), env.get("LD_LIBRARY_PATH")) if p)
        env["LD_PRELOAD"] = " ".join(str(lib / n) for n in ("libc10.so", "libtorch_cpu.so"))
    return env


def same_files(got, want, count, label, what):
    """Fails the check unless frames 0..count-1 in `got` equal those in `want` byte for byte."""
    for t in range(count):
        if (got / f"{t:05d}.pfm").read_bytes() != (want / f"{t:05d}.pfm").read_bytes():
            sys.exit(f"{label}: frame {t}: file differs from {what}")


def run_natron(args, script_path, first, last, log_path, retries=0):
    """Renders `first`-`last`; `retries`: how many "computed again in a new helper" messages
    the node must show (any other message of the plugin fails the check)."""
    env = natron_env(args, log_path)
    cmd = [str(args.natron_renderer), "-w", "Mattes", f"{first}-{last}", str(script_path)]
    start = time.monotonic()
    with open(log_path, "w") as log:
        rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    took = time.monotonic() - start
    text = Path(log_path).read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    # Natron 2.5 quirk: NatronRenderer sometimes aborts while exiting, after the render, with
    # Qt's "QThread: Destroyed while thread is still running" (SIGABRT). It does so without any
    # plugin loaded: a Read -> Write graph of the io plugins alone aborted 1 run in 5 here, with
    # and without a foreign libtorch preloaded. The frames are written by then; every one is
    # still compared below. Any other failure, or this one before "Rendering finished", fails.
    host_exit_race = (rc == -6 and len(lines) >= 2 and lines[-1] == "QThread: Destroyed while thread is still running"
                      and lines[-2].endswith("Rendering finished"))
    if host_exit_race:
        print(f"NatronRenderer aborted while exiting after a finished render (Natron's QThread exit race, "
              f"not the plugin); its frames are compared as usual ({log_path})")
    elif rc != 0:
        sys.exit(f"NatronRenderer exited with {rc} ({' '.join(cmd)}); log {log_path}:\n{text[-4000:]}")
    # NatronRenderer prints the nodes' persistent messages; the plugin's start "SamuraiRoto".
    shown = [line for line in text.splitlines() if line.startswith("Persistent message: SamuraiRoto")]
    retried = [line for line in shown if "computed again in a new helper" in line]
    if len(retried) != retries:
        sys.exit(f"{log_path}: expected {retries} message(s) of a frame computed again, got {retried}")
    shown = [line for line in shown if line not in retried]
    failed = [line for line in text.splitlines() if "Rendering Failed" in line or "Traceback" in line]
    if shown or failed:
        sys.exit(f"{log_path}: the plugin or Natron reported a problem:\n" + "\n".join(shown + failed))
    mapped = [ast.literal_eval(line[len(MAPPED):]) for line in text.splitlines() if line.startswith(MAPPED)]
    if len(mapped) != 1:
        sys.exit(f"{log_path}: expected one line {MAPPED!r} from the Natron script, got {len(mapped)}")
    want = sorted(str(args.foreign_torch / "lib" / n) for n in ("libc10.so", "libtorch_cpu.so")) if args.foreign_torch else []
    if sorted(os.path.realpath(p) for p in mapped[0]) != [os.path.realpath(p) for p in want]:
        sys.exit(f"{log_path}: NatronRenderer maps {mapped[0]}, expected {want or 'no libtorch'}")
    return took, mapped[0]


def helper_in_frame(helper_log, deadline=600):
    """The pid of the helper writing `helper_log` once it has built its tracker (it is then
    inside the first frame's propagation)."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        text = helper_log.read_text(errors="replace") if helper_log.exists() else ""
        started = re.search(r"helper (\d+) serving", text)
        if started and "session tuning" in text:
            return int(started.group(1))
        time.sleep(0.02)
    sys.exit(f"{helper_log}: no helper started tracking within {deadline} s")


def terminate_stalled_render(args, script_path, last, log_path):
    """NatronRenderer renders `script_path`; its helper is stopped inside a frame, then
    NatronRenderer gets SIGTERM: it must exit within 2 s, and its helper must be gone."""
    helper_log = Path(log_path).with_suffix(".helper.log")
    if helper_log.exists():
        helper_log.unlink()
    cmd = [str(args.natron_renderer), "-w", "Mattes", f"0-{last}", str(script_path)]
    with open(log_path, "w") as log:
        natron = subprocess.Popen(cmd, env=natron_env(args, log_path), stdout=log, stderr=subprocess.STDOUT)
        try:
            helper = helper_in_frame(helper_log)
            time.sleep(args.fault_delay)
            os.kill(helper, signal.SIGSTOP)
            time.sleep(1.0)
            start = time.monotonic()
            natron.send_signal(signal.SIGTERM)
            try:
                rc = natron.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                sys.exit(f"fault-term: NatronRenderer still running 2 s after SIGTERM (its helper {helper} stopped); log {log_path}")
            took = time.monotonic() - start
        finally:
            if natron.poll() is None:
                natron.kill()
                natron.wait()
    time.sleep(0.5)
    state = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{helper}/stat").exists() else None
    if state not in (None, "Z"):
        os.kill(helper, signal.SIGKILL)
        sys.exit(f"fault-term: the stopped helper {helper} outlived NatronRenderer (state {state})")
    text = Path(log_path).read_text(errors="replace")
    shown = [line for line in text.splitlines() if line.startswith("Persistent message: SamuraiRoto")]
    if not any("host aborted the render" in line and "killed" in line for line in shown):
        sys.exit(f"fault-term: no abort message from the plugin in {log_path}: {shown}")
    return helper, rc, took, shown


def kill_helper_mid_frame(helper_log, delay, stop, killed):
    """Waits until the helper writing `helper_log` has built its tracker (it is then inside
    the first frame's propagation), waits `delay` seconds more and SIGKILLs it; its pid goes
    to `killed`."""
    while not stop.is_set():
        text = helper_log.read_text(errors="replace") if helper_log.exists() else ""
        started = re.search(r"helper (\d+) serving", text)
        if started and "session tuning" in text:
            time.sleep(delay)
            pid = int(started.group(1))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def compare(out_dir, logits, names, frames, what):
    total_inside = 0
    for t in frames:
        path = out_dir / f"{t:05d}.pfm"
        if not path.is_file():
            sys.exit(f"{what}: Natron wrote no {path}")
        got = read_pfm(path)[..., 0]
        want = expected_ids(logits, names, t)
        if got.shape != want.shape:
            sys.exit(f"{what}: frame {t}: Natron {got.shape} vs track {want.shape}")
        bad = np.argwhere(got != want)
        if len(bad):
            y, x = bad[0]
            sys.exit(f"{what}: frame {t}: {len(bad)} pixels differ, first at (x {x}, y {y}): Natron {got[y, x]} vs track {want[y, x]}")
        counts = [int((want == i + 1).sum()) for i in range(len(names))]
        if not all(0 < c < want.size for c in counts):
            sys.exit(f"{what}: frame {t}: degenerate matte, pixels per object {counts}")
        total_inside += sum(counts)
        print(f"{what}: frame {t}: Natron ID matte == track ({', '.join(f'{n} {c}' for n, c in zip(names, counts))} of {want.size} pixels)")
    return total_inside


def roto_key(args, work, frames_dir, size, name):
    """--roto-key: the Roto shape as object `name`'s only prompt, through the Keyframe matte."""
    frame, (w, h) = args.roto_key, size
    alone = work / "roto_alone"
    alone.mkdir(exist_ok=True)
    script = work / "roto_alone.py"
    script.write_text(roto_alone_script(frame, str(alone / "#####.pfm")))
    run_natron(args, script, frame, frame, work / "roto_alone.log")
    text = (work / "roto_alone.log").read_text(errors="replace")
    rod = [ast.literal_eval(line[len(ROTO_ROD):]) for line in text.splitlines() if line.startswith(ROTO_ROD)]
    rendered = read_pfm(alone / f"{frame:05d}.pfm")
    fh, fw = rendered.shape[:2]
    if fw < w or fh < h:
        sys.exit(f"roto-key: the Roto node rendered {fw}x{fh}, smaller than the {w}x{h} plate")
    # Red is alpha (roto_lines): the same render as 8-bit RGBA PNG must agree everywhere.
    script = work / "roto_alone_png.py"
    script.write_text(roto_alone_script(frame, str(alone / "#####.png"), writer="PNG"))
    run_natron(args, script, frame, frame, work / "roto_alone_png.log")
    rgba = np.asarray(Image.open(alone / f"{frame:05d}.png").convert("RGBA")).astype(int)
    if rgba.shape[:2] != (fh, fw) or (rgba[..., 0] != rgba[..., 3]).any() or not (rgba[..., 3] > 0).any():
        sys.exit(f"roto-key: the Roto node's red is not its alpha (or it is empty): {alone}")
    # Rows are top-down: the plate's region (canonical 0..w, 0..h) is the bottom-left corner.
    over_plate = rendered[fh - h:, :w, 0] > 0.5
    mask_path = work / f"roto_mask{frame:05d}.png"
    Image.fromarray((over_plate * 255).astype(np.uint8)).save(mask_path)
    print(f"roto-key: Roto node without input, region {rod[0] if rod else '?'} (the plate's: (0, 0, {w}, {h})); "
          f"rendered alone over the plate's region: {int(over_plate.sum())} pixels inside")
    logits = work / "logits_roto"
    cmd = [str(args.cli[0]), "--threads", "2", "track", "--checkpoint", str(args.checkpoint), "--frames", str(frames_dir),
           "--image-size", str(args.image_size), "--mode", "blend", "--device", "cpu",
           "--mask", f"{name}:{frame}:{mask_path}", "--out", str(work / "track_roto"), "--logits", str(logits)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=base_env(args, work))
    out = work / "natron_roto"
    out.mkdir(exist_ok=True)
    script = work / "roto_key.py"
    script.write_text(natron_script(args, frames_dir, size, {name: []}, str(out / "#####.pfm"), extra=roto_key_lines(frame)))
    took, _ = run_natron(args, script, 0, args.count - 1, work / "natron_roto.log")
    connected = [line for line in (work / "natron_roto.log").read_text(errors="replace").splitlines()
                 if line.startswith("SamuraiRoto check: Keyframe matte connected:")]
    print(f"NatronRenderer roto-key: {connected[0] if connected else '?'}; frames 0-{args.count - 1} in {took:.1f} s")
    compare(out, logits, [name], range(args.count), "roto-key")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--natron-renderer", type=Path, required=True)
    ap.add_argument("--io-plugins", required=True, help="folder(s) with Natron's PNG and PFM reader/writer bundles")
    ap.add_argument("--plugins", type=Path, required=True, help="folder with SamuraiRoto.ofx.bundle")
    ap.add_argument("--cli", type=Path, action="append", required=True,
                    help="the samurai-roto command; repeated: the first one's track is the reference and "
                         "every other must write the same mattes and logits, byte for byte")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--object", action="append", required=True)
    ap.add_argument("--python-path", default="/usr/lib/python3/dist-packages",
                    help="where Natron's Python finds PySide2 and qtpy (Debian: python3-pyside2.qtcore, python3-qtpy)")
    ap.add_argument("--farm", action="store_true")
    ap.add_argument("--fault-kill", action="store_true",
                    help="render again while SIGKILL ends the helper inside a frame; every file must equal the live render's")
    ap.add_argument("--fault-term", action="store_true",
                    help="SIGSTOP the helper inside a frame, then SIGTERM NatronRenderer: it must exit within 2 s, leaving no helper")
    ap.add_argument("--fault-delay", type=float, default=0.5,
                    help="seconds after the helper built its tracker before --fault-kill or --fault-term acts")
    ap.add_argument("--roto-key", type=int, metavar="FRAME",
                    help="also key the first object by a Roto node without input on FRAME (needs openfx-misc's "
                         "Roto and Merge bundles in --io-plugins) and compare with track --mask")
    ap.add_argument("--foreign-torch", type=Path,
                    help="folder of scripts/foreign-torch.sh (torch 2.1.2, as in Nuke 15.1): loaded into NatronRenderer first")
    ap.add_argument("--clean-env", action="store_true",
                    help="run NatronRenderer and the command line(s) with only PATH=/usr/bin:/bin and a fresh HOME")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    args.checkpoint = args.checkpoint.resolve()
    if args.foreign_torch:
        args.foreign_torch = args.foreign_torch.resolve()

    objects = {}
    for spec in args.object:
        name, frame, box = parse_object(spec)
        objects.setdefault(name, []).append((frame, box))
    names = list(objects)
    work = args.work.resolve()
    frames_dir = work / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in args.clip.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: args.count]
    if len(sources) < args.count:
        sys.exit(f"{args.clip}: {len(sources)} frames, --count {args.count}")
    for i, src in enumerate(sources):
        Image.open(src).convert("RGB").save(frames_dir / f"{i:05d}.png")
    size = Image.open(frames_dir / "00000.png").size
    last = args.count - 1

    print(f"plugins: {args.plugins}")
    for i, cli in enumerate(args.cli):
        suffix = "" if i == 0 else f"_{i + 1}"
        cmd = [str(cli), "--threads", "2", "track", "--checkpoint", str(args.checkpoint), "--frames", str(frames_dir),
               "--image-size", str(args.image_size), "--mode", "blend", "--device", "cpu",
               "--out", str(work / f"track{suffix}"), "--logits", str(work / f"logits{suffix}")]
        for spec in args.object:
            cmd += ["--object", spec]
        start = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=base_env(args, work))
        print(f"track ({cli}): {args.count} frames in {time.monotonic() - start:.1f} s")
        if i:
            for what in ("track", "logits"):
                differ = differing_files(work / what, work / f"{what}{suffix}")
                if differ:
                    sys.exit(f"{cli}: {len(differ)} {what} files differ from {args.cli[0]}'s, first {differ[0]}")
            print(f"track ({cli}): mattes and logits == track ({args.cli[0]}) byte for byte")
    logits = work / "logits"

    live = work / "natron_live"
    live.mkdir(exist_ok=True)
    script = work / "live.py"
    script.write_text(natron_script(args, frames_dir, size, objects, str(live / "#####.pfm")))
    took, mapped = run_natron(args, script, 0, last, work / "natron_live.log")
    print(f"NatronRenderer live: frames 0-{last} in {took:.1f} s")
    print(f"libtorch in NatronRenderer (checked in each run): {', '.join(mapped) or 'none'}")
    compare(live, logits, names, range(args.count), "live")

    if args.farm:
        cache = work / "shot.srtrack"
        if cache.exists():
            cache.unlink()
        analysed = work / "natron_analyse"
        analysed.mkdir(exist_ok=True)
        script = work / "analyse.py"
        # Analyse from Python, then render one frame so NatronRenderer has something to do.
        script.write_text(natron_script(args, frames_dir, size, objects, str(analysed / "#####.pfm"), cache, analyse=True))
        took, _ = run_natron(args, script, 0, 0, work / "natron_analyse.log")
        print(f"NatronRenderer Analyse: wrote {cache.name} ({cache.stat().st_size} bytes) in {took:.1f} s")
        farm = work / "natron_farm"
        farm.mkdir(exist_ok=True)
        script = work / "farm.py"
        script.write_text(natron_script(args, frames_dir, size, objects, str(farm / "#####.pfm"), cache))
        half = args.count // 2
        for i, (a, b) in enumerate(((0, half - 1), (half, last))):
            took, _ = run_natron(args, script, a, b, work / f"natron_farm_{i}.log")
            print(f"NatronRenderer farm process {i + 1}: frames {a}-{b} from the cache in {took:.1f} s")
        compare(farm, logits, names, range(args.count), "farm")
        same_files(farm, live, args.count, "farm", "the live render")
        print(f"farm: the two processes' files equal the live render byte for byte (frames 0-{last})")
    if args.fault_kill:
        fault = work / "natron_fault"
        fault.mkdir(exist_ok=True)
        helper_log = (work / "natron_fault.log").with_suffix(".helper.log")
        if helper_log.exists():
            helper_log.unlink()
        script = work / "fault.py"
        script.write_text(natron_script(args, frames_dir, size, objects, str(fault / "#####.pfm")))
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=kill_helper_mid_frame, args=(helper_log, args.fault_delay, stop, killed))
        killer.start()
        try:
            took, _ = run_natron(args, script, 0, last, work / "natron_fault.log", retries=1)
        finally:
            stop.set()
            killer.join()
        if not killed:
            sys.exit("fault: the helper was never killed")
        print(f"NatronRenderer fault: helper {killed[0]} killed {args.fault_delay} s into its tracking; "
              f"frames 0-{last} in {took:.1f} s")
        notes = [line for line in helper_log.read_text(errors="replace").splitlines() if "SamuraiRoto plugin" in line]
        for line in notes:
            print(f"fault: helper log: {line}")
        same_files(fault, live, args.count, "fault", "the undisturbed live render")
        print(f"fault: every file equals the undisturbed live render byte for byte (frames 0-{last})")
    if args.roto_key is not None:
        roto_key(args, work, frames_dir, size, names[0])
    if args.fault_term:
        script = work / "term.py"
        script.write_text(natron_script(args, frames_dir, size, objects, str(work / "natron_term" / "#####.pfm")))
        (work / "natron_term").mkdir(exist_ok=True)
        helper, rc, took, shown = terminate_stalled_render(args, script, last, work / "natron_term.log")
        print(f"NatronRenderer fault-term: helper {helper} stopped inside a frame; NatronRenderer exited (status {rc}) "
              f"{took:.2f} s after SIGTERM, the helper gone; the node said: {shown[-1]}")
    print("natron check: OK")


if __name__ == "__main__":
    main()
