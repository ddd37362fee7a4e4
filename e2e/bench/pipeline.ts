// Diagnostic for (a): what the CLI's -o json path costs per event on one core, without the
// kernel, the reader thread or the workload competing for CPUs. Real trace_open records are
// captured once (the daemon's loader and reader, a paced open workload), then replayed several
// times through the CLI's EventPipeline: into a sink that discards the text, and into a file
// written like stdout redirected to a file (fs.writeSync per batch).

import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { ObjectSpec, clockOffsetNs } from '../../daemon/src/bpf/index.js';
import { resolveParams } from '../../daemon/src/runtime/params.js';
import type { RunMessage } from '../../daemon/src/runtime/types.js';
import { gadgetLayoutPath, gadgetObjectPath } from '../../gadgets/framework/paths.js';
import type { RecordLayout } from '../../gadgets/framework/types.js';
import { descriptor } from '../../gadgets/trace_open/gadget.js';
import type { Reporter, TextSink } from '../../plugin/src/output/types.js';
import { EventPipeline } from '../../plugin/src/services/pipeline.js';
import { lastJson, run } from './proc.js';
import { TMP, WORKLOAD } from './setup.js';

export interface PipelineFigures {
  /** records replayed per pass */
  records: number;
  batches: number;
  /** events/s through decode + transform + NDJSON text, output discarded */
  discardRate: number;
  /** the same, written to a file on disk with fs.writeSync per batch */
  fileRate: number;
  bytesPerEvent: number;
}

/** Captures ~`count` records of a paced open workload (plus whatever else the machine opens). */
async function capture(count: number): Promise<Array<{ b: Buffer; n: number }>> {
  const spec = ObjectSpec.open(gadgetObjectPath('trace_open'));
  spec.setGlobal('gadget_filter_mode', 0);
  spec.setGlobal('gadget_self_tgid', process.pid);
  spec.setMapMaxEntries('events', 16 << 20);
  const coll = spec.load();
  const batches: Array<{ b: Buffer; n: number }> = [];
  try {
    const reader = coll.reader('events', (b, n) => void batches.push({ b, n }));
    coll.attach();
    const rate = 100_000;
    const target = join(TMP, 'pipeline-capture-target-with-a-path-of-typical-length.so');
    await run('capture', WORKLOAD, ['open-rate', String(rate), String(count / rate), target]).then(
      (s) => lastJson<{ opens: number }>(s),
    );
    await reader.stop();
  } finally {
    coll.close();
  }
  return batches;
}

class CountingSink implements TextSink {
  readonly kind = 'ndjson';
  bytes = 0;
  constructor(private readonly fd?: number) {}
  write(chunk: string | Buffer): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.bytes += b.length;
    if (this.fd !== undefined) writeSync(this.fd, b);
  }
  async end(): Promise<void> {}
}

const quiet: Reporter = { warn: () => undefined, log: () => undefined };

function replay(
  batches: Array<{ b: Buffer; n: number }>,
  sink: CountingSink,
  passes: number,
): number {
  const layout = JSON.parse(readFileSync(gadgetLayoutPath('trace_open'), 'utf8')) as RecordLayout;
  const p = new EventPipeline({
    descriptor,
    params: resolveParams(descriptor, {}),
    sink,
    reporter: quiet,
  });
  const header: RunMessage = {
    kind: 'header',
    header: { gadget: 'trace_open', node: 'bench', layout, bootToWallNs: clockOffsetNs() },
  };
  void p.handle(header);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < passes; i++) {
    for (const { b, n } of batches) void p.handle({ kind: 'batch', records: b, count: n });
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return p.totals.events / s;
}

export async function pipelineFigures(count = 300_000, passes = 5): Promise<PipelineFigures> {
  const batches = await capture(count);
  const records = batches.reduce((sum, { n }) => sum + n, 0);
  replay(batches, new CountingSink(), 1); // warm up: the JIT, the compiled serializers
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
