#!/usr/bin/env bash
# The whole test suite on this machine: setup (packages, npm ci, build), lint, unit, integration
# and e2e (real kernel, podman containers, a local kube-apiserver). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
# The Kubernetes binaries (and kube-router, the NetworkPolicy enforcer of the enforced netpol
# test) take minutes to build cold (cached afterwards): start them first.
( KGADGET_BUILD_KUBE_ROUTER=1 bash scripts/k8s/build.sh >build/k8s-build.log 2>&1 && bash scripts/k8s/node/build-coredns.sh >>build/k8s-build.log 2>&1; echo $? >build/k8s-build.rc ) &
k8s_build=$!
# krew and its manifest checker (e2e/package/krew.test.ts): ~1.5 min cold, cached afterwards
( bash scripts/krew-build.sh >build/krew-build.log 2>&1; echo $? >build/krew-build.rc ) &
krew_build=$!
# helm (e2e/k8s/helm.test.ts): a few minutes cold, cached afterwards
( bash scripts/helm-build.sh >build/helm-build.log 2>&1; echo $? >build/helm-build.rc ) &
helm_build=$!
trap 'kill $k8s_build $krew_build $helm_build 2>/dev/null || true' EXIT
bash scripts/setup.sh
npm run --silent lint
node scripts/run-tests.mjs unit
# the kernel-side smoke test: each object loaded by a libbpf loader independent of the daemon
if [ "$(id -u)" = 0 ]; then bash bpf/test/build.sh >/dev/null && node bpf/test/smoke.mjs; fi
if ! wait $k8s_build || [ "$(cat build/k8s-build.rc 2>/dev/null)" != 0 ]; then
  echo "test: building the Kubernetes binaries failed:" >&2
  tail -20 build/k8s-build.log >&2
  exit 1
fi
node scripts/run-tests.mjs integration
