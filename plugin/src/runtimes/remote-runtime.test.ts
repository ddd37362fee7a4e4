// RemoteRuntime against a real daemon process (scripted-daemon.js serving the ScriptedRuntime
// test double over gRPC): exact round trips, concurrency, cancellation, dead clients, errors.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ContainerFilter, RunMessage, RunRequest } from '#gadgets/framework/runtime.js';
import { RunError } from '#gadgets/framework/errors.js';
import {
  JsonLineChild,
  startScriptedDaemon,
} from '../../../daemon/src/server/test-support/child.js';
import {
  SCRIPTED_CONTAINERS,
  SCRIPTED_GADGETS,
  SCRIPTED_INFO,
  scriptedMessages,
} from '../../../daemon/src/server/test-support/scripted-runtime.js';
import { RemoteRuntime } from './remote-runtime.js';
import { emptyFilter } from '#gadgets/framework/filter.js';

const NO_FILTER: ContainerFilter = emptyFilter();

const request = (gadget: string, params: Record<string, string> = {}): RunRequest => ({
  gadget,
  params,
  filter: NO_FILTER,
  timeoutSeconds: 0,
});

async function collect(it: AsyncIterable<RunMessage>): Promise<RunMessage[]> {
  const out: RunMessage[] = [];
  for await (const m of it) out.push(m);
  return out;
}

const CLIENT_ENTRY = new URL('./test-support/remote-client.js', import.meta.url);

