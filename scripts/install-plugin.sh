#!/usr/bin/env bash
# Builds SamuraiRoto (release) and installs it as an OpenFX bundle:
#   DEST/SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/SamuraiRoto.ofx   (+ libtorch's .so files)
#   DEST/SamuraiRoto.ofx.bundle/Contents/Resources/org.samuraiRoto.SamuraiRoto.png
# DEST = $1, else the first entry of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins.
# libtorch's shared libraries are copied beside the binary and the binary's rpath is set to
# $ORIGIN (patchelf, Debian package `patchelf`, installed with apt-get when missing) so the
# host finds them without LD_LIBRARY_PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-${OFX_PLUGIN_PATH%%:*}}"
dest="${dest:-/usr/OFX/Plugins}"
export LIBTORCH_USE_PYTORCH="${LIBTORCH_USE_PYTORCH:-1}"
[ -d "$root/.venv/bin" ] && export PATH="$root/.venv/bin:$PATH"
cd "$root"
cargo build --release --lib
target="${CARGO_TARGET_DIR:-$root/target}/release"
lib="$target/libsamurai_roto.so"
[ -f "$lib" ] || { echo "missing $lib" >&2; exit 1; }
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
if ! command -v patchelf >/dev/null; then
  apt-get install -y patchelf >/dev/null || { echo "install patchelf (Debian: apt-get install patchelf)" >&2; exit 1; }
fi
patchelf --set-rpath '$ORIGIN' "$bin_dir/SamuraiRoto.ofx"
for so in "$bin_dir"/*.so*; do patchelf --set-rpath '$ORIGIN' "$so" 2>/dev/null || true; done
cp "$root/resources/org.samuraiRoto.SamuraiRoto.png" "$bundle/Contents/Resources/"
echo "installed $bundle"
ldd "$bin_dir/SamuraiRoto.ofx" | grep -i "not found" && { echo "unresolved libraries above" >&2; exit 1; } || true
