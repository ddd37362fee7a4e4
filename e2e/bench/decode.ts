// Micro-benchmark of the CLI's run-stream reading, without the kernel: synthetic trace_open
// records, framed as the daemon's reader frames them, replayed through EventPipeline on the -o
// json fast path (fast-json.ts), the -o json object path, and the columns path (event objects
// into a sink that discards them), paths interleaved per round. Prints records/s per path: per
// second of this process's CPU time (user + system; steadier than wall time on a busy machine)
// and per wall-clock second, median and best of the rounds. Needs `npm run build` (the layout);
// no root.
//
//   node dist/e2e/bench/decode.js [--records 1000000] [--batch 1024] [--rounds 7] [--json]

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { resolveParams } from '../../gadgets/framework/resolve.js';
import type { ContainerInfo } from '../../gadgets/framework/containers.js';
import type { RunMessage } from '../../gadgets/framework/runtime.js';
import { gadgetLayoutPath } from '../../gadgets/framework/paths.js';
import type { GadgetEvent, RecordLayout } from '../../gadgets/framework/types.js';
import { descriptor } from '../../gadgets/trace_open/gadget.js';
import type { ObjectSink, Reporter, TextSink } from '../../plugin/src/output/types.js';
import { EventPipeline } from '../../plugin/src/pipeline/pipeline.js';

type Path = 'fast' | 'object' | 'columns';
const PATHS: Path[] = ['fast', 'object', 'columns'];

const BOOT_TO_WALL = 1_714_566_896_000_000_000n;
const MNTNS = [4026531840, 4026532100, 4026532101, 4026532102];
const PATHNAMES = [
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/etc/ld.so.cache',
  '/proc/self/status',
  '/var/lib/app/data/segment-000123.log',
  'relative/file.txt',
];

function container(i: number): ContainerInfo {
  return {
    runtime: 'containerd',
    id: String(i).padStart(64, 'c'),
    name: `app-${i}`,
    pid: 1000 + i,
    mntnsId: MNTNS[i]!,
    generation: 1,
    state: 'running',
    startedAt: 0,
    image: 'app',
    annotations: {},
    k8s: {
      namespace: 'shop',
      pod: `app-${i}-7d4f`,
      container: `app-${i}`,
      podUid: `u${i}`,
      labels: {},
      ownerKind: 'ReplicaSet',
      ownerName: `app-${i}`,
      podIp: `10.0.0.${i}`,
      hostNetwork: false,
    },
  };
}

/** One trace_open record: the fixed part (72 bytes), then the NUL-terminated path. */
function record(layout: RecordLayout, i: number): Buffer {
  const path = Buffer.from(PATHNAMES[i % PATHNAMES.length]! + '\0');
  const b = Buffer.alloc(layout.size + path.length);
  const at = (name: string): number => layout.fields.find((f) => f.name === name)!.offset;
  b.writeBigUInt64LE(1_000_000_000n + BigInt(i) * 1_000n, at('timestamp'));
  // runs of records from one mount namespace, as a busy container gives
  b.writeBigUInt64LE(BigInt(MNTNS[(i >> 4) % MNTNS.length]!), at('mntns_id'));
  b.writeUInt32LE(100 + (i % 50), at('pid'));
  b.writeUInt32LE(100 + (i % 50), at('tid'));
  b.writeUInt32LE(1000, at('uid'));
  b.writeUInt32LE(1000, at('gid'));
  b.write('worker', at('comm'));
  b.writeInt32LE(i % 7 === 0 ? -2 : 3 + (i % 20), at('ret'));
  b.writeUInt32LE(i % 3 === 0 ? 0o100 | 0o1 : 0, at('flags'));
  b.writeUInt32LE(0o644, at('mode'));
  b.writeInt32LE(-100, at('dirfd'));
  b.writeUInt32LE(path.length, at('path_size'));
  b.writeUInt32LE(0, at('full_path_len'));
  path.copy(b, layout.size);
  return b;
}

