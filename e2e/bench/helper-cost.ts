// What one helper call costs traceloop's program on this kernel and CPU (issue 17): the clock,
// the current task, and user and kernel reads of several sizes. Each program of
// gadgets/traceloop/testdata/helper-cost.bpf.c calls its helper 1,000,000 times in a bpf_loop,
// run by BPF_PROG_TEST_RUN on this thread (so the user reads read this process's memory: the
// first page of its executable). ns per call = (program - empty loop) / 1e6, median of rounds.
//   node dist/e2e/bench/helper-cost.js   (root; under flock -s /tmp/kg-bench.lock)
// Env: HC_ROUNDS (7). Prints a markdown table; writes build/bench/helper-cost.json.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObjectSpec } from '../../daemon/src/bpf/index.js';
import { packageRoot } from '../../gadgets/framework/paths.js';
import { buildHelperCost } from '../../gadgets/traceloop/testdata/build.js';

const ROUNDS = Number(process.env.HC_ROUNDS ?? 7);
const LOOPS = 1_000_000;

export interface HelperCost {
  helper: string;
  /** ns per call above the empty loop, median of the rounds */
  ns: number;
  min: number;
  max: number;
}

/** The start of this process's first readable mapping (its executable's ELF header page). */
function ownMemory(): bigint {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-[0-9a-f]+ r/.exec(line);
    if (m) return BigInt(`0x${m[1]!}`);
  }
  throw new Error('helper-cost: no readable mapping in /proc/self/maps');
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export function runHelperCost(): HelperCost[] {
  const spec = ObjectSpec.open(buildHelperCost());
  spec.setGlobal('uptr', ownMemory());
  const c = spec.load();
  try {
    const progs = c
      .programs()
      .map((p) => p.name)
      .filter((n) => n.startsWith('hc_'));
    const times = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const p of progs) {
        const t0 = process.hrtime.bigint();
        const faults = c.testRun(p);
        const ns = Number(process.hrtime.bigint() - t0) / LOOPS;
        const refused = p === 'hc_read_user_refused';
        if (faults !== (refused ? LOOPS : 0))
          throw new Error(`helper-cost: ${p} failed ${faults} of ${LOOPS} reads`);
        (times.get(p) ?? times.set(p, []).get(p)!).push(ns);
      }
    }
    const empty = times.get('hc_empty')!;
    const out: HelperCost[] = [];
    for (const p of progs) {
      if (p === 'hc_empty') continue;
      const d = times.get(p)!.map((t, i) => t - empty[i]!);
      out.push({
        helper: p.slice(3),
        ns: median(d),
        min: Math.min(...d),
        max: Math.max(...d),
      });
    }
    out.unshift({
      helper: 'empty loop (subtracted)',
      ns: median(empty),
      min: Math.min(...empty),
      max: Math.max(...empty),
    });
    return out;
  } finally {
    c.close();
    spec.close();
  }
}

export function renderMarkdown(rows: HelperCost[]): string {
  let s = `helper costs, ${cpus()[0]?.model ?? ''}, median of ${ROUNDS} rounds of ${LOOPS} calls\n\n`;
  s += '| helper call | ns per call (range) |\n|---|---|\n';
  for (const r of rows)
    s += `| ${r.helper} | ${r.ns.toFixed(1)} (${r.min.toFixed(1)}-${r.max.toFixed(1)}) |\n`;
  return s;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = runHelperCost();
  const out = join(packageRoot(), 'build', 'bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'helper-cost.json'), JSON.stringify(rows, null, 2) + '\n');
  process.stdout.write(renderMarkdown(rows));
}