describe('RemoteRuntime against a daemon process (unix socket)', () => {
  let dir: string;
  let daemon: JsonLineChild;
  let address: string;
  let rt: RemoteRuntime;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-rt-'));
    ({ child: daemon, address } = await startScriptedDaemon(`unix://${dir}/run/gadget.sock`));
    rt = new RemoteRuntime(address);
  });
  after(async () => {
    await rt.close();
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const runEvent = (event: string, tag: string) => (l: Record<string, unknown>) =>
    l.event === event && l.tag === tag;

  test('info, listContainers and listGadgets round-trip', async () => {
    assert.deepEqual(await rt.info(), SCRIPTED_INFO);
    assert.deepEqual(await rt.listContainers(), SCRIPTED_CONTAINERS);
    assert.deepEqual(await rt.listGadgets(), SCRIPTED_GADGETS);
  });

  test('every RunMessage kind round-trips exactly (bigint offset, raw bytes, k8s identity)', async () => {
    const got = await collect(
      rt.run(request('scripted', { tag: 'exact' }), new AbortController().signal),
    );
    const want = scriptedMessages('exact');
    assert.deepEqual(got, want);
    const header = got[0];
    assert.ok(header?.kind === 'header');
    assert.equal(typeof header.header.bootToWallNs, 'bigint');
    assert.equal(header.header.bootToWallNs, 1732000000123456789n);
    const batch = got[2];
    assert.ok(batch?.kind === 'batch' && Buffer.isBuffer(batch.records));
    for (let i = 0; i < 256; i++) assert.equal(batch.records[i], i);
    await daemon.waitFor(runEvent('run-end', 'exact'), 5000, 'run-end exact');
    const end = await daemon.waitFor(
      (l) => l.event === 'server-run' && l.type === 'end' && l.outcome === 'done',
      5000,
    );
    assert.equal(end.droppedBatches, 0);
  });

  test('two concurrent clients get their own streams', async () => {
    const other = new RemoteRuntime(address);
    try {
      const [a, b] = await Promise.all([
        collect(rt.run(request('scripted', { tag: 'A' }), new AbortController().signal)),
        collect(other.run(request('scripted', { tag: 'B' }), new AbortController().signal)),
      ]);
      assert.deepEqual(a, scriptedMessages('A'));
      assert.deepEqual(b, scriptedMessages('B'));
    } finally {
      await other.close();
    }
  });

  test('cancelling one run aborts it in the daemon and leaves a concurrent run alone', async () => {
    const ac = new AbortController();
    const keep = new AbortController();
    const kept: RunMessage[] = [];
    const keptRun = (async () => {
      for await (const m of rt.run(
        request('endless', { tag: 'keep', interval: '10' }),
        keep.signal,
      )) {
        kept.push(m);
      }
    })();
    const got: RunMessage[] = [];
    for await (const m of rt.run(
      request('endless', { tag: 'cancel-me', interval: '10' }),
      ac.signal,
    )) {
      got.push(m);
      if (got.length === 3) ac.abort();
    }
    assert.equal(got[0]?.kind, 'header');
    assert.ok(got.length >= 3);
    await daemon.waitFor(runEvent('run-abort', 'cancel-me'), 5000, 'abort of cancel-me');
    await daemon.waitFor(runEvent('run-end', 'cancel-me'), 5000, 'end of cancel-me');

    // the other run still streams
    const before = kept.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(kept.length > before, 'the concurrent run kept receiving batches');
    assert.equal(daemon.lines.some(runEvent('run-abort', 'keep')), false);
    keep.abort();
    await keptRun;
    await daemon.waitFor(runEvent('run-abort', 'keep'), 5000, 'abort of keep');
  });

  test('breaking out of the loop cancels the daemon-side run', async () => {
    for await (const m of rt.run(
      request('endless', { tag: 'break' }),
      new AbortController().signal,
    )) {
      if (m.kind === 'header') break;
    }
    await daemon.waitFor(runEvent('run-abort', 'break'), 5000, 'abort of break');
  });

  test('an already aborted signal yields nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    assert.deepEqual(await collect(rt.run(request('scripted', { tag: 'pre' }), ac.signal)), []);
  });

  test('a SIGKILLed client process makes the daemon abort its run within seconds', async () => {
    const client = new JsonLineChild(CLIENT_ENTRY, [address, 'endless', 'victim']);
    await client.waitFor((l) => l.event === 'msg' && l.kind === 'batch', 10000, 'client batches');
    const t0 = Date.now();
    client.proc.kill('SIGKILL');
    await daemon.waitFor(runEvent('run-abort', 'victim'), 10000, 'abort of victim');
    assert.ok(Date.now() - t0 < 10000);
    await client.exited;
  });

  test('runtime errors arrive as one-line errors with their code and hint', async () => {
    await assert.rejects(collect(rt.run(request('missing'), new AbortController().signal)), (e) => {
      assert.ok(e instanceof RunError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, 'unknown gadget "missing"');
      assert.equal(e.hint, 'run `kubectl-gadget list-gadgets`');
      return true;
    });

    // messages before the error are delivered, then the error is thrown
    const got: RunMessage[] = [];
    await assert.rejects(
      (async () => {
        for await (const m of rt.run(request('bad'), new AbortController().signal)) got.push(m);
      })(),
      (e) => {
        assert.ok(e instanceof RunError);
        assert.equal(e.code, 'INVALID_ARGUMENT');
        assert.equal(e.message, 'invalid value "x" for --max-args: expected an integer');
        return true;
      },
    );
    assert.deepEqual(
      got.map((m) => m.kind),
      ['header'],
    );

    await assert.rejects(collect(rt.run(request('crash'), new AbortController().signal)), (e) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /boom: the reader thread failed/);
      assert.equal(e.message.includes('\n'), false);
      return true;
    });
  });
});

