#!/usr/bin/env bash
# Checks SamuraiRoto as an artist meets it in Natron's GUI, under Xvfb: Read (the clip's
# first 24 frames) -> SamuraiRoto -> Viewer, two objects drawn with xdotool (a box, a + click
# and a - click each), Play and Stop twice, a box drawn again after stopping; screenshots of
# the panel, the viewer with the overlay and the screen after each stop. Fails on an ERROR
# state of the node after stopping playback and on more than one tracking session for the
# node (the helper log's "tracking from scratch" lines). tests/natron/gui_check.py says what
# exactly.
#   scripts/natron-gui-check.sh NATRON_WORK_DIR [--checkpoint C.pt] [options]
# NATRON_WORK_DIR as for scripts/build-natron.sh: its GUI (build/App/Natron) is built first
# when missing (scripts/build-natron.sh NATRON_WORK_DIR --gui; set NATRON_GIT_MIRRORS on a
# machine without GitHub). Needs Xvfb, xdotool and ImageMagick's import (Debian: xvfb
# xdotool imagemagick; installed here when missing) and Mesa (libgl1-mesa-dri).
#   --plugins DIR     a folder holding an installed SamuraiRoto.ofx.bundle to check, with no
#                     build step (e.g. another checkout's: CARGO_TARGET_DIR=... OTHER/scripts/
#                     install-plugin.sh DIR); by default this checkout's release build is
#                     installed into ${CARGO_TARGET_DIR:-target}/natron-gui-check/ofx first.
#   --checkpoint C.pt default tests/fixtures/checkpoint/sam_tiny.pt (random weights: the
#                     mattes mean nothing, the check is about the host's behaviour).
# Screenshots go to bench-out/natron-gui/ (git-ignored); the work folder (frames, Natron's
# and the helper's logs, the graph script) is ${CARGO_TARGET_DIR:-target}/natron-gui-check/run.
# Other options go to tests/natron/gui_check.py (--plays, --play-seconds, --screen, and
# --prompts python: the objects keyed from Python instead of drawn, for a plugin whose overlay
# cannot draw while the node renders).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
natron="$(mkdir -p "${1:?usage: natron-gui-check.sh NATRON_WORK_DIR [--plugins DIR] [--checkpoint C.pt] [options]}" && cd "$1" && pwd)"
shift
plugins=""
checkpoint="$root/tests/fixtures/checkpoint/sam_tiny.pt"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --plugins) plugins="${2:?--plugins needs a DIR}"; shift 2 ;;
    --plugins=*) plugins="${1#--plugins=}"; shift ;;
    --checkpoint) checkpoint="${2:?--checkpoint needs a file}"; shift 2 ;;
    --checkpoint=*) checkpoint="${1#--checkpoint=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$plugins" ]; then
  [ -d "$plugins" ] || { echo "natron-gui-check: --plugins $plugins: no such folder" >&2; exit 1; }
  plugins="$(cd "$plugins" && pwd)"
fi
[ -f "$checkpoint" ] || { echo "natron-gui-check: checkpoint $checkpoint missing" >&2; exit 1; }
checkpoint="$(cd "$(dirname "$checkpoint")" && pwd)/$(basename "$checkpoint")"
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "natron-gui-check: $python missing (scripts/setup.sh): the check needs its Pillow" >&2; exit 1; }
gui="$natron/build/App/Natron"
if [ ! -x "$gui" ]; then
  echo "natron-gui-check: $gui missing: building Natron's GUI (scripts/build-natron.sh $natron --gui)" >&2
  "$root/scripts/build-natron.sh" "$natron" --gui >&2
fi
[ -x "$gui" ] || { echo "natron-gui-check: $gui still missing after scripts/build-natron.sh" >&2; exit 1; }
[ -d "$natron/io/PNG.ofx.bundle" ] || { echo "natron-gui-check: $natron/io/PNG.ofx.bundle missing (scripts/build-natron.sh $natron)" >&2; exit 1; }
missing=()
for tool in Xvfb:xvfb xdotool:xdotool import:imagemagick; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} != 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "natron-gui-check: installing ${missing[*]}" >&2
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" libgl1-mesa-dri >&2
fi
cd "$root"
work="${CARGO_TARGET_DIR:-$root/target}/natron-gui-check"
mkdir -p "$work"
if [ -z "$plugins" ]; then
  bash scripts/setup.sh >/dev/null
  source scripts/env.sh >/dev/null
  rm -rf "$work/ofx"
  scripts/install-plugin.sh "$work/ofx"
  plugins="$work/ofx"
fi
[ -d "$plugins/SamuraiRoto.ofx.bundle" ] || { echo "natron-gui-check: no SamuraiRoto.ofx.bundle in $plugins" >&2; exit 1; }
clip=../shared/data/clips/bedroom
[ -d "$clip" ] || { echo "natron-gui-check: the bedroom clip is missing (../shared/data/clips/bedroom)" >&2; exit 1; }
exec "$python" tests/natron/gui_check.py \
  --natron "$gui" --io-plugins "$natron/io:$natron/misc" --plugins "$plugins" \
  --checkpoint "$checkpoint" --clip "$clip" --count 24 --image-size 256 \
  --work "$work/run" --out "$root/bench-out/natron-gui" "${args[@]}"
