// Captures the records that the scale harness's replay mode (replay-runtime.ts) feeds: a few
// seconds of REAL trace_exec and trace_open records from the real daemon (BPF in the kernel),
// taken once and stored in e2e/scale/testdata/ (the payloads as the kernel wrote them, with the
// layout and boot-to-wall offset of the run). Root, and run under `flock -s /tmp/kg-bench.lock`:
//
//   flock -s /tmp/kg-bench.lock node dist/e2e/scale/capture.js [--seconds 3] [--max 600]
//
// Only the workload's own records are kept: execs whose parent is the workload shell, and opens
// of the processes those execs started (other processes on the machine are left out).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { emptyFilter } from '../../gadgets/framework/filter.js';
import { resolveParams } from '../../gadgets/framework/resolve.js';
import type { RunHeader } from '../../gadgets/framework/runtime.js';
import { descriptor as execDescriptor } from '../../gadgets/trace_exec/gadget.js';
import { descriptor as openDescriptor } from '../../gadgets/trace_open/gadget.js';
import { RecordCursor } from '../../proto/ts/records.js';
import { RemoteRuntime } from '../../plugin/src/runtimes/remote-runtime.js';
import { CLI, ROOT, sleep } from '../helpers/cli.js';

export interface Capture {
  gadget: string;
  capturedAt: string;
  kernel: string;
  header: { layout: RunHeader['layout']; bootToWallNs: string };
  /** record payloads (unframed), base64, in the order the kernel wrote them (the first --max) */
  records: string[];
}

export const TESTDATA = join(ROOT, 'e2e', 'scale', 'testdata');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      // enough variety for replay; the files stay small (gzip: the fixed-size strings are mostly zeros)
      max: { type: 'string', default: '600' },
    },
  });
  const seconds = Number(values.seconds);
  const dir = mkdtempSync('/tmp/kgscale-capture-');
  const sock = join(dir, 'gadget.sock');
  const daemon = spawn(process.execPath, [CLI, 'daemon', '--listen', `unix://${sock}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      KGADGET_TRACELOOP_PIN_DIR: `/sys/fs/bpf/kgscale-capture-${process.pid}`,
    },
  });
  let out = '';
  daemon.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (!/listening on unix:/.test(out)) {
      if (daemon.exitCode !== null || Date.now() > deadline)
        throw new Error(`daemon did not start: ${out}`);
      await sleep(50);
    }
    const ac = new AbortController();
    const collected: Record<string, { header?: RunHeader; recs: Buffer[] }> = {
      trace_exec: { recs: [] },
      trace_open: { recs: [] },
    };
    const runs = [execDescriptor, openDescriptor].map(async (d) => {
      const rt = new RemoteRuntime(`unix://${sock}`);
      const c = collected[d.name]!;
      const req = {
        gadget: d.name,
        params: resolveParams(d, {}),
        filter: { ...emptyFilter(), host: true },
        timeoutSeconds: 0,
      };
      try {
        for await (const m of rt.run(req, ac.signal)) {
          if (m.kind === 'header') c.header = m.header;
          if (m.kind === 'batch') {
            const cur = new RecordCursor(m.records);
            while (cur.next())
              c.recs.push(Buffer.from(cur.batch.subarray(cur.offset, cur.offset + cur.length)));
          }
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      } finally {
        await rt.close();
      }
    });
    await sleep(1500); // both runs attached
    const wl = spawn(
      '/bin/sh',
      [
        '-c',
        `end=$(($(date +%s) + ${seconds})); while [ $(date +%s) -lt $end ]; do /bin/cat /etc/hostname >/dev/null; /bin/ls / >/dev/null; /usr/bin/env true; /bin/sleep 0.01; done`,
      ],
      { stdio: 'ignore' },
    );
    const shPid = wl.pid!;
    await new Promise((r) => wl.on('close', r));
    await sleep(500);
    ac.abort();
    await Promise.all(runs);

    const exec = collected.trace_exec!;
    const open = collected.trace_open!;
    const el = exec.header!.layout;
    const ppidOff = el.fields.find((f) => f.name === 'ppid')!.offset;
    const pidOff = el.fields.find((f) => f.name === 'pid')!.offset;
    const execs = exec.recs.filter((r) => r.readUInt32LE(ppidOff) === shPid);
    const children = new Set(execs.map((r) => r.readUInt32LE(pidOff)));
    const opidOff = open.header!.layout.fields.find((f) => f.name === 'pid')!.offset;
    const opens = open.recs.filter((r) => children.has(r.readUInt32LE(opidOff)));
    const kernel = (await import('node:os')).release();
    for (const [name, c, recs] of [
      ['trace_exec', exec, execs],
      ['trace_open', open, opens],
    ] as const) {
      const capture: Capture = {
        gadget: name,
        capturedAt: new Date().toISOString(),
        kernel,
        header: { layout: c.header!.layout, bootToWallNs: String(c.header!.bootToWallNs) },
        records: recs.slice(0, Number(values.max)).map((r) => r.toString('base64')),
      };
      writeFileSync(join(TESTDATA, `${name}.json.gz`), gzipSync(JSON.stringify(capture) + '\n'));
      process.stdout.write(
        `${name}: ${capture.records.length} records kept (${recs.length} of the workload, ${c.recs.length} seen)\n`,
      );
    }
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.on('close', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
