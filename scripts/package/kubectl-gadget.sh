#!/bin/sh
# kubectl-gadget, as packaged for krew (scripts/package/build.sh): the bundled Node runtime runs
# the bundled app. krew puts a symlink to this file on PATH; the real path finds the rest.
self=$(readlink -f -- "$0") || exit 127
dir=${self%/*}
exec "$dir/runtime/node" "$dir/app/bin/run.js" "$@"
