#!/usr/bin/env bash
# Checks SamuraiRoto inside Natron: renders with NatronRenderer and compares every pixel with
# `samurai-roto track` (tests/natron/check.py says what exactly). Needs a Natron:
# scripts/build-natron.sh.
#   scripts/natron-check.sh NATRON_WORK_DIR --checkpoint C.pt [options]
# Of a fresh build (the default): builds the release command line, installs the bundle
# (scripts/install-plugin.sh) and uses both.
#   --archive FILE    of a release archive instead (scripts/package.sh's
#                     SamuraiRoto-<version>-linux-x86_64-<variant>.tar.gz), with no build step:
#                     unpacks it into a fresh folder, points OFX_PLUGIN_PATH at the unpacked
#                     SamuraiRoto.ofx.bundle's folder, uses the archive's bin/samurai-roto as
#                     the track to compare with, and runs Natron and track with only
#                     PATH=/usr/bin:/bin and a fresh HOME (no venv, no LD_LIBRARY_PATH).
#                     Add --cli target/release/samurai-roto to also require the development
#                     build's track to write the same mattes and logits, byte for byte.
#   --foreign-torch DIR   loads another libtorch into NatronRenderer first, as Nuke's process
#                     has it (DIR: scripts/foreign-torch.sh's, torch 2.1.2); either way.
#   --fault-kill      (passed to check.py) renders the range once more while SIGKILL ends the
#                     helper inside a frame (--fault-delay S after it built its tracker,
#                     default 0.5): the node must compute that frame again in a new helper,
#                     say so once, and every file must equal the undisturbed render's.
#   --fault-term      (passed to check.py) stops the helper inside a frame (SIGSTOP), then
#                     sends NatronRenderer SIGTERM: it must exit within 2 s, with the node's
#                     abort message, and leave no helper behind.
# Other options go to tests/natron/check.py. Defaults: the bedroom clip's first 8 frames,
# its two prompt boxes plus a second key for the boy on the last frame, quality 256, with the
# Analyse + two-process farm check and the Roto keyframe check (--roto-key 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
natron="$(cd "${1:?usage: natron-check.sh NATRON_WORK_DIR [--archive FILE] --checkpoint C.pt [options]}" && pwd)"
shift
archive=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --archive) archive="${2:?--archive needs a FILE}"; shift 2 ;;
    --archive=*) archive="${1#--archive=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
renderer="$natron/build/Renderer/NatronRenderer"
[ -x "$renderer" ] || { echo "natron-check: $renderer missing (scripts/build-natron.sh $natron)" >&2; exit 1; }
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "natron-check: $python missing (scripts/setup.sh): the check needs its numpy" >&2; exit 1; }
if [ -n "$archive" ]; then
  [ -f "$archive" ] || { echo "natron-check: --archive $archive: no such file" >&2; exit 1; }
  archive="$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")"
fi
cd "$root"
work="${CARGO_TARGET_DIR:-$root/target}/natron-check"
rm -rf "$work"
mkdir -p "$work"
if [ -n "$archive" ]; then
  mkdir "$work/archive"
  tar -xzf "$archive" -C "$work/archive"
  tops=("$work/archive"/*)
  top="${tops[0]}"
  if [ ${#tops[@]} != 1 ] || [ ! -d "$top" ]; then
    echo "natron-check: $archive: expected one top folder, found: ${tops[*]##*/}" >&2
    exit 1
  fi
  for f in SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/SamuraiRoto.ofx bin/samurai-roto; do
    [ -f "$top/$f" ] || { echo "natron-check: $archive: no ${top##*/}/$f" >&2; exit 1; }
  done
  if [ -f "$top/MANIFEST.sha256" ]; then
    (cd "$top" && sha256sum --quiet --strict -c MANIFEST.sha256) ||
      { echo "natron-check: $archive: files differ from its MANIFEST.sha256" >&2; exit 1; }
  fi
  echo "archive: $archive (unpacked in $top)"
  plugins="$top"
  cli="$top/bin/samurai-roto"
  args=(--clean-env "${args[@]}")
else
  bash scripts/setup.sh >/dev/null
  source scripts/env.sh >/dev/null
  cargo build --release --bin samurai-roto
  scripts/install-plugin.sh "$work/ofx"
  plugins="$work/ofx"
  cli="${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto"
fi
defaults=(--clip ../shared/data/clips/bedroom --count 8
  --object girl:0:310,0,515,400 --object boy:0:145,135,295,405 --object boy:7:160,140,300,410 --farm)
[ -d ../shared/data/clips/bedroom ] || defaults=()
# The Keyframe matte from a Roto node without input (issue 26) needs openfx-misc's Roto and
# Merge bundles, which scripts/build-natron.sh builds into NATRON_WORK_DIR/misc.
if [ ${#defaults[@]} != 0 ]; then
  if [ -d "$natron/misc/Roto.ofx.bundle" ] && [ -d "$natron/misc/Merge.ofx.bundle" ]; then
    defaults+=(--roto-key 2)
  else
    echo "natron-check: $natron/misc lacks openfx-misc's Roto and Merge bundles: the Roto keyframe check is" \
      "skipped (run scripts/build-natron.sh $natron again to build them)" >&2
  fi
fi
exec "$python" tests/natron/check.py \
  --natron-renderer "$renderer" --io-plugins "$natron/io:$natron/misc" \
  --plugins "$plugins" --cli "$cli" \
  --work "$work/run" "${defaults[@]}" "${args[@]}"
