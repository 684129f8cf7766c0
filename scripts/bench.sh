#!/usr/bin/env bash
# Side-by-side benchmark: ours (samurai-bench, release) and the reference
# (benches/reference_bench.py) on the same random-init official-format checkpoint, frames and
# image sizes, in one run; prints each figure and the ratio ours/reference.
#   scripts/bench.sh blocks [IMAGE_SIZE...]          (default 1024 512)
#   scripts/bench.sh track  [IMAGE_SIZE:FRAMES ...]  (default 512:10 1024:5)
#   scripts/bench.sh memory [FRAMES...]              (peak RSS, default 50 200, at 256)
#   scripts/bench.sh io     [FRAMES]                 (track wall time on 1920x1080 and 3840x2160
#                                                     EXR and JPEG sequences and a 1024x576 PNG
#                                                     one, prefetch and writers on and off, the
#                                                     share of decode time hidden; default 24)
#   scripts/bench.sh helper [IMAGE_SIZE [FRAMES]]    (tracking through the helper process vs
#                                                     in process, default 512 8; then a finished
#                                                     frame rendered through the plugin at 1920x1080)
#   scripts/bench.sh objects [IMAGE_SIZE [FRAMES]]  (1, 2, 4, 8 objects on the bedroom clip keyed
#                                                     on frame 0, batched vs one by one, seconds per
#                                                     frame and their difference; the image encoder
#                                                     with 1, 2, 4 frames per batch; default 512 10)
#   scripts/bench.sh prefetch [IMAGE_SIZE [FRAMES [FETCH_MS [ROUNDS]]]]
#                                                    (host frame fetches overlapped with the
#                                                     helper's network: one request tracking
#                                                     FRAMES forward and backward, each fetch
#                                                     costing FETCH_MS, frames asked for ahead
#                                                     on and off; default 256 16 30 3)
#   scripts/bench.sh farm   [IMAGE_SIZE [FRAMES]]    (analysis on a farm, issue 19: bedroom, three
#                                                     objects with two keyframes each; track in one
#                                                     process vs the job's tasks run one after
#                                                     another, each grouping: the sum and the
#                                                     longest task, encoder runs, plan and merge
#                                                     time, the speed-up with a worker per task;
#                                                     the results compared bit for bit; default
#                                                     512 30)
#   scripts/bench.sh precision [MODEL:IMAGE_SIZE:FRAMES ...]
#                                                    (issue 21: bf16 against fp32 on the bedroom
#                                                     clip, one object: seconds per tracked frame
#                                                     of ours fp32 and bf16 and the reference fp32
#                                                     and under torch.autocast bf16, the ratios,
#                                                     peak RSS; then bf16's per-frame mask IoU
#                                                     against fp32 and the decisions kept, and
#                                                     what --precision auto chooses here; the
#                                                     matrix products' GFLOP per frame (ours
#                                                     counted as they run, the reference's by
#                                                     torch's FLOP counter), this machine's
#                                                     matmul rate and the share of it reached;
#                                                     default tiny:512:8 tiny:1024:4)
#   scripts/bench.sh edit   [IMAGE_SIZE [REPEAT]]    (live editing: one keyframe edit on the frame
#                                                     on screen, with and without its kept image
#                                                     features, vs the mask decoder; default 1024 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --reference >&2
source scripts/env.sh
cargo build --release --locked --bin samurai-bench >&2
bench="${CARGO_TARGET_DIR:-$root/target}/release/samurai-bench"
py="$root/.venv/bin/python"
clip="$root/../shared/data/clips/bedroom"
box="310,0,515,400"
mode="${1:-blocks}"; shift || true

checkpoint() {  # random-init tiny checkpoint written by the reference, per image size
  local n="$1" dir="$root/tests/fixtures/parity/tiny_$1"
  "$py" tests/parity/make_block_fixtures.py --size tiny --image-size "$n" --out "$dir" --frames "$clip" >&2
  echo "$dir/checkpoint.pt"
}

ratio() {  # prints "name ours ref ratio" rows for matching JSON keys
  "$py" - "$1" "$2" "$3" <<'PY'
import json, sys
ours, ref, label = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
for k, v in ours.items():
    if k in ref and isinstance(v, (int, float)) and k not in ("frames",):
        r = v / ref[k] if ref[k] else float("nan")
        print(f"{label:<14s} {k:<26s} ours {v:12.4f}  reference {ref[k]:12.4f}  ratio {r:6.3f}")
PY
}

