import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { RunMessage } from '#gadgets/framework/runtime.js';
import type { GadgetEvent, RawRecord, RecordLayout } from '#gadgets/framework/types.js';
import type { ObjectSink, Reporter, TextSink } from '../output/types.js';
import { EventPipeline } from './pipeline.js';

// the same struct a gadget's program.bpf.c would have, as bpf/gen-layout.mjs describes it
const layout: RecordLayout = {
  struct: 'event',
  size: 64,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
    { name: 'pid', kind: 'u32', offset: 16, size: 4 },
    { name: 'tid', kind: 'u32', offset: 20, size: 4 },
    { name: 'uid', kind: 'u32', offset: 24, size: 4 },
    { name: 'gid', kind: 'u32', offset: 28, size: 4 },
    { name: 'comm', kind: 'cstring', offset: 32, size: 16 },
    { name: 'ret', kind: 's32', offset: 48, size: 4 },
    { name: 'path', kind: 'cstring', offset: 52, size: 12 },
  ],
};

interface Rec {
  ts: bigint;
  mntns: number;
  pid: number;
  comm: string;
  ret: number;
  path: string;
}

function record(r: Rec): Buffer {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(r.ts, 0);
  b.writeBigUInt64LE(BigInt(r.mntns), 8);
  b.writeUInt32LE(r.pid, 16);
  b.writeUInt32LE(r.pid + 1, 20);
  b.writeUInt32LE(1000, 24);
  b.writeUInt32LE(1001, 28);
  b.write(r.comm, 32);
  b.writeInt32LE(r.ret, 48);
  b.write(r.path, 52);
  return b;
}

/** [u32 LE length][payload][zero padding to 8], as the daemon frames a batch */
function frame(payloads: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(p.length);
    const pad = (8 - ((4 + p.length) % 8)) % 8;
    parts.push(len, p, Buffer.alloc(pad));
  }
  return Buffer.concat(parts);
}

const BOOT_TO_WALL = 1_714_566_896_000_000_000n; // 2024-05-01T12:34:56Z

const container: ContainerInfo = {
  runtime: 'containerd',
  id: 'c0ffee'.padEnd(64, '0'),
  name: 'web',
  pid: 4242,
  mntnsId: 4026532100,
  generation: 1,
  state: 'running',
  startedAt: 0,
  image: 'nginx',
  annotations: {},
  k8s: {
    namespace: 'shop',
    pod: 'web-7d4f',
    container: 'web',
    podUid: 'u',
    labels: {},
    ownerKind: 'ReplicaSet',
    ownerName: 'web-7d4f',
    podIp: '10.0.0.2',
    hostNetwork: false,
  },
};

const descriptor = {
  name: 'trace_test',
  transform(raw: RawRecord, params: Record<string, string>): GadgetEvent | null {
    if (params['drop-ret'] !== undefined && raw.ret === Number(params['drop-ret'])) return null;
    return { ret: raw.ret, path: raw.path };
  },
};

/** An ndjson sink that keeps each write as a string. */
function ndjsonSink(): { sink: TextSink; chunks: string[] } {
  const chunks: string[] = [];
  const sink: TextSink = {
    kind: 'ndjson',
    write: (t) => void chunks.push(t.toString()),
    end: async () => {},
  };
  return { sink, chunks };
}

function reporter(): Reporter & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (m) => lines.push(`warn ${m}`),
    log: (l, m) => lines.push(`${l} ${m}`),
  };
}

const header: RunMessage = {
  kind: 'header',
  header: { gadget: 'trace_test', node: 'node-1', layout, bootToWallNs: BOOT_TO_WALL },
};

const batch = (recs: Rec[], extra: Record<string, unknown> = {}): RunMessage =>
  ({ kind: 'batch', records: frame(recs.map(record)), count: recs.length, ...extra }) as RunMessage;

const r1: Rec = {
  ts: 123_456_789n,
  mntns: 4026532100,
  pid: 100,
  comm: 'cat',
  ret: 3,
  path: '/etc/hosts',
};
const r2: Rec = {
  ts: 1_000_000_001n,
  mntns: 4026531840,
  pid: 7,
  comm: 'sh "x"',
  ret: -2,
  path: '/nope',
};

test('ndjson: walks the framing, builds common fields, merges the transform', () => {
  const { sink, chunks } = ndjsonSink();
  const rep = reporter();
  const p = new EventPipeline({ descriptor, params: {}, sink, reporter: rep });
  p.handle(header);
  p.handle({ kind: 'containers', containers: [container] });
  p.handle(batch([r1, r2]));
  assert.equal(chunks.length, 1, 'one write per batch');
  assert.equal(
    chunks[0],
    '{"timestamp":"2024-05-01T12:34:56.123456789Z","node":"node-1","namespace":"shop","pod":"web-7d4f",' +
      `"container":"web","container_id":"${container.id}","runtime":"containerd","mntns_id":4026532100,` +
      '"pid":100,"tid":101,"uid":1000,"gid":1001,"comm":"cat","ret":3,"path":"/etc/hosts"}\n' +
      '{"timestamp":"2024-05-01T12:34:57.000000001Z","node":"node-1","namespace":"","pod":"",' +
      '"container":"","container_id":"","runtime":"","mntns_id":4026531840,' +
      '"pid":7,"tid":8,"uid":1000,"gid":1001,"comm":"sh \\"x\\"","ret":-2,"path":"/nope"}\n',
  );
  for (const line of chunks[0]!.trimEnd().split('\n')) JSON.parse(line);
  assert.deepEqual(p.totals, { events: 2, lost: 0, dropped: 0 });
  assert.deepEqual(rep.lines, []);
});

