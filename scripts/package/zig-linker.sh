#!/usr/bin/env bash
# Linker for SamuraiRoto's release binaries: links with `zig cc` against glibc 2.28's symbol
# stubs, so that every symbol the output imports from glibc is bound to a version at most
# GLIBC_2.28 (RHEL/Rocky/Alma 8; the VFX Reference Platform CY2023-CY2025), while the C++
# runtime stays the system's libstdc++ (libtorch's ABI) and the unwinder the system's
# libgcc_s. Used by scripts/package.sh as the target's linker:
#   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=scripts/package/zig-linker.sh
# What it changes in rustc's link line, and why:
#   -lstdc++  -> the path of g++'s libstdc++.so.6: zig reads -lstdc++ as "link zig's libc++",
#                whose std:: ABI is not libtorch's.
#   -lgcc_s   -> the path of libgcc_s.so.1: zig reads it as "link zig's libunwind
#                statically", which would give the process a second unwinder beside the one
#                libstdc++ and libtorch throw through.
#   -lgomp    -> libgomp.so.1 from the -L folders (libtorch's), else g++'s: zig searches no
#                system folder.
#   -fuse-ld=*, -B*, -Wl,--no-undefined-version, -Wl,-znostart-stop-gc: rustc's choice of
#                its own lld and lld-only options; zig links with its own lld.
# and to links with C++ in them (those with -lstdc++) it adds glibc228-compat.o (see
# glibc228-compat.cpp), compiled once with g++ into $SAMURAI_ROTO_ZIG_CACHE (default: the
# cargo target folder's zig-linker/). An object file's definitions take precedence over the
# shared libstdc++'s, so our references bind to them.
# Environment: SAMURAI_ROTO_ZIG (default: "<venv python> -m ziglang"), CXX (default g++),
# SAMURAI_ROTO_GLIBC (default 2.28).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cxx="${CXX:-g++}"
glibc="${SAMURAI_ROTO_GLIBC:-2.28}"
if [ -n "${SAMURAI_ROTO_ZIG:-}" ]; then
  read -r -a zig <<<"$SAMURAI_ROTO_ZIG"
else
  zig=("$root/.venv/bin/python" -m ziglang)
fi
cache="${SAMURAI_ROTO_ZIG_CACHE:-${CARGO_TARGET_DIR:-$root/target}/zig-linker}"
mkdir -p "$cache"
compat="$cache/glibc228-compat.o"
if [ ! -f "$compat" ] || [ "$here/glibc228-compat.cpp" -nt "$compat" ]; then
  "$cxx" -std=c++17 -O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 -c "$here/glibc228-compat.cpp" -o "$compat.tmp.$$"
  mv -f "$compat.tmp.$$" "$compat"
fi
libstdcxx="$("$cxx" -print-file-name=libstdc++.so.6)"
libgcc_s="$("$cxx" -print-file-name=libgcc_s.so.1)"
[ -f "$libstdcxx" ] || { echo "zig-linker: $cxx has no libstdc++.so.6" >&2; exit 1; }
[ -f "$libgcc_s" ] || { echo "zig-linker: $cxx has no libgcc_s.so.1" >&2; exit 1; }

lib_dirs=()
find_gomp() {
  local d
  for d in "${lib_dirs[@]}"; do
    for f in "$d/libgomp.so" "$d/libgomp.so.1"; do [ -f "$f" ] && { echo "$f"; return; }; done
  done
  "$cxx" -print-file-name=libgomp.so.1
}
rewrite() { # one argument -> zero or more on stdout, one per line
  case "$1" in
    -lstdc++) echo "$libstdcxx" ;;
    -lgcc_s) echo "$libgcc_s" ;;
    -lgomp) find_gomp ;;
    -fuse-ld=*|-B*|-Wl,--no-undefined-version|-Wl,-znostart-stop-gc) ;;
    -Wl,*,-l*)
      # zig takes no -l inside -Wl (build.rs: -Wl,--no-as-needed,-ltorch_cuda,--as-needed):
      # the same in order, with each -l as an argument of its own
      local part group=() IFS=,
      for part in ${1#-Wl,}; do
        if [[ "$part" == -l* ]]; then
          if [ ${#group[@]} -gt 0 ]; then printf '%s\n' "-Wl,${group[*]}"; fi
          group=()
          rewrite "$part"
        else
          group+=("$part")
        fi
      done
      if [ ${#group[@]} -gt 0 ]; then printf '%s\n' "-Wl,${group[*]}"; fi
      ;;
    *) printf '%s\n' "$1" ;;
  esac
}
# First pass: the -L folders (for -lgomp) and whether C++ is linked, from the arguments
# and any response file.
cxx_link=0
scan() {
  case "$1" in
    -L*) lib_dirs+=("${1#-L}") ;;
    -lstdc++) cxx_link=1 ;;
  esac
}
for a in "$@"; do
  case "$a" in
    @*) while IFS= read -r l; do scan "$l"; done <"${a#@}" ;;
    *) scan "$a" ;;
  esac
done
extra=()
[ "$cxx_link" = 1 ] && extra+=("$compat")
args=()
for a in "$@"; do
  if [[ "$a" == @* ]]; then
    # rustc's response file: one argument a line; rewrite it line by line into a copy
    out="$cache/rsp.$$"
    while IFS= read -r l; do rewrite "$l"; done <"${a#@}" >"$out"
    args+=("@$out")
  else
    while IFS= read -r l; do args+=("$l"); done < <(rewrite "$a")
  fi
done
# --allow-shlib-undefined: the build machine's libstdc++.so.6 and libgcc_s.so.1, linked
# against here only for their symbol tables, import glibc symbols newer than 2.28 themselves
# (e.g. _dl_find_object@GLIBC_2.35); at run time the target's own copies are loaded. What
# our output imports is still bound to glibc 2.28's stubs, and scripts/check-elf-policy.py
# checks every shipped file's imports against the manylinux_2_28 policy.
exec "${zig[@]}" cc -target "x86_64-linux-gnu.$glibc" "${args[@]}" "${extra[@]}" -Wl,--allow-shlib-undefined
