"""Benchmark of the refinement per 1920x1080 frame (printed, not a timed test): fast and
quality (band, alpha, decontamination) from the Rust example `refine_eval`, and pymatting's
closed form + multi-level foreground on the same plate and trimap, with the speed ratio.

    .venv/bin/python tools/matting-eval/bench.py [--cases plain,hair,hanging-hair] [--band 16]
        [--repeat 7] [--pm-repeat 2]

Times are the minimum over the repeats (the best estimate of an otherwise idle machine;
medians are printed too). The composites come from composites.py (built if missing).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import composites  # noqa: E402
from eval import REPO, build_example, warm_up_pymatting  # noqa: E402


def rust(exe, d, band, repeat):
    out = os.path.join(d, f"bench_band{band:g}")
    cmd = ["nice", "-n", "10", exe, "--plate", os.path.join(d, "plate.png"), "--logits", os.path.join(d, "logits.npy"),
           "--out", out, "--band", str(band), "--repeat", str(repeat), "--modes", "fast,quality", "--decontaminate"]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "timing.json")) as f:
        return json.load(f), np.load(os.path.join(out, "trimap.npy"))


def pymatting_times(d, trimap, repeat):
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    plate = np.asarray(Image.open(os.path.join(d, "plate.png")), dtype=np.float64) / 255.0
    tri = np.where(trimap == 255, 1.0, np.where(trimap == 0, 0.0, 0.5))
    cf, fg = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        alpha = estimate_alpha_cf(plate, tri)
        t1 = time.perf_counter()
        estimate_foreground_ml(plate, alpha)
        t2 = time.perf_counter()
        cf.append((t1 - t0) * 1e3)
        fg.append((t2 - t1) * 1e3)
    return min(cf), min(fg)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests/fixtures/matting-eval"))
    ap.add_argument("--clips", default=os.path.join(REPO, "../shared/data/clips"))
    ap.add_argument("--cases", default="plain,hair,hanging-hair")
    ap.add_argument("--band", type=float, default=16.0)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--pm-repeat", type=int, default=2)
    args = ap.parse_args()
    warm_up_pymatting()
    exe = build_example()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)\n")
    print("| image | band px | fast ms (median) | quality ms (median) | CG iters | decont. ms | "
          "pymatting CF ms | pymatting FG ms | CF speed-up vs quality | FG speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        spec = next(c for c in composites.CASES if c["name"] == name)
        d = composites.write_case(args.clips, spec, args.out)
        t, trimap = rust(exe, d, args.band, args.repeat)
        cf, fg = pymatting_times(d, trimap, args.pm_repeat)
        f, q = t["fast"], t["quality"]
        fast_ms, quality_ms = f["min_refine_ms"], q["min_refine_ms"]
        dec = min(f["min_foreground_ms"], q["min_foreground_ms"])
        med = lambda t: t["band_ms"] + t["alpha_ms"] + t.get("fit_ms", 0.0)  # noqa: E731
        print(f"| {name} | {q['band_pixels']} | {fast_ms:.0f} ({med(f):.0f}) | "
              f"{quality_ms:.0f} ({med(q):.0f}) | {q['cg_iterations']} | {dec:.0f} | "
              f"{cf:.0f} | {fg:.0f} | {cf / quality_ms:.1f}x | {fg / dec:.1f}x |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
