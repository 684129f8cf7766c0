#!/usr/bin/env bash
# Checks a CPU release archive end to end: builds one with scripts/package.sh (which also
# runs the ELF policy check) unless an archive is given, then runs the unpack-and-go test
# (`an_unpacked_release_archive_runs_in_a_clean_environment` in
# crates/ofx/tests/ofx_host_tracker.rs): the archive unpacked into a fresh folder, run with
# `env -i`, tracks the bedroom clip bit for bit like this build, its doctor starts the
# bundle's helper, and the unpacked bundle renders in the in-repo OFX host equal to `track`.
#   scripts/archive-check.sh [dist/SamuraiRoto-<version>-linux-x86_64-cpu.tar.gz]
#   scripts/archive-check.sh --cuda [ARCHIVE]   the same for the CUDA archive, on a machine
#       without an NVIDIA driver: its track runs on the automatic device, which must fall back
#       to the CPU with the same bits, and its doctor reports a CUDA build with no device.
# The test itself needs this checkout's debug build (scripts/test.sh makes it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
variant=cpu
if [ "${1:-}" = --cuda ]; then
  variant=cuda
  shift
fi
if [ $# -gt 1 ]; then
  echo "usage: scripts/archive-check.sh [--cuda] [ARCHIVE]" >&2
  exit 2
fi
if [ $# = 1 ]; then
  archive="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  [ -f "$archive" ] || { echo "archive-check: $1 is not a file" >&2; exit 2; }
else
  start=$(date +%s)
  bash scripts/package.sh "$variant"
  echo "archive-check: scripts/package.sh $variant took $(( $(date +%s) - start )) s" >&2
  out_dir="${SAMURAI_ROTO_DIST:-$root/dist}"
  version_glob="SamuraiRoto-*-linux-x86_64-$variant.tar.gz"
  archive="$(ls -t "$out_dir"/$version_glob | head -n 1)"
fi
# The shipped plugin holds no test-only code: the box-matte test engine and its switch
# (crates/ofx/src/test_engine.rs, cargo feature test-engine) are for the crate's own tests.
plugin_member="$(tar -tzf "$archive" | grep '\.ofx\.bundle/Contents/Linux-x86-64/[^/]*\.ofx$' | head -n 1 || true)"
[ -n "$plugin_member" ] || { echo "archive-check: no plugin binary in $archive" >&2; exit 1; }
plugin_copy="$(mktemp)"
tar -xzf "$archive" -O "$plugin_member" >"$plugin_copy"
if grep -a -q SAMURAI_ROTO_FAKE_ENGINE "$plugin_copy"; then
  rm -f "$plugin_copy"
  echo "archive-check: $plugin_member in $archive contains the test engine (SAMURAI_ROTO_FAKE_ENGINE)" >&2
  exit 1
fi
rm -f "$plugin_copy"
echo "archive-check: $plugin_member holds no test engine" >&2
source scripts/env.sh
echo "archive-check: unpack-and-go test of $archive" >&2
SAMURAI_ROTO_ARCHIVE="$archive" cargo test --workspace --locked --test ofx_host_tracker -- \
  --ignored --exact an_unpacked_release_archive_runs_in_a_clean_environment --nocapture --test-threads=1
