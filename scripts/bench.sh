#!/usr/bin/env bash
# Side-by-side benchmark: ours (samurai-bench, release) and the reference
# (benches/reference_bench.py) on the same random-init official-format checkpoint, frames and
# image sizes, in one run; prints each figure and the ratio ours/reference.
#   scripts/bench.sh blocks [IMAGE_SIZE...]          (default 1024 512)
#   scripts/bench.sh track  [IMAGE_SIZE:FRAMES ...]  (default 512:10 1024:5)
#   scripts/bench.sh memory [FRAMES...]              (peak RSS, default 50 200, at 256)
#   scripts/bench.sh helper [IMAGE_SIZE [FRAMES]]    (tracking through the helper process vs
#                                                     in process, default 512 8; then a finished
#                                                     frame rendered through the plugin at 1920x1080)
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
  helper)
    checkpoint 256 >/dev/null
    cargo build --release --locked --bin samurai-roto >&2
    cargo bench --locked -p samurai-roto --bench helper_round_trip -- "${1:-512}" "${2:-8}"
    cargo bench --locked -p samurai-roto-ofx --bench render_cached ;;
  edit)
    n1="${1:-1024}"
    ck=$(checkpoint "$n1")
    "$bench" edit --checkpoint "$ck" --frames "$clip" --image-size "$n1" --box "$box" --repeat "${2:-3}" ;;
  *) echo "bench.sh: unknown mode '$mode' (blocks, track, memory, helper, edit)" >&2; exit 2 ;;
esac
