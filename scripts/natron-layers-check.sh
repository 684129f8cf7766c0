#!/usr/bin/env bash
# Checks `samurai-roto track --format exr --layers` in a real host: NatronRenderer reads the
# files with openfx-io's ReadOIIO (Natron's EXR reader), the layers it lists are printed and
# required (NAME [A] per object, ID [ID]), and every pixel of each layer, routed by Shuffle
# into a PFM, is compared with the track logits' mattes (tests/natron/layers_check.py says
# what exactly; it also reports what the deprecated ReadEXR makes of the files). Needs a
# Natron with openfx-io's OIIO, EXR and PFM bundles and openfx-misc's Shuffle:
# scripts/build-natron.sh.
#   scripts/natron-layers-check.sh NATRON_WORK_DIR --checkpoint C.pt [--cli FILE] [options for layers_check.py]
# --cli FILE: that command line instead of building the release one.
# Defaults: the bedroom clip's first 4 frames and its two prompt boxes, quality 256.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
natron="$(cd "${1:?usage: natron-layers-check.sh NATRON_WORK_DIR --checkpoint C.pt [--cli FILE] [options]}" && pwd)"
shift
cli=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cli) cli="${2:?--cli needs a FILE}"; shift 2 ;;
    --cli=*) cli="${1#--cli=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
renderer="$natron/build/Renderer/NatronRenderer"
[ -x "$renderer" ] || { echo "natron-layers-check: $renderer missing (scripts/build-natron.sh $natron)" >&2; exit 1; }
for b in "$natron/exr/OIIO.ofx.bundle" "$natron/exr/EXR.ofx.bundle" "$natron/io/PFM.ofx.bundle" "$natron/misc/Shuffle.ofx.bundle"; do
  [ -d "$b" ] || { echo "natron-layers-check: $b missing (scripts/build-natron.sh $natron builds it)" >&2; exit 1; }
done
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "natron-layers-check: $python missing (scripts/setup.sh): the check needs its numpy" >&2; exit 1; }
if [ -n "$cli" ]; then
  [ -x "$cli" ] || { echo "natron-layers-check: --cli $cli: not an executable" >&2; exit 1; }
  cli="$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")"
fi
cd "$root"
source scripts/env.sh >/dev/null
if [ -z "$cli" ]; then
  cargo build --release --bin samurai-roto
  cli="${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto"
fi
work="${CARGO_TARGET_DIR:-$root/target}/natron-layers-check"
rm -rf "$work"
defaults=(--clip ../shared/data/clips/bedroom --count 4 --object girl:0:310,0,515,400 --object boy:0:145,135,295,405)
[ -d ../shared/data/clips/bedroom ] || defaults=()
exec "$python" tests/natron/layers_check.py \
  --natron-renderer "$renderer" --io-plugins "$natron/io:$natron/exr:$natron/misc" \
  --cli "$cli" --work "$work" "${defaults[@]}" ${args[@]+"${args[@]}"}
