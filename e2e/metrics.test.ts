// The daemon's Prometheus endpoint, scraped from a real daemon process (--metrics-listen on a
// free loopback port) around a real `trace exec --remote` run of a marker workload in a podman
// container: the counters match the run (one run started, events = what the CLI received, no
// losses), BPF memory matches bpftool's memlock of the maps the daemon holds, and the text holds
// counts only. The exposition is read with parse-prometheus-text-format (not ours).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Cli, marker, runCli, sleep, waitReady } from './helpers/cli.js';
import type { Ev } from './helpers/cli.js';
import { bpftoolAvailable, heldBy } from './helpers/bpf.js';
import { TestDaemon } from './helpers/daemon.js';
import { ContainerPool, execIn, podmanAvailable } from './fixtures/podman.js';
import type { TestContainer } from './fixtures/podman.js';
import { parseMetrics, sample } from '../daemon/src/metrics/test-support/parse.js';

const canRun = podmanAvailable() && bpftoolAvailable();
const K = 6;

async function scrape(url: string) {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  const text = await r.text();
  return { text, f: parseMetrics(text) };
}

/** bpftool's bytes_memlock summed over the maps the process holds descriptors of. */
function bpftoolMapMemlock(pid: number): number {
  const held = heldBy(pid).map;
  const maps = JSON.parse(
    execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as Array<{
    id: number;
    bytes_memlock?: number;
  }>;
  return maps.filter((m) => held.has(m.id)).reduce((s, m) => s + (m.bytes_memlock ?? 0), 0);
}

describe(
  'daemon --metrics-listen',
  { skip: !canRun && 'needs root, podman and bpftool', concurrency: 1 },
  () => {
    const pool = new ContainerPool();
    let c: TestContainer;
    let td: TestDaemon;
    let url: string;

    before(async () => {
      c = await pool.start('metrics', ['sleep', '1000']);
      td = new TestDaemon('metrics', { args: ['--metrics-listen', '127.0.0.1:0'] });
      const d = await td.start();
      url = await d.waitUntil(
        () => /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(d.stderr)?.[1],
        10_000,
        'the metrics address',
      );
    });

    after(async () => {
      await td?.cleanup({ traceloop: false });
      await pool.cleanup();
    });

    test('before any run: no runs, containers known, the tracker maps locked, RSS', async () => {
      const { f } = await scrape(url);
      assert.equal(
        sample(f, 'kubectl_gadget_runs_started_total', { gadget: 'trace_exec' }),
        undefined,
      );
      assert.ok(
        (sample(f, 'kubectl_gadget_containers_known') ?? 0) >= 1,
        'the test container is known',
      );
      assert.ok((sample(f, 'kubectl_gadget_bpf_memlock_bytes', { kind: 'map' }) ?? 0) > 0);
      assert.ok((sample(f, 'process_resident_memory_bytes') ?? 0) > 10 << 20);
      assert.equal(sample(f, 'kubectl_gadget_traceloop_recordings'), 0);
    });

    test('BPF map memory is what bpftool reports for the maps the daemon holds', async () => {
      // the daemon is idle: its maps do not change between the two reads (retry a changed moment)
      let last = '';
      for (let i = 0; i < 5; i++) {
        const before = bpftoolMapMemlock(td.daemon.pid);
        const got = sample((await scrape(url)).f, 'kubectl_gadget_bpf_memlock_bytes', {
          kind: 'map',
        });
        if (got === before && before === bpftoolMapMemlock(td.daemon.pid)) return;
        last = `metric ${got}, bpftool ${before}`;
        await sleep(200);
      }
      assert.fail(`BPF map memlock differs: ${last}`);
    });

    test(`a trace exec run of ${K} marker execs: 1 run, events = what the CLI received, none lost`, async () => {
      const m = marker('metrics');
      const cli = new Cli(['trace', 'exec', '--remote', td.addr, '-c', c.name, '-o', 'json']);
      try {
        await waitReady(
          cli,
          (r) => execIn(c, ['/bin/true', r]),
          (e, r) => Array.isArray(e.args) && e.args[1] === r,
          60_000,
        );
        const during = (await scrape(url)).f;
        assert.equal(sample(during, 'kubectl_gadget_runs_active', { gadget: 'trace_exec' }), 1);
        for (let i = 0; i < K; i++) {
          const r = await execIn(c, ['/bin/true', m, String(i)]);
          assert.equal(r.code, 0, r.stderr);
        }
        const mine = (e: Ev) => Array.isArray(e.args) && e.args[1] === m;
        await cli.waitUntil(
          () => cli.events.filter(mine).length >= K || undefined,
          15_000,
          `${K} marker execs`,
        );
        // the container is idle now: nothing more is in flight when the client stops
        await sleep(1000);
        await cli.stop('SIGINT');
      } finally {
        if (cli.running) await cli.stop('SIGKILL');
      }
      assert.equal(cli.badLines.length, 0, cli.badLines.join('\n'));
      const got = cli.events.filter((e) => Array.isArray(e.args) && e.args[1] === m);
      assert.deepEqual(
        got.map((e) => (e.args as string[]).slice(1)),
        Array.from({ length: K }, (_, i) => [m, String(i)]),
      );
      // the run ends on the daemon after the client went away
      let f = (await scrape(url)).f;
      for (
        let i = 0;
        i < 50 && sample(f, 'kubectl_gadget_runs_active', { gadget: 'trace_exec' }) !== 0;
        i++
      ) {
        await sleep(100);
        f = (await scrape(url)).f;
      }
      const ex = { gadget: 'trace_exec' };
      assert.equal(sample(f, 'kubectl_gadget_runs_active', ex), 0);
      assert.equal(sample(f, 'kubectl_gadget_runs_started_total', ex), 1);
      assert.equal(sample(f, 'kubectl_gadget_events_total', ex), cli.events.length);
      assert.ok(cli.events.length >= K + 1, `${cli.events.length} events`);
      assert.equal(sample(f, 'kubectl_gadget_lost_events_total', ex), 0);
      assert.equal(sample(f, 'kubectl_gadget_dropped_batches_total', ex), 0);
      assert.equal(sample(f, 'kubectl_gadget_dropped_records_total', ex), 0);
      const t = performance.now();
      const { text } = await scrape(url);
      // a figure for docs, not a timed assertion
      process.stderr.write(
        `metrics: one scrape ${(performance.now() - t).toFixed(1)} ms, ${text.length} bytes, ${text.split('\n').filter((l) => l && !l.startsWith('#')).length} samples\n`,
      );
      // counts only: no argv, container names, socket paths
      for (const secret of [m, c.name, td.sock])
        assert.ok(!text.includes(secret), `${secret} in /metrics`);
    });

    test('a bad --metrics-listen is a one-line error with the form, exit non-zero', async () => {
      const r = await runCli(
        [
          'daemon',
          '--listen',
          `unix://${td.dir}/other.sock`,
          '--metrics-listen',
          'http://0.0.0.0:9477',
        ],
        {
          timeoutMs: 30_000,
        },
      );
      assert.notEqual(r.code, 0);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        /invalid --metrics-listen 'http:\/\/0\.0\.0\.0:9477': no scheme here \(use HOST:PORT, e\.g\. 127\.0\.0\.1:9477/,
      );
    });
  },
);
