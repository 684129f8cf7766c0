#!/usr/bin/env bash
# Builds a headless Natron (NatronRenderer, Natron 2.5), openfx-io's PNG, PFM, EXR and OIIO
# reader / writer plugins and openfx-misc's Roto, Merge and Shuffle plugins (Natron's Roto
# node renders its shapes through the first two) from source on Debian 12, for
# `scripts/natron-check.sh` and the other Natron checks. Natron has no
# Debian package or PyPI wheel; this is how the plugin was checked in a real OFX host.
#   scripts/build-natron.sh WORK_DIR [--gui]
# WORK_DIR/src       Natron (branch RB-2.5) with its submodules libs/OpenFX and
#                    libs/SequenceParsing (and that one's tinydir)
# WORK_DIR/openfx-io openfx-io with its submodules openfx, SupportExt, IOSupport/SequenceParsing
# WORK_DIR/openfx-misc openfx-misc with its submodules openfx, SupportExt
# Both are cloned from GitHub when missing, with just the submodules above (Natron's test
# and crash-reporter submodules are not built). On a machine without GitHub, name local
# copies instead: NATRON_GIT_MIRRORS=DIR, a folder holding one git repository (bare or not)
# per NatronGitHub repository, named as the URLs name them: Natron, openfx-io, openfx-misc, openfx.git,
# openfx-supportext.git, SequenceParsing, tinydir. Each pinned submodule commit is checked
# out; where a mirror lacks it, the mirror's HEAD is used and a warning names both commits.
# Results:
#   WORK_DIR/build/Renderer/NatronRenderer
#   WORK_DIR/io/{PNG,PFM}.ofx.bundle
#   WORK_DIR/exr/{EXR,OIIO}.ofx.bundle  (EXR: fr.inria.openfx.ReadEXR, deprecated, RGBA only;
#                                     OIIO: fr.inria.openfx.ReadOIIO, Natron's EXR reader with
#                                     layers, for scripts/natron-layers-check.sh; a folder of
#                                     their own: with OIIO loaded Natron picks WriteOIIO for
#                                     .pfm by extension, which the other checks do not want)
#   WORK_DIR/misc/{Roto,Merge,Shuffle}.ofx.bundle  (net.sf.openfx.RotoPlugin,
#                                     net.sf.openfx.MergePlugin: without them Natron's Roto
#                                     node cannot render; net.sf.openfx.ShufflePlugin)
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
  libexpat1-dev libx11-dev libceres-dev libgoogle-glog-dev libgflags-dev libpng-dev \
  libopenexr-dev libimath-dev libopenimageio-dev >&2

github=https://github.com/NatronGitHub/
mirrors="${NATRON_GIT_MIRRORS:-}"
if [ -n "$mirrors" ]; then
  mirrors="$(cd "$mirrors" && pwd)"
  # Every GitHub URL, the submodules' included, goes to the folder; git refuses file-path
  # submodule clones unless protocol.file is allowed.
  export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0="url.$mirrors/.insteadOf" GIT_CONFIG_VALUE_0="$github" \
    GIT_CONFIG_KEY_1=protocol.file.allow GIT_CONFIG_VALUE_1=always
