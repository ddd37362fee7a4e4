#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the main job: `trace exec --local` on this
# host while a small demo workload runs. Extra arguments go to the CLI (e.g. --timeout 10, -o json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
( while true; do
    date >/dev/null; ls /etc >/dev/null; sh -c 'echo demo-workload | wc -c' >/dev/null
    /nonexistent-demo-binary 2>/dev/null || true
    sleep 1
  done ) &
workload=$!
trap 'kill $workload 2>/dev/null' EXIT
node bin/run.js trace exec --local "$@"