test('objects: same events as objects, transform null drops', () => {
  const got: GadgetEvent[][] = [];
  const sink: ObjectSink = { kind: 'objects', write: (e) => void got.push(e), end: async () => {} };
  const p = new EventPipeline({
    descriptor,
    params: { 'drop-ret': '-2' },
    sink,
    reporter: reporter(),
  });
  p.handle(header);
  p.handle({ kind: 'containers', containers: [container] });
  p.handle(batch([r1, r2]));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], [
    {
      timestamp: '2024-05-01T12:34:56.123456789Z',
      node: 'node-1',
      namespace: 'shop',
      pod: 'web-7d4f',
      container: 'web',
      container_id: container.id,
      runtime: 'containerd',
      mntns_id: 4026532100,
      pid: 100,
      tid: 101,
      uid: 1000,
      gid: 1001,
      comm: 'cat',
      ret: 3,
      path: '/etc/hosts',
    },
  ]);
  assert.deepEqual(Object.keys(got[0]![0]!).slice(0, 3), ['timestamp', 'node', 'namespace']);
  assert.equal(p.totals.events, 1);
  // a batch whose every record is dropped writes nothing
  p.handle(batch([r2]));
  assert.equal(got.length, 1);
});

test('containers arriving later re-place their mount namespace', () => {
  const { sink, chunks } = ndjsonSink();
  const p = new EventPipeline({ descriptor, params: {}, sink, reporter: reporter() });
  p.handle(header);
  p.handle(batch([r1]));
  assert.match(chunks[0]!, /"pod":""/);
  p.handle({ kind: 'containers', containers: [container] });
  p.handle(batch([r1]));
  assert.match(chunks[1]!, /"pod":"web-7d4f"/);
});

test('stats surface lost counts once per increase; seq gaps; logs; done', () => {
  const sink: TextSink = { kind: 'ndjson', write: () => {}, end: async () => {} };
  const rep = reporter();
  const p = new EventPipeline({ descriptor, params: {}, sink, reporter: rep });
  p.handle(header);
  p.handle({ kind: 'stats', stats: { events: 10, lost: 0 } });
  p.handle({ kind: 'stats', stats: { events: 20, lost: 1234 } });
  p.handle({ kind: 'stats', stats: { events: 30, lost: 1234 } });
  p.handle({ kind: 'stats', stats: { events: 40, lost: 1300 } });
  p.handle(batch([r1], { seq: 1 }));
  p.handle(batch([r1], { seq: 2 }));
  p.handle(batch([r1], { seq: 6 }));
  p.handle({ kind: 'log', level: 'warn', message: 'slow consumer' });
  assert.equal(p.done, false);
  p.handle({ kind: 'done', reason: 'timeout' });
  assert.equal(p.done, true);
  assert.equal(p.doneReason, 'timeout');
  assert.deepEqual(rep.lines, [
    'warn 1234 events lost in the kernel (ring buffer full)',
    'warn 66 events lost in the kernel (ring buffer full)',
    'warn 3 messages dropped',
    'warn slow consumer',
  ]);
  assert.deepEqual(p.totals, { events: 3, lost: 1300, dropped: 3 });
});

test('a truncated record is skipped with one warning, the rest of the batch is kept', () => {
  const { sink, chunks } = ndjsonSink();
  const rep = reporter();
  const p = new EventPipeline({ descriptor, params: {}, sink, reporter: rep });
  p.handle(header);
  const short = frame([record(r1).subarray(0, 20), record(r2)]);
  p.handle({ kind: 'batch', records: short, count: 2 });
  assert.equal(chunks[0]!.split('\n').length, 2);
  assert.match(chunks[0]!, /"pid":7/);
  assert.equal(rep.lines.length, 1);
  assert.match(rep.lines[0]!, /malformed record \(length 20, expected at least 64/);
});

test('a transform returning a common field name still gives valid, unique-key JSON', () => {
  const { sink, chunks } = ndjsonSink();
  const p = new EventPipeline({
    descriptor: {
      name: 'x',
      transform: (raw) => ({ comm: `[${String(raw.comm)}]`, big: 2n ** 64n }),
    },
    params: {},
    sink,
    reporter: reporter(),
  });
  p.handle(header);
  p.handle(batch([r1]));
  const line = chunks[0]!.trimEnd();
  assert.match(line, /"comm":"\[cat\]"/);
  assert.equal(line.match(/"comm"/g)!.length, 1);
  assert.match(line, /"big":18446744073709551616\}$/);
});

