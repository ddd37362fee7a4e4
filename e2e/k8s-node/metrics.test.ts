// The gadget pod's Prometheus endpoint on the real node: the DaemonSet `deploy` made carries the
// metrics port and the prometheus.io/* annotations, and /metrics scraped through
// `kubectl port-forward` (API server, kubelet, CRI) counts a `trace exec -n NS` run of marker
// execs: one run more, events = the lines the CLI received, nothing lost or dropped. The text is
// read with parse-prometheus-text-format (not ours). Under the machine-wide cluster lock:
//
//   flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration k8s-node/metrics

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Cli, marker, runCli, sleep, waitReady, type Ev } from '../helpers/cli.js';
import {
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  execIn,
  gadgetPod,
  kubectl,
  kubectlOk,
  ok,
  skipReason,
  teardown,
  waitFor,
  waitPodsReady,
  type Cluster,
} from './cluster.js';
import { parseMetrics, sample } from '../../daemon/src/metrics/test-support/parse.js';

const NS = 'kgtest-metrics';
const K = 5;

describe('gadget pod /metrics through port-forward', { skip: skipReason() }, () => {
  let cluster: Cluster | undefined;
  const c = (): Cluster => cluster!;
  let pf: ChildProcess | undefined;
  let url = '';

  before(
    async () => {
      cluster = clusterUp();
      deployGadget(c());
      createNamespace(c(), NS);
      applyPods(c(), NS, [
        { name: 'box', containers: [{ name: 'box', command: ['sleep', '3600'] }] },
      ]);
      waitPodsReady(c(), NS, ['box']);
      pf = spawn(
        c().kubectl,
        [
          '--kubeconfig',
          c().kubeconfig,
          '-n',
          'gadget',
          'port-forward',
          `pod/${gadgetPod(c()).name}`,
          ':9477',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      pf.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      const port = await waitFor(
        () => /127\.0\.0\.1:(\d+) ->/.exec(out)?.[1],
        20_000,
        'port-forward to listen',
      );
      url = `http://127.0.0.1:${port}/metrics`;
    },
    { timeout: 25 * 60_000 },
  );

  after(
    () => {
      pf?.kill('SIGTERM');
      teardown(cluster, [NS]);
    },
    { timeout: 3 * 60_000 },
  );

  const scrape = async () => {
    const r = await fetch(url);
    assert.equal(r.status, 200);
    return parseMetrics(await r.text());
  };

  test('the DaemonSet: --metrics-listen 0.0.0.0:9477, port metrics, prometheus.io annotations', () => {
    const ds = JSON.parse(
      kubectlOk(c(), ['-n', 'gadget', 'get', 'daemonset', 'gadget', '-o', 'json']),
    ) as {
      spec: {
        template: {
          metadata: { annotations?: Record<string, string> };
          spec: {
            containers: Array<{
              args: string[];
              ports?: Array<{ name: string; containerPort: number }>;
            }>;
          };
        };
      };
    };
    const t = ds.spec.template;
    assert.deepEqual(t.spec.containers[0]!.args.slice(-2), ['--metrics-listen', '0.0.0.0:9477']);
    assert.deepEqual(
      t.spec.containers[0]!.ports?.map((p) => [p.name, p.containerPort]),
      [['metrics', 9477]],
    );
    assert.equal(t.metadata.annotations?.['prometheus.io/scrape'], 'true');
    assert.equal(t.metadata.annotations?.['prometheus.io/port'], '9477');
    assert.equal(t.metadata.annotations?.['prometheus.io/path'], '/metrics');
  });

  test(`a trace exec -n run of ${K} marker execs is counted`, async () => {
    const ex = { gadget: 'trace_exec' };
    // the registry names a container when its first process runs: the count may trail the
    // pod's Ready by a moment, so poll (bounded), and say what the daemon knew on failure
    let f0 = await scrape();
    for (let i = 0; i < 50 && (sample(f0, 'kubectl_gadget_containers_known') ?? 0) < 2; i++) {
      await sleep(200);
      f0 = await scrape();
    }
    const known = sample(f0, 'kubectl_gadget_containers_known');
    if ((known ?? 0) < 2) {
      const logs = kubectl(c(), ['-n', 'gadget', 'logs', gadgetPod(c()).name, '--tail', '40']);
      console.log(`# containers_known ${known}; gadget pod log:\n${logs.stdout}${logs.stderr}`);
      const lc = await runCli(
        ['list-containers', '-A', '-o', 'json', '--kubeconfig', c().kubeconfig],
        { env: { ...process.env, KUBECONFIG: c().kubeconfig } },
      );
      console.log(`# list-containers: ${JSON.stringify(lc.events)} ${lc.stderr ?? ''}`);
    }
    assert.ok((known ?? 0) >= 2, `box and the gadget pod: containers_known ${known}`);
    assert.ok((sample(f0, 'kubectl_gadget_bpf_memlock_bytes', { kind: 'map' }) ?? 0) > 0);
    assert.ok((sample(f0, 'process_resident_memory_bytes') ?? 0) > 10 << 20);
    const started0 = sample(f0, 'kubectl_gadget_runs_started_total', ex) ?? 0;
    const events0 = sample(f0, 'kubectl_gadget_events_total', ex) ?? 0;
    const lost0 = sample(f0, 'kubectl_gadget_lost_events_total', ex) ?? 0;
    const dropped0 = sample(f0, 'kubectl_gadget_dropped_batches_total', ex) ?? 0;

    const m = marker('metrics');
    const cli = new Cli(['trace', 'exec', '-n', NS, '-o', 'json', '--kubeconfig', c().kubeconfig], {
      env: { KUBECONFIG: c().kubeconfig },
    });
    try {
      await waitReady(
        cli,
        (r) => execIn(c(), NS, 'box', 'box', ['/bin/true', r]),
        (e, r) => Array.isArray(e.args) && e.args[1] === r,
        90_000,
      );
      assert.equal(sample(await scrape(), 'kubectl_gadget_runs_active', ex), 1);
      for (let i = 0; i < K; i++)
        ok(execIn(c(), NS, 'box', 'box', ['/bin/true', m, String(i)]), 'kubectl exec');
      const mine = (e: Ev) => Array.isArray(e.args) && e.args[1] === m;
      await cli.waitUntil(
        () => cli.events.filter(mine).length >= K || undefined,
        30_000,
        `${K} marker execs`,
      );
      await sleep(1000); // the namespace is idle: nothing more in flight
      await cli.stop('SIGINT');
    } finally {
      if (cli.running) await cli.stop('SIGKILL');
    }
    assert.deepEqual(
      cli.events
        .filter((e) => Array.isArray(e.args) && e.args[1] === m)
        .map((e) => (e.args as string[]).slice(1)),
      Array.from({ length: K }, (_, i) => [m, String(i)]),
    );
    let f = await scrape();
    for (let i = 0; i < 50 && sample(f, 'kubectl_gadget_runs_active', ex) !== 0; i++) {
      await sleep(200);
      f = await scrape();
    }
    assert.equal(sample(f, 'kubectl_gadget_runs_active', ex), 0);
    assert.equal((sample(f, 'kubectl_gadget_runs_started_total', ex) ?? 0) - started0, 1);
    assert.equal((sample(f, 'kubectl_gadget_events_total', ex) ?? 0) - events0, cli.events.length);
    assert.equal((sample(f, 'kubectl_gadget_lost_events_total', ex) ?? 0) - lost0, 0);
    assert.equal((sample(f, 'kubectl_gadget_dropped_batches_total', ex) ?? 0) - dropped0, 0);
  });
});
