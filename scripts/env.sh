# Source this file to build and run SamuraiRoto by hand: it points tch at the venv's libtorch
# and the ABI layout test at the OpenFX headers.
#   source scripts/env.sh
_sr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LIBTORCH_USE_PYTORCH=1
export PATH="$_sr_root/.venv/bin:$PATH"
# The official OpenFX headers that scripts/setup.sh unpacks, for the ABI layout test
# (crates/ofx/tests/abi_layout.rs); a value already set is kept.
export OFX_INCLUDE_DIR="${OFX_INCLUDE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/samurai-roto/openfx-sys-0.1.0/openfx/include}"
unset _sr_root
