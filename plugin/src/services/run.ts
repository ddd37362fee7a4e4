// Runs one gadget against a runtime and prints its events: picks the sink for the output mode,
// feeds RunMessages through the EventPipeline, and ends cleanly on done, --timeout, SIGINT,
// SIGTERM or a closed stdout (`| head`), after flushing what was received.

import type { Writable } from 'node:stream';
import type { GadgetRuntime, RunMessage, RunRequest } from '../../../daemon/src/runtime/types.js';
import type { GadgetDescriptor } from '../../../gadgets/framework/types.js';
import { ColumnsSink, selectColumns, singleNodeColumns } from '../output/columns.js';
import { NdjsonSink } from '../output/json.js';
import type { OutputSpec } from '../output/spec.js';
import type { EventSink, Reporter, RunTotals } from '../output/types.js';
import { drained } from '../output/write.js';
import { createYamlSink } from '../output/yaml.js';
import { EventPipeline } from './pipeline.js';

export interface OutputStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface RunGadgetOptions {
  descriptor: GadgetDescriptor;
  request: RunRequest;
  /** resolved params (defaults filled), for the transform */
  params: Record<string, string>;
  output: OutputSpec;
  debug?: boolean;
  stdout?: OutputStream;
  stderr?: Writable;
  /** install SIGINT/SIGTERM handlers (default true) */
  handleSignals?: boolean;
  /** extra abort source (tests, embedding) */
  signal?: AbortSignal;
  /** how long to keep reading after an abort before giving up on the runtime (ms) */
  graceMs?: number;
  /** --local/--remote: one node, no pods, so default columns show CONTAINER, not K8S.* */
  singleNode?: boolean;
}

export interface RunSummary {
  totals: RunTotals;
  /** the runtime's done reason, or why we stopped: 'timeout', 'interrupted', 'output closed' */
  reason: string;
  elapsedMs: number;
}

/** Warnings and daemon logs as lines on stderr (json/yaml/piped output). */
export class StderrReporter implements Reporter {
  constructor(
    private readonly err: Writable,
    private readonly debug = false,
  ) {}

  warn(message: string): void {
    this.err.write(`warning: ${message}\n`);
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    if (level === 'info' && !this.debug) return;
    this.err.write(`${level === 'warn' ? 'warning' : level}: ${message}\n`);
  }
}

interface Output {
  sink: EventSink;
  reporter: Reporter;
}

async function openOutput(
  opts: RunGadgetOptions,
  stdout: OutputStream,
  stderr: Writable,
): Promise<Output> {
  const { descriptor, output } = opts;
  const stderrReporter = new StderrReporter(stderr, opts.debug);
  switch (output.format) {
    case 'json':
      return { sink: new NdjsonSink(stdout), reporter: stderrReporter };
    case 'yaml':
      return { sink: await createYamlSink(stdout), reporter: stderrReporter };
    case 'columns': {
      const specs = opts.singleNode ? singleNodeColumns(descriptor.columns) : descriptor.columns;
      const columns = selectColumns(specs, output.columns);
      if (stdout.isTTY) {
        const { renderLiveTable } = await import('../ui/live-table.js');
        const view = await renderLiveTable({
          title: descriptor.command.join(' '),
          columns,
          stdout: stdout as NodeJS.WriteStream,
        });
        return { sink: view, reporter: view };
      }
      return { sink: new ColumnsSink(stdout, columns), reporter: stderrReporter };
    }
  }
}

const GRACE = Symbol('grace');

export async function runGadget(
  runtime: GadgetRuntime,
  opts: RunGadgetOptions,
): Promise<RunSummary> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const started = Date.now();
  const ac = new AbortController();
  let stopReason: string | undefined;
  const stop = (why: string): void => {
    if (ac.signal.aborted) return;
    stopReason = why;
    ac.abort(new Error(why));
  };

  // a second Ctrl-C while flushing means "now"
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    stop('interrupted');
  };
  if (opts.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const onExternalAbort = (): void => stop('aborted');
  opts.signal?.addEventListener('abort', onExternalAbort);
  if (opts.signal?.aborted) stop('aborted');
  const timeout = opts.request.timeoutSeconds;
  const timer = timeout > 0 ? setTimeout(() => stop('timeout'), timeout * 1000) : undefined;
  const onOutputError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') stop('output closed');
    else stop(`output error: ${e.message}`);
  };
  stdout.on('error', onOutputError);

  const out = await openOutput(opts, stdout, stderr);
  const pipeline = new EventPipeline({
    descriptor: opts.descriptor,
    params: opts.params,
    sink: out.sink,
    reporter: out.reporter,
  });

  let graceTimer: NodeJS.Timeout | undefined;
  const grace = new Promise<typeof GRACE>((resolve) => {
    const arm = (): void => {
      graceTimer = setTimeout(() => resolve(GRACE), opts.graceMs ?? 2000);
    };
    if (ac.signal.aborted) arm();
    else ac.signal.addEventListener('abort', arm, { once: true });
  });

  const it = runtime.run(opts.request, ac.signal)[Symbol.asyncIterator]();
  let finished = false;
  let failed = true;
  try {
    for (;;) {
      let r: IteratorResult<RunMessage> | typeof GRACE;
      try {
        r = await Promise.race([it.next(), grace]);
      } catch (e) {
        // a runtime may reject its pending read when aborted: that is the normal end
        if (ac.signal.aborted) {
          if (opts.debug) stderr.write(`debug: run ended after abort: ${(e as Error).message}\n`);
          break;
        }
        throw e;
      }
      if (r === GRACE) {
        if (opts.debug)
          stderr.write('debug: runtime did not end after abort; not waiting longer\n');
        break;
      }
      if (r.done) {
        finished = true;
        break;
      }
      const p = pipeline.handle(r.value);
      if (p) await p;
      if (pipeline.done) break;
      if (stopReason === 'output closed') break;
    }
    failed = false;
  } finally {
    if (timer) clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    if (opts.handleSignals !== false) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    opts.signal?.removeEventListener('abort', onExternalAbort);
    if (!finished) {
      // let the runtime detach; do not wait for a generator stuck in a read
      if (!ac.signal.aborted) ac.abort(new Error('done'));
      void it.return?.()?.catch(() => undefined);
    }
    await out.sink.end(failed);
    if (stopReason !== 'output closed') await drained(stdout);
    stdout.off('error', onOutputError);
  }
  const reason = pipeline.doneReason ?? stopReason ?? 'ended';
  if (opts.debug) stderr.write(`debug: run ended: ${reason}\n`);
  return { totals: { ...pipeline.totals }, reason, elapsedMs: Date.now() - started };
}
