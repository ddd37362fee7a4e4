#!/usr/bin/env bash
# Idempotent cleanup of whatever an earlier (killed) run may have left: test containers,
# daemons, pinned objects, network namespaces.
set -u
pkill -f 'kubectl-gadget daemon' 2>/dev/null
pkill -f 'bin/run.js daemon' 2>/dev/null
if command -v podman >/dev/null; then
  for c in $(podman ps -a --format '{{.Names}}' 2>/dev/null | grep -E '^(kgtest|tlbench)-'); do
    podman --runtime runc rm -f -t 0 "$c" >/dev/null 2>&1
  done
fi
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(kgtest|tlbench)-'); do ip netns del "$ns"; done
rm -rf /sys/fs/bpf/kubectl-gadget-test 2>/dev/null
# traceloop recordings are pinned on purpose; a CI run starts without any
rm -rf /sys/fs/bpf/kubectl-gadget/traceloop 2>/dev/null
exit 0
