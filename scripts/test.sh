#!/usr/bin/env bash
# The test command: sets everything up on a fresh machine (venv with torch 2.11.0 and the
# reference package), builds, and runs the whole suite. Parity tests generate their
# reference fixtures on first use (git-ignored, under tests/fixtures/).
#   scripts/test.sh [extra cargo test arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --reference
source scripts/env.sh
cargo build --workspace --all-targets --locked
# Tests pin libtorch to 2 threads each; run them one at a time so parity timings and
# memory stay predictable on a 2-core machine.
cargo test --workspace --locked --no-fail-fast "$@" -- --test-threads=1
