// The traceloop view's data: what `traceloop list` and `traceloop show` print, produced by those
// very functions (their output captured), so each row in the page is the line `show` prints.

import { isUserError } from '../../errors.js';
import { asInput, TextSink } from './capture.js';
import { parseFilterFlag } from '../../flags.js';
import { entryRow, SHOW_COLUMNS, traceloopList, traceloopShow } from '../traceloop/traceloop.js';
import type { TraceloopEntry } from '#gadgets/framework/traceloop.js';
import { UiInputError, type UiContext, type UiRoute } from './types.js';
import type { Recording, RecordingText } from './view-types.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l.length > 0);

export async function listRecordings(
  flags: UiContext['flags'],
  session?: string,
): Promise<Recording[]> {
  const out = new TextSink();
  await asInput(
    traceloopList({ ...flags, ...(session ? { session } : {}), output: { format: 'json' } }, out),
  );
  // -o json prints the entries as one array
  const entries = JSON.parse(out.text || '[]') as Array<TraceloopEntry & { node: string }>;
  return entries.map(({ node, ...e }) => {
    return {
      row: entryRow(node, e, true),
      container: e.container.id || e.container.name,
      instance: e.instance,
      session: e.sessionId,
    };
  });
}

export interface ShowQuery {
  container: string;
  instance?: number;
  session?: string;
  /** -F expressions, as typed */
  filters: string[];
  last?: number;
}

export async function showRecording(
  flags: UiContext['flags'],
  q: ShowQuery,
): Promise<RecordingText> {
  const filter = q.filters.map((f) => {
    try {
      return parseFilterFlag(f, SHOW_COLUMNS);
    } catch (e) {
      if (isUserError(e))
        throw new UiInputError(e.reason, 'e.g. syscall:openat, ret:<0, comm:~^sh');
      throw e;
    }
  });
  const out = new TextSink();
  const err = new TextSink();
  await asInput(
    traceloopShow(
      {
        ...flags,
        output: { format: 'columns' },
        filter,
        ...(q.session ? { session: q.session } : {}),
        ...(q.instance ? { instance: q.instance } : {}),
        ...(q.last ? { last: q.last } : {}),
      },
      q.container,
      out,
      err,
    ),
  );
  const all = lines(out.text);
  return { header: all[0] ?? '', lines: all.slice(1), notes: lines(err.text) };
}

function positive(v: string | null, name: string): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UiInputError(`invalid ${name} "${v.slice(0, 20)}"`, `${name} is a whole number >= 1`);
  return n;
}

export function traceloopRoutes(ctx: UiContext): UiRoute[] {
  return [
    {
      method: 'GET',
      path: '/api/traceloop/list',
      handle: async (req) => ({
        recordings: await listRecordings(ctx.flags, req.query.get('session') ?? undefined),
      }),
    },
    {
      method: 'GET',
      path: '/api/traceloop/show',
      handle: (req) => {
        const container = req.query.get('container') ?? '';
        if (!container)
          throw new UiInputError('no recording given', 'pick one in the list of recordings');
        const instance = positive(req.query.get('instance'), 'instance');
        const last = positive(req.query.get('last'), 'last');
        const session = req.query.get('session');
        return showRecording(ctx.flags, {
          container,
          filters: req.query.getAll('filter').filter((f) => f.trim()),
          ...(instance ? { instance } : {}),
          ...(last ? { last } : {}),
          ...(session ? { session } : {}),
        });
      },
    },
  ];
}
