import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '#gadgets/framework/runtime.js';
import type { GadgetDescriptor, RecordLayout } from '#gadgets/framework/types.js';
import { runGadget } from './run.js';
import type { OutputStream, RunGadgetOptions, RunSummary } from './run.js';
import { emptyFilter } from '#gadgets/framework/filter.js';

const layout: RecordLayout = {
  struct: 'event',
  size: 24,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
    { name: 'pid', kind: 'u32', offset: 16, size: 4 },
    { name: 'ret', kind: 's32', offset: 20, size: 4 },
  ],
};

function batch(pids: number[]): RunMessage {
  const parts: Buffer[] = [];
  for (const pid of pids) {
    const b = Buffer.alloc(32); // 4 + 24, padded to 8
    b.writeUInt32LE(24, 0);
    b.writeBigUInt64LE(BigInt(pid) * 1000n, 4);
    b.writeBigUInt64LE(4026531840n, 12);
    b.writeUInt32LE(pid, 20);
    b.writeInt32LE(-pid, 24);
    parts.push(b);
  }
  return { kind: 'batch', records: Buffer.concat(parts), count: pids.length };
}

const descriptor: GadgetDescriptor = {
  command: ['trace', 'test'],
  name: 'trace_test',
  description: 'test',
  params: [],
  columns: [
    { name: 'pid', align: 'right' },
    { name: 'ret', align: 'right' },
    { name: 'timestamp', hidden: true },
  ],
  configure: () => ({ rodata: {} }),
  transform: (raw) => ({ ret: raw.ret }),
};

