// The Events view's API: which gadgets can stream (GET /api/events/gadgets) and a run of one as
// Server-Sent Events (GET /api/events/stream). A run is the same as `trace exec` on the same
// runtime: the request built by buildRunRequest from the same flags (-n, -p, -c, -F), decoded by
// the same EventPipeline. It lives as long as the EventSource: closing it stops the run.
//
// Bounded: events wait in a queue of at most QUEUE_ROWS (the oldest are dropped from view and
// counted as `skipped`), sent every TICK_MS, so a slow page never slows the run or grows memory.

import { setTimeout as sleep } from 'node:timers/promises';
import { listGadgets } from '#gadgets/framework/registry.js';
import { compileFieldFilters, FilterTypeError } from '#gadgets/framework/field-filter.js';
import type { FieldFilter } from '#gadgets/framework/field-filter.js';
import type { GadgetDescriptor, GadgetEvent } from '#gadgets/framework/types.js';
import { UserError } from '../../errors.js';
import { parseFilterFlag } from '../../flags.js';
import type { CommonFlagValues } from '../../flags.js';
import { selectColumns, singleNodeColumns } from '../../output/columns.js';
import type { ObjectSink, Reporter, RunTotals } from '../../output/types.js';
import { EventPipeline } from '../../pipeline/pipeline.js';
import { buildRunRequest } from '../request.js';
import { UiInputError } from './types.js';
import type { UiContext, UiRoute } from './types.js';

/** The gadgets the Events view offers. */
export const EVENT_GADGETS = ['trace_exec', 'trace_open'] as const;
/** how often a run's new rows are sent (ms): the added event lag */
export const TICK_MS = 100;
/**
 * rows waiting to be sent, at most: as many as the page keeps in view (events.tsx VIEW_ROWS), so
 * a flood sends no row the page would drop at once (parsing them is what froze it at 10k/s)
 */
export const QUEUE_ROWS = 250;

export interface GadgetInfo {
  name: string;
  command: string;
  columns: { name: string; header: string }[];
}

/** One SSE message of a run. */
export type RunEvent =
  | { type: 'start'; gadget: string; columns: GadgetInfo['columns'] }
  | {
      type: 'rows';
      rows: GadgetEvent[];
      totals: RunTotals & { skipped: number };
      warnings: string[];
    }
  | { type: 'end'; reason: string; totals: RunTotals & { skipped: number } };

/** A queue that keeps the newest `cap` rows and counts the ones it dropped. */
export class BoundedRows {
  private rows: GadgetEvent[] = [];
  skipped = 0;
  constructor(private readonly cap: number) {}

  push(events: readonly GadgetEvent[]): void {
    for (const e of events) this.rows.push(e);
    const over = this.rows.length - this.cap;
    if (over > 0) {
      this.rows.splice(0, over);
      this.skipped += over;
    }
  }

  take(): GadgetEvent[] {
    const r = this.rows;
    this.rows = [];
    return r;
  }
}

function columnsOf(d: GadgetDescriptor, singleNode: boolean): GadgetInfo['columns'] {
  const specs = singleNode ? singleNodeColumns(d.columns) : d.columns;
  return selectColumns(specs).map((c) => ({
    name: c.name,
    header: c.header ?? c.name.toUpperCase(),
  }));
}

async function eventGadgets(): Promise<GadgetDescriptor[]> {
  const all = await listGadgets();
  return all.filter((d) => (EVENT_GADGETS as readonly string[]).includes(d.name));
}

/** The run's flags from the query: namespace, podname, containername (repeatable), filter (repeatable). */
function queryFlags(
  ctx: UiContext,
  d: GadgetDescriptor,
  q: URLSearchParams,
): CommonFlagValues & Record<string, unknown> {
  const filters: FieldFilter[] = q
    .getAll('filter')
    .filter((f) => f.trim() !== '')
    .map((f) => parseFilterFlag(f, d.columns));
  const ns = q.get('namespace')?.trim();
  const pod = q.get('podname')?.trim();
  const containers = q
    .getAll('containername')
    .map((c) => c.trim())
    .filter(Boolean);
  return {
    ...ctx.flags,
    ...(ns ? { namespace: ns, 'all-namespaces': false } : {}),
    ...(pod ? { podname: pod } : {}),
    ...(containers.length ? { containername: containers } : {}),
    filter: filters,
    timeout: 0,
  };
}

