#!/bin/sh
# SamuraiRoto command line: runs the samurai-roto of the OpenFX bundle beside this folder,
# so that the command line and the plugin share one copy of libtorch. Link this file into
# your PATH if you like (ln -s); it finds the bundle through the link.
here=$(dirname "$(readlink -f "$0")")
exec "$here/../SamuraiRoto.ofx.bundle/Contents/Linux-x86-64/samurai-roto" "$@"
