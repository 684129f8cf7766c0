#!/usr/bin/env bash
# Builds the "foreign libtorch" test fixture: the libtorch Nuke 15.1 ships
# (PyPI torch 2.1.2, CUDA 12.1 build) unpacked just enough to load and run a
# CPU tensor op, plus a small shim library compiled against it
# (crates/ofx/tests/foreign_torch/foreign_torch.cpp). Tests load both into a process to
# simulate Nuke's process (crates/ofx/tests/foreign_torch/mod.rs).
#
#   scripts/foreign-torch.sh [DIR]     DIR defaults to tests/fixtures/foreign-torch
#
# DIR/wheels   the three wheels, kept as a download cache (~685 MB)
# DIR/lib      libc10.so, libtorch_cpu.so and what they need (no CUDA torch libs)
# DIR/include  torch's C++ headers (ATen, c10, caffe2, torch)
# DIR/libforeign_torch_shim.so
#
# Idempotent: each step is skipped when its output is up to date; a warm run
# makes no network access. Progress goes to stderr; the last line on stdout
# is DIR/lib (put it on LD_LIBRARY_PATH of the process that loads the fixture).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$repo/tests/fixtures/foreign-torch}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
src=$repo/crates/ofx/tests/foreign_torch/foreign_torch.cpp
shim=$dir/libforeign_torch_shim.so

log() { echo "foreign-torch: $*" >&2; }

# One builder at a time (tests running in parallel may all ask for the fixture).
exec 9>"$dir/.lock"
flock 9

# --- 1. wheels ---------------------------------------------------------------
torch_whl=torch-2.1.2-cp311-cp311-manylinux1_x86_64.whl
cudart_whl=nvidia_cuda_runtime_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
cupti_whl=nvidia_cuda_cupti_cu12-12.1.105-py3-none-manylinux1_x86_64.whl
mkdir -p "$dir/wheels"
if [[ ! -f $dir/wheels/$torch_whl || ! -f $dir/wheels/$cudart_whl || ! -f $dir/wheels/$cupti_whl ]]; then
    log "downloading torch 2.1.2 + CUDA runtime/CUPTI 12.1 wheels (~685 MB) into $dir/wheels"
    # The wheels are tagged manylinux1 (an alias of manylinux_2_5); pip does
    # not widen an explicit --platform, so name both.
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version 3.11 --implementation cp \
        --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
        -d "$dir/wheels/.partial" \
        torch==2.1.2 nvidia-cuda-runtime-cu12==12.1.105 nvidia-cuda-cupti-cu12==12.1.105
    # Only complete downloads reach DIR/wheels (an interrupted run leaves .partial).
    mv -f "$dir/wheels/.partial/"*.whl "$dir/wheels/"
    rmdir "$dir/wheels/.partial"
fi

# --- 2. libraries and headers -----------------------------------------------
# libtorch_cpu.so NEEDs libc10.so, libgomp-a34b3233.so.1 (torch's bundled
# OpenMP), libcudart.so.12 and libcupti.so.12 (the Kineto profiler is linked
# into the CPU library of the CUDA build) plus system libs. libtorch.so is left
# out: it NEEDs libtorch_cuda.so (740 MB, and cuDNN/cuBLAS/NCCL after it),
# which a CPU op does not use. All land flat in DIR/lib; the torch libs carry
# RPATH $ORIGIN, so they also find each other there without LD_LIBRARY_PATH.
lib_members=(
    "$torch_whl:torch/lib/libc10.so"
    "$torch_whl:torch/lib/libtorch_cpu.so"
    "$torch_whl:torch/lib/libgomp-a34b3233.so.1"
    "$cudart_whl:nvidia/cuda_runtime/lib/libcudart.so.12"
    "$cupti_whl:nvidia/cuda_cupti/lib/libcupti.so.12"
)
include_prefixes=(ATen c10 caffe2 torch)
# The stamp names what was extracted: editing the lists above re-extracts.
stamp_text="${lib_members[*]} | ${include_prefixes[*]}"
stamp=$dir/.extracted
if [[ ! -f $stamp || $(<"$stamp") != "$stamp_text" || $dir/wheels/$torch_whl -nt $stamp ]]; then
    log "extracting libraries and headers into $dir/{lib,include}"
    rm -rf "$dir/lib" "$dir/include" "$dir/.extract.tmp" "$stamp"
    mkdir -p "$dir/.extract.tmp/lib" "$dir/.extract.tmp/include"
    python3 - "$dir" "${include_prefixes[*]}" "${lib_members[@]}" <<'PY'
import os, shutil, sys, zipfile
dir, prefixes, members = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
tmp = os.path.join(dir, ".extract.tmp")

def copy(z, info, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with z.open(info) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(dest, 0o755 if "/lib/" in info.filename else 0o644)

by_wheel = {}
for m in members:
    whl, name = m.split(":", 1)
    by_wheel.setdefault(whl, []).append(name)
torch_whl = members[0].split(":", 1)[0]
for whl, names in by_wheel.items():
    with zipfile.ZipFile(os.path.join(dir, "wheels", whl)) as z:
        for name in names:
            copy(z, z.getinfo(name), os.path.join(tmp, "lib", os.path.basename(name)))
        if whl == torch_whl:
            roots = tuple("torch/include/%s/" % p for p in prefixes)
            for info in z.infolist():
                if info.filename.startswith(roots) and not info.is_dir():
                    rel = info.filename[len("torch/include/"):]
                    copy(z, info, os.path.join(tmp, "include", rel))
PY
    mv "$dir/.extract.tmp/lib" "$dir/lib"
    mv "$dir/.extract.tmp/include" "$dir/include"
    rmdir "$dir/.extract.tmp"
    printf '%s' "$stamp_text" >"$stamp"
    rm -f "$shim"
fi

# --- 3. shim -----------------------------------------------------------------
if [[ ! -f $shim || $src -nt $shim || $stamp -nt $shim ]]; then
    # PyPI torch 2.1.2 is built with the pre-C++11 libstdc++ ABI: its
    # c10::Error(std::string, std::string, void const*) mangles std::string
    # as "Ss" (new ABI: NSt7__cxx1112basic_string...). Read it off the library.
    # (grep without -q: an early exit would SIGPIPE nm and fail the pipeline.)
    if nm -D --defined-only "$dir/lib/libc10.so" | grep -c ' T _ZN3c105ErrorC1ESsSsPKv$' >/dev/null; then
        abi=0
    else
        abi=1
    fi
    log "compiling $shim (_GLIBCXX_USE_CXX11_ABI=$abi)"
    nice g++ -std=c++17 -O1 -fPIC -shared -D_GLIBCXX_USE_CXX11_ABI=$abi \
        -isystem "$dir/include" -isystem "$dir/include/torch/csrc/api/include" \
        -o "$shim.tmp" "$src" \
        -L"$dir/lib" -lc10 -ltorch_cpu -Wl,--no-as-needed -ldl
    mv "$shim.tmp" "$shim"
fi

echo "$dir/lib"
