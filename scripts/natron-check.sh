#!/usr/bin/env bash
# Checks SamuraiRoto inside Natron: installs the release bundle (scripts/install-plugin.sh),
# renders with NatronRenderer and compares every pixel with `samurai-roto track`
# (tests/natron/check.py says what exactly). Needs a Natron: scripts/build-natron.sh.
#   scripts/natron-check.sh NATRON_WORK_DIR --checkpoint C.pt [check.py options]
# Defaults: the bedroom clip's first 8 frames, its two prompt boxes plus a second key for
# the boy on the last frame, quality 256, with the Analyse + two-process farm check.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
natron="$(cd "${1:?usage: natron-check.sh NATRON_WORK_DIR --checkpoint C.pt [options]}" && pwd)"
shift
cd "$root"
bash scripts/setup.sh >/dev/null
source scripts/env.sh >/dev/null
cargo build --release --bin samurai-roto
work="$root/target/natron-check"
rm -rf "$work"
mkdir -p "$work"
scripts/install-plugin.sh "$work/ofx"
defaults=(--clip ../shared/data/clips/bedroom --count 8
  --object girl:0:310,0,515,400 --object boy:0:145,135,295,405 --object boy:7:160,140,300,410 --farm)
[ -d ../shared/data/clips/bedroom ] || defaults=()
exec "$root/.venv/bin/python" tests/natron/check.py \
  --natron-renderer "$natron/build/Renderer/NatronRenderer" --io-plugins "$natron/io" \
  --plugins "$work/ofx" --cli "${CARGO_TARGET_DIR:-$root/target}/release/samurai-roto" \
  --work "$work/run" "${defaults[@]}" "$@"
