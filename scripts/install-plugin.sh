#!/usr/bin/env bash
# Puts this checkout's CLI on PATH as `kubectl-gadget`, so that kubectl finds it as a plugin and
# `kubectl gadget ...` works (kubectl runs any executable named kubectl-<name> found on PATH).
# The install step for a checkout (the krew package, npm run package, is the other: docs/install.md).
#
#   scripts/install-plugin.sh [DIR]   # DIR/kubectl-gadget -> <checkout>/bin/run.js
#                                     # (default DIR: /usr/local/bin); run `npm run build` first
#
# A link, not a copy: a rebuild of the checkout is what `kubectl gadget` runs next. Replaces an
# earlier link, never a file. Prints the link's path on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-/usr/local/bin}"
LINK="$DIR/kubectl-gadget"
die() { echo "install-plugin: $*" >&2; exit 1; }

[[ -f "$ROOT/dist/plugin/src/commands/version.js" ]] ||
  die "$ROOT is not built (no dist/): run npm run build first"
[[ -d "$DIR" ]] || die "$DIR is not a directory"
if [[ -e "$LINK" || -L "$LINK" ]] && [[ ! -L "$LINK" ]]; then
  die "$LINK exists and is not a link: remove it first"
fi
chmod +x "$ROOT/bin/run.js"
ln -sfn "$ROOT/bin/run.js" "$LINK"
case ":$PATH:" in
  *":$DIR:"*) ;;
  *) echo "install-plugin: $DIR is not on PATH: export PATH=\"$DIR:\$PATH\"" >&2 ;;
esac
echo "$LINK"
