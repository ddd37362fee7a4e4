// A node whose gadget pod is not Ready when the command starts is retried until it is, through
// the REAL API server: 3 SIMULATED nodes of the scale harness (harness.ts), one of whose gadget
// pods is Pending (ContainerCreating, not Ready) when `kubectl-gadget trace exec -A` starts and
// is marked Running and Ready 10 s later, as its kubelet would. The CLI must name it in the status
// line, not dial it while it is Pending, connect within 5 s of it turning Ready and stream all its
// records; the run exits 0 (the node was late, not lost).
//
//   flock -s /tmp/kg-bench.lock flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration scale/pending

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../helpers/cli.js';
import { ensureCluster, type ClusterHandle } from '../k8s/harness-fake-kubelet.js';
import { nodeName, runCli, ScaleHarness } from './harness.js';

const skip = process.env.KGADGET_SKIP_K8S_E2E ? 'KGADGET_SKIP_K8S_E2E is set' : false;

const RATE = 200;
const COUNT = 3000; // 15 s: the Ready nodes still stream when the late one connects
const READY_AFTER_MS = 10_000;
const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[scale-pending +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
};
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a gadget pod not Ready at the start is retried until it is', { skip }, () => {
  let cluster: ClusterHandle | undefined;
  let harness: ScaleHarness | undefined;
  const late = nodeName(3);

  before(async () => {
    cluster = ensureCluster(log);
    harness = await ScaleHarness.start({
      kubeconfig: cluster.kubeconfig,
      caFile: cluster.caFile,
      nodes: 3,
      rate: RATE,
      count: COUNT,
      pendingNodes: [late],
      log,
    });
  });

  after(async () => {
    await harness?.close();
    cluster?.close();
  });

  test('status line names it; it streams within 5 s of turning Ready; exit 0', async () => {
    const h = harness!;
    const started = performance.now();
    const running = runCli({
      kubeconfig: cluster!.kubeconfig,
      gadget: 'trace_exec',
      nodes: h.nodeNames,
      expectPerNode: COUNT,
      timeoutMs: 90_000,
      log,
    });
    await sleep(READY_AFTER_MS);
    // not dialed while Pending: the stand-in kubelet forwarded nothing for it
    assert.equal(h.forwards().get(late), undefined);
    await h.markReady(late);
    const readyAt = performance.now() - started;
    log(`${late} marked Ready at ${Math.round(readyAt)} ms`);
    const r = await running;
    const reports = await h.waitRunReports(10_000);
    const first = r.firstMs.get(late) ?? NaN;
    log(`CLI exit ${r.status ?? r.signal}; ${late} first event at ${Math.round(first)} ms`);
    const pod = `gadget-${late}`;
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    // the retry warning comes as soon as some node streams, the status line once the others
    // answered: either may be first
    assert.deepEqual(
      warnings.slice(0, 2).sort(),
      [
        `warning: connected 2/3; not answering: ${late} (gadget pod ${pod} is Pending, not Ready)`,
        `warning: node ${late}: gadget pod ${pod} is Pending, not Ready; retrying until its gadget pod answers (for up to 120 s)`,
      ],
      r.stderr,
    );
    assert.match(
      warnings[2] ?? '',
      new RegExp(
        `^warning: node ${esc(late)}: stream started after a gap of \\d+\\.\\d s \\(.+ UTC, \\d+ attempt\\(s\\), pod ${esc(pod)}\\): what ran on the node in the gap was not traced$`,
      ),
    );
    assert.equal(warnings.length, 3, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    // every node's records, none lost; the late node's first one after it was Ready, within 5 s
    assert.deepEqual(
      Object.fromEntries(h.nodeNames.map((n) => [n, r.perNode.get(n) ?? 0])),
      Object.fromEntries(h.nodeNames.map((n) => [n, COUNT])),
    );
    assert.deepEqual(
      Object.fromEntries(h.nodeNames.map((n) => [n, reports.get(n)?.lost])),
      Object.fromEntries(h.nodeNames.map((n) => [n, 0])),
    );
    assert.ok(first > readyAt && first < readyAt + 5000, `first ${first} ms, Ready ${readyAt} ms`);
    for (const n of h.nodeNames.filter((x) => x !== late))
      assert.ok((r.firstMs.get(n) ?? Infinity) < READY_AFTER_MS, `${n} did not wait for ${late}`);
    assert.deepEqual(h.forwards().get(late), [`gadget/${pod}:8477`]);
  });
});