test('a batch before the header is a protocol error', () => {
  const sink: TextSink = { kind: 'ndjson', write: () => {}, end: async () => {} };
  const p = new EventPipeline({ descriptor, params: {}, sink, reporter: reporter() });
  assert.throws(() => p.handle(batch([r1])), /batch before header/);
});

test('records with a mntns_uid are joined to containers by it: two containers on one inode keep their own names (fast and object paths)', async () => {
  const { fieldTransform, field } = await import('#gadgets/framework/fields.js');
  const uidLayout: RecordLayout = {
    struct: 'event',
    size: 32,
    fields: [
      { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
      { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
      { name: 'mntns_uid', kind: 'u64', offset: 16, size: 8 },
      { name: 'pid', kind: 'u32', offset: 24, size: 4 },
      { name: 'ret', kind: 's32', offset: 28, size: 4 },
    ],
  };
  const INODE = 4026532100;
  const rec = (uid: number, pid: number): Buffer => {
    const b = Buffer.alloc(32);
    b.writeBigUInt64LE(1n, 0);
    b.writeBigUInt64LE(BigInt(INODE), 8);
    b.writeBigUInt64LE(BigInt(uid), 16);
    b.writeUInt32LE(pid, 24);
    return b;
  };
  const base: ContainerInfo = { ...container, runtime: 'podman' };
  delete base.k8s; // named by the runtime name
  const a = { ...base, name: 'a', id: 'a'.repeat(64), mntnsId: INODE, mntnsUid: 11 };
  const b = { ...base, name: 'b', id: 'b'.repeat(64), mntnsId: INODE, mntnsUid: 12 };
  for (const fastJson of [true, false]) {
    const { sink, chunks } = ndjsonSink();
    const p = new EventPipeline({
      descriptor: { name: 't', transform: fieldTransform([field.copy('ret')]) },
      params: {},
      sink,
      reporter: reporter(),
      fastJson,
    });
    p.handle({
      kind: 'header',
      header: { gadget: 't', node: 'n', layout: uidLayout, bootToWallNs: 0n },
    });
    p.handle({ kind: 'containers', containers: [a, b] });
    p.handle({
      kind: 'batch',
      records: frame([rec(11, 1), rec(12, 2), rec(11, 3), rec(13, 4)]),
      count: 4,
    });
    const evs = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      evs.map((e) => [e.pid, e.container]),
      [
        [1, 'a'],
        [2, 'b'],
        [3, 'a'],
        [4, ''], // a uid the daemon did not announce: the host, not the inode's container
      ],
      `fastJson ${fastJson}`,
    );
    assert.ok(!('mntns_uid' in evs[0]!), 'the join key is not an output field');
  }
});

test('-F: only matching events reach the sink; -o json lines equal the unfiltered ones', async () => {
  const { compileFieldFilters, parseFieldFilter } =
    await import('#gadgets/framework/field-filter.js');
  const { fieldTransform, field } = await import('#gadgets/framework/fields.js');
  const cols = ['pid', 'comm', 'container', 'path', 'ret'];
  const filterOf = (...e: string[]) =>
    compileFieldFilters(e.map((x) => parseFieldFilter(x, (n) => n, cols)))!;
  const run = (transform: typeof descriptor.transform, filter?: (ev: GadgetEvent) => boolean) => {
    const chunks: string[] = [];
    const counts: number[] = [];
    const sink: TextSink = {
      kind: 'ndjson',
      write: (t, n) => void (chunks.push(t.toString()), counts.push(n)),
      end: async () => {},
    };
    const p = new EventPipeline({
      descriptor: { name: 't', transform },
      params: {},
      sink,
      reporter: reporter(),
      ...(filter ? { filter } : {}),
    });
    p.handle(header);
    p.handle({ kind: 'containers', containers: [container] });
    p.handle(batch([r1, r2, { ...r1, pid: 101, comm: 'cats' }]));
    return { text: chunks.join(''), counts, p };
  };
  // field specs: unfiltered runs take the fast path, filtered ones the object path
  const specs = fieldTransform([field.copy('ret'), field.copy('path')]);
  const all = run(specs);
  assert.equal(all.p.objectPathReason, undefined);
  const lines = all.text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  const some = run(specs, filterOf('comm:~^cat', 'pid:!101'));
  assert.equal(some.p.objectPathReason, '-F/--filter given');
  assert.equal(some.text, lines[0] + '\n');
  assert.deepEqual(some.counts, [1]);
  assert.equal(some.p.totals.events, 1);
  // the container's name, a common field, filters too; numbers compare as numbers
  assert.equal(run(specs, filterOf('container:web', 'pid:>100')).text, lines[2] + '\n');
  assert.equal(run(specs, filterOf('ret:<0')).text, lines[1] + '\n');
  // nothing matches: nothing written
  assert.equal(run(specs, filterOf('pid:1')).text, '');
  // a plain transform (object path either way) gives the same line
  assert.equal(run(descriptor.transform, filterOf('pid:100')).text, lines[0] + '\n');
});
