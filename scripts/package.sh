#!/usr/bin/env bash
# Makes SamuraiRoto's release archives, which run on Linux x86-64 with glibc 2.28 or newer
# (RHEL/Rocky/Alma 8 and later):
#   dist/SamuraiRoto-<version>-linux-x86_64-cpu.tar.gz    scripts/package.sh [cpu]
#   dist/SamuraiRoto-<version>-linux-x86_64-cuda.tar.gz   scripts/package.sh cuda
# (both: scripts/package.sh cpu cuda). <version> is the Cargo version of samurai-roto and
# `git describe --always --dirty`, e.g. 0.1.0-d512839 or 0.1.0-d512839-dirty.
#
# Each archive holds the OpenFX bundle (plugin, helper, command line, and lib/ with every
# library they load that the system does not provide), bin/samurai-roto (a launcher into
# the bundle), INSTALL.txt, licenses/ and MANIFEST.sha256; scripts/package/assemble.py lays
# it out. Afterwards scripts/check-elf-policy.py checks every ELF file in the archive against
# auditwheel's manylinux_2_28 policy (GLIBC <= 2.28, GLIBCXX <= 3.4.24, CXXABI <= 1.3.11) and
# the script fails if one needs more.
#
# How the binaries meet glibc 2.28: a release build for the explicit target
# x86_64-unknown-linux-gnu (its own folder, target/x86_64-unknown-linux-gnu/release),
# linked by scripts/package/zig-linker.sh (zig's glibc 2.28 stubs, the system's libstdc++
# and libgcc_s), C++ compiled by g++ as in every other build, TurboJPEG linked statically.
# The CUDA archive's helper and command line link libtorch_cuda (SAMURAI_ROTO_CUDA=1): that
# build reuses the same folder: switching between the two re-runs the engine's build script
# and relinks (about a minute here).
#
# Options (environment):
#   SAMURAI_ROTO_PACKAGE_BUILD=0   use the binaries already in the target folder
#   SAMURAI_ROTO_PLUGIN_LIB, SAMURAI_ROTO_HELPER_BIN, SAMURAI_ROTO_CLI_BIN
#                                  package these files instead of the build's
#   SAMURAI_ROTO_DIST              output folder (default dist/)
#   CARGO_TARGET_DIR               as for cargo
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
variants=()
for arg in "$@"; do
  case "$arg" in
    cpu|cuda) variants+=("$arg") ;;
    *) echo "usage: scripts/package.sh [cpu] [cuda]" >&2; exit 2 ;;
  esac
done
[ ${#variants[@]} -gt 0 ] || variants=(cpu)

bash scripts/setup.sh --package >&2
source scripts/env.sh
py="$root/.venv/bin/python"
triple=x86_64-unknown-linux-gnu
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
out_dir="${SAMURAI_ROTO_DIST:-$root/dist}"
work="$target/package"
mkdir -p "$work"

# Version: Cargo's version of the command line (the workspace's version), and the commit.
cargo_version="$(cargo metadata --no-deps --locked --offline --format-version 1 |
  "$py" -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="samurai-roto-cli"))')"
version="$cargo_version-$(git describe --always --dirty)"
mtime="$(git log -1 --format=%ct)"

# Release build for glibc 2.28 (see the header).
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER="$root/scripts/package/zig-linker.sh"
# The shipped files carry no debug information (stripped when laid out); do not build it.
export CARGO_PROFILE_RELEASE_DEBUG=0
tj_dir="$work/turbojpeg-static"
mkdir -p "$tj_dir"
tj_lib="$(pkg-config --variable=libdir libturbojpeg)/libturbojpeg.a"
[ -f "$tj_lib" ] || { echo "package: $tj_lib missing (Debian: apt-get install libturbojpeg0-dev)" >&2; exit 1; }
ln -sf "$tj_lib" "$tj_dir/libturbojpeg.a"
export TURBOJPEG_SOURCE=explicit TURBOJPEG_LIB_DIR="$tj_dir"
TURBOJPEG_INCLUDE_DIR="$(pkg-config --variable=includedir libturbojpeg)"
export TURBOJPEG_INCLUDE_DIR
build_args=(-p samurai-roto-ofx -p samurai-roto-cli -p samurai-roto-helper)
helper_name=samurai-roto-helper
bin_dir="$target/$triple/release"

