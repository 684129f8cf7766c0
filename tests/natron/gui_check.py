#!/usr/bin/env python3
"""SamuraiRoto as an artist meets it in Natron's GUI: Read -> SamuraiRoto -> Viewer under
Xvfb, objects drawn with the mouse (xdotool), playback started and stopped; fails on an
error state after stopping playback or on more than one tracking session for the node.

Run through `scripts/natron-gui-check.sh` (which builds Natron's GUI if needed and installs
the bundle first). Natron is not installable from this project's registries, so this is not
part of `scripts/test.sh`; the README's "Checked in Natron" section says what it showed.

What it does, in a work folder:
1. the first --count frames of --clip as 8-bit RGB PNG files (as tests/natron/check.py);
2. starts Xvfb (its own display, --screen WxH) and Natron's GUI with a fresh HOME (no saved
   settings; no update or OCIO question) on a Python script that builds Read (PNG) ->
   SamuraiRoto (Model "checkpoint file" = --checkpoint, Quality --image-size, the objects
   named "girl" and "boy", every other parameter at its default) -> Viewer and starts
   tests/natron/gui_agent.py, which answers this check's requests from inside the GUI
   (node badges, widget places, the viewer's mouse coordinates and rendering state:
   Natron 2.5's Python has no getter for a node's persistent message);
3. fills the screen with Natron's window, gives the viewer two thirds of the height, opens
   the node's panel by a double-click on the node in the node graph, fits the viewer (F
   over it) and reads the mapping from screen to canonical coordinates off the viewer's info
   bar (the mouse at two places);
4. on frame 0, with xdotool, as an artist: object 1 ("girl") selected, a box dragged
   around the girl, a click on her dress (+) and a Ctrl-click on the pillow (-); then
   *Selected object* = 2 (set from Python) and the same for the boy; each gesture must show
   in the node's parameters (the box corners keyed on frame 0 within --tolerance pixels,
   a "+" or "-" line more in the object's Points). Each gesture waits until the viewer no
   longer renders: Natron queues parameter changes made while a node renders and applies
   them when it ends, so a Selected object changed meanwhile is not yet what the overlay
   reads (seen: the boy's box then moved the girl's);
5. screenshots (--out): 0-screen.png (the whole screen), 1-panel.png (the properties
   pane: the node's panel as it opens) and 2-overlay.png (the viewer with the overlay on
   frame 0);
6. --plays times: Play (L over the viewer, as an artist presses it; the current frame must
   move), --play-seconds later Stop (K), the node graph's badges read all along and for
   --settle seconds after Stop: an ERROR badge on the node during playback or after Stop
   fails the check (its message, the node's tooltip, is printed); 3-stopped-N.png: the
   whole screen after the Nth Stop (when the error first showed, if one did). After the
   first Stop the viewer goes to frame --redraw-frame and the boy's box is drawn again
   there (a new keyframe, as an artist corrects a track; 4-redrawn.png: the viewer);
7. the helper log (SAMURAI_ROTO_HELPER_LOG): each "session N: tracking from scratch
   (REASON)" line is a tracker built from nothing; more than one (the node has the same
   inputs throughout, and nothing in this scenario removes, renames or reconfigures an
   object) fails the check. Sessions are told apart by helper process and N.
Every problem found is listed before the check fails; the processes it started (Xvfb,
Natron, the plugin's helpers) are ended on every exit, the timeouts included.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

PLUGIN_ID = "org.samuraiRoto.SamuraiRoto"
NODE_LABEL = "SamuraiRoto1"
SCRATCH = re.compile(r"session (\d+): tracking from scratch \((.*)\)")
SERVING = re.compile(r"helper (\d+) serving")
# The two objects (image pixels, y down, on frame 0 of the bedroom clip): box, then the
# positive and the negative click. The boy's box drawn again on --redraw-frame: from
# (x1, y2) to (x2, y1), starting outside every object's box (so it draws a new box).
OBJECTS = [
    ("girl", (310, 0, 515, 400), (395, 220), (470, 345)),
    ("boy", (145, 135, 295, 405), (235, 250), (170, 185)),
]
REDRAW_BOY = (180, 235, 305, 445)


class CheckFailed(Exception):
    pass


def log(msg):
    print(msg, flush=True)


class Processes:
    """Everything this check started, ended on exit (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.procs = []  # (name, Popen), each in its own process group

    def start(self, name, cmd, **kw):
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def stop_all(self, extra_pids=()):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        # The plugin's helpers end with Natron (their lifeline socket closes); any left are
        # killed by pid (read from the helper log), never by name.
        time.sleep(0.5)
        for pid in extra_pids:
            state = proc_state(pid)
            if state not in (None, "Z"):
                log(f"cleanup: helper {pid} outlived Natron (state {state}): killed")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def proc_state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class Natron:
    """Natron's GUI process and the agent answering in `control`."""

    def __init__(self, proc, control, log_path):
        self.proc, self.control, self.log_path, self.n = proc, control, log_path, 0

    def alive(self):
        if self.proc.poll() is not None:
            raise CheckFailed(f"Natron exited with {self.proc.returncode}; its log {self.log_path}:\n{self.tail()}")

    def tail(self, n=3000):
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def ask(self, code, timeout=20.0):
        """Runs `code` in Natron's GUI (it sets `result`); its result."""
        self.n += 1
        name = f"{self.n:05d}"
        part = self.control / f"{name}.part"
        part.write_text(code)
        part.rename(self.control / f"{name}.py")
        answer = self.control / f"{name}.json"
        deadline = time.monotonic() + timeout
        while not answer.exists():
            self.alive()
            if time.monotonic() > deadline:
                raise CheckFailed(f"Natron's GUI did not answer within {timeout:.0f} s (busy or blocked): {code!r}")
            time.sleep(0.05)
        reply = json.loads(answer.read_text())
        answer.unlink()
        if not reply["ok"]:
            raise CheckFailed(f"in Natron's GUI: {code!r} failed:\n{reply['error']}")
        return reply["result"]


class Screen:
    """xdotool and screenshots on the Xvfb display."""

    def __init__(self, env, out):
        self.env, self.out = env, out

    def xdo(self, *args):
        subprocess.run(["xdotool", *[str(a) for a in args]], env=self.env, check=True, timeout=20)

    def move(self, x, y):
        self.xdo("mousemove", round(x), round(y))
        time.sleep(0.15)

    def drag(self, a, b, steps=12):
        self.move(*a)
        self.xdo("mousedown", 1)
        time.sleep(0.2)
        for i in range(1, steps + 1):
            t = i / steps
            self.xdo("mousemove", round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t))
            time.sleep(0.05)
        time.sleep(0.2)
        self.xdo("mouseup", 1)
        time.sleep(0.3)

    def click(self, at, ctrl=False):
        self.move(*at)
        if ctrl:
            self.xdo("keydown", "ctrl")
            time.sleep(0.2)
        self.xdo("click", 1)
        time.sleep(0.2)
        if ctrl:
            self.xdo("keyup", "ctrl")
        time.sleep(0.3)

    def key(self, name):
        self.xdo("key", name)
        time.sleep(0.2)

    def shot(self, name, crop=None):
        """Saves the screen (or the `crop` [x, y, w, h] of it) as OUT/name."""
        raw = self.out / f".{name}.raw.png"
        subprocess.run(["import", "-window", "root", f"png:{raw}"], env=self.env, check=True, timeout=30)
        img = Image.open(raw)
        if crop:
            x, y, w, h = crop
            img = img.crop((x, y, x + w, y + h))
        img.save(self.out / name)
        raw.unlink()
        log(f"screenshot: {self.out / name} ({img.size[0]}x{img.size[1]})")


