#!/bin/sh
# kubectl's plugin completion for `kubectl gadget` (kubectl >= 1.26 runs kubectl_complete-gadget
# from PATH), as packaged for krew: `kubectl gadget completion install` puts it on PATH.
self=$(readlink -f -- "$0") || exit 127
dir=${self%/*}
exec "$dir/runtime/node" "$dir/app/bin/kubectl_complete-gadget" "$@"