/** [u32 LE length][payload][zero pad to 8], as the reader frames a batch. */
function frame(payloads: Buffer[]): Buffer {
  let total = 0;
  for (const p of payloads) total += (4 + p.length + 7) & ~7;
  const out = Buffer.alloc(total);
  let off = 0;
  for (const p of payloads) {
    out.writeUInt32LE(p.length, off);
    p.copy(out, off + 4);
    off += (4 + p.length + 7) & ~7;
  }
  return out;
}

const quiet: Reporter = { warn: () => undefined, log: () => undefined };

/** Replays `passes` times; returns records per CPU second and per wall second. */
function replay(
  layout: RecordLayout,
  batches: Array<{ b: Buffer; n: number }>,
  passes: number,
  path: Path,
): { cpu: number; wall: number } {
  let out = 0;
  const text: TextSink = {
    kind: 'ndjson',
    write: (c) => void (out += c.length),
    end: async () => undefined,
  };
  const objects: ObjectSink = {
    kind: 'objects',
    write: (e: GadgetEvent[]) => void (out += e.length),
    end: async () => undefined,
  };
  const p = new EventPipeline({
    descriptor,
    params: resolveParams(descriptor, {}),
    sink: path === 'columns' ? objects : text,
    reporter: quiet,
    fastJson: path === 'fast',
  });
  const header: RunMessage = {
    kind: 'header',
    header: { gadget: 'trace_open', node: 'bench', layout, bootToWallNs: BOOT_TO_WALL },
  };
  void p.handle(header);
  void p.handle({ kind: 'containers', containers: [1, 2, 3].map(container) });
  if (path === 'fast' && p.objectPathReason !== undefined)
    throw new Error(`the fast path is not taken: ${p.objectPathReason}`);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < passes; i++) {
    for (const { b, n } of batches) void p.handle({ kind: 'batch', records: b, count: n });
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (out === 0) throw new Error('no output');
  return { cpu: p.totals.events / ((c.user + c.system) / 1e6), wall: p.totals.events / s };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

if (process.argv[1]?.endsWith('/bench/decode.js')) {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000' },
      batch: { type: 'string', default: '1024' },
      rounds: { type: 'string', default: '7' },
      json: { type: 'boolean', default: false },
    },
  });
  const layout = JSON.parse(readFileSync(gadgetLayoutPath('trace_open'), 'utf8')) as RecordLayout;
  const perBatch = Number(values.batch);
  // 16 distinct batches, replayed until `records` records went through
  const batches = Array.from({ length: 16 }, (_, k) => ({
    b: frame(Array.from({ length: perBatch }, (_, i) => record(layout, k * perBatch + i))),
    n: perBatch,
  }));
  const passes = Math.max(1, Math.round(Number(values.records) / (16 * perBatch)));
  for (const path of PATHS) replay(layout, batches, 1, path); // warm up: JIT, compiled writers
  const cpu: Record<Path, number[]> = { fast: [], object: [], columns: [] };
  const wall: Record<Path, number[]> = { fast: [], object: [], columns: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = r % 2 ? [...PATHS].reverse() : PATHS;
    for (const path of order) {
      const f = replay(layout, batches, passes, path);
      cpu[path].push(f.cpu);
      wall[path].push(f.wall);
    }
  }
  const stat = (xs: number[]): { median: number; best: number } => ({
    median: median(xs),
    best: Math.max(...xs),
  });
  const result = Object.fromEntries(
    PATHS.map((p) => [p, { cpu: stat(cpu[p]), wall: stat(wall[p]) }]),
  );
  if (values.json) {
    process.stdout.write(JSON.stringify({ records: passes * 16 * perBatch, result }) + '\n');
  } else {
    process.stdout.write(
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, ` +
        `${passes * 16 * perBatch} records x ${values.rounds} rounds, ${perBatch} per batch\n`,
    );
    const n = (x: number): string => Math.round(x).toLocaleString('en');
    for (const p of PATHS) {
      const f = result[p]!;
      process.stdout.write(
        `  ${p.padEnd(8)} per CPU s: ${n(f.cpu.median)} median, ${n(f.cpu.best)} best; ` +
          `per wall s: ${n(f.wall.median)} median, ${n(f.wall.best)} best\n`,
      );
    }
  }
}
