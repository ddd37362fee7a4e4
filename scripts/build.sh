#!/usr/bin/env bash
# npm run build: eBPF objects + their layouts, the libbpf addon, generated proto code, TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bpf/build.sh
bash daemon/native/build.sh
bash scripts/gen-proto.sh
bash e2e/workloads/build.sh
npx tsc -p tsconfig.json
# the ui page (Preact, bundled by esbuild into dist/ui/)
node scripts/build-ui.mjs
# the build id `version` shows (commit, dirty, time)
bash scripts/build-info.sh >/dev/null
chmod +x bin/run.js
node scripts/gen-oclif-manifest.mjs
