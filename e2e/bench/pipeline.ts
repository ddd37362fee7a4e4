// Diagnostic for (a): what the CLI's -o json path costs per event on one core, without the
// kernel, the reader thread or the workload competing for CPUs. Real trace_open records are
// captured once (the daemon's loader and reader, a paced open workload), then replayed several
// times through the CLI's EventPipeline: into a sink that discards the text, and into a file
// written like stdout redirected to a file (fs.writeSync per batch); and once more, discarded,
// through the object path (the fast path turned off), for comparison. serialize.ts reuses the
// capture for a longer comparison of the two paths.

import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { ObjectSpec, clockOffsetNs } from '../../daemon/src/bpf/index.js';
import { resolveParams } from '../../gadgets/framework/resolve.js';
import type { RunMessage } from '../../gadgets/framework/runtime.js';
import { gadgetLayoutPath, gadgetObjectPath } from '../../gadgets/framework/paths.js';
import type { GadgetDescriptor, RecordLayout } from '../../gadgets/framework/types.js';
import { descriptor as execDescriptor } from '../../gadgets/trace_exec/gadget.js';
import { descriptor } from '../../gadgets/trace_open/gadget.js';
import type { Reporter, TextSink } from '../../plugin/src/output/types.js';
import { EventPipeline } from '../../plugin/src/pipeline/pipeline.js';
import { run } from './proc.js';
import { OUT, TMP, WORKLOAD } from './setup.js';

export interface PipelineFigures {
  /** records replayed per pass */
  records: number;
  batches: number;
  /** events/s through the CLI's -o json path (the fast path), output discarded */
  discardRate: number;
  /** the same through the object path (decode, transform, line builder), output discarded */
  objectDiscardRate: number;
  /** the same, written to a file on disk with fs.writeSync per batch */
  fileRate: number;
  bytesPerEvent: number;
}

export type Batches = Array<{ b: Buffer; n: number }>;
export type CapturedGadget = 'trace_open' | 'trace_exec';

/**
 * Captures records of the gadget (the whole machine) while a workload runs: ~`count` opens of
 * a paced open workload, or execs of /bin/true with a few arguments as fast as they go.
 */
export async function capture(gadget: CapturedGadget, count: number): Promise<Batches> {
  const spec = ObjectSpec.open(gadgetObjectPath(gadget));
  spec.setGlobal('gadget_filter_mode', 0);
  spec.setGlobal('gadget_self_tgid', process.pid);
  spec.setMapMaxEntries('events', 16 << 20);
  const coll = spec.load();
  const batches: Batches = [];
  try {
    const reader = coll.reader('events', (b, n) => void batches.push({ b, n }));
    coll.attach();
    if (gadget === 'trace_open') {
      const rate = 100_000;
      const target = join(TMP, 'pipeline-capture-target-with-a-path-of-typical-length.so');
      await run('capture', WORKLOAD, ['open-rate', String(rate), String(count / rate), target]);
    } else {
      const args = ['--config', '/etc/kubectl-gadget/config.yaml', '-v', 'some argument'];
      await run('capture', WORKLOAD, [
        'exec-loop',
        '0',
        String(count / 2000),
        '/bin/true',
        ...args,
      ]);
    }
    await reader.stop();
  } finally {
    coll.close();
  }
  return batches;
}

/** Saved captures: [u32 count][u32 bytes][bytes] per batch. */
export function saveBatches(file: string, batches: Batches): void {
  const parts: Buffer[] = [];
  for (const { b, n } of batches) {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(n, 0);
    h.writeUInt32LE(b.length, 4);
    parts.push(h, b);
  }
  writeFileSync(file, Buffer.concat(parts));
}

export function loadBatches(file: string): Batches {
  const all = readFileSync(file);
  const out: Batches = [];
  for (let o = 0; o + 8 <= all.length;) {
    const n = all.readUInt32LE(o);
    const len = all.readUInt32LE(o + 4);
    out.push({ b: all.subarray(o + 8, o + 8 + len), n });
    o += 8 + len;
  }
  return out;
}

export class CountingSink implements TextSink {
  readonly kind = 'ndjson';
  bytes = 0;
  /** keep: the chunks, to compare outputs */
  readonly chunks: Buffer[] = [];
  constructor(
    private readonly fd?: number,
    private readonly keep = false,
  ) {}
  write(chunk: string | Buffer): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.bytes += b.length;
    if (this.fd !== undefined) writeSync(this.fd, b);
    if (this.keep) this.chunks.push(b);
  }
  async end(): Promise<void> {}
}

const quiet: Reporter = { warn: () => undefined, log: () => undefined };

const DESCRIPTORS: Record<CapturedGadget, GadgetDescriptor> = {
  trace_open: descriptor,
  trace_exec: execDescriptor,
};

/**
 * Replays batches through a fresh EventPipeline `passes` times; returns events/s. `fastJson`
 * false: the object path, as -o json went before the fast path.
 */
export function replay(
  batches: Batches,
  sink: CountingSink,
  passes: number,
  fastJson = true,
  gadget: CapturedGadget = 'trace_open',
): number {
  const layout = JSON.parse(readFileSync(gadgetLayoutPath(gadget), 'utf8')) as RecordLayout;
  const d = DESCRIPTORS[gadget];
  const p = new EventPipeline({
    descriptor: d,
    params: resolveParams(d, {}),
    sink,
    reporter: quiet,
    fastJson,
  });
  const header: RunMessage = {
    kind: 'header',
    header: { gadget, node: 'bench', layout, bootToWallNs: clockOffsetNs() },
  };
  void p.handle(header);
  if (fastJson && p.objectPathReason !== undefined)
    throw new Error(`the fast path is not taken: ${p.objectPathReason}`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < passes; i++) {
    for (const { b, n } of batches) void p.handle({ kind: 'batch', records: b, count: n });
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return p.totals.events / s;
}

/** Where pipelineFigures leaves its capture, for serialize.ts. */
export const capturePath = (gadget: CapturedGadget): string => join(OUT, `${gadget}.records`);

export async function pipelineFigures(count = 300_000, passes = 5): Promise<PipelineFigures> {
  const batches = await capture('trace_open', count);
  saveBatches(capturePath('trace_open'), batches);
  const records = batches.reduce((sum, { n }) => sum + n, 0);
  replay(batches, new CountingSink(), 1, false); // warm up: the JIT, the compiled serializers
  const objectDiscardRate = replay(batches, new CountingSink(), passes, false);
  replay(batches, new CountingSink(), 1);
  const discard = new CountingSink();
  const profile = process.env.PIPELINE_PROFILE; // write a .cpuprofile of the discard passes
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }
  const discardRate = replay(batches, discard, passes);
  if (session) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(profile!, JSON.stringify(p));
    session.disconnect();
  }
  const file = join(TMP, 'pipeline.json');
  const fd = openSync(file, 'w');
  let fileRate: number;
  try {
    fileRate = replay(batches, new CountingSink(fd), passes);
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return {
    records,
    batches: batches.length,
    discardRate,
    objectDiscardRate,
    fileRate,
    bytesPerEvent: discard.bytes / (records * passes),
  };
}

// node dist/e2e/bench/pipeline.js: these figures alone
if (process.argv[1]?.endsWith('/bench/pipeline.js')) {
  const { buildBenchArtifacts } = await import('./setup.js');
  buildBenchArtifacts();
  process.stdout.write(JSON.stringify(await pipelineFigures(), null, 2) + '\n');
}
