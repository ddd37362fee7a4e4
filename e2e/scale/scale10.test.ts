// The scale harness at 10 SIMULATED nodes (e2e/scale/harness.ts: stand-in kubelets and replay
// daemons; see there what is simulated), against the REAL control plane of scripts/k8s/up.sh
// (started here unless one runs): `kubectl-gadget trace exec -A -o json` in Kubernetes mode,
// without KGADGET_FAKE_KUBELET_ENDPOINTS, so every node's stream is a real port-forward through
// the API server to the stand-in kubelet of that node.
//
// Each node replays exactly 1,000 captured trace_exec records at 200/s; the run must deliver
// every one of them from every node, with no record lost by the replay and no warning.
//
// The cluster is scripts/k8s/up.sh --node's (e2e/k8s-node/cluster.ts: started here, or
// KGADGET_NODE_KUBECONFIG's), so the REAL node kgnode stays in it with its real gadget pod: an
// exec in a pod on it (kubectl exec, real eBPF) must arrive in the same run, next to the replayed
// records. Where the node cluster cannot run (no root, containerd, ...), the control plane alone
// is used and that check is skipped (said on stderr).
//
//   flock -s /tmp/kg-bench.lock flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration scale/scale10

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../helpers/cli.js';
import { ensureCluster, type ClusterHandle } from '../k8s/harness-fake-kubelet.js';
import { percentile, runCli, ScaleHarness } from './harness.js';
import { RealNode } from './real-node.js';

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
  let real: RealNode | undefined;
  let harness: ScaleHarness | undefined;
  let kubeconfig = '';

  before(
    async () => {
      const noNode = RealNode.skipReason();
      if (noNode) {
        log(`no real node (${noNode}): the control plane alone`);
        cluster = ensureCluster(log);
      } else real = RealNode.start(log);
      kubeconfig = real?.kubeconfig ?? cluster!.kubeconfig;
      harness = await ScaleHarness.start({
        kubeconfig,
        caFile: real?.caFile ?? cluster!.caFile,
        nodes: NODES,
        rate: RATE,
        count: COUNT,
        log,
      });
    },
    { timeout: 25 * 60_000 },
  );

  after(
    async () => {
      await harness?.close();
      real?.close();
      cluster?.close();
    },
    { timeout: 3 * 60_000 },
  );

  test('every node delivers all its records, none lost', async () => {
    const h = harness!;
    // the real node: once every simulated node streams, kubectl exec into the pod on kgnode
    // until one exec is seen (the gadget's programs are attached), then the exec checked below
    let markers: { warm: string[]; mine?: string; error?: unknown } = { warm: [] };
    const kept: string[] = [];
    let startExecs!: () => void;
    const steady = new Promise<void>((r) => (startExecs = r));
    const execs = (async () => {
      if (!real) return;
      await steady;
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        markers.warm.push(await real.execMarker('warm'));
        await sleep(300);
        if (markers.warm.some((m) => RealNode.markerEvents(kept, m).length > 0)) break;
      }
      markers.mine = await real.execMarker('scale10');
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && RealNode.markerEvents(kept, markers.mine).length === 0)
        await sleep(100);
      await sleep(300); // no second event of it
    })().catch((e: unknown) => (markers = { ...markers, error: e }));
    const r = await runCli({
      kubeconfig,
      gadget: 'trace_exec',
      nodes: h.nodeNames,
      expectPerNode: COUNT,
      timeoutMs: 90_000,
      keep: new Map(real ? [[real.node, kept]] : []),
      onAllFirst: startExecs,
      until: execs,
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
    if (real) {
      // the real node's exec, from its real gadget pod, in the same run: exactly one event, with
      // its node, namespace, pod, container and arguments
      assert.equal(markers.error, undefined, String(markers.error));
      const mine = markers.mine!;
      log(
        `real node: ${markers.warm.length} warm-up exec(s), ${kept.length} line(s) from ${real.node}`,
      );
      const got = RealNode.markerEvents(kept, mine).map((e) => ({
        node: e.node,
        namespace: e.namespace,
        pod: e.pod,
        container: e.container,
        args: e.args,
      }));
      assert.deepEqual(got, [
        {
          node: real.node,
          namespace: real.namespace,
          pod: real.pod,
          container: real.pod,
          args: ['/bin/echo', mine],
        },
      ]);
    } else log('no real node: its check skipped');
    // each node's stream went through the API server to that node's stand-in kubelet: one
    // forwarded connection (grpc-js keeps one per node) to the gadget pod's daemon port
    const fw = h.forwards();
    assert.deepEqual(
      Object.fromEntries(h.nodeNames.map((n) => [n, fw.get(n)])),
      Object.fromEntries(h.nodeNames.map((n) => [n, [`gadget/gadget-${n}:8477`]])),
    );
  });
});
