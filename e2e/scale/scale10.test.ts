// The scale harness at 10 SIMULATED nodes (e2e/scale/harness.ts: stand-in kubelets and replay
// daemons; see there what is simulated), against the REAL control plane of scripts/k8s/up.sh
// (started here unless one runs): `kubectl-gadget trace exec -A -o json` in Kubernetes mode,
// without KGADGET_FAKE_KUBELET_ENDPOINTS, so every node's stream is a real port-forward through
// the API server to the stand-in kubelet of that node.
//
// Each node replays exactly 1,000 captured trace_exec records at 200/s; the run must deliver
// every one of them from every node, with no record lost by the replay and no warning.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureCluster, type ClusterHandle } from '../k8s/harness-fake-kubelet.js';
import { percentile, runCli, ScaleHarness } from './harness.js';

const skip = process.env.KGADGET_SKIP_K8S_E2E ? 'KGADGET_SKIP_K8S_E2E is set' : false;

const NODES = 10;
const RATE = 200;
const COUNT = 1000;
const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[scale10 +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
};

describe('scale harness: 10 simulated nodes through the real API server', { skip }, () => {
  let cluster: ClusterHandle | undefined;
  let harness: ScaleHarness | undefined;

  before(async () => {
    cluster = ensureCluster(log);
    harness = await ScaleHarness.start({
      kubeconfig: cluster.kubeconfig,
      caFile: cluster.caFile,
      nodes: NODES,
      rate: RATE,
      count: COUNT,
      log,
    });
  });

  after(async () => {
    await harness?.close();
    cluster?.close();
  });

  test('every node delivers all its records, none lost', async () => {
    const h = harness!;
    const r = await runCli({
      kubeconfig: cluster!.kubeconfig,
      gadget: 'trace_exec',
      nodes: h.nodeNames,
      expectPerNode: COUNT,
      timeoutMs: 60_000,
      log,
    });
    const reports = await h.waitRunReports(10_000);
    log(
      `CLI exit ${r.status ?? r.signal}; first event from every node after ${Math.round(r.allFirstMs)} ms; latency p50 ${percentile(r.latencies, 50).toFixed(1)} ms p99 ${percentile(r.latencies, 99).toFixed(1)} ms`,
    );
    assert.equal(r.stderr.match(/warning|error/i), null, `CLI stderr: ${r.stderr}`);
    // the simulated pods are all that runs in the cluster's other nodes' place: the run ends by
    // itself when every node's replay is done (or, with a real node in the cluster, by SIGINT)
    assert.ok(r.status === 0 || r.signal === 'SIGINT' || r.status === 130, `exit ${r.status}`);
    const counts = Object.fromEntries(h.nodeNames.map((n) => [n, r.perNode.get(n) ?? 0]));
    assert.deepEqual(counts, Object.fromEntries(h.nodeNames.map((n) => [n, COUNT])));
    const replayed = Object.fromEntries(
      h.nodeNames.map((n) => {
        const rep = reports.get(n);
        return [n, { sent: rep?.sent, lost: rep?.lost }];
      }),
    );
    assert.deepEqual(
      replayed,
      Object.fromEntries(h.nodeNames.map((n) => [n, { sent: COUNT, lost: 0 }])),
    );
    assert.equal(r.latencies.length, NODES * COUNT);
    // each node's stream went through the API server to that node's stand-in kubelet: one
    // forwarded connection (grpc-js keeps one per node) to the gadget pod's daemon port
    const fw = h.forwards();
    assert.deepEqual(
      Object.fromEntries(h.nodeNames.map((n) => [n, fw.get(n)])),
      Object.fromEntries(h.nodeNames.map((n) => [n, [`gadget/gadget-${n}:8477`]])),
    );
  });
});
