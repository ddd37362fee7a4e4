// Fuzz targets of the data path: ring-buffer batches and record layouts, as the daemon and the
// CLI read them. Batches are random, truncated and oversized; layouts are the real ones of
// build/gadgets/ and random ones as a (hostile or newer) daemon may send in a RunHeader.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { ContainerInfo } from '../../gadgets/framework/containers.js';
import { gadgetLayoutPath } from '../../gadgets/framework/paths.js';
import type { RunMessage } from '../../gadgets/framework/runtime.js';
import type { GadgetDescriptor, RecordLayout } from '../../gadgets/framework/types.js';
import { resolveParams } from '../../gadgets/framework/resolve.js';
import { descriptor as traceExec } from '../../gadgets/trace_exec/gadget.js';
import { descriptor as traceOpen } from '../../gadgets/trace_open/gadget.js';
import { descriptor as netpol } from '../../gadgets/advise_network_policy/gadget.js';
import { FIELD_KINDS } from '../../proto/ts/convert.js';
import { recordObject } from '../../gadgets/traceloop/format.js';
import { filterBatch } from '../../daemon/src/runtime/local.js';
import { frameRecords, framedSize, RecordCursor, splitRecords } from '../../proto/ts/records.js';
import * as pb from '../../proto/gen/gadget/v1/gadget.js';
import {
  layoutFromPb,
  layoutToPb,
  ProtocolError,
  runMessageFromPb,
  runMessageToPb,
} from '../../proto/ts/convert.js';
import { EventPipeline } from '../../plugin/src/pipeline/pipeline.js';
import type { ObjectSink, Reporter, TextSink } from '../../plugin/src/output/types.js';
import { readRecording, showRow } from '../../plugin/src/services/traceloop/traceloop.js';
import type { TraceloopApi } from '../../gadgets/framework/runtime.js';
import { anyString, bytes } from './arbitraries.js';
import type { Target } from './runner.js';

const layoutOf = (name: string): RecordLayout =>
  JSON.parse(readFileSync(gadgetLayoutPath(name), 'utf8')) as RecordLayout;

const fieldOf = (l: RecordLayout, name: string) => l.fields.find((f) => f.name === name);

// ---- batches ------------------------------------------------------------------------------------

interface BatchSpec {
  payloads: Uint8Array[];
  /** length words overwritten: [record index, value] */
  lies: Array<[number, number]>;
  /** bytes kept of the framed batch (undefined: all), then garbage appended */
  cut: number | undefined;
  tail: Uint8Array;
}

const lengthLie = fc.oneof(
  fc.nat(64),
  fc.constantFrom(0, 3, 4, 7, 8, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff),
  fc.nat(0xffffffff),
);

const batchSpec = (payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<BatchSpec> =>
  fc.record({
    payloads: fc.array(payload, { maxLength: 12 }),
    lies: fc.array(fc.tuple(fc.nat(12), lengthLie), { maxLength: 3 }),
    cut: fc.option(fc.nat(4096), { freq: 3 }).map((x) => x ?? undefined),
    tail: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 12 })),
  });

function buildBatch(s: BatchSpec): Buffer {
  let b = frameRecords(s.payloads);
  let off = 0;
  const starts: number[] = [];
  for (const p of s.payloads) {
    starts.push(off);
    off += framedSize(p.length);
  }
  for (const [i, v] of s.lies) {
    const at = starts[i];
    if (at !== undefined) b.writeUInt32LE(v >>> 0, at);
  }
  if (s.cut !== undefined) b = b.subarray(0, Math.min(s.cut, b.length));
  return s.tail.length ? Buffer.concat([b, s.tail]) : b;
}

const clean = (s: BatchSpec): boolean =>
  s.lies.length === 0 && s.cut === undefined && !s.tail.length;

