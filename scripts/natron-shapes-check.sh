#!/usr/bin/env bash
# Checks `samurai-roto shapes` in a real host: NatronRenderer runs the generated Natron
# script and every pixel of each object's Roto render is compared with the shapes the
# command line rasterises (tests/natron/shapes_check.py says what exactly). Needs a Natron
# with openfx-io's PFM writer and openfx-misc's Roto and Merge: scripts/build-natron.sh.
#   scripts/natron-shapes-check.sh NATRON_WORK_DIR --checkpoint C.pt [options for shapes_check.py]
# Defaults: the bedroom clip's first 6 frames and its two prompt boxes, quality 256.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
natron="$(cd "${1:?usage: natron-shapes-check.sh NATRON_WORK_DIR --checkpoint C.pt [options]}" && pwd)"
shift
renderer="$natron/build/Renderer/NatronRenderer"
[ -x "$renderer" ] || { echo "natron-shapes-check: $renderer missing (scripts/build-natron.sh $natron)" >&2; exit 1; }
for b in "$natron/misc/Roto.ofx.bundle" "$natron/misc/Merge.ofx.bundle"; do
  [ -d "$b" ] || { echo "natron-shapes-check: $b missing (scripts/build-natron.sh $natron builds it)" >&2; exit 1; }
done
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "natron-shapes-check: $python missing (scripts/setup.sh): the check needs its numpy" >&2; exit 1; }
cd "$root"
source scripts/env.sh >/dev/null
cargo build --release --bin samurai-roto
work="${CARGO_TARGET_DIR:-$root/target}/natron-shapes-check"
rm -rf "$work"
defaults=(--clip ../shared/data/clips/bedroom --count 6 --object girl:0:310,0,515,400 --object boy:0:145,135,295,405)
[ -d ../shared/data/clips/bedroom ] || defaults=()
exec "$python" tests/natron/shapes_check.py \
  --natron-renderer "$renderer" --io-plugins "$natron/io:$natron/misc" \
  --cli "${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto" \
  --work "$work" "${defaults[@]}" "$@"
