// Runs one gadget against a runtime and prints its events: picks the sink for the output mode,
// feeds RunMessages through the EventPipeline, and ends cleanly on done, --timeout, SIGINT,
// SIGTERM or a closed stdout (`| head`), after flushing what was received.

import type { Writable } from 'node:stream';
import type {
  ContainerFilter,
  GadgetRuntime,
  RunMessage,
  RunRequest,
} from '#gadgets/framework/runtime.js';
import type { GadgetDescriptor } from '#gadgets/framework/types.js';
import { ColumnsSink, selectColumns, singleNodeColumns } from '../output/columns.js';
import { escapeControl } from '../output/escape.js';
import { FileOut } from '../output/file-out.js';
import { NdjsonSink, PrettyJsonSink } from '../output/json.js';
import type { OutputSpec } from '../output/spec.js';
import type { EventSink, Reporter, RunTotals } from '../output/types.js';
import { drained } from '../output/write.js';
import { createYamlSink } from '../output/yaml.js';
import { EventPipeline } from './pipeline.js';
import { compileFieldFilters, FilterTypeError } from '#gadgets/framework/field-filter.js';
import type { FieldFilter } from '#gadgets/framework/field-filter.js';
import { isUnreachable } from '#gadgets/framework/errors.js';
import { fsReason, UserError } from '../errors.js';

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
  /** how long after the first header a selection may match nothing before a warning (ms) */
  emptySelectionMs?: number;
  /** -F/--filter expressions (AND), parsed against the gadget's columns */
  filters?: readonly FieldFilter[];
}

export interface RunSummary {
  totals: RunTotals;
  /** the runtime's done reason, or why we stopped: 'timeout', 'interrupted', 'output closed' */
  reason: string;
  elapsedMs: number;
}

/** Warnings and daemon logs as lines on stderr (json/yaml/piped output), control characters escaped. */
export class StderrReporter implements Reporter {
  constructor(
    private readonly err: Writable,
    private readonly debug = false,
  ) {}

  warn(message: string): void {
    this.err.write(`warning: ${escapeControl(message)}\n`);
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    if (level === 'info' && !this.debug) return;
    this.err.write(`${level === 'warn' ? 'warning' : level}: ${escapeControl(message)}\n`);
  }
}

/**
 * The selection flags the user gave (-n, -p, -l, -c, --container-id) as they would type them,
 * and what they select (pods or containers); undefined when there are none (or --host).
 */