# The crates' licence texts: cargo-about reads every locked crate's sources (about 1.6
# CPU-minutes), so its output is kept per machine, keyed by everything it reads here (the
# lock file, the manifests, its configuration and template, its version).
about="$root/.venv/bin/cargo-about"
about_key="$( { "$about" --version; cat Cargo.lock Cargo.toml crates/*/Cargo.toml \
  scripts/package/about.toml scripts/package/about.hbs; } | sha256sum | cut -c1-16)"
about_cache="${XDG_CACHE_HOME:-$HOME/.cache}/samurai-roto/crate-licences"
crate_licenses="$about_cache/$about_key.txt"
if [ ! -s "$crate_licenses" ]; then
  mkdir -p "$about_cache"
  # cargo-about runs `cargo metadata` offline, which needs every locked package on disk,
  # those of other platforms too (Windows-only crates the build never downloads): a fresh
  # machine has only what it built (`failed to download anstyle-wincon`), so fetch them.
  cargo fetch --locked >&2
  "$about" generate --locked --offline --fail \
    -c scripts/package/about.toml -o "$crate_licenses.tmp.$$" scripts/package/about.hbs >&2
  mv -f "$crate_licenses.tmp.$$" "$crate_licenses"
else
  echo "package: the crates' licence texts from $crate_licenses (same lock file and manifests)" >&2
fi

status=0
for variant in "${variants[@]}"; do
  if [ "${SAMURAI_ROTO_PACKAGE_BUILD:-1}" = 1 ]; then
    cuda=0; [ "$variant" = cuda ] && cuda=1
    echo "package: building $variant release binaries for glibc 2.28 ($bin_dir)" >&2
    start=$(date +%s)
    SAMURAI_ROTO_CUDA=$cuda cargo build --release --locked --target "$triple" "${build_args[@]}"
    echo "package: $variant build took $(( $(date +%s) - start )) s" >&2
  fi
  stub_args=()
  if [ "$variant" = cpu ]; then
    # The CPU archive's stand-ins for the CUDA runtime and CUPTI, which PyPI's libtorch_cpu.so
    # names as needed (scripts/package/cuda-stubs/cudart.c says why).
    stubs="$work/cuda-stubs"
    mkdir -p "$stubs"
    for lib in cudart cupti; do
      "$py" -m ziglang cc -target x86_64-linux-gnu.2.28 -shared -fPIC -O2 -Wall -Wextra -Werror \
        -Wl,-soname,"lib$lib.so.13" -Wl,--version-script,"scripts/package/cuda-stubs/$lib.map" \
        -o "$stubs/lib$lib.so.13" "scripts/package/cuda-stubs/$lib.c"
    done
    stub_args=(--cuda-stubs "$stubs")
  fi
  "$py" scripts/package/assemble.py --variant "$variant" --version "$version" --mtime "$mtime" "${stub_args[@]}" \
    --plugin "${SAMURAI_ROTO_PLUGIN_LIB:-$bin_dir/libsamurai_roto_ofx.so}" \
    --helper "${SAMURAI_ROTO_HELPER_BIN:-$bin_dir/$helper_name}" \
    --cli "${SAMURAI_ROTO_CLI_BIN:-$bin_dir/samurai-roto}" \
    --crate-licenses "$crate_licenses" --out-dir "$out_dir" --work "$work"
  archive="$out_dir/SamuraiRoto-$version-linux-x86_64-$variant.tar.gz"
  "$py" scripts/check-elf-policy.py "$archive" || status=1
  # The laid-out tree's command line starts in a clean environment (every library resolves).
  mkdir -p "$work/home"
  if ! env -i PATH=/usr/bin:/bin HOME="$work/home" "$work/SamuraiRoto-$version/bin/samurai-roto" --help >/dev/null; then
    echo "package: bin/samurai-roto of the $variant archive does not start in a clean environment" >&2
    status=1
  fi
done
exit $status
