#!/usr/bin/env bash
# The main job: sets everything up (venv with torch 2.11.0 for libtorch), builds the
# release binary and runs `samurai-roto` with the given arguments, for example
#   scripts/run.sh segment --checkpoint sam2.1_hiera_tiny.pt --image frame.jpg --box 310,0,515,400 --out mask.png
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh >&2
source scripts/env.sh
cargo build --release --locked -p samurai-roto-cli >&2
exec "$root/target/release/samurai-roto" "$@"