class FakeRuntime implements GadgetRuntime {
  closed = false;
  constructor(
    private readonly script: RunMessage[],
    private readonly then: 'end' | 'wait-abort' | 'hang' = 'end',
  ) {}
  async info(): Promise<NodeInfo> {
    return { node: 'n', kernel: 'k', version: '0', gadgets: [] };
  }
  async listContainers(): Promise<ContainerInfo[]> {
    return [];
  }
  async *run(_req: RunRequest, signal: AbortSignal): AsyncIterable<RunMessage> {
    for (const m of this.script) yield m;
    if (this.then === 'wait-abort') {
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      yield batch([99]);
    }
    if (this.then === 'hang') await new Promise(() => {});
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const header: RunMessage = {
  kind: 'header',
  header: { gadget: 'trace_test', node: 'n1', layout, bootToWallNs: 1_714_566_896_000_000_000n },
};

function io(): { stdout: OutputStream; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough() as OutputStream & PassThrough;
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => (o += d.toString()));
  stderr.on('data', (d: Buffer) => (e += d.toString()));
  return { stdout, stderr, out: () => o, err: () => e };
}

const request = (timeoutSeconds = 0): RunRequest => ({
  gadget: 'trace_test',
  params: {},
  filter: emptyFilter(),
  timeoutSeconds,
});

/** runGadget of the test gadget over `rt` with `format` output, no signal handlers. */
function runAs(
  rt: GadgetRuntime,
  format: RunGadgetOptions['output']['format'],
  streams: Pick<RunGadgetOptions, 'stdout' | 'stderr'>,
  extra: Partial<RunGadgetOptions> & { timeoutSeconds?: number } = {},
): Promise<RunSummary> {
  const { timeoutSeconds, ...rest } = extra;
  return runGadget(rt, {
    descriptor,
    request: request(timeoutSeconds),
    params: {},
    output: { format },
    ...streams,
    handleSignals: false,
    ...rest,
  });
}

test('json: events as NDJSON on stdout, lost warning on stderr, ends on done', async () => {
  const rt = new FakeRuntime([
    header,
    batch([1, 2]),
    { kind: 'stats', stats: { events: 2, lost: 1234 } },
    batch([3]),
    { kind: 'log', level: 'error', message: 'map full' },
    { kind: 'done', reason: 'completed' },
    batch([4]),
  ]);
  const { stdout, stderr, out, err } = io();
  const s = await runAs(rt, 'json', { stdout, stderr });
  const ev = (pid: number): string =>
    `{"timestamp":"2024-05-01T12:34:56.000${String(pid).padStart(3, '0')}000Z","node":"n1","namespace":"","pod":"","container":"","container_id":"","runtime":"","mntns_id":4026531840,"pid":${pid},"ret":-${pid}}\n`;
  assert.equal(out(), ev(1) + ev(2) + ev(3));
  assert.equal(
    err(),
    'warning: 1234 events lost in the kernel (ring buffer full)\nerror: map full\n',
  );
  assert.deepEqual(s.totals, { events: 3, lost: 1234, dropped: 0 });
  assert.equal(s.reason, 'completed');
});

test('piped columns output', async () => {
  const rt = new FakeRuntime([header, batch([1, 20000]), { kind: 'done', reason: 'completed' }]);
  const { stdout, stderr, out } = io();
  await runAs(rt, 'columns', { stdout, stderr });
  // widths fixed at the columns' minimums (here the headers'): the wider row runs over
  assert.equal(out(), 'PID  RET\n  1   -1\n20000  -20000\n');
});

test('--timeout aborts the run; what arrives while stopping is still written', async () => {
  const rt = new FakeRuntime([header, batch([1])], 'wait-abort');
  const { stdout, stderr, out } = io();
  const t0 = Date.now();
  const s = await runAs(rt, 'json', { stdout, stderr }, { timeoutSeconds: 1 });
  assert.ok(Date.now() - t0 >= 950);
  assert.equal(s.reason, 'timeout');
  assert.equal(out().split('\n').length, 3);
  assert.match(out(), /"pid":99/);
});

test('a runtime that does not stop after abort is not waited for forever', async () => {
  const rt = new FakeRuntime([header, batch([1])], 'hang');
  const { stdout, stderr } = io();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  const s = await runAs(rt, 'json', { stdout, stderr }, { signal: ac.signal, graceMs: 50 });
  assert.equal(s.reason, 'aborted');
  assert.equal(s.totals.events, 1);
});

test('yaml output', async () => {
  const rt = new FakeRuntime([header, batch([7]), { kind: 'done', reason: 'completed' }]);
  const { stdout, stderr, out } = io();
  await runAs(rt, 'yaml', { stdout, stderr });
  assert.equal(
    out(),
    '---\ntimestamp: 2024-05-01T12:34:56.000007000Z\nnode: n1\nnamespace: ""\npod: ""\ncontainer: ""\n' +
      'container_id: ""\nruntime: ""\nmntns_id: 4026531840\npid: 7\nret: -7\n',
  );
});

test('a run that fails before its header prints no column header', async () => {
  const rt = new FakeRuntime([]);
  // eslint-disable-next-line require-yield
  rt.run = async function* () {
    await Promise.resolve();
    throw Object.assign(new Error('cannot reach daemon'), {
      name: 'RunError',
      code: 'UNAVAILABLE',
    });
  };
  const { stdout, stderr, out } = io();
  await assert.rejects(runAs(rt, 'columns', { stdout, stderr }), /cannot reach daemon/);
  assert.equal(out(), '');
});

test('messages already handled are not kept alive while the run goes on (soak: CLI RSS grew per message)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const refs: Array<WeakRef<object>> = [];
  let release!: () => void;
  const paused = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const atPause = new Promise<void>((r) => (reached = r));
  const rt = new FakeRuntime([]);
  rt.run = async function* () {
    yield header;
    for (let i = 0; i < 500; i++) {
      const m = batch([i + 1]);
      refs.push(new WeakRef(m));
      yield m;
    }
    reached();
    await paused;
    yield { kind: 'done', reason: 'completed' } as RunMessage;
  };
  const { stdout, stderr } = io();
  const run = runAs(rt, 'json', { stdout, stderr });
  await atPause;
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  release();
  const s = await run;
  assert.equal(s.totals.events, 500);
  assert.ok(alive <= 2, `${alive} of 500 handled messages still reachable`);
});
