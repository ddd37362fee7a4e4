// The metrics registry, its HTTP endpoint and the --metrics-listen parser, in process: the
// exposition is read back with a Prometheus text parser this project does not write.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DaemonMetrics, OTHER_GADGET } from './registry.js';
import { parseFdinfo } from './bpf-memory.js';
import { parseMetricsListen, startMetricsServer } from './server.js';
import { parseMetrics, sample } from './test-support/parse.js';

const GADGETS = new Set(['trace_exec', 'trace_open']);

describe('DaemonMetrics', () => {
  test('run counters by gadget: started, active, delivered, dropped, lost', async () => {
    const m = new DaemonMetrics(GADGETS, {
      processMetrics: false,
      bpfMemory: async () => ({ maps: 0, progs: 0 }),
    });
    const a = m.runStarted('trace_exec');
    const b = m.runStarted('trace_exec');
    const c = m.runStarted('trace_open');
    a.delivered(10);
    b.delivered(5);
    b.dropped(2, 300);
    a.lost(7);
    a.lost(0);
    c.delivered(1);
    b.ended();
    b.ended(); // twice: counted once
    const f = parseMetrics(await m.text());
    const ex = { gadget: 'trace_exec' };
    const op = { gadget: 'trace_open' };
    assert.equal(sample(f, 'kubectl_gadget_runs_started_total', ex), 2);
    assert.equal(sample(f, 'kubectl_gadget_runs_started_total', op), 1);
    assert.equal(sample(f, 'kubectl_gadget_runs_active', ex), 1);
    assert.equal(sample(f, 'kubectl_gadget_runs_active', op), 1);
    assert.equal(sample(f, 'kubectl_gadget_events_total', ex), 15);
    assert.equal(sample(f, 'kubectl_gadget_events_total', op), 1);
    assert.equal(sample(f, 'kubectl_gadget_dropped_batches_total', ex), 2);
    assert.equal(sample(f, 'kubectl_gadget_dropped_records_total', ex), 300);
    assert.equal(sample(f, 'kubectl_gadget_lost_events_total', ex), 7);
    // a run's label set is there at 0 from its start
    assert.equal(sample(f, 'kubectl_gadget_lost_events_total', op), 0);
    assert.equal(f.get('kubectl_gadget_runs_started_total')?.type, 'COUNTER');
    assert.equal(f.get('kubectl_gadget_runs_active')?.type, 'GAUGE');
  });

  test("a gadget name the install does not know is labelled 'other', never echoed", async () => {
    const m = new DaemonMetrics(GADGETS, {
      processMetrics: false,
      bpfMemory: async () => ({ maps: 0, progs: 0 }),
    });
    m.runStarted('/etc/shadow"}\n{').ended();
    const text = await m.text();
    assert.ok(!text.includes('shadow'), text);
    assert.equal(
      sample(parseMetrics(text), 'kubectl_gadget_runs_started_total', { gadget: OTHER_GADGET }),
      1,
    );
  });

  test('scrape-time sources: containers, BPF memory, traceloop recordings and evictions', async () => {
    let tl: { recordings: number; evictions: number } | undefined;
    const m = new DaemonMetrics(GADGETS, {
      processMetrics: false,
      containers: () => 42,
      traceloop: () => tl,
      bpfMemory: async () => ({ maps: 4096, progs: 8192 }),
    });
    let f = parseMetrics(await m.text());
    assert.equal(sample(f, 'kubectl_gadget_containers_known'), 42);
    assert.equal(sample(f, 'kubectl_gadget_bpf_memlock_bytes', { kind: 'map' }), 4096);
    assert.equal(sample(f, 'kubectl_gadget_bpf_memlock_bytes', { kind: 'prog' }), 8192);
    assert.equal(sample(f, 'kubectl_gadget_traceloop_recordings'), 0);
    assert.equal(sample(f, 'kubectl_gadget_traceloop_evictions_total'), 0);
    tl = { recordings: 3, evictions: 2 };
    f = parseMetrics(await m.text());
    assert.equal(sample(f, 'kubectl_gadget_traceloop_recordings'), 3);
    assert.equal(sample(f, 'kubectl_gadget_traceloop_evictions_total'), 2);
    tl = { recordings: 1, evictions: 5 };
    await m.text();
    f = parseMetrics(await m.text()); // a second scrape adds nothing
    assert.equal(sample(f, 'kubectl_gadget_traceloop_evictions_total'), 5);
  });

  test('process metrics (RSS) by default', async () => {
    const m = new DaemonMetrics(GADGETS, { bpfMemory: async () => ({ maps: 0, progs: 0 }) });
    const rss = sample(parseMetrics(await m.text()), 'process_resident_memory_bytes');
    assert.ok(rss !== undefined && rss > 1 << 20, `rss ${rss}`);
  });
});