export const recordsTarget: Target<[BatchSpec, number]> = {
  name: 'records',
  rejectCode: 'truncated record',
  what: 'proto/ts/records.ts RecordCursor, forEachRecord/splitRecords (round trip with frameRecords)',
  arbitrary: fc.tuple(batchSpec(bytes(96)), fc.oneof(fc.constant(0), fc.nat(140))),
  run([spec, minLength]) {
    const batch = buildBatch(spec);
    let malformed = 0;
    const c = new RecordCursor(batch, minLength, () => void malformed++);
    let n = 0;
    while (c.next()) {
      if (c.offset % 8 !== 4 || c.offset + c.length > batch.length || c.length < minLength)
        throw new Error(`record out of bounds: offset ${c.offset} length ${c.length}`);
      if (++n > batch.length / 4 + 1) throw new Error('the walk does not end');
    }
    if (clean(spec)) {
      const back = splitRecords(batch);
      if (back.length !== spec.payloads.length || back.some((r, i) => !r.equals(spec.payloads[i]!)))
        throw new Error('splitRecords(frameRecords(x)) is not x');
      if (n + malformed !== spec.payloads.length) throw new Error('records lost by the walk');
    }
    try {
      splitRecords(batch);
    } catch (e) {
      // the default cursor's only error: a record cut by the end of the batch
      if (e instanceof Error && /^truncated record \(length \d+, \d+ bytes left\)$/.test(e.message))
        return e.message;
      throw e;
    }
    return undefined;
  },
};

// ---- the daemon's filter -------------------------------------------------------------------------

const LAYOUTS = ['trace_exec', 'trace_open', 'advise_network_policy'] as const;

export const filterBatchTarget: Target<[BatchSpec, number, number, number]> = {
  name: 'filter-batch',
  what: 'daemon/src/runtime/local.ts filterBatch on the real layouts (mntns/pid/uid offsets)',
  arbitrary: fc.tuple(
    batchSpec(fc.oneof(bytes(64), fc.uint8Array({ minLength: 20, maxLength: 40 }))),
    fc.nat(16),
    fc.nat(LAYOUTS.length - 1),
    fc.nat(3),
  ),
  run([spec, count, which, rule]) {
    const l = layoutOf(LAYOUTS[which]!);
    const mntnsOff = fieldOf(l, 'mntns_id')!.offset;
    const pidOff = fieldOf(l, 'pid')!.offset;
    const uid = fieldOf(l, 'mntns_uid');
    const batch = buildBatch(spec);
    const keep = (m: number, p: number, u: number): boolean =>
      rule === 0 ? true : rule === 1 ? false : (m + p + u + rule) % 3 !== 0;
    const out = filterBatch(batch, count, mntnsOff, pidOff, keep, uid ? uid.offset : -1);
    if (out.count < 0 || out.count > count) throw new Error(`count ${out.count} of ${count}`);
    if (out.records.length > batch.length) throw new Error('the filtered batch grew');
    if (rule === 0 && (out.records !== batch || out.count !== count))
      throw new Error('keeping everything changed the batch');
    return undefined;
  },
};

// ---- the CLI's pipeline on the real layouts --------------------------------------------------------

interface RecSpec {
  size: number;
  fill: Uint8Array;
  /** [field index, bytes] written at the field's offset */
  set: Array<[number, Uint8Array]>;
  mntns: number;
  uid: number;
}

type MsgSpec =
  | { k: 'batch'; recs: RecSpec[]; cut: number | undefined; node: string | undefined }
  | { k: 'containers'; ids: Array<[number, number, string]>; node: string | undefined }
  | { k: 'header'; node: string; boot: bigint }
  | { k: 'stats'; events: number; lost: number }
  | { k: 'log'; message: string };

const MNTNS = [0, 4026531841, 4026532000, 2 ** 53 - 1];
const UIDS = [0, 1, 77, 2 ** 40];

const recSpec = (size: number): fc.Arbitrary<RecSpec> =>
  fc.record({
    size: fc.oneof(
      fc.constant(size),
      fc.integer({ min: Math.max(0, size - 24), max: size + 64 }),
      fc.nat(size + 8),
    ),
    fill: fc.uint8Array({ minLength: 1, maxLength: 24 }),
    set: fc.array(fc.tuple(fc.nat(40), fc.uint8Array({ minLength: 1, maxLength: 8 })), {
      maxLength: 6,
    }),
    mntns: fc.nat(MNTNS.length - 1),
    uid: fc.nat(UIDS.length - 1),
  });

const nodeName = fc
  .option(fc.constantFrom('n1', 'n2', 'ghost'), { freq: 2 })
  .map((x) => x ?? undefined);