fi
# checkout_available REPO COMMIT: checks COMMIT out, leaving out (sparse checkout) the files
# whose contents the repository lacks (a mirror may hold only part of a repository's
# history); prints their paths.
checkout_available() {
  local repo="$1" commit="$2" blobs lacking
  blobs="$(git -C "$repo" ls-tree -r "$commit" | awk -F'\t' '$1 ~ / blob / {split($1, f, " "); print f[3] "\t" $2}')" ||
    return 1
  lacking="$(paste <(cut -f1 <<<"$blobs" | git -C "$repo" cat-file --batch-check='%(objecttype)' 2>/dev/null) \
    <(cut -f2- <<<"$blobs") | awk -F'\t' '$1 ~ / missing$/ {print $2}')"
  if [ -n "$lacking" ]; then
    local patterns=('/*')
    mapfile -t -O 1 patterns < <(sed 's|^|!/|' <<<"$lacking")
    git -C "$repo" sparse-checkout set --no-cone "${patterns[@]}" >&2 || return 1
  fi
  git -C "$repo" checkout -q -f --detach "$commit" >&2 && git -C "$repo" clean -ffdq >&2 || return 1
  printf '%s' "$lacking"
}
# submodules DIR PATH...: checks out each pinned submodule of the work tree DIR. From
# mirrors: a pinned commit the mirror lacks is replaced by the mirror's HEAD, and files whose
# contents it lacks are left out, each with a warning.
submodules() {
  local dir="$1" path pinned sub use lacking
  shift
  for path in "$@"; do
    if git -C "$dir" submodule update --init -- "$path" >&2; then continue; fi
    pinned="$(git -C "$dir" ls-tree HEAD -- "$path" | awk '{print $3}')"
    sub="$dir/$path"
    [ -n "$mirrors" ] && [ -e "$sub/.git" ] ||
      { echo "build-natron.sh: $dir: cannot check out $path at $pinned" >&2; exit 1; }
    use="$pinned"
    if ! git -C "$sub" cat-file -e "$pinned^{commit}" 2>/dev/null; then
      use="$(git -C "$sub" rev-parse origin/HEAD)"
      echo "build-natron.sh: warning: the mirror of $sub lacks the pinned commit $pinned;" \
        "using the mirror's HEAD $use" >&2
    fi
    lacking="$(checkout_available "$sub" "$use")" ||
      { echo "build-natron.sh: cannot check out $sub at $use" >&2; exit 1; }
    [ -z "$lacking" ] || echo "build-natron.sh: warning: the mirror of $sub lacks these files of" \
      "$use, left out:" $lacking >&2
  done
}
# clone URL BRANCH DIR SUBMODULE...: clones (BRANCH empty: the default one) with those
# submodules; SUB:NESTED is the submodule NESTED of the submodule SUB. The clone becomes DIR
# only once complete.
clone() {
  local url="$1" branch="$2" dir="$3" spec
  shift 3
  rm -rf "$dir.part"
  git clone ${branch:+--branch "$branch"} "$url" "$dir.part" >&2
  for spec in "$@"; do
    case "$spec" in
      *:*) submodules "$dir.part/${spec%%:*}" "${spec#*:}" ;;
      *) submodules "$dir.part" "$spec" ;;
    esac
  done
  mv "$dir.part" "$dir"
}
[ -d "$work/src" ] ||
  clone "${github}Natron" RB-2.5 "$work/src" libs/OpenFX libs/SequenceParsing libs/SequenceParsing:tinydir
[ -d "$work/openfx-io" ] ||
  clone "${github}openfx-io" "" "$work/openfx-io" openfx SupportExt IOSupport/SequenceParsing \
    IOSupport/SequenceParsing:tinydir
[ -d "$work/openfx-misc" ] ||
  clone "${github}openfx-misc" "" "$work/openfx-misc" openfx SupportExt

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

mkdir -p "$work/io" "$work/exr"
for p in PNG PFM EXR OIIO; do
  # Without OpenColorIO: the readers hand 8-bit values through as v/255, no colour transform.
  # OIIO without LibRaw (camera raw files) and the other libraries Makefile.master names
  # for it: Debian's OpenImageIO brings what reading EXR needs.
  make -C "$work/openfx-io/$p" CONFIG=release OCIO_CXXFLAGS= OCIO_LINKFLAGS= \
    OIIO_CXXFLAGS="$(pkg-config --cflags OpenImageIO)" OIIO_LINKFLAGS="$(pkg-config --libs OpenImageIO)" \
    -j"$(nproc)" >&2
  dest="$work/io"; case "$p" in EXR | OIIO) dest="$work/exr" ;; esac
  rm -rf "$work/io/$p.ofx.bundle" "$dest/$p.ofx.bundle"
  cp -r "$work/openfx-io/$p/Linux-64-release/$p.ofx.bundle" "$dest/"
done
mkdir -p "$work/misc"
for p in Roto Merge Shuffle; do
  # One bundle per plugin (openfx-misc's Makefile builds each as its own bundle besides the
  # combined Misc.ofx.bundle, which compiles every plugin of the collection).
  make -C "$work/openfx-misc/$p" CONFIG=release -j"$(nproc)" >&2
  rm -rf "$work/misc/$p.ofx.bundle"
  cp -r "$work/openfx-misc/$p/Linux-64-release/$p.ofx.bundle" "$work/misc/"
done
echo "NatronRenderer: $work/build/Renderer/NatronRenderer"
[ "$gui" = --gui ] && echo "Natron (GUI): $work/build/App/Natron"
echo "reader/writer plugins: $work/io (EXR and OIIO: $work/exr)"
echo "Roto, Merge and Shuffle plugins: $work/misc"