def start_xvfb(procs, size, work):
    """Xvfb on a free display (-displayfd); its DISPLAY."""
    r, w = os.pipe()
    cmd = ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{size}x24", "-nolisten", "tcp", "-noreset",
           "+extension", "GLX"]
    with open(work / "xvfb.log", "w") as errlog:
        p = procs.start("Xvfb", cmd, pass_fds=(w,), stdout=errlog, stderr=subprocess.STDOUT)
    os.close(w)
    got = b""
    deadline = time.monotonic() + 20
    while not got.endswith(b"\n"):
        if p.poll() is not None or time.monotonic() > deadline:
            raise CheckFailed(f"Xvfb did not start ({work / 'xvfb.log'}): {(work / 'xvfb.log').read_text()[-1000:]}")
        chunk = os.read(r, 16)
        if not chunk:
            break
        got += chunk
    os.close(r)
    return f":{got.decode().strip()}"


def graph_script(args, frames_dir, control, agent_dir):
    """The Python script Natron's GUI runs: the graph, then the agent."""
    lines = [
        "import sys",
        "import NatronEngine",
        "read = app.createNode('fr.inria.openfx.ReadPNG')",
        "read.setScriptName('Frames')",
        f"read.getParam('filename').setValue({str(frames_dir / '#####.png')!r})",
        f"roto = app.createNode({PLUGIN_ID!r})",
        f"roto.setScriptName({NODE_LABEL!r})",
        "roto.connectInput(0, read)",
        "roto.getParam('model').setValue(4)  # checkpoint file (the Checkpoint below)",
        f"roto.getParam('checkpoint').setValue({str(args.checkpoint)!r})",
        f"roto.getParam('imageSize').setValue({ {1024: 0, 768: 1, 512: 2, 256: 3}[args.image_size] })",
    ]
    for i, (name, *_rest) in enumerate(OBJECTS, start=1):
        lines.append(f"roto.getParam('obj{i}Name').setValue({name!r})")
    lines += [
        "viewer = app.createNode('fr.inria.built-in.Viewer')",
        "viewer.setScriptName('Viewer1')",
        "viewer.connectInput(0, roto)",
        f"app.getProjectParam('frameRange').set(0, {args.count - 1})",
        "app.getProjectParam('lockRange').setValue(True)",
        "read.setPosition(0, 0)",
        "roto.setPosition(0, 150)",
        "viewer.setPosition(0, 300)",
        f"sys.path.insert(0, {str(agent_dir)!r})",
        "import gui_agent",
        f"gui_agent.start(app, {str(control)!r}, {{'read': read, 'roto': roto, 'viewer_node': viewer}})",
    ]
    return "\n".join(lines) + "\n"


