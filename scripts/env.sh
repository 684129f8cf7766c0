# Source this file to build and run SamuraiRoto by hand: it points tch at the venv's libtorch.
#   source scripts/env.sh
_sr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LIBTORCH_USE_PYTORCH=1
export PATH="$_sr_root/.venv/bin:$PATH"
unset _sr_root
