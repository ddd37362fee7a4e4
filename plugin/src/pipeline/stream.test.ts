import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { RunHeader } from '#gadgets/framework/runtime.js';
import type { RecordLayout } from '#gadgets/framework/types.js';
import { frameRecords } from '#proto/ts/records.js';
import { RunStream, type RunNode } from './stream.js';

const layout: RecordLayout = {
  struct: 'event',
  size: 16,
  fields: [
    { name: 'mntns_id', kind: 'u64', offset: 0, size: 8 },
    { name: 'pid', kind: 'u32', offset: 8, size: 4 },
    { name: 'tail', kind: 'bytes', offset: 12, size: 0 },
  ],
};
/** the same struct with a field more: another layout */
const wide: RecordLayout = {
  ...layout,
  size: 24,
  fields: [...layout.fields, { name: 'uid', kind: 'u32', offset: 16, size: 4 }],
};

const header = (node: string, bootToWallNs: bigint, l = layout): RunHeader => ({
  gadget: 'g',
  node,
  layout: l,
  bootToWallNs,
});

const rec = (mntns: number, pid: number, size = 16): Buffer => {
  const b = Buffer.alloc(size);
  b.writeBigUInt64LE(BigInt(mntns), 0);
  if (size >= 12) b.writeUInt32LE(pid, 8);
  return b;
};

const container = (mntnsId: number, name: string): ContainerInfo => ({
  runtime: 'podman',
  id: name.padEnd(64, '0'),
  name,
  pid: 1,
  mntnsId,
  generation: 1,
  state: 'running',
  startedAt: 0,
  image: 'img',
  annotations: {},
});

/** A stream whose consumer state records what init saw; warnings collected. */
function stream(): { s: RunStream<string[]>; warnings: string[]; decoders: RecordLayout[] } {
  const warnings: string[] = [];
  const decoders: RecordLayout[] = [];
  const s = new RunStream<string[]>({
    init: (n, prev) => [...(prev ?? []), `${n.name}@${n.bootToWallNs}`],
    warn: (m) => warnings.push(m),
    makeDecoder: (l) => {
      decoders.push(l);
      return (buf, o, len) => ({
        mntns_id: Number(buf.readBigUInt64LE(o)),
        pid: buf.readUInt32LE(o + 8),
        len,
      });
    },
  });
  return { s, warnings, decoders };
}

/** pid of every record of a batch, walked the way consumers walk it */
function pids(s: RunStream<string[]>, node: RunNode<string[]>, batch: Buffer): number[] {
  const out: number[] = [];
  const c = s.records(node, batch);
  while (c.next()) out.push(node.decode(c.batch, c.offset, c.length).pid as number);
  return out;
}

test('a header gives the node its layout, clock and consumer state', () => {
  const { s, decoders } = stream();
  const n = s.header(header('n1', 1000n));
  assert.equal(s.last, n);
  assert.equal(s.nodes.get('n1'), n);
  assert.equal(n.name, 'n1');
  assert.equal(n.bootToWallNs, 1000n);
  assert.equal(n.minLength, 12, "the layout's fixed part (a bytes field is not)");
  assert.deepEqual(n.data, ['n1@1000']);
  assert.equal(decoders.length, 0, 'the decoder is made on first use');
  assert.deepEqual(pids(s, n, frameRecords([rec(1, 10), rec(1, 11, 20)])), [10, 11]);
  assert.equal(decoders.length, 1);
});