case "$mode" in
  blocks)
    for n in "${@:-1024 512}"; do for n1 in $n; do
      ck=$(checkpoint "$n1")
      ours=$("$bench" blocks --checkpoint "$ck" --image "$clip/00000.jpg" --image-size "$n1")
      ref=$("$py" benches/reference_bench.py blocks --checkpoint "$ck" --size tiny --image "$clip/00000.jpg" --image-size "$n1")
      ratio "$ours" "$ref" "blocks@$n1"
    done; done ;;
  track)
    for spec in "${@:-512:10 1024:5}"; do for s in $spec; do
      n1="${s%%:*}"; frames="${s##*:}"
      ck=$(checkpoint "$n1")
      ours=$("$bench" track --checkpoint "$ck" --frames "$clip" --count "$frames" --image-size "$n1" --box "$box")
      ref=$("$py" benches/reference_bench.py track --checkpoint "$ck" --size tiny --frames "$clip" --count "$frames" --image-size "$n1" --box "$box")
      ratio "$ours" "$ref" "track@${n1}x${frames}"
    done; done ;;
  memory)
    ck=$(checkpoint 256)
    for frames in "${@:-50 200}"; do for f in $frames; do
      ours=$("$bench" track --checkpoint "$ck" --frames "$clip" --count "$f" --image-size 256 --box "$box")
      ref=$("$py" benches/reference_bench.py track --checkpoint "$ck" --size tiny --frames "$clip" --count "$f" --image-size 256 --box "$box")
      ratio "$ours" "$ref" "rss@256x${f}"
    done; done ;;
  io)
    frames="${1:-24}"
    ck=$(checkpoint 256)
    cargo build --release --locked --bin samurai-roto >&2
    roto="${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto"
    seqs="$root/bench-out/io"
    dog="$root/../shared/data/clips/dog"
    mkdir -p "$seqs"
    # Test sequences from the dog clip (1280x720), upscaled; EXR: linear half-float, ZIP.
    for spec in 3840x2160:exr 1920x1080:exr 3840x2160:jpg 1920x1080:jpg 1024x576:png; do
      size="${spec%%:*}"; fmt="${spec##*:}"; dir="$seqs/dog_${size}_$fmt"
      if [ "$(ls "$dir" 2>/dev/null | wc -l)" != "$frames" ]; then
        rm -rf "$dir"
        "$bench" make-frames --src "$dog" --count "$frames" --size "$size" --format "$fmt" --out "$dir" >&2
      fi
    done
    printf "%-22s %12s %12s %10s %14s\n" sequence "prefetch on" "off" "on/off" "decode hidden"
    declare -A wall
    for spec in 3840x2160:exr 1920x1080:exr 3840x2160:jpg 1920x1080:jpg 1024x576:png; do
      size="${spec%%:*}"; fmt="${spec##*:}"; dir="$seqs/dog_${size}_$fmt"
      w="${size%%x*}"; h="${size##*x}"
      box=$("$py" -c "w,h=$w,$h; b=[453,375,703,555]; print(','.join(f'{v:.1f}' for v in (b[0]*w/1280,b[1]*h/720,b[2]*w/1280,b[3]*h/720)))")
      for p in on off; do
        extra=(--prefetch 4 --writers 2); [ "$p" = off ] && extra=(--prefetch 0 --writers 0)
        rm -rf "$seqs/out"
        t0=$(date +%s.%N)
        "$roto" --threads 2 --log info track --checkpoint "$ck" --frames "$dir" --object "dog:0:$box" --image-size 256 \
          --device cpu --out "$seqs/out" "${extra[@]}" 2>"$seqs/log_${p}.txt"
        t1=$(date +%s.%N)
        wall[$p]=$("$py" -c "print(f'{$t1-$t0:.2f}')")
      done
      hidden=$(grep -o 'hidden_share=[0-9.]*' "$seqs/log_on.txt" | tail -1 | cut -d= -f2)
      printf "%-22s %11ss %11ss %10s %14s\n" "${size} ${fmt}" "${wall[on]}" "${wall[off]}" \
        "$("$py" -c "print(f'{${wall[on]}/${wall[off]}:.2f}')")" "$("$py" -c "print(f'{float(\"${hidden:-0}\"):.0%}')")"
      eval "wall_${fmt}_${h}_on=${wall[on]} wall_${fmt}_${h}_off=${wall[off]}"
    done
    echo "4K EXR / 1024x576 PNG: prefetch on $("$py" -c "print(f'{$wall_exr_2160_on/$wall_png_576_on:.2f}')"), off $("$py" -c "print(f'{$wall_exr_2160_off/$wall_png_576_off:.2f}')")"
    spare=$(grep -o 'spare_core=[a-z]*' "$seqs/log_on.txt" | head -1 | cut -d= -f2)
    echo "a core to spare beside libtorch's threads: $spare (track's default: prefetch and writers $([ "$spare" = true ] && echo on || echo off))" ;;
  helper)
    checkpoint 256 >/dev/null
    cargo build --release --locked -p samurai-roto-helper >&2
    cargo bench --locked -p samurai-roto-bench --bench helper_round_trip -- "${1:-512}" "${2:-8}"
    cargo bench --locked -p samurai-roto-ofx --bench render_cached ;;
  prefetch)
    checkpoint 256 >/dev/null
    cargo build --release --locked -p samurai-roto-helper >&2
    cargo bench --locked -p samurai-roto-bench --bench frame_prefetch -- "${1:-256}" "${2:-16}" "${3:-30}" "${4:-3}" ;;
  edit)
    n1="${1:-1024}"
    ck=$(checkpoint "$n1")
    "$bench" edit --checkpoint "$ck" --frames "$clip" --image-size "$n1" --box "$box" --repeat "${2:-3}" ;;
  objects)
    n1="${1:-512}"
    ck=$(checkpoint "$n1")
    r=$("$bench" objects --checkpoint "$ck" --frames "$clip" --image-size "$n1" --count "${2:-10}" --objects 1,2,4,8)
    "$py" - "$r" "$n1" <<'PY'