describe('RemoteRuntime: slow client', () => {
  test('the daemon drops whole batches for a slow reader and the client reports the gap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kg-slow-'));
    const { child: daemon, address } = await startScriptedDaemon(`unix://${dir}/gadget.sock`, {
      maxQueuedBytes: 1 << 20,
    });
    const rt = new RemoteRuntime(address);
    try {
      const batches = 300;
      const count = 10;
      let delivered = 0;
      let deliveredRecords = 0;
      let droppedMsgs = 0;
      let droppedRecords = 0;
      let done = false;
      for await (const m of rt.run(
        request('flood', {
          batches: String(batches),
          size: String(256 << 10),
          count: String(count),
        }),
        new AbortController().signal,
      )) {
        if (m.kind === 'batch') {
          delivered++;
          deliveredRecords += m.count;
          await new Promise((r) => setTimeout(r, 3));
        } else if (m.kind === 'log') {
          const g = /^(\d+) messages dropped \((\d+) records\)/.exec(m.message);
          assert.ok(g, `unexpected log: ${m.message}`);
          droppedMsgs += Number(g[1]);
          droppedRecords += Number(g[2]);
        } else if (m.kind === 'done') {
          done = true;
          assert.equal(m.reason, 'flood complete');
        } else if (m.kind === 'stats') {
          assert.equal(m.stats.events, batches * count);
        }
      }
      assert.ok(done, 'done is never dropped');
      assert.ok(droppedMsgs > 0, 'some batches were dropped');
      assert.equal(delivered + droppedMsgs, batches);
      assert.equal(deliveredRecords + droppedRecords, batches * count);
      const end = await daemon.waitFor((l) => l.event === 'server-run' && l.type === 'end', 5000);
      assert.equal(end.droppedBatches, droppedMsgs);
    } finally {
      await rt.close();
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('RemoteRuntime: dead peers over TCP', () => {
  test('a stopped (unresponsive) client is found by keepalive and its run aborted within ~10 s', async () => {
    const { child: daemon, address } = await startScriptedDaemon('tcp://127.0.0.1:0');
    const client = new JsonLineChild(CLIENT_ENTRY, [address, 'endless', 'frozen']);
    try {
      await client.waitFor((l) => l.event === 'msg' && l.kind === 'batch', 10000, 'client batches');
      // SIGSTOP keeps the TCP connection open but nobody answers HTTP/2 pings: a half-open peer
      client.proc.kill('SIGSTOP');
      const t0 = Date.now();
      await daemon.waitFor(
        (l) => l.event === 'run-abort' && l.tag === 'frozen',
        13000,
        'keepalive abort of the frozen client',
      );
      const took = Date.now() - t0;
      assert.ok(took < 12000, `took ${took} ms`);
      console.log(`# keepalive detected the frozen client after ${took} ms`);
    } finally {
      client.proc.kill('SIGKILL');
      await client.exited;
      await daemon.stop();
    }
  });
});

describe('RemoteRuntime: unreachable daemon', () => {
  test('a missing unix socket fails fast with a one-line error naming the address', async () => {
    const rt = new RemoteRuntime('unix:///nonexistent-kg/gadget.sock');
    const t0 = Date.now();
    await assert.rejects(rt.info(), {
      message:
        'cannot reach daemon at unix:///nonexistent-kg/gadget.sock: connect ENOENT (is `kubectl-gadget daemon` running?)',
    });
    await assert.rejects(collect(rt.run(request('scripted'), new AbortController().signal)), {
      message:
        'cannot reach daemon at unix:///nonexistent-kg/gadget.sock: connect ENOENT (is `kubectl-gadget daemon` running?)',
    });
    assert.ok(Date.now() - t0 < 3000);
    await rt.close();
  });

  test('a refused TCP port fails fast', async () => {
    const port = await freePort();
    const rt = new RemoteRuntime(`127.0.0.1:${port}`);
    await assert.rejects(rt.listContainers(), {
      message: `cannot reach daemon at tcp://127.0.0.1:${port}: connect ECONNREFUSED (is \`kubectl-gadget daemon\` running?)`,
    });
    await rt.close();
  });

  test('a peer that accepts but never speaks gRPC times out after the connect deadline', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const rt = new RemoteRuntime(`tcp://127.0.0.1:${port}`, { connectTimeoutMs: 1000 });
    const t0 = Date.now();
    try {
      await assert.rejects(collect(rt.run(request('scripted'), new AbortController().signal)), {
        message: `cannot reach daemon at tcp://127.0.0.1:${port}: no connection within 1 s (is \`kubectl-gadget daemon\` running?)`,
      });
      assert.ok(Date.now() - t0 < 2500);
    } finally {
      await rt.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test('a malformed address is rejected with the accepted forms', () => {
    assert.throws(() => new RemoteRuntime('http://x:1'), {
      message:
        'invalid daemon address "http://x:1": unsupported scheme "http": expected unix:///path/to/socket, tcp://HOST:PORT or HOST:PORT',
    });
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