const streamSpec = (size: number): fc.Arbitrary<{ boot: bigint; msgs: MsgSpec[] }> =>
  fc.record({
    boot: fc.oneof(
      fc.constant(1_700_000_000_000_000_000n),
      fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
    ),
    msgs: fc.array(
      fc.oneof(
        {
          arbitrary: fc.record({
            k: fc.constant('batch' as const),
            recs: fc.array(recSpec(size), { maxLength: 6 }),
            cut: fc.option(fc.nat(3000), { freq: 4 }).map((x) => x ?? undefined),
            node: nodeName,
          }),
          weight: 6,
        },
        {
          arbitrary: fc.record({
            k: fc.constant('containers' as const),
            ids: fc.array(
              fc.tuple(fc.nat(MNTNS.length - 1), fc.nat(UIDS.length - 1), anyString([], 12)),
              { maxLength: 3 },
            ),
            node: nodeName,
          }),
          weight: 2,
        },
        {
          arbitrary: fc.record({
            k: fc.constant('header' as const),
            node: fc.constantFrom('n1', 'n2'),
            boot: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
          }),
          weight: 1,
        },
        {
          arbitrary: fc.record({
            k: fc.constant('stats' as const),
            events: fc.nat(),
            lost: fc.nat(),
          }),
          weight: 1,
        },
        {
          arbitrary: fc.record({ k: fc.constant('log' as const), message: anyString() }),
          weight: 1,
        },
      ),
      { maxLength: 8 },
    ),
  });

function container(mntns: number, uid: number, name: string): ContainerInfo {
  return {
    runtime: 'podman',
    id: 'c'.repeat(64),
    name,
    pid: 1,
    mntnsId: MNTNS[mntns]!,
    ...(UIDS[uid] ? { mntnsUid: UIDS[uid] } : {}),
    generation: 1,
    state: 'running',
    startedAt: 0,
    image: 'img',
    annotations: { a: name },
    k8s: {
      namespace: 'ns',
      pod: name,
      container: name,
      podUid: 'u',
      labels: { app: name },
      ownerKind: 'Deployment',
      ownerName: 'o',
      podIp: '10.0.0.1',
      hostNetwork: false,
    },
  };
}

function payload(l: RecordLayout, r: RecSpec): Buffer {
  const b = Buffer.alloc(r.size);
  for (let i = 0; i < b.length; i++) b[i] = r.fill[i % r.fill.length]!;
  for (const [fi, v] of r.set) {
    const f = l.fields[fi % l.fields.length];
    if (f && f.offset < b.length) b.set(v.subarray(0, b.length - f.offset), f.offset);
  }
  const put = (name: string, v: number): void => {
    const f = fieldOf(l, name);
    if (f && f.size === 8 && f.offset + 8 <= b.length) b.writeBigUInt64LE(BigInt(v), f.offset);
  };
  put('mntns_id', MNTNS[r.mntns]!);
  put('mntns_uid', UIDS[r.uid]!);
  return b;
}

/** The messages of a stream spec over one layout (the first header always comes first). */
function messages(
  l: RecordLayout,
  gadget: string,
  s: { boot: bigint; msgs: MsgSpec[] },
): RunMessage[] {
  const out: RunMessage[] = [
    { kind: 'header', header: { gadget, node: 'n1', layout: l, bootToWallNs: s.boot } },
  ];
  for (const m of s.msgs) {
    switch (m.k) {
      case 'batch': {
        let records = frameRecords(m.recs.map((r) => payload(l, r)));
        if (m.cut !== undefined) records = records.subarray(0, m.cut);
        out.push({
          kind: 'batch',
          records,
          count: m.recs.length,
          ...(m.node ? { node: m.node } : {}),
        });
        break;
      }
      case 'containers':
        out.push({
          kind: 'containers',
          containers: m.ids.map(([a, b, n]) => container(a, b, n)),
          ...(m.node ? { node: m.node } : {}),
        });
        break;
      case 'header':
        out.push({
          kind: 'header',
          header: { gadget, node: m.node, layout: l, bootToWallNs: m.boot },
        });
        break;
      case 'stats':
        out.push({ kind: 'stats', stats: { events: m.events, lost: m.lost } });
        break;
      case 'log':
        out.push({ kind: 'log', level: 'warn', message: m.message });
        break;
    }
  }
  return out;
}

