"""Where a tracked frame's CPU time goes, by kind of work (issue 21, item 1): samples
`samurai-bench track` under `perf record` and sorts the samples by the library and symbol
they fall in.

    .venv/bin/python benches/profile_ops.py --bench target/release/samurai-bench \
        --checkpoint C.pt --frames DIR --count 6 --image-size 512 --box x1,y1,x2,y2 \
        --precision bf16 [--perf-out bench-out/profile]

Buckets (first match wins, on "library symbol"): matrix products (oneDNN's JIT-compiled
kernels, which perf sees as code without a symbol, and MKL's GEMM routines),
convolution, attention (flash/SDPA), softmax, normalisation, activations, copies and casts,
element-wise arithmetic, reductions, thread-pool waiting (OpenMP), the kernel, the rest of
libtorch, and our own code. Prints a Markdown table of shares of the sampled CPU time.
Needs `perf` (Debian's linux-perf) with access to the process's cycles.
"""
import argparse
import os
import re
import subprocess
import sys
from collections import OrderedDict

BUCKETS = OrderedDict(
    [
        # oneDNN compiles its kernels at run time: perf sees them as "[JIT]" code without
        # symbols. They are the linears' and convolutions' products (and oneDNN's reorders).
        ("matrix products: oneDNN JIT kernels", r"\[JIT\]|\[unknown\]"),
        ("matrix products: MKL GEMM", r"jit_|brgemm|gemm|mkl_blas|sgemm|dnnl.*matmul|inner_product|amx"),
        ("convolution", r"conv"),
        ("attention (SDPA)", r"flash_attention|scaled_dot_product|sdpa"),
        ("softmax", r"softmax"),
        ("normalisation (layer/group norm)", r"layer_norm|LayerNorm|group_norm|GroupNorm|batch_norm|rms_norm"),
        ("activations (GELU, ReLU, sigmoid)", r"gelu|relu|sigmoid|silu|tanh"),
        ("copies, casts, layout (copy_, cat, permute)", r"copy|_to_copy|convert|cast|memcpy|memmove|cat_|CatArray|contiguous|transpose|permute|reorder"),
        ("element-wise arithmetic", r"vectorized_loop|cpu_kernel|binary|add_kernel|mul_kernel|div_|where|fill|masked|memset|index"),
        ("reductions", r"reduce|sum_|mean_|max_|min_|argmax|norm"),
        ("thread pool waiting (OpenMP)", r"kmp|gomp|omp_|__kmp|sched_yield"),
        ("kernel (page faults, scheduling)", r"\[kernel"),
        ("other libtorch", r"libtorch|libc10"),
        ("ours", r"samurai"),
    ]
)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--perf-out", default="bench-out/profile")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--freq", type=int, default=499)
    args, rest = ap.parse_known_args()
    os.makedirs(args.perf_out, exist_ok=True)
    data = os.path.join(args.perf_out, f"perf-{args.precision}.data")
    cmd = ["perf", "record", "-q", "-F", str(args.freq), "-o", data, "--", args.bench, "track", "--precision", args.precision] + rest
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"perf record failed ({run.returncode}): {run.stderr.strip()}")
    report = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym", "--percent-limit", "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shares = OrderedDict((k, 0.0) for k in list(BUCKETS) + ["unsorted"])
    top = {}
    for line in report.splitlines():
        # "12.34%  libtorch_cpu.so  [.] symbol"; oneDNN's JIT code is "[JIT] tid N".
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s+\[(.)\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, _, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        text = f"{dso} {sym}"
        bucket = next((k for k, rx in BUCKETS.items() if re.search(rx, text, re.IGNORECASE)), "unsorted")
        shares[bucket] += pct
        top.setdefault(bucket, []).append((pct, text[:110]))
    print(f"{run.stdout.strip()}")
    print(f"\n| kind of work ({args.precision}) | share of CPU samples | largest symbols |")
    print("|---|---|---|")
    for k, v in shares.items():
        if v >= 0.05:
            biggest = "; ".join(f"{t} {p:.1f}%" for p, t in sorted(top.get(k, []), reverse=True)[:2])
            print(f"| {k} | {v:.1f} % | {biggest} |")


if __name__ == "__main__":
    main()
