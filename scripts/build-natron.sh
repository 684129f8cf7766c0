#!/usr/bin/env bash
# Builds a headless Natron (NatronRenderer, Natron 2.5) and openfx-io's PNG and PFM reader /
# writer plugins from source on Debian 12, for `scripts/natron-check.sh`. Natron has no
# Debian package or PyPI wheel; this is how the plugin was checked in a real OFX host.
#   scripts/build-natron.sh WORK_DIR [--gui]
# WORK_DIR/src       Natron (branch RB-2.5) with its submodules libs/OpenFX and
#                    libs/SequenceParsing (and that one's tinydir)
# WORK_DIR/openfx-io openfx-io with its submodules openfx, SupportExt, IOSupport/SequenceParsing
# Both are cloned from GitHub (recursively) when missing. Results:
#   WORK_DIR/build/Renderer/NatronRenderer
#   WORK_DIR/io/{PNG,PFM}.ofx.bundle
#   WORK_DIR/build/App/Natron        (with --gui: the GUI, about 7 more minutes; to run it
#                                     headless: Xvfb, Mesa, DISPLAY, OFX_PLUGIN_PATH and
#                                     PYTHONPATH=/usr/lib/python3/dist-packages)
# About 7 minutes on 2 cores (system Ceres and glog, -O1, no GUI, no tests).
set -euo pipefail
work="$(mkdir -p "${1:?usage: build-natron.sh WORK_DIR [--gui]}" && cd "$1" && pwd)"
gui="${2:-}"
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get install -y --no-install-recommends cmake g++ make pkg-config extra-cmake-modules \
  qtbase5-dev qtdeclarative5-dev libpyside2-dev libshiboken2-dev shiboken2 \
  python3-dev python3-pyside2.qtcore python3-pyside2.qtgui python3-pyside2.qtwidgets python3-qtpy \
  libclang-common-14-dev llvm-14 libboost-serialization-dev libcairo2-dev libfontconfig-dev \
  libexpat1-dev libx11-dev libceres-dev libgoogle-glog-dev libgflags-dev libpng-dev >&2

[ -d "$work/src" ] || git clone --recursive --branch RB-2.5 https://github.com/NatronGitHub/Natron.git "$work/src"
[ -d "$work/openfx-io" ] || git clone --recursive https://github.com/NatronGitHub/openfx-io.git "$work/openfx-io"

mkdir -p "$work/build"
cd "$work/build"
cmake "$work/src" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DNATRON_SYSTEM_LIBS=ON -DNATRON_BUILD_TESTS=OFF >&2
# shiboken2 (Natron's Python bindings) needs clang's own headers.
targets=(NatronRenderer)
if [ "$gui" = --gui ]; then
  $sudo apt-get install -y --no-install-recommends libqt5opengl5-dev libglu1-mesa-dev >&2
  targets+=(Natron)
fi
LLVM_INSTALL_DIR=/usr/lib/llvm-14 CLANG_INSTALL_DIR=/usr/lib/llvm-14 make -j"$(nproc)" "${targets[@]}" >&2

mkdir -p "$work/io"
for p in PNG PFM; do
  # Without OpenColorIO: the readers hand 8-bit values through as v/255, no colour transform.
  make -C "$work/openfx-io/$p" CONFIG=release OCIO_CXXFLAGS= OCIO_LINKFLAGS= -j"$(nproc)" >&2
  rm -rf "$work/io/$p.ofx.bundle"
  cp -r "$work/openfx-io/$p/Linux-64-release/$p.ofx.bundle" "$work/io/"
done
echo "NatronRenderer: $work/build/Renderer/NatronRenderer"
[ "$gui" = --gui ] && echo "Natron (GUI): $work/build/App/Natron"
echo "reader/writer plugins: $work/io"