interface Outputs {
  text: string;
  lines: number;
  objects: number;
  error?: string;
}

/** Runs the messages through one pipeline; a protocol error (batch before header) is its rejection. */
async function feed(
  d: Pick<GadgetDescriptor, 'name' | 'transform' | 'params'>,
  msgs: RunMessage[],
  mode: 'fast' | 'object' | 'objects',
): Promise<Outputs> {
  const o: Outputs = { text: '', lines: 0, objects: 0 };
  const reporter: Reporter = { warn: () => {}, log: () => {} };
  const text: TextSink = {
    kind: 'ndjson',
    write: (chunk, n) => {
      o.text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      o.lines += n;
    },
    end: async () => {},
  };
  const objects: ObjectSink = {
    kind: 'objects',
    write: (evs) => {
      o.objects += evs.length;
      for (const e of evs)
        JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    },
    end: async () => {},
  };
  const p = new EventPipeline({
    descriptor: d,
    params: resolveParams(d as GadgetDescriptor, {}),
    sink: mode === 'objects' ? objects : text,
    reporter,
    fastJson: mode === 'fast',
  });
  try {
    for (const m of msgs) await p.handle(m);
  } catch (e) {
    if (e instanceof Error && /^protocol error: /.test(e.message)) o.error = e.message;
    else throw e;
  }
  return o;
}

/** The three output paths agree: -o json fast and object paths byte for byte, columns by count. */
async function allPaths(
  d: Pick<GadgetDescriptor, 'name' | 'transform' | 'params'>,
  msgs: RunMessage[],
): Promise<string | undefined> {
  const fast = await feed(d, msgs, 'fast');
  const obj = await feed(d, msgs, 'object');
  const cols = await feed(d, msgs, 'objects');
  if (fast.error !== obj.error || obj.error !== cols.error)
    throw new Error(
      `the paths disagree on the error: ${fast.error} / ${obj.error} / ${cols.error}`,
    );
  if (fast.text !== obj.text) {
    const a = fast.text.split('\n');
    const b = obj.text.split('\n');
    const i = a.findIndex((x, j) => x !== b[j]);
    throw new Error(`-o json fast and object paths differ at line ${i}: ${a[i]} / ${b[i]}`);
  }
  if (obj.lines !== cols.objects)
    throw new Error(`${obj.lines} json lines, ${cols.objects} objects`);
  for (const line of fast.text.split('\n')) if (line) JSON.parse(line);
  return fast.error;
}

const GADGETS = [traceExec, traceOpen, netpol] as const;

/** One batch of one 160-byte record (regression examples). */
const oneBatch = {
  boot: 0n,
  msgs: [
    {
      k: 'batch' as const,
      recs: [{ size: 160, fill: new Uint8Array([0]), set: [], mntns: 0, uid: 0 }],
      cut: undefined,
      node: undefined,
    },
  ],
};

export const pipelineTarget: Target<[number, { boot: bigint; msgs: MsgSpec[] }]> = {
  name: 'pipeline',
  rejectCode: 'ProtocolError',
  what: 'plugin/src/pipeline (RunStream, generated decoders, -o json fast path, object path) on the real layouts',
  arbitrary: fc
    .nat(GADGETS.length - 1)
    .chain((g) => fc.tuple(fc.constant(g), streamSpec(layoutOf(GADGETS[g]!.name).size))),
  hangMs: 5000,
  async run([g, spec]) {
    const d = GADGETS[g]!;
    return allPaths(d, messages(layoutOf(d.name), d.name, spec));
  },
};

// ---- layouts from the wire ---------------------------------------------------------------------------

const KINDS = [...FIELD_KINDS];
const NAMES = [
  'timestamp',
  'mntns_id',
  'mntns_uid',
  'pid',
  'comm',
  'args',
  'args_size',
  'ret',
  'path',
  'flags',
];

const pbField = fc.record({
  name: anyString([...NAMES, '__proto__', 'constructor', 'a b', ''], 16),
  kind: fc.oneof(fc.constantFrom(...KINDS), anyString([], 8)),
  offset: fc.oneof(fc.nat(64), fc.nat(2048), fc.constantFrom(0xffffffff, 2 ** 31)),
  size: fc.oneof(
    fc.constantFrom(1, 2, 4, 8, 16),
    fc.nat(300),
    fc.constantFrom(0xffffffff, 2 ** 31),
  ),
  elem: fc.oneof(fc.constant(''), fc.constantFrom(...KINDS), anyString([], 6)),
  count: fc.oneof(fc.constant(0), fc.nat(8), fc.constantFrom(3, 0xffffffff, 2 ** 28)),
});

