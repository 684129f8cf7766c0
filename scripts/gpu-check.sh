#!/usr/bin/env bash
# One-shot GPU check: on a machine with an NVIDIA GPU, sets up (venv, torch 2.11.0, the
# reference), builds with CUDA, and in one run prints
#   1. block parity on CUDA fp32: `segment` (image encoder, prompt encoder, mask decoder)
#      against the reference image predictor on the same GPU (tolerance 1e-3·max(1,|ref|),
#      IoU >= 0.999);
#   2. tracking parity on CUDA fp32: `track` against the reference SAMURAI video predictor
#      on the same GPU, per frame (same tolerance), one object, box on frame 0, forward;
#   3. bf16 against fp32 (ours): per-frame mask IoU, same chosen mask, same memory frames;
#   4. seconds per tracked frame, tiny and large at 1024, ours and the reference's side by
#      side (fp32 both; ours in bf16 too);
#   5. peak device memory over 50 and 200 frames (tiny at 1024), ours and the reference's;
#   6. object batching: seconds per frame for 1, 2, 4, 8 objects (tiny at 512), batched and
#      one by one, and how far the batched logits are from one by one on this device.
# The checks after the build are limited to 8 minutes in all (GPU_CHECK_LIMIT seconds).
#
#   scripts/gpu-check.sh            the real check (needs CUDA; fails clearly without it)
#   scripts/gpu-check.sh --cpu      dry run on the CPU at tiny sizes (image size 256, a few
#                                   frames): every step above, to prove the script works
#
# Checkpoints are random-initialised in the official format (benches/gpu_check.py, the
# parity recipe), written under tests/fixtures/gpu-check/ (git-ignored). Outputs and logs go
# to bench-out/gpu-check/ (git-ignored).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=gpu
case "${1:-}" in
  "") ;;
  --cpu) mode=cpu ;;
  *) echo "gpu-check.sh: unknown option '$1' (use --cpu for the CPU dry run)" >&2; exit 2 ;;
esac

if [ "$mode" = gpu ]; then
  device=cuda; size=1024; parity_frames=20; speed_frames=20; memory_counts="50 200"; sizes="tiny large"
  batch_size=512; batch_frames=10; batch_objects="1,2,4,8"
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check.sh: no NVIDIA GPU visible (nvidia-smi); run with --cpu for the dry run" >&2
    exit 1
  fi
  export SAMURAI_ROTO_CUDA=1  # keep libtorch's CUDA library linked
else
  device=cpu; size=256; parity_frames=3; speed_frames=2; memory_counts="3 6"; sizes="tiny large"
  batch_size=256; batch_frames=3; batch_objects="1,2"
fi
limit="${GPU_CHECK_LIMIT:-480}"

# --- set up and build (not counted in the limit) -------------------------------------------
bash scripts/setup.sh --reference >&2
source scripts/env.sh
cargo build --release --locked --bin samurai-bench --bin samurai-roto >&2
target="${CARGO_TARGET_DIR:-$root/target}/release"
bench="$target/samurai-bench"
roto="$target/samurai-roto"
py="$root/.venv/bin/python"
clip="$root/../shared/data/clips/bedroom"
box="310,0,515,400"
out="$root/bench-out/gpu-check/$mode"
fixtures="$root/tests/fixtures/gpu-check"
rm -rf "$out"
mkdir -p "$out" "$fixtures"
log="$out/log.txt"
threads=$(nproc)

start=$SECONDS
step() {  # step NAME CMD... : runs CMD with what is left of the limit, its stderr to the log
  local name="$1"; shift
  local left=$((limit - (SECONDS - start)))
  if [ "$left" -le 0 ]; then
    echo "gpu-check: out of time before '$name'" >&2
    return 124
  fi
  echo "== $name" >>"$log"
  timeout "$left" "$@" 2>>"$log"
}
json() {  # json FIELD JSON: one field of a JSON object
  "$py" -c 'import json,sys; v=json.loads(sys.argv[2])[sys.argv[1]]; print(v if not isinstance(v, float) else f"{v:.6g}")' "$1" "$2"
}

