#!/usr/bin/env bash
# Fidelity figures of `samurai-roto shapes` (README, "Shapes"): on the bedroom and dog clips,
# `track` with the prompts file's boxes, then `shapes --report` at the default tolerance:
# the IoU of the rasterised shapes against the matte (and against the islands and holes
# the shapes stand for), control points per shape, and the control points' motion.
#   scripts/shapes-fidelity.sh --checkpoint C.pt [--frames N] [--image-size S] [--cli BIN]
# Defaults: the first 50 frames of each clip, quality 256, target/release/samurai-roto.
# Not a test: it prints figures. Work files under ${CARGO_TARGET_DIR:-target}/shapes-fidelity.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkpoint="" frames=50 size=256 cli="${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto"
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoint) checkpoint="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --image-size) size="$2"; shift 2 ;;
    --cli) cli="$2"; shift 2 ;;
    *) echo "shapes-fidelity: unknown option $1" >&2; exit 1 ;;
  esac
done
[ -n "$checkpoint" ] || { echo "usage: shapes-fidelity.sh --checkpoint C.pt [--frames N] [--image-size S] [--cli BIN]" >&2; exit 1; }
[ -x "$cli" ] || { echo "shapes-fidelity: $cli missing (cargo build --release --bin samurai-roto, or pass --cli)" >&2; exit 1; }
cd "$root"
work="${CARGO_TARGET_DIR:-$root/target}/shapes-fidelity"
rm -rf "$work"
for clip in bedroom dog; do
  mkdir -p "$work/$clip/frames"
  for f in $(ls ../shared/data/clips/$clip | sort | head -n "$frames"); do
    ln -s "$(cd ../shared/data/clips/$clip && pwd)/$f" "$work/$clip/frames/$f"
  done
  # The frames folder is not the prompts file's: name the clip.
  "$cli" --threads 2 track --checkpoint "$checkpoint" --frames "$work/$clip/frames" \
    --prompts ../shared/data/clips/prompts.yaml --clip "$clip" --image-size "$size" --device cpu \
    --out "$work/$clip/mattes" --logits "$work/$clip/logits" > /dev/null
  echo "== $clip: first $frames frames, quality $size, default tolerance"
  "$cli" shapes --logits "$work/$clip/logits" --frames "$work/$clip/frames" --out "$work/$clip/shapes.json" --report \
    2> "$work/$clip/notes.txt" | grep -v '^frame '
  echo "notes: $(wc -l < "$work/$clip/notes.txt") (in $work/$clip/notes.txt)"
done