/** A layout near a real one (fields mutated) or made up. */
const pbLayout: fc.Arbitrary<pb.RecordLayout> = fc.oneof(
  fc.record({
    structName: anyString(['event'], 12),
    size: fc.oneof(fc.nat(256), fc.constant(0xffffffff)),
    fields: fc.array(pbField, { maxLength: 8 }),
  }),
  fc
    .tuple(
      fc.constantFrom('trace_exec', 'trace_open', 'advise_network_policy', 'traceloop'),
      fc.array(
        fc.tuple(fc.nat(40), pbField, fc.constantFrom('replace', 'drop', 'offset', 'kind')),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
    )
    .map(([name, edits]) => {
      const l = layoutOf(name);
      const fields = l.fields.map((f) => ({
        name: f.name,
        kind: f.kind as string,
        offset: f.offset,
        size: f.size,
        elem: (f.elem ?? '') as string,
        count: f.count ?? 0,
      }));
      for (const [i, f, op] of edits) {
        const at = i % fields.length;
        if (op === 'drop') fields.splice(at, 1);
        else if (op === 'replace') fields[at] = f;
        else if (op === 'offset') fields[at] = { ...fields[at]!, offset: f.offset };
        else fields[at] = { ...fields[at]!, kind: f.kind };
      }
      return { structName: l.struct, size: l.size, fields };
    }),
);

export const headerLayoutTarget: Target<
  [pb.RecordLayout, number, { boot: bigint; msgs: MsgSpec[] }]
> = {
  name: 'header-layout',
  rejectCode: 'ProtocolError',
  what: 'RunHeader layouts from a daemon: convert.ts layoutFromPb, then the pipeline (decoders, fast path)',
  // trace exec and open: their transforms are declared (field specs), so a layout that does not
  // fit is refused at the header; advise network-policy's hand-written transform is not
  // checked, and not fuzzed with random layouts (docs/security.md, Fuzzing)
  arbitrary: fc.tuple(pbLayout, fc.nat(1), streamSpec(160)),
  hangMs: 5000,
  examples: [
    // trace exec's layout with a cstring timestamp: BigInt() of it threw per record
    [
      {
        ...layoutToPb(layoutOf('trace_exec')),
        fields: layoutToPb(layoutOf('trace_exec')).fields.map((f) =>
          f.name === 'timestamp' ? { ...f, kind: 'cstring' } : f,
        ),
      },
      0,
      {
        boot: 0n,
        msgs: [
          {
            k: 'batch',
            recs: [{ size: 1120, fill: new Uint8Array([0x4c]), set: [], mntns: 0, uid: 0 }],
            cut: undefined,
            node: undefined,
          },
        ],
      },
    ],
    // no fields: trace exec's transform read args of undefined (a TypeError per record)
    [{ structName: 'event', size: 16, fields: [] }, 0, oneBatch],
    // an array of 2^28 elements: the decoder generator built 2^28 reads
    [
      {
        structName: 'event',
        size: 8,
        fields: [{ name: 'a', kind: 'array', offset: 0, size: 8, elem: 'u8', count: 2 ** 28 }],
      },
      0,
      oneBatch,
    ],
    // a u64 in 1 byte: the decoder read 7 bytes past the record
    [
      {
        structName: 'event',
        size: 8,
        fields: [{ name: 'mntns_id', kind: 'u64', offset: 0, size: 1, elem: '', count: 0 }],
      },
      1,
      oneBatch,
    ],
  ],
  async run([pl, g, spec]) {
    let l: RecordLayout;
    try {
      l = layoutFromPb(pl);
    } catch (e) {
      if (e instanceof ProtocolError) return e.message;
      throw e;
    }
    const d = GADGETS[g]!;
    try {
      return await allPaths(d, messages(l, d.name, spec));
    } catch (e) {
      if (e instanceof ProtocolError) return e.message;
      throw e;
    }
  },
};

// ---- traceloop slots ----------------------------------------------------------------------------------

export const traceloopTarget: Target<
  [pb.RecordLayout | undefined, { boot: bigint; msgs: MsgSpec[] }]
> = {
  name: 'traceloop-slots',
  rejectCode: 'ProtocolError',
  what: 'traceloop show: readRecording (RunStream + parseSlot + assemble), showRow/recordObject',
  arbitrary: fc.tuple(
    fc.option(pbLayout, { freq: 3 }).map((x) => x ?? undefined),
    streamSpec(128 + 40),
  ),
  hangMs: 5000,
  // a layout of 128 bytes without fields: parseSlot read a 4-byte record's header past the batch
  examples: [
    [
      { structName: 'tl_slot', size: 128, fields: [] },
      {
        boot: 0n,
        msgs: [
          {
            k: 'batch',
            recs: [{ size: 4, fill: new Uint8Array([1]), set: [], mntns: 0, uid: 0 }],
            cut: undefined,
            node: undefined,
          },
        ],
      },
    ],
  ],
  async run([pl, spec]) {
    let l = layoutOf('traceloop');
    if (pl) {
      try {
        l = { ...layoutFromPb(pl), size: 128 };
      } catch (e) {
        if (e instanceof ProtocolError) return e.message;
        throw e;
      }
    }
    const msgs = messages(l, 'traceloop', spec).filter(
      (m) => m.kind !== 'header' || m.header.node === 'n1',
    );
    const api = {
      show: async function* () {
        yield* msgs;
      },
    } as unknown as TraceloopApi;
    let r;
    try {
      r = await readRecording(api, 's', 'c', 0, () => {});
    } catch (e) {
      if (e instanceof Error && /^protocol error: /.test(e.message)) return e.message;
      throw e;
    }
    for (const rec of r.records) {
      showRow(rec, r.bootToWallNs);
      recordObject(rec, r.bootToWallNs);
    }
    return undefined;
  },
};

// ---- a RunResponse's bytes -----------------------------------------------------------------------------

/** Valid responses to mutate: a header with a real layout, containers, a batch. */
const responses: Uint8Array[] = [
  runMessageToPb({
    kind: 'header',
    header: { gadget: 'trace_exec', node: 'n', layout: layoutOf('trace_exec'), bootToWallNs: 5n },
  }),
  runMessageToPb({ kind: 'containers', containers: [container(1, 1, 'c')] }),
  runMessageToPb({ kind: 'batch', records: frameRecords([Buffer.alloc(24, 7)]), count: 1 }, 3, 2),
].map((m) => pb.RunResponse.encode(m));

export const runResponseTarget: Target<Uint8Array> = {
  name: 'run-response',
  codeOf: (m) => (m.startsWith('deserialize: ') ? 'protobuf decode' : 'ProtocolError'),
  what: 'RunResponse bytes as the CLI decodes them: pb.RunResponse.decode, convert.ts runMessageFromPb',
  arbitrary: fc.oneof(
    bytes(256),
    fc
      .tuple(
        fc.constantFrom(...responses),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
      )
      .map(([b, edits]) => {
        const c = Buffer.from(b);
        for (const [i, v] of edits) c[i % c.length] = v;
        return c;
      }),
  ),
  // a field kind with a newline was quoted as it came
  examples: [
    pb.RunResponse.encode({
      header: {
        gadget: 'g',
        node: 'n',
        layout: {
          structName: 'e',
          size: 8,
          fields: [{ name: 'a', kind: '\n32', offset: 0, size: 8, elem: '', count: 0 }],
        },
        bootToWallNs: '0',
      },
    } as pb.RunResponse),
  ],
  run(b) {
    let r: pb.RunResponse;
    try {
      r = pb.RunResponse.decode(b);
    } catch (e) {
      // grpc-js answers a message it cannot deserialize with INTERNAL: the codec may throw
      return `deserialize: ${(e as Error).message}`;
    }
    try {
      runMessageFromPb(r);
    } catch (e) {
      if (e instanceof ProtocolError) return e.message;
      throw e;
    }
    return undefined;
  },
};

export const recordTargets = [
  recordsTarget,
  filterBatchTarget,
  pipelineTarget,
  headerLayoutTarget,
  traceloopTarget,
  runResponseTarget,
] as Array<Target<unknown>>;