import json, sys
for k, v in json.loads(sys.argv[1]).items():
    if k.startswith("objects_"):
        print(f"objects@{sys.argv[2]} {k[8:]:>2s} objects: one by one {v['one_by_one_s_per_frame']:.4f} s/frame, "
              f"batched {v['batched_s_per_frame']:.4f} (ratio {v['ratio']:.3f}, mean batch {v['mean_batch']:.2f}), "
              f"max |dlogit| {v['max_logit_diff']:.3e}, min mask IoU {v['min_mask_iou']:.5f}")
    else:
        print(f"objects@{sys.argv[2]} image encoder, frames in one batch: "
              + ", ".join(f"batch {b}: {t:.4f} s/frame" for b, t in v.items()))
PY
    ;;
  farm)
    n1="${1:-512}"; count="${2:-30}"
    [ "$count" -ge 30 ] || { echo "bench.sh farm: at least 30 frames (keyframes up to frame 29)" >&2; exit 2; }
    ck=$(checkpoint "$n1")
    cargo build --release --locked --bin samurai-roto >&2
    cli="${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto"
    work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
    mkdir "$work/clip"
    for ((i = 0; i < count; i++)); do f=$(printf '%05d.jpg' "$i"); ln -s "$clip/$f" "$work/clip/$f"; done
    # Three objects keyed twice each, on different frames (forward, blended and backward spans).
    inputs=(--checkpoint "$ck" --frames "$work/clip" --image-size "$n1" --device cpu --fill-hole-area 0
      --object girl:0:310,0,515,400 --object girl:15:300,10,520,420
      --object boy:5:145,135,295,405 --object boy:25:150,140,300,410
      --point lamp:10:700,150,1 --point lamp:29:705,150,1)
    now() { date +%s.%N; }
    t0=$(now); "$cli" --threads 2 --log info track "${inputs[@]}" --out "$work/track" 2>"$work/track.log"; t1=$(now)
    single=$(echo "$t1 - $t0" | bc -l)
    track_encoder=$(grep -o 'encoder_runs: [0-9]*' "$work/track.log" | head -1 | grep -o '[0-9]*$')
    printf 'farm@%s x%s frames: track in one process %.2f s, %s encoder runs\n' "$n1" "$count" "$single" "$track_encoder"
    for split in keyframes passes directions; do
      job="$work/job-$split"
      t0=$(now); "$cli" farm plan "${inputs[@]}" --split "$split" --job "$job" --out "$work/out-$split" >/dev/null; t1=$(now)
      plan_s=$(echo "$t1 - $t0" | bc -l)
      groups=$("$py" -c 'import sys, yaml; print(len(yaml.safe_load(open(sys.argv[1]))["groups"]))' "$job/plan.yaml")
      sum=0; longest=0; encoder=0
      for ((g = 0; g < groups; g++)); do
        t0=$(now); said=$("$cli" --threads 2 farm pass --job "$job" --pass "$g"); t1=$(now)
        t=$(echo "$t1 - $t0" | bc -l)
        sum=$(echo "$sum + $t" | bc -l)
        longest=$(echo "if ($t > $longest) $t else $longest" | bc -l)
        encoder=$((encoder + $(echo "$said" | grep -o '[0-9]* encoder runs' | grep -o '^[0-9]*')))
      done
      t0=$(now); "$cli" farm merge --job "$job" --out "$work/out-$split" >/dev/null; t1=$(now)
      merge_s=$(echo "$t1 - $t0" | bc -l)
      same=$(diff -rq "$work/track" "$work/out-$split" >/dev/null && echo "same bits as track" || echo "DIFFERENT from track")
      farm_wall=$(echo "$plan_s + $longest + $merge_s" | bc -l)
      printf 'farm@%s x%s split %-9s %2d tasks: sum %.2f s (%.2fx track), longest %.2f s, plan %.2f s, merge %.2f s, encoder runs %d (%.2fx track); with a worker per task %.2f s: %.2fx faster than track; %s\n' \
        "$n1" "$count" "$split" "$groups" "$sum" "$(echo "$sum / $single" | bc -l)" "$longest" "$plan_s" "$merge_s" "$encoder" \
        "$(echo "$encoder / $track_encoder" | bc -l)" "$farm_wall" "$(echo "$single / $farm_wall" | bc -l)" "$same"
    done ;;
  precision)
    for spec in "${@:-tiny:512:8 tiny:1024:4}"; do for s in $spec; do
      IFS=: read -r size n1 frames <<< "$s"
      ck=$("$py" tests/parity/make_block_fixtures.py --size "$size" --image-size 256 --out "$root/tests/fixtures/parity/${size}_256" --frames "$clip" >&2 \
        && echo "$root/tests/fixtures/parity/${size}_256/checkpoint.pt")
      run=(--checkpoint "$ck" --frames "$clip" --count "$frames" --image-size "$n1" --box "$box")
      o32=$("$bench" track "${run[@]}" --precision fp32)
      o16=$("$bench" track "${run[@]}" --precision bf16)
      r32=$("$py" benches/reference_bench.py track "${run[@]}" --size "$size" --count-flops)
      r16=$("$py" benches/reference_bench.py track "${run[@]}" --size "$size" --autocast bf16)
      q=$("$bench" precision "${run[@]}")
      "$py" - "${size}@${n1}x${frames}" "$o32" "$o16" "$r32" "$r16" "$q" <<'PY'