echo "gpu-check ($mode): device $device, image size $size, $threads CPU threads, limit ${limit}s"
if [ "$mode" = gpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'

for s in $sizes; do
  ck="$fixtures/${s}_${size}.pt"
  [ -f "$ck" ] || step "checkpoint $s" "$py" benches/gpu_check.py checkpoint --size "$s" --image-size "$size" --out "$ck" >/dev/null
done
tiny="$fixtures/tiny_${size}.pt"

# 1. block parity: segment
echo
echo "1. block parity ($device fp32, segment = image encoder + prompt encoder + mask decoder, tiny at $size)"
step "segment ours" "$roto" --threads "$threads" segment --checkpoint "$tiny" --image "$clip/00000.jpg" --box "$box" \
  --image-size "$size" --device "$device" --precision fp32 --out "$out/segment.png" --logits "$out/segment_ours.npy"
step "segment reference" "$py" benches/gpu_check.py segment --checkpoint "$tiny" --size tiny --image-size "$size" \
  --image "$clip/00000.jpg" --box "$box" --device "$device" --threads "$threads" --out "$out/segment_ref.npy" >/dev/null
r=$("$py" benches/gpu_check.py compare-segment "$out/segment_ours.npy" "$out/segment_ref.npy")
echo "   max |ours - ref| $(json max_abs_diff "$r") (tolerance $(json tolerance "$r")), IoU $(json iou "$r"): pass=$(json pass "$r")"

# 2. tracking parity
echo
echo "2. tracking parity ($device fp32, tiny at $size, $parity_frames frames, one object, forward, fill-hole-area 0)"
step "track ours" "$roto" --threads "$threads" track --checkpoint "$tiny" --frames "$clip" --object "obj:0:$box" \
  --image-size "$size" --device "$device" --precision fp32 --mode forward --fill-hole-area 0 \
  --range "0-$((parity_frames - 1))" --out "$out/track_ours_mattes" --logits "$out/track_ours"
step "track reference" "$py" benches/gpu_check.py track --checkpoint "$tiny" --size tiny --image-size "$size" \
  --frames "$clip" --count "$parity_frames" --box "$box" --device "$device" --threads "$threads" --out "$out/track_ref" >/dev/null
r=$("$py" benches/gpu_check.py compare-track "$out/track_ours/obj" "$out/track_ref")
echo "   frames $(json frames "$r"), max |ours - ref| $(json max_abs_diff "$r") ($(json max_diff_over_tolerance "$r") x tolerance), min IoU $(json min_iou "$r"), failed $(json failed_frames "$r"): pass=$(json pass "$r")"

# 3. bf16 against fp32
echo
echo "3. bf16 against fp32 (ours, $device, tiny at $size, $parity_frames frames)"
r=$(step "precision" "$bench" --threads "$threads" precision --checkpoint "$tiny" --frames "$clip" --count "$parity_frames" \
  --image-size "$size" --box "$box" --device "$device")
echo "   mean IoU $(json mean_iou "$r"), min IoU $(json min_iou "$r"), same chosen mask $(json same_chosen_mask "$r")/$(json frames "$r"), same memory frames $(json same_memory_frames "$r")/$(json frames "$r")"

# 4. speed
echo
echo "4. seconds per tracked frame ($device, at $size, $speed_frames frames, one object)"
printf "   %-6s %14s %14s %14s %8s\n" model "ours fp32" "ours bf16" "reference fp32" "ratio"
for s in $sizes; do
  ck="$fixtures/${s}_${size}.pt"
  a=$(step "speed ours $s fp32" "$bench" --threads "$threads" track --checkpoint "$ck" --frames "$clip" --count "$speed_frames" \
    --image-size "$size" --box "$box" --device "$device" --precision fp32)
  b=$(step "speed ours $s bf16" "$bench" --threads "$threads" track --checkpoint "$ck" --frames "$clip" --count "$speed_frames" \
    --image-size "$size" --box "$box" --device "$device" --precision bf16)
  c=$(step "speed reference $s" "$py" benches/reference_bench.py track --checkpoint "$ck" --size "$s" --frames "$clip" \
    --count "$speed_frames" --image-size "$size" --box "$box" --device "$device" --threads "$threads")
  fa=$(json seconds_per_frame "$a"); fb=$(json seconds_per_frame "$b"); fc=$(json seconds_per_frame "$c")
  printf "   %-6s %14s %14s %14s %8s\n" "$s" "$fa" "$fb" "$fc" "$("$py" -c "print(f'{$fa/$fc:.3f}')")"
done

# 5. peak memory
echo
if [ "$mode" = gpu ]; then
  echo "5. peak device memory (tiny at $size, one object; caching allocator: allocated / reserved, MiB)"
  field_a=peak_device_allocated_bytes; field_b=peak_device_reserved_bytes
else
  echo "5. peak memory (CPU dry run: no device memory, peak RSS in MiB instead)"
  field_a=peak_rss_bytes; field_b=peak_rss_bytes
fi
for n in $memory_counts; do
  a=$(step "memory ours $n" "$bench" --threads "$threads" track --checkpoint "$tiny" --frames "$clip" --count "$n" \
    --image-size "$size" --box "$box" --device "$device")
  c=$(step "memory reference $n" "$py" benches/reference_bench.py track --checkpoint "$tiny" --size tiny --frames "$clip" \
    --count "$n" --image-size "$size" --box "$box" --device "$device" --threads "$threads")
  mib() { "$py" -c "print(f'{$1/2**20:.1f}')"; }
  echo "   $n frames: ours $(mib "$(json $field_a "$a")") / $(mib "$(json $field_b "$a")"), reference $(mib "$(json $field_a "$c")") / $(mib "$(json $field_b "$c")")"
done

# 6. object batching
echo
echo "6. object batching ($device, tiny at $batch_size, $batch_frames frames, objects keyed on frame 0)"
[ -f "$fixtures/tiny_${batch_size}.pt" ] || step "checkpoint tiny $batch_size" "$py" benches/gpu_check.py checkpoint --size tiny \
  --image-size "$batch_size" --out "$fixtures/tiny_${batch_size}.pt" >/dev/null
r=$(step "objects" "$bench" --threads "$threads" objects --checkpoint "$fixtures/tiny_${batch_size}.pt" --frames "$clip" \
  --count "$batch_frames" --image-size "$batch_size" --objects "$batch_objects" --device "$device")
"$py" - "$r" <<'PY'
import json, sys
for k, v in json.loads(sys.argv[1]).items():
    print(f"   {k:<10s} one by one {v['one_by_one_s_per_frame']:.4f} s/frame, batched {v['batched_s_per_frame']:.4f} "
          f"(ratio {v['ratio']:.3f}, mean batch {v['mean_batch']:.2f}), max |Δlogit| {v['max_logit_diff']:.3e}, "
          f"min mask IoU {v['min_mask_iou']:.5f}") if k.startswith("objects_") else \
    print(f"   image encoder, frames in one batch: " + ", ".join(f"batch {b}: {t:.4f} s/frame" for b, t in v.items()))
PY

echo
echo "gpu-check ($mode): done in $((SECONDS - start)) s after the build (limit ${limit}s); log: $log"