export function describeSelection(f: ContainerFilter): { what: string; flags: string } | undefined {
  if (f.host) return undefined;
  const parts: string[] = [];
  const q = (v: string): string => (/^[\w.:/=-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`);
  if (f.namespaces.length) parts.push(`-n ${q(f.namespaces.join(','))}`);
  for (const p of f.pods) parts.push(`-p ${q(p)}`);
  if (f.labelSelector.trim()) parts.push(`-l ${q(f.labelSelector.trim())}`);
  for (const c of f.containerNames) parts.push(`-c ${q(c)}`);
  for (const id of f.containerIds) parts.push(`--container-id ${q(id)}`);
  if (parts.length === 0) return undefined;
  const pods = f.namespaces.length > 0 || f.pods.length > 0 || f.labelSelector.trim() !== '';
  return { what: pods ? 'pod' : 'container', flags: parts.join(' ') };
}

/**
 * Warns once when a selection matched nothing: the runtime announces the matching containers
 * (a `containers` message) with the header and before any batch of theirs, so none within
 * `ms` of the first header means none matched. The run goes on: the pod may appear.
 */
class EmptySelectionWatch {
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    private readonly selection: { what: string; flags: string } | undefined,
    private readonly reporter: Reporter,
    private readonly ms: number,
  ) {
    if (!selection) this.settled = true;
  }

  see(msg: RunMessage): void {
    if (this.settled) return;
    if (msg.kind === 'header' && !this.timer) {
      this.timer = setTimeout(() => {
        this.settled = true;
        const s = this.selection!;
        this.reporter.warn(`no ${s.what} matches ${s.flags} (yet); still watching`);
      }, this.ms);
    } else if ((msg.kind === 'containers' && msg.containers.length > 0) || msg.kind === 'batch') {
      this.stop();
    }
  }

  stop(): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
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
      // `> FILE`: whole lines only, and a full disk is an error (file-out.ts)
      return {
        sink: new NdjsonSink(stdout, stdout === process.stdout ? FileOut.stdout() : undefined),
        reporter: stderrReporter,
      };
    case 'jsonpretty':
      return { sink: new PrettyJsonSink(stdout), reporter: stderrReporter };
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
  // a closed pipe (`| head`) ends the run normally; any other write error (a full disk) fails it
  let outputError: NodeJS.ErrnoException | undefined;
  const onOutputError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') stop('output closed');
    else {
      outputError ??= e;
      stop('output error');
    }
  };
  stdout.on('error', onOutputError);

  const out = await openOutput(opts, stdout, stderr);
  const filter = compileFieldFilters(opts.filters ?? []);
  const pipeline = new EventPipeline({
    descriptor: opts.descriptor,
    params: opts.params,
    sink: out.sink,
    reporter: out.reporter,
    ...(filter ? { filter } : {}),
  });
  const selection = new EmptySelectionWatch(
    describeSelection(opts.request.filter),
    out.reporter,
    opts.emptySelectionMs ?? 2000,
  );

  const it = runtime.run(opts.request, ac.signal)[Symbol.asyncIterator]();
  // The grace period after an abort wakes the read in progress. Each read waits on a promise of
  // its own: racing every read against one long-pending promise chained a reaction per message
  // onto it, and kept every message alive for the whole run (the soak's CLI RSS: 1.2 GiB/h).
  let graceTimer: NodeJS.Timeout | undefined;
  let graceOver = false;
  const graceWaiters = new Set<(g: typeof GRACE) => void>();
  const arm = (): void => {
    graceTimer = setTimeout(() => {
      graceOver = true;
      for (const wake of graceWaiters) wake(GRACE);
      graceWaiters.clear();
    }, opts.graceMs ?? 2000);
  };
  if (ac.signal.aborted) arm();
  else ac.signal.addEventListener('abort', arm, { once: true });
  const nextOrGrace = async (): Promise<IteratorResult<RunMessage> | typeof GRACE> => {
    if (graceOver) return GRACE;
    let wake: ((g: typeof GRACE) => void) | undefined;
    const grace = new Promise<typeof GRACE>((resolve) => {
      wake = resolve;
      graceWaiters.add(resolve);
    });
    try {
      return await Promise.race([it.next(), grace]);
    } finally {
      if (wake) graceWaiters.delete(wake);
    }
  };

  let finished = false;
  let failed = true;
  try {
    for (;;) {
      let r: IteratorResult<RunMessage> | typeof GRACE;
      try {
        r = await nextOrGrace();
      } catch (e) {
        // a runtime may reject its pending read when aborted: that is the normal end, unless
        // the daemon was never reached (a --timeout shorter than the connection attempt)
        if (ac.signal.aborted && !isUnreachable(e)) {
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
      selection.see(r.value);
      let p: void | Promise<void>;
      try {
        p = pipeline.handle(r.value);
      } catch (e) {
        // pid:>abc is found on the first event: the column's type is known only then
        if (e instanceof FilterTypeError) throw new UserError(e.message);
        throw e;
      }
      if (p) await p;
      if (pipeline.done) break;
      if (stopReason === 'output closed' || outputError) break;
    }
    failed = outputError !== undefined;
  } finally {
    if (timer) clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    selection.stop();
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
    if (stopReason !== 'output closed' && !outputError) await drained(stdout);
    stdout.off('error', onOutputError);
  }
  if (outputError) throw new UserError(`cannot write the output: ${fsReason(outputError)}`);
  const reason = pipeline.doneReason ?? stopReason ?? 'ended';
  if (opts.debug) stderr.write(`debug: run ended: ${reason}\n`);
  return { totals: { ...pipeline.totals }, reason, elapsedMs: Date.now() - started };
}