import json, sys
label, (o32, o16, r32, r16, q) = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
s = lambda r: r["seconds_per_frame"]  # noqa: E731
print(f"{label}: seconds per tracked frame: ours fp32 {s(o32):.3f}, ours bf16 {s(o16):.3f}, "
      f"reference fp32 {s(r32):.3f}, reference autocast bf16 {s(r16):.3f}")
print(f"{label}: ours bf16 / ours fp32 {s(o16) / s(o32):.3f}, / reference fp32 {s(o16) / s(r32):.3f}, "
      f"/ reference autocast bf16 {s(o16) / s(r16):.3f}; peak RSS bf16 / fp32 {o16['peak_rss_bytes'] / o32['peak_rss_bytes']:.3f} "
      f"({o16['peak_rss_bytes'] / 2**20:.0f} / {o32['peak_rss_bytes'] / 2**20:.0f} MiB)")
print(f"{label}: bf16 against fp32 over {q['frames']} frames: mask IoU mean {q['mean_iou']:.4f}, lowest {q['min_iou']:.4f}, "
      f"same chosen mask {q['same_chosen_mask']}, same memory frames {q['same_memory_frames']}; --precision auto here: {q['auto']}")
g = lambda r: r["matmul_gflop_per_frame"]  # noqa: E731
print(f"{label}: matrix products per frame: ours {g(o32):.2f} GFLOP, reference {g(r32):.2f} GFLOP ({g(o32) / g(r32):.3f}); "
      f"this machine's 4096x1024x1024 matmul: fp32 {o32['matmul_rate_gflops']:.0f}, bf16 {o16['matmul_rate_gflops']:.0f} GFLOP/s")
print(f"{label}: share of that rate reached over a tracked frame: ours fp32 {o32['share_of_matmul_rate']:.3f}, ours bf16 {o16['share_of_matmul_rate']:.3f}, "
      f"reference fp32 {g(r32) / s(r32) / o32['matmul_rate_gflops']:.3f}, reference autocast bf16 {g(r32) / s(r16) / o16['matmul_rate_gflops']:.3f}")
PY
    done; done ;;
  *) echo "bench.sh: unknown mode '$mode' (blocks, track, memory, io, helper, prefetch, edit, objects, farm, precision)" >&2; exit 2 ;;
esac