describe('fdinfo', () => {
  test('maps and programs by id with their memlock; other descriptors ignored', () => {
    assert.deepEqual(
      parseFdinfo(
        'pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nmap_type:\t2\nkey_size:\t4\nvalue_size:\t8\nmax_entries:\t16\nmap_flags:\t0x0\nmap_extra:\t0x0\nmemlock:\t4224\nmap_id:\t77\nfrozen:\t0\n',
      ),
      { kind: 'map', id: '77', memlock: 4224 },
    );
    assert.deepEqual(
      parseFdinfo(
        'pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_jited:\t1\nprog_tag:\tabcd\nmemlock:\t4096\nprog_id:\t12\nrun_time_ns:\t0\n',
      ),
      { kind: 'prog', id: '12', memlock: 4096 },
    );
    // a link names its program but is not one
    assert.equal(
      parseFdinfo('link_type:\ttracepoint\nlink_id:\t3\nprog_tag:\tab\nprog_id:\t12\n'),
      undefined,
    );
    assert.equal(parseFdinfo('pos:\t0\nflags:\t0100000\nmnt_id:\t24\nino:\t3\n'), undefined);
  });
});

describe('--metrics-listen', () => {
  test('HOST:PORT, [IPv6]:PORT, port 0', () => {
    assert.deepEqual(parseMetricsListen('0.0.0.0:9477'), { host: '0.0.0.0', port: 9477 });
    assert.deepEqual(parseMetricsListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseMetricsListen('[::1]:9477'), { host: '::1', port: 9477 });
    assert.deepEqual(parseMetricsListen('localhost:9477'), { host: 'localhost', port: 9477 });
  });

  for (const bad of [
    '9477',
    ':9477',
    'http://0.0.0.0:9477',
    '0.0.0.0:99999',
    '[zz]:1',
    'a b:1',
    '0.0.0.0:',
    '::1:9477',
  ]) {
    test(`refused in one line with the accepted form: ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseMetricsListen(bad),
        (e: Error) =>
          !e.message.includes('\n') &&
          e.message.startsWith(`invalid --metrics-listen '${bad}'`) &&
          e.message.includes('HOST:PORT'),
      );
    });
  }
});

describe('the /metrics endpoint', () => {
  test('GET /metrics answers the exposition; other paths 404, other methods 405', async () => {
    const m = new DaemonMetrics(GADGETS, {
      processMetrics: false,
      bpfMemory: async () => ({ maps: 1, progs: 2 }),
    });
    m.runStarted('trace_exec').delivered(3);
    const srv = await startMetricsServer(m, { host: '127.0.0.1', port: 0 });
    try {
      assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const r = await fetch(srv.url);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const f = parseMetrics(await r.text());
      assert.equal(sample(f, 'kubectl_gadget_events_total', { gadget: 'trace_exec' }), 3);
      assert.equal((await fetch(srv.url.replace('/metrics', '/'))).status, 404);
      assert.equal((await fetch(srv.url, { method: 'POST' })).status, 405);
    } finally {
      await srv.close();
    }
  });

  test('a port in use is a one-line error naming the flag', async () => {
    const m = new DaemonMetrics(GADGETS, { processMetrics: false });
    const a = await startMetricsServer(m, { host: '127.0.0.1', port: 0 });
    try {
      const port = Number(new URL(a.url).port);
      await assert.rejects(startMetricsServer(m, { host: '127.0.0.1', port }), (e: Error) =>
        /^cannot serve metrics on 127\.0\.0\.1:\d+: the port is in use \(pick another --metrics-listen port\)$/.test(
          e.message,
        ),
      );
    } finally {
      await a.close();
    }
  });
});
