// Micro-benchmark of the CLI's -o json path in-process: captured records (trace_open: the
// pipeline diagnostic's capture in build/bench/trace_open.records; trace_exec: execs of
// /bin/true) replayed through EventPipeline on the object path (decode -> transform -> line
// builder -> UTF-8, as before the fast path) and on the fast path (fast-json.ts), rounds
// interleaved, output discarded. Checks both give the same bytes, then prints µs/event.
//
//   node dist/e2e/bench/serialize.js [--gadget trace_open|trace_exec] [--rounds 7] [--passes N]
//                                     [--capture] [--json]
// A round replays the capture `passes` times per path (default: enough for ~900k events).
// Capturing needs root and `npm run build`; replaying a saved capture does not.

import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  capture,
  capturePath,
  CountingSink,
  loadBatches,
  replay,
  saveBatches,
  type Batches,
  type CapturedGadget,
} from './pipeline.js';

interface PathFigures {
  /** µs per event of each round (each round: `passes` passes over the capture) */
  usPerEvent: number[];
  best: number;
  median: number;
}

export interface SerializeFigures {
  gadget: CapturedGadget;
  records: number;
  passes: number;
  batches: number;
  bytesPerEvent: number;
  identical: boolean;
  object: PathFigures;
  fast: PathFigures;
  /** object median / fast median */
  speedup: number;
  loadBefore: number[];
  loadAfter: number[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const figures = (us: number[]): PathFigures => ({
  usPerEvent: us,
  best: Math.min(...us),
  median: median(us),
});

async function batchesOf(gadget: CapturedGadget, recapture: boolean): Promise<Batches> {
  const file = capturePath(gadget);
  if (!recapture && existsSync(file)) return loadBatches(file);
  if (process.getuid?.() !== 0)
    throw new Error(`no capture at ${file}: run as root once (it loads ${gadget})`);
  const { buildBenchArtifacts } = await import('./setup.js');
  buildBenchArtifacts();
  const b = await capture(gadget, gadget === 'trace_open' ? 300_000 : 20_000);
  saveBatches(file, b);
  return b;
}

export async function serializeFigures(
  gadget: CapturedGadget,
  rounds: number,
  passesArg: number | undefined,
  recapture = false,
): Promise<SerializeFigures> {
  const batches = await batchesOf(gadget, recapture);
  const records = batches.reduce((s, { n }) => s + n, 0);
  const passes = passesArg ?? Math.max(3, Math.ceil(900_000 / records));
  const loadBefore = loadavg();

  // same bytes on real records (the unit test covers generated ones)
  const a = new CountingSink(undefined, true);
  const b = new CountingSink(undefined, true);
  replay(batches, a, 1, false, gadget);
  replay(batches, b, 1, true, gadget);
  const identical = Buffer.concat(a.chunks).equals(Buffer.concat(b.chunks));

  const us: Record<'object' | 'fast', number[]> = { object: [], fast: [] };
  for (let r = 0; r < rounds; r++) {
    for (const path of r % 2 ? (['fast', 'object'] as const) : (['object', 'fast'] as const)) {
      const rate = replay(batches, new CountingSink(), passes, path === 'fast', gadget);
      us[path].push(1e6 / rate);
    }
  }
  const object = figures(us.object);
  const fast = figures(us.fast);
  return {
    gadget,
    records,
    passes,
    batches: batches.length,
    bytesPerEvent: a.bytes / records,
    identical,
    object,
    fast,
    speedup: object.median / fast.median,
    loadBefore,
    loadAfter: loadavg(),
  };
}

function render(f: SerializeFigures): string {
  const us = (x: number): string => x.toFixed(3);
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  return (
    `${f.gadget}: ${f.records} records in ${f.batches} batches (x${f.passes} per round), ${f.bytesPerEvent.toFixed(0)} B/event, ` +
    `outputs ${f.identical ? 'identical' : 'DIFFER'}\n` +
    `  object path: ${us(f.object.median)} µs/event median, ${us(f.object.best)} best (${f.object.usPerEvent.map(us).join(', ')})\n` +
    `  fast path:   ${us(f.fast.median)} µs/event median, ${us(f.fast.best)} best (${f.fast.usPerEvent.map(us).join(', ')})\n` +
    `  speedup ${f.speedup.toFixed(2)}x; load average ${load(f.loadBefore)} before, ${load(f.loadAfter)} after\n`
  );
}

if (process.argv[1]?.endsWith('/bench/serialize.js')) {
  const { values } = parseArgs({
    options: {
      gadget: { type: 'string' },
      rounds: { type: 'string', default: '7' },
      passes: { type: 'string' },
      capture: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node dist/e2e/bench/serialize.js [--gadget trace_open|trace_exec] [--rounds N] [--passes N] [--capture] [--json]\n',
    );
    process.exit(0);
  }
  const gadgets: CapturedGadget[] = values.gadget
    ? [values.gadget as CapturedGadget]
    : ['trace_open', 'trace_exec'];
  const out: SerializeFigures[] = [];
  process.stdout.write(
    `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}\n`,
  );
  for (const g of gadgets) {
    const passes = values.passes === undefined ? undefined : Number(values.passes);
    const f = await serializeFigures(g, Number(values.rounds), passes, values.capture);
    out.push(f);
    if (!values.json) process.stdout.write(render(f));
  }
  if (values.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  if (out.some((f) => !f.identical)) process.exit(1);
}
