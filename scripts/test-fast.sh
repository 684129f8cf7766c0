#!/usr/bin/env bash
# The fast subset of the suite: every test that needs no reference fixture (no Python run,
# no generated checkpoint), for the edit-compile-test loop. It does not replace
# scripts/test.sh, which CI runs (the parity tests are the proof of correctness).
#   scripts/test-fast.sh [extra cargo test arguments]
# What it runs:
#   - the unit tests of every crate (settings, protocol, track caches, finishing, refinement,
#     shapes, the plugin's parameters and error mapping, the CLI's parsers, libtorch's build);
#   - the libtorch-free layer's integration tests: decoders under fuzzing, refinement's API,
#     do-no-harm and stability, shapes, SIGPIPE;
#   - finishing against its libtorch oracle (no checkpoint);
#   - the plugin in the in-repo OFX host on the box-matte test engine, and the ABI layout of
#     its C structs against the official OpenFX headers;
#   - the command line's `doctor` and `refine`.
# Needs the venv's libtorch (scripts/setup.sh without --reference) and, once, a build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
source scripts/env.sh
cargo test --workspace --locked --lib --bins "$@" -- --test-threads=1
cargo test --locked "$@" \
  -p samurai-roto-core --test fuzz_decoders --test refine_api --test refine_do_no_harm --test refine_stability \
  --test shapes_api --test sigpipe \
  -- --test-threads=1
cargo test --locked "$@" -p samurai-roto-engine --test parity -- --test-threads=1 finish_parity::
cargo test --locked "$@" -p samurai-roto-ofx --features test-engine --test ofx_host --test abi_layout -- --test-threads=1
cargo test --locked "$@" -p samurai-roto-cli --test cli -- --test-threads=1 doctor_cli:: refine_cli::