def helper_log_facts(path):
    """(sessions, helpers): the "tracking from scratch" lines as (helper pid, session id,
    reason, line) and the helper pids, from the helper log."""
    sessions, helpers, pid = [], [], None
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        m = SERVING.search(line)
        if m:
            pid = int(m.group(1))
            helpers.append(pid)
        m = SCRATCH.search(line)
        if m:
            sessions.append((pid, int(m.group(1)), m.group(2), line.strip()))
    return sessions, helpers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--natron", type=Path, required=True, help="Natron's GUI binary (build/App/Natron)")
    ap.add_argument("--io-plugins", required=True, help="folder(s) with Natron's PNG reader bundle")
    ap.add_argument("--plugins", type=Path, required=True, help="folder with SamuraiRoto.ofx.bundle")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--image-size", type=int, default=256, choices=(256, 512, 768, 1024))
    ap.add_argument("--python-path", default="/usr/lib/python3/dist-packages",
                    help="where Natron's Python finds PySide2 and qtpy (Debian: python3-pyside2.*, python3-qtpy)")
    ap.add_argument("--screen", default="1600x1000", help="Xvfb's screen size")
    ap.add_argument("--plays", type=int, default=2, help="how many times Play is pressed (and Stop)")
    ap.add_argument("--play-seconds", type=float, default=10.0, help="how long each playback runs before Stop")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after Stop before the node's state is read")
    ap.add_argument("--redraw-frame", type=int, default=12, help="the frame where the boy's box is drawn again")
    ap.add_argument("--prompts", choices=("mouse", "python"), default="mouse",
                    help="mouse: the boxes and clicks drawn in the viewer with xdotool; python: keyed from "
                         "Python instead (for a plugin whose overlay cannot draw while the node renders)")
    ap.add_argument("--tolerance", type=float, default=4.0, help="pixels a drawn box corner may miss its target by")
    ap.add_argument("--render-timeout", type=float, default=180.0,
                    help="seconds a gesture's parameters may take to show (Natron applies them after a render)")
    ap.add_argument("--start-timeout", type=float, default=240.0, help="seconds Natron may take to open the graph")
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole check's limit in seconds")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder for the screenshots")
    args = ap.parse_args()
    args.checkpoint = args.checkpoint.resolve()
    args.plugins = args.plugins.resolve()
    args.natron = args.natron.resolve()
    for tool, pkg in (("Xvfb", "xvfb"), ("xdotool", "xdotool"), ("import", "imagemagick")):
        if shutil.which(tool) is None:
            sys.exit(f"natron gui check: {tool} missing (Debian: apt-get install {pkg})")
    if not args.checkpoint.is_file():
        sys.exit(f"natron gui check: --checkpoint {args.checkpoint}: no such file")

    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    frames_dir, control, home = work / "frames", work / "control", work / "home"
    for d in (frames_dir, control, home / ".config" / "INRIA"):
        d.mkdir(parents=True)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    sources = sorted(p for p in args.clip.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: args.count]
    if len(sources) < args.count:
        sys.exit(f"{args.clip}: {len(sources)} frames, --count {args.count}")
    for i, src in enumerate(sources):
        Image.open(src).convert("RGB").save(frames_dir / f"{i:05d}.png")
    width, height = Image.open(frames_dir / "00000.png").size
    # Natron asks whether to check for updates unless its QSettings say.
    (home / ".config" / "INRIA" / "Natron.conf").write_text("[General]\ncheckForUpdates=false\n")
    script = work / "graph.py"
    script.write_text(graph_script(args, frames_dir, control, Path(__file__).resolve().parent))
    helper_log = work / "helper.log"

    procs = Processes()

    def on_signal(signum, _frame):
        raise CheckFailed(f"stopped by signal {signum}")

    def on_alarm(_signum, _frame):
        raise CheckFailed(f"the check ran past --timeout {args.timeout:.0f} s")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.timeout))
    problems = []
    try:
        display = start_xvfb(procs, args.screen, work)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND"))}
        env.update({
            "DISPLAY": display, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local" / "share"),
            "OFX_PLUGIN_PATH": f"{args.plugins}:{args.io_plugins}",
            # Natron disables site-packages: PySide2 and qtpy must be on PYTHONPATH.
            "PYTHONPATH": ":".join(p for p in (args.python_path, os.environ.get("PYTHONPATH")) if p),
            "SAMURAI_ROTO_HELPER_LOG": str(helper_log),
            "LIBGL_ALWAYS_SOFTWARE": "1", "QT_X11_NO_MITSHM": "1",
        })
        screen = Screen(env, out)
        natron_log = work / "natron.log"
        with open(natron_log, "w") as nlog:
            # No start-up question: the OCIO config check (the check for updates: Natron.conf above).
            cmd = [str(args.natron), "--setting", "startupCheckOCIO=False", str(script)]
            proc = procs.start("Natron", cmd, env=env, stdout=nlog, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=work)
        natron = Natron(proc, control, natron_log)
        log(f"Natron GUI: {args.natron} on {display} (pid {proc.pid}), log {natron_log}, helper log {helper_log}")
        start = time.monotonic()
        while not (control / "ready").exists():
            natron.alive()
            if time.monotonic() - start > args.start_timeout:
                screen.shot("0-start-timeout.png")
                raise CheckFailed(f"Natron did not open the graph within {args.start_timeout:.0f} s; its log:\n{natron.tail()}")
            time.sleep(0.2)
        log(f"Natron opened the graph in {time.monotonic() - start:.1f} s")
        closed = natron.ask("result = close_modal_dialogs()")
        if closed:
            log(f"closed Natron's start-up dialog(s): {closed}")
        sw, sh = (int(v) for v in args.screen.split("x"))
        natron.ask(f"w = main_window(); w.setGeometry(0, 0, {sw}, {sh}); w.showMaximized(); result = None")
        time.sleep(1.0)
        natron.ask("result = enlarge_viewer(0.68)")
        time.sleep(1.0)
        geo = natron.ask(f"result = {{'viewer': viewer_rect(), 'props': properties_rect(), 'panel': panel_rect({NODE_LABEL!r}), "
                         "'window': screen_rect(main_window())}")
        log(f"layout: window {geo['window']}, viewer {geo['viewer']}, properties {geo['props']}, node panel {geo['panel']}")
        if not geo["viewer"]:
            raise CheckFailed("no viewer on screen")
        if not geo["panel"]:
            # As an artist opens it: a double-click on the node in the node graph.
            at = natron.ask(f"result = node_point({NODE_LABEL!r})")
            if at is None:
                raise CheckFailed(f"no node labelled {NODE_LABEL} in the node graph")
            screen.move(*at)
            screen.xdo("click", "--repeat", 2, "--delay", 100, 1)
            time.sleep(1.5)
            geo["panel"] = natron.ask(f"result = panel_rect({NODE_LABEL!r})")
            log(f"node panel opened by a double-click on the node at {at}: {geo['panel']}")
            if not geo["panel"]:
                raise CheckFailed(f"a double-click on {NODE_LABEL} in the node graph opened no properties panel")
        vx, vy, vw, vh = geo["viewer"]

        # Fit the viewer, then read the screen -> canonical mapping off the info bar.
        natron.ask("v = app.getViewer('Viewer1'); v.seek(0); result = v.getCurrentFrame()")
        screen.move(vx + vw / 2, vy + vh / 2)
        screen.key("f")
        time.sleep(1.0)
        probes = []
        for fx, fy in ((0.3, 0.3), (0.7, 0.7)):
            sx, sy = vx + vw * fx, vy + vh * fy
            screen.move(sx, sy)
            screen.move(sx + 1, sy)
            screen.move(sx, sy)
            c = natron.ask("result = mouse_canonical()")
            if c is None:
                raise CheckFailed("the viewer's info bar shows no mouse coordinates")
            probes.append(((round(sx), round(sy)), c))
        (s0, c0), (s1, c1) = probes
        kx, ky = (c1[0] - c0[0]) / (s1[0] - s0[0]), (c1[1] - c0[1]) / (s1[1] - s0[1])
        if kx <= 0 or ky >= 0:
            raise CheckFailed(f"unexpected viewer mapping from {probes}")
        log(f"viewer: {1 / kx:.3f} screen pixels per image pixel (probes {probes})")

        def to_screen(x, y):
            """Image pixel (y down) -> screen."""
            cx, cy = x, height - y
            return (s0[0] + (cx - c0[0]) / kx, s0[1] + (cy - c0[1]) / ky)

        def params(i, frame):
            return natron.ask(
                f"bl = roto.getParam('obj{i}BoxBL'); tr = roto.getParam('obj{i}BoxTR'); pts = roto.getParam('obj{i}Points')\n"
                f"result = {{'bl': [bl.getValueAtTime({frame}, 0), bl.getValueAtTime({frame}, 1)], "
                f"'tr': [tr.getValueAtTime({frame}, 0), tr.getValueAtTime({frame}, 1)], 'key': bl.getKeyIndex({frame}, 0), "
                f"'enabled': roto.getParam('obj{i}Enable').getValue(), 'points': pts.getValue() if pts else None}}")

        def wait_for(what, test):
            """Waits for a gesture's parameters: Natron queues parameter changes made while the
            node renders and applies them when the render ends, so a gesture made while the
            node tracks shows only then (up to --render-timeout)."""
            start = time.monotonic()
            while True:
                got = test()
                if got:
                    took = time.monotonic() - start
                    if took > 2.0:
                        log(f"  ({what}: in the parameters {took:.1f} s after the gesture: the node was rendering)")
                    return got
                if time.monotonic() - start > args.render_timeout:
                    raise CheckFailed(f"{what}: nothing changed in the node's parameters within {args.render_timeout:.0f} s")
                time.sleep(0.2)

        def draw_box(i, name, box, frame, drag_from=None):
            wait_idle(f"drawing {name}'s box")
            x1, y1, x2, y2 = box
            a, b = drag_from or ((x1, y1), (x2, y2))
            screen.drag(to_screen(*a), to_screen(*b))
            wait_for(f"{name}'s box on frame {frame}", lambda: (lambda p: p if p["key"] >= 0 else None)(params(i, frame)))
            # A plugin may write the box at every motion or at pen up; Natron applies what was
            # written during a render at its end: the drawn box is what stands once idle.
            wait_idle(f"reading {name}'s box")
            got = params(i, frame)
            want = [x1, height - y2, x2, height - y1]
            have = got["bl"] + got["tr"]
            off = max(abs(h - w) for h, w in zip(have, want))
            log(f"drawn: {name}'s box on frame {frame}: BL ({have[0]:.1f}, {have[1]:.1f}) TR ({have[2]:.1f}, {have[3]:.1f}) "
                f"(canonical), aimed at ({want[0]}, {want[1]})-({want[2]}, {want[3]}): {off:.1f} px off")
            if off > args.tolerance:
                raise CheckFailed(f"{name}'s box landed {off:.1f} px from where it was drawn (more than --tolerance {args.tolerance})")

        def click(i, name, at, frame, negative):
            wait_idle(f"{name}'s click")
            before = params(i, frame)["points"]
            screen.click(to_screen(*at), ctrl=negative)
            after = wait_for(f"{name}'s {'-' if negative else '+'} click", lambda: (lambda p: p if p["points"] != before else None)(params(i, frame)))
            new = [ln for ln in (after["points"] or "").splitlines() if ln not in (before or "").splitlines()]
            log(f"drawn: {name}'s {'negative (Ctrl-click)' if negative else 'positive'} click at image ({at[0]}, {at[1]}): "
                f"Points gained {new}")
            sign = "-" if negative else "+"
            if not any(ln.strip().endswith(sign) for ln in new):
                problems.append(f"{name}'s {'Ctrl-' if negative else ''}click did not add a '{sign}' click: Points gained {new}")

        def wait_idle(what):
            """Waits until the viewer no longer renders (Natron queues parameter changes made
            while the node renders: a Selected object changed then is not yet what the
            node's overlay reads)."""
            start = time.monotonic()
            while natron.ask("result = viewer_rendering()"):
                if time.monotonic() - start > args.render_timeout:
                    raise CheckFailed(f"{what}: the viewer still renders after {args.render_timeout:.0f} s")
                time.sleep(0.2)
            took = time.monotonic() - start
            if took > 1.0:
                log(f"  (waited {took:.1f} s for the viewer's render before {what})")

        def select(i):
            """Selected object = object i (as an artist picks it in the panel; set from Python
            once the viewer is idle)."""
            wait_idle(f"selecting object {i}")
            label = natron.ask(f"p = roto.getParam('selectedObject'); p.setValue({i - 1}); result = p.getOption({i - 1})")
            time.sleep(0.5)
            got = natron.ask("result = roto.getParam('selectedObject').getValue()")
            if got != i - 1:
                raise CheckFailed(f"Selected object reads {got} after setting {i - 1}")
            log(f"selected object: {i} ({label})")

        def key_box(i, name, box, frame):
            """--prompts python: the box keyed from Python, as tests/natron/check.py does."""
            x1, y1, x2, y2 = box
            natron.ask("\n".join(f"roto.getParam('obj{i}{param}').setValueAtTime({v!r}, {frame}, {d})"
                                 for param, xy in (("BoxBL", (x1, height - y2)), ("BoxTR", (x2, height - y1)))
                                 for d, v in enumerate(xy)) + f"\nroto.getParam('obj{i}Enable').setValue(True)\nresult = None")
            log(f"keyed from Python: {name}'s box on frame {frame}: ({x1}, {y1})-({x2}, {y2}) (image pixels)")

        for i, (name, box, plus, minus) in enumerate(OBJECTS, start=1):
            if args.prompts == "python":
                wait_idle(f"keying {name}")
                key_box(i, name, box, 0)
                points = "\n".join(f"0 {x} {height - y} {sign}" for (x, y), sign in ((plus, "+"), (minus, "-")))
                natron.ask(f"roto.getParam('obj{i}Points').setValue({points!r}); result = None")
                log(f"keyed from Python: {name}'s clicks on frame 0: {points!r}")
                continue
            select(i)
            draw_box(i, name, box, 0)
            click(i, name, plus, 0, negative=False)
            click(i, name, minus, 0, negative=True)
        screen.move(vx + vw - 5, vy + vh - 5)  # out of the way of the overlay
        time.sleep(args.settle)
        geo = natron.ask(f"result = {{'viewer': viewer_rect(), 'props': properties_rect(), 'panel': panel_rect({NODE_LABEL!r})}}")
        screen.shot("0-screen.png")
        screen.shot("1-panel.png", crop=geo["props"] or geo["panel"])
        screen.shot("2-overlay.png", crop=geo["viewer"])
        badges = natron.ask("result = node_badges()")
        for b in badges:
            log(f"node state before playback: {b['node']}: {b['badge']}: {b['message']}")
            if b["badge"] == "ERROR":
                problems.append(f"before playback: {b['message'] or b['node'] + ' ERROR'}")

        def errors_now():
            return [b for b in natron.ask("result = node_badges()") if b["badge"] == "ERROR"]

        for play in range(1, args.plays + 1):
            first = natron.ask("result = app.getViewer('Viewer1').getCurrentFrame()")
            screen.move(vx + vw / 2, vy + vh / 2)
            screen.key("l")  # Natron's Play forward
            seen, during = {first}, {}
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.play_seconds:
                seen.add(natron.ask("result = app.getViewer('Viewer1').getCurrentFrame()"))
                for b in errors_now():
                    during.setdefault(b["message"] or b["node"], time.monotonic() - t0)
                time.sleep(0.2)
            screen.key("k")  # Natron's Stop
            t_stop = time.monotonic()
            stopped_at = natron.ask("result = app.getViewer('Viewer1').getCurrentFrame()")
            if len(seen) < 2:
                raise CheckFailed(f"play {play}: L over the viewer did not start playback (frame stayed {first})")
            log(f"play {play}: from frame {first}, {len(seen)} frames shown in {args.play_seconds:.0f} s, Stop at frame {stopped_at}")
            for msg, t in during.items():
                log(f"  ERROR during play {play} ({t:.1f} s in): {msg}")
                problems.append(f"during playback ({play}): {msg}")
            # The node's state is watched for --settle seconds after Stop (an error may show
            # late, or be cleared by a later render): every ERROR seen then fails the check.
            after, shot = {}, False
            while time.monotonic() - t_stop < args.settle:
                for b in errors_now():
                    msg = b["message"] or b["node"]
                    if msg not in after:
                        after[msg] = time.monotonic() - t_stop
                        log(f"  ERROR {after[msg]:.1f} s after Stop (play {play}): {msg}")
                        if not shot:
                            screen.shot(f"3-stopped-{play}.png")
                            shot = True
                time.sleep(0.2)
            if not shot:
                screen.shot(f"3-stopped-{play}.png")
            badges = natron.ask("result = node_badges()")
            for b in badges:
                log(f"node state {args.settle:.0f} s after Stop (play {play}): {b['node']}: {b['badge']}: {b['message']}")
            if not badges:
                log(f"node state {args.settle:.0f} s after Stop (play {play}): no error or warning on any node")
            for msg in after:
                problems.append(f"after stopping playback ({play}): {msg}")
            modal = natron.ask("result = modal_dialog()")
            if modal:
                problems.append(f"after stopping playback ({play}): a dialog is open: {modal}")
                natron.ask("result = close_modal_dialogs()")
            sessions, _ = helper_log_facts(helper_log)
            log(f"tracking starts from scratch so far: {len(sessions)}")
            if play == 1:
                # An artist corrects the track: on another frame, the boy's box drawn again.
                f = args.redraw_frame
                natron.ask(f"v = app.getViewer('Viewer1'); v.seek({f}); result = None")
                time.sleep(1.0)
                if args.prompts == "python":
                    wait_idle("keying the boy again")
                    key_box(2, "boy", REDRAW_BOY, f)
                else:
                    select(2)
                    x1, y1, x2, y2 = REDRAW_BOY
                    draw_box(2, "boy", REDRAW_BOY, f, drag_from=((x1, y2), (x2, y1)))
                screen.move(vx + vw - 5, vy + vh - 5)
                time.sleep(args.settle)
                screen.shot("4-redrawn.png", crop=geo["viewer"])
                for b in natron.ask("result = node_badges()"):
                    log(f"node state after the redraw on frame {f}: {b['node']}: {b['badge']}: {b['message']}")
                    if b["badge"] == "ERROR":
                        problems.append(f"after drawing on frame {f}: {b['message'] or b['node'] + ' ERROR'}")

        sessions, helpers = helper_log_facts(helper_log)
        log(f"helper processes: {helpers or 'none'}")
        distinct = sorted({(pid, n) for pid, n, _, _ in sessions}, key=str)
        log(f"tracking from scratch: {len(sessions)} time(s), {len(distinct)} session(s) (helper pid, session id): {distinct}")
        for _, _, _, line in sessions:
            log(f"  helper log: {line}")
        if not sessions:
            problems.append(f"no 'tracking from scratch' line in the helper log {helper_log}: the node never tracked, "
                            "or the plugin predates the session log")
        elif len(sessions) > 1:
            problems.append(f"{len(sessions)} tracking starts from scratch in {len(distinct)} session(s) for the node, "
                            "expected 1 (same inputs throughout)")
    except CheckFailed as e:
        problems.append(str(e))
        try:
            screen.shot("9-failure.png")
        except Exception:  # noqa: BLE001 - the screen may be gone; the failure is reported either way
            pass
    finally:
        signal.alarm(0)
        _, helpers = helper_log_facts(helper_log)
        procs.stop_all(extra_pids=helpers)
    shown = [line for line in (work / "natron.log").read_text(errors="replace").splitlines()
             if "SamuraiRoto" in line or "Traceback" in line] if (work / "natron.log").exists() else []
    for line in shown[-20:]:
        log(f"Natron log: {line}")
    if problems:
        log("natron gui check: FAILED")
        for p in problems:
            log(f"  - {p}")
        sys.exit(1)
    log("natron gui check: OK")


if __name__ == "__main__":
    main()