async function* runEvents(
  ctx: UiContext,
  d: GadgetDescriptor,
  query: URLSearchParams,
  signal: AbortSignal,
): AsyncGenerator<RunEvent> {
  const flags = queryFlags(ctx, d, query);
  const { request, params } = buildRunRequest(d, flags);
  const singleNode = ctx.mode !== 'kubernetes';
  const queue = new BoundedRows(QUEUE_ROWS);
  const warnings: string[] = [];
  const sink: ObjectSink = {
    kind: 'objects',
    write: (events) => queue.push(events),
    end: async () => undefined,
  };
  const reporter: Reporter = {
    warn: (m) => void warnings.push(m),
    log: (level, m) => {
      if (level !== 'info') warnings.push(m);
    },
  };
  const filter = compileFieldFilters(flags.filter ?? []);
  const pipeline = new EventPipeline({
    descriptor: d,
    params,
    sink,
    reporter,
    ...(filter ? { filter } : {}),
  });
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  signal.addEventListener('abort', stop, { once: true });
  let failure: unknown;
  let finished = false;
  const producer = (async () => {
    try {
      for await (const msg of ctx.runtime.run(request, ac.signal)) {
        try {
          const p = pipeline.handle(msg);
          if (p) await p;
        } catch (e) {
          // pid:>abc is found on the first event: the column's type is known only then
          if (e instanceof FilterTypeError) throw new UiInputError(e.message);
          throw e;
        }
        if (pipeline.done) break;
      }
    } catch (e) {
      if (!ac.signal.aborted) failure = e;
    } finally {
      finished = true;
    }
  })();
  const totals = (): RunTotals & { skipped: number } => ({
    ...pipeline.totals,
    skipped: queue.skipped,
  });
  try {
    ctx.log.info(`ui: ${d.command.join(' ')} run started`);
    yield { type: 'start', gadget: d.name, columns: columnsOf(d, singleNode) };
    let last = '';
    for (;;) {
      await sleep(TICK_MS);
      const rows = queue.take();
      const t = totals();
      const key = JSON.stringify(t);
      if (rows.length > 0 || warnings.length > 0 || key !== last) {
        last = key;
        yield { type: 'rows', rows, totals: t, warnings: warnings.splice(0) };
      }
      if (finished || ac.signal.aborted) break;
    }
    if (failure) throw failure;
    yield {
      type: 'end',
      reason: pipeline.doneReason ?? (ac.signal.aborted ? 'stopped' : 'ended'),
      totals: totals(),
    };
  } finally {
    ac.abort();
    signal.removeEventListener('abort', stop);
    await producer;
    ctx.log.info(`ui: ${d.command.join(' ')} run ended`);
  }
}

/** The gadget of a run's query, its flags validated (a bad -F is a 400, before any run). */
async function checked(ctx: UiContext, query: URLSearchParams): Promise<GadgetDescriptor> {
  const name = query.get('gadget') ?? '';
  const d = (await eventGadgets()).find((g) => g.name === name);
  if (!d) {
    throw new UiInputError(`unknown gadget "${name}"`, `pick one of ${EVENT_GADGETS.join(', ')}`);
  }
  try {
    buildRunRequest(d, queryFlags(ctx, d, query));
  } catch (e) {
    if (e instanceof UserError) throw new UiInputError(e.message, e.hint);
    throw e;
  }
  return d;
}

export function eventsRoutes(ctx: UiContext): UiRoute[] {
  const singleNode = ctx.mode !== 'kubernetes';
  return [
    {
      method: 'GET',
      path: '/api/info',
      handle: () => ({ mode: ctx.mode }),
    },
    {
      method: 'GET',
      path: '/api/events/gadgets',
      handle: async (): Promise<GadgetInfo[]> =>
        (await eventGadgets()).map((d) => ({
          name: d.name,
          command: d.command.join(' '),
          columns: columnsOf(d, singleNode),
        })),
    },
    {
      method: 'GET',
      path: '/api/events/check',
      handle: async (req) => {
        await checked(ctx, req.query);
        return { ok: true };
      },
    },
    {
      method: 'GET',
      path: '/api/events/stream',
      handle: async (req) => runEvents(ctx, await checked(ctx, req.query), req.query, req.signal),
    },
  ];
}
