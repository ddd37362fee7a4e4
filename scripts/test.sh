#!/usr/bin/env bash
# The whole test suite on this machine: setup (packages, npm ci, build), lint, unit, integration, e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
node scripts/run-tests.mjs unit
node scripts/run-tests.mjs integration