test('containers: by mount namespace, per node, version bumped; early ones wait for the header', () => {
  const { s } = stream();
  // before any header: kept for the first one
  assert.equal(
    s.containers({ kind: 'containers', containers: [container(5, 'early')] }),
    undefined,
  );
  // of a node not seen yet: kept for that node's header
  assert.equal(
    s.containers({ kind: 'containers', containers: [container(6, 'later')], node: 'n2' }),
    undefined,
  );
  const n1 = s.header(header('n1', 0n));
  assert.deepEqual([...n1.containers.keys()], [5]);
  const v = n1.containersVersion;
  assert.equal(s.containers({ kind: 'containers', containers: [container(7, 'web')] }), n1);
  assert.equal(n1.containersVersion, v + 1);
  assert.equal(n1.containers.get(7)?.name, 'web');
  const n2 = s.header(header('n2', 0n));
  assert.deepEqual([...n2.containers.keys()], [6]);
  // a container that changes replaces its entry
  s.containers({ kind: 'containers', containers: [container(7, 'web2')], node: 'n1' });
  assert.equal(n1.containers.get(7)?.name, 'web2');
  assert.equal(n2.containers.has(7), false);
});

test('a repeated header keeps the containers, passes the old state, takes the new clock', () => {
  const { s } = stream();
  const n = s.header(header('n1', 1n));
  s.containers({ kind: 'containers', containers: [container(7, 'web')] });
  const v = n.containersVersion;
  assert.equal(s.header(header('n1', 2n)), n);
  assert.equal(n.bootToWallNs, 2n);
  assert.deepEqual(n.data, ['n1@1', 'n1@2']);
  assert.equal(n.containers.get(7)?.name, 'web');
  assert.ok(n.containersVersion > v, 'per-mntns caches of the old header go stale');
});

test('two nodes interleaved: each batch is decoded with its own node, a decoder per layout', () => {
  const { s, decoders } = stream();
  const n1 = s.header(header('n1', 100n));
  const n2 = s.header(header('n2', 200n, wide));
  const n3 = s.header(header('n3', 300n));
  assert.equal(s.last, n3);
  const got: string[] = [];
  const batches = [
    { node: 'n1', b: frameRecords([rec(1, 1)]) },
    { node: 'n2', b: frameRecords([rec(2, 2, 24), rec(2, 3, 24)]) },
    { node: undefined, b: frameRecords([rec(3, 4)]) }, // no node: the last header's
    { node: 'n1', b: frameRecords([rec(1, 5)]) },
  ];
  for (const { node, b } of batches) {
    const n = s.nodeOf({ kind: 'batch', records: b, count: 1, ...(node ? { node } : {}) });
    for (const pid of pids(s, n, b)) got.push(`${n.name}@${n.bootToWallNs}:${pid}`);
  }
  assert.deepEqual(got, ['n1@100:1', 'n2@200:2', 'n2@200:3', 'n3@300:4', 'n1@100:5']);
  assert.equal(n1.decode, n3.decode, 'equal layouts share the decoder');
  assert.notEqual(n1.decode, n2.decode);
  assert.deepEqual(decoders, [layout, wide]);
  assert.equal(n2.minLength, 20);
});

test('a batch before its header is a protocol error', () => {
  const { s } = stream();
  const b = frameRecords([rec(1, 1)]);
  assert.throws(() => s.nodeOf({ kind: 'batch', records: b, count: 1 }), /batch before header$/);
  s.header(header('n1', 0n));
  assert.throws(
    () => s.nodeOf({ kind: 'batch', records: b, count: 1, node: 'n9' }),
    /protocol error: batch before header of node n9/,
  );
});

test('malformed records: a short one is skipped, a cut batch stops; one warning per run', () => {
  const { s, warnings } = stream();
  const n = s.header(header('n1', 0n));
  const batch = frameRecords([rec(1, 1), rec(1, 2, 8), rec(1, 3)]);
  assert.deepEqual(pids(s, n, batch), [1, 3]);
  assert.deepEqual(warnings, [
    'skipping malformed record (length 8, expected at least 12, 36 bytes left)',
  ]);
  // the batch cut in the middle of its second record
  const cut = frameRecords([rec(1, 4), rec(1, 5)]).subarray(0, 30);
  assert.deepEqual(pids(s, n, cut), [4]);
  assert.equal(warnings.length, 1, 'only the first of the run is reported');
});
