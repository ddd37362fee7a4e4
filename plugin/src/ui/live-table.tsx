// The live view on a terminal: a status line (gadget, elapsed, events, events/s, lost) above the
// last rows that fit the screen. Only loaded (with ink and react) when stdout is a TTY and the
// output is columns. Redraws are throttled to ~10/s whatever the event rate.

import { Box, render, Text } from 'ink';
import type { GadgetEvent } from '#gadgets/framework/types.js';
import { ColumnLayout, rowCells } from '../output/columns.js';
import type { TableColumn } from '../output/columns.js';
import { escapeControl } from '../output/escape.js';
import type { ObjectSink, Reporter, RunTotals } from '../output/types.js';

export interface LiveTableOptions {
  /** gadget name shown in the status line */
  title: string;
  columns: readonly TableColumn[];
  stdout?: NodeJS.WriteStream;
  /** redraws per second (default 10) */
  fps?: number;
  /** rows with the same key are one row, updated in place (e.g. a flow and its count) */
  rowKey?: (e: GadgetEvent) => string;
}

/** The updater returned by renderLiveTable: an event sink and a reporter for the run. */
export interface LiveTable extends ObjectSink, Reporter {
  /** final redraw and unmount; the last frame stays on screen */
  end(failed?: boolean): Promise<void>;
}

interface ViewProps {
  status: string;
  notice: string;
  header: string;
  rows: string[];
}

function LiveTableView({ status, notice, header, rows }: ViewProps) {
  return (
    <Box flexDirection="column">
      <Text bold>{status}</Text>
      {notice ? <Text color="yellow">{notice}</Text> : null}
      <Text bold>{header}</Text>
      {rows.map((r, i) => (
        <Text key={i} wrap="truncate">
          {r}
        </Text>
      ))}
    </Box>
  );
}

/** "1:02:03" or "02:03" */
export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function statusLine(
  title: string,
  elapsedMs: number,
  totals: RunTotals,
  rate: number,
): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  let s = `${title}  elapsed ${formatElapsed(elapsedMs)}  events ${n(totals.events)}  ${n(Math.round(rate))}/s  lost ${n(totals.lost)}`;
  if (totals.dropped > 0) s += `  dropped ${n(totals.dropped)} messages`;
  return s;
}

const KEEP_ROWS = 1000;

export async function renderLiveTable(opts: LiveTableOptions): Promise<LiveTable> {
  const stdout = opts.stdout ?? process.stdout;
  const layout = new ColumnLayout(opts.columns);
  const started = Date.now();
  const interval = 1000 / (opts.fps ?? 10);
  let rows: string[][] = [];
  const rowKey = opts.rowKey;
  /** rowKey mode: key -> index in rows */
  const rowAt = new Map<string, number>();
  let totals: RunTotals = { events: 0, lost: 0, dropped: 0 };
  let notice = '';
  // events/s over the last second or so
  let rateAt = started;
  let rateCount = 0;
  let rate = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastDraw = 0;
  let closed = false;

  const props = (): ViewProps => {
    // one column spare: a line exactly as wide as the terminal wraps on some terminals
    const width = Math.max(20, (stdout.columns || 80) - 1);
    const height = Math.max(5, stdout.rows || 24);
    const now = Date.now();
    if (now - rateAt >= 1000) {
      rate = ((totals.events - rateCount) * 1000) / (now - rateAt);
      rateAt = now;
      rateCount = totals.events;
    }
    // status, notice, header, and one spare line so the frame never scrolls the terminal
    const fit = Math.max(1, height - (notice ? 4 : 3));
    const shown = rows.slice(-fit);
    const plan = layout.plan(width);
    return {
      status: statusLine(opts.title, now - started, totals, rate),
      notice,
      header: layout.header(width, plan),
      rows: shown.map((r) => layout.row(r, width, plan)),
    };
  };

  const instance = render(<LiveTableView {...props()} />, {
    stdout,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: opts.fps ?? 10,
  });

  const draw = (): void => {
    timer = undefined;
    if (closed) return;
    lastDraw = Date.now();
    instance.rerender(<LiveTableView {...props()} />);
  };
  const schedule = (): void => {
    if (timer || closed) return;
    const wait = Math.max(0, lastDraw + interval - Date.now());
    timer = setTimeout(draw, wait);
  };
  // keep the clock and the rate moving when no events arrive
  const tick = setInterval(schedule, 1000);
  const onResize = (): void => schedule();
  stdout.on('resize', onResize);

  return {
    kind: 'objects',
    write(events: GadgetEvent[]): void {
      const cells = events.map((e) => rowCells(opts.columns, e));
      layout.fit(cells);
      if (rowKey) {
        // keyed rows stay where they first appeared (their number is bounded by the caller)
        events.forEach((e, i) => {
          const k = rowKey(e);
          const at = rowAt.get(k);
          if (at === undefined) rowAt.set(k, rows.push(cells[i]!) - 1);
          else rows[at] = cells[i]!;
        });
        schedule();
        return;
      }
      rows =
        rows.length + cells.length > KEEP_ROWS * 2
          ? rows.slice(-KEEP_ROWS).concat(cells)
          : rows.concat(cells);
      schedule();
    },
    totals(t: RunTotals): void {
      totals = { ...t };
      schedule();
    },
    // daemon logs and warnings may quote recorded data or input
    warn(message: string): void {
      notice = `warning: ${escapeControl(message)}`;
      schedule();
    },
    log(level, message): void {
      notice = `${level}: ${escapeControl(message)}`;
      schedule();
    },
    async end(): Promise<void> {
      if (closed) return;
      if (timer) clearTimeout(timer);
      clearInterval(tick);
      stdout.off('resize', onResize);
      instance.rerender(<LiveTableView {...props()} />);
      closed = true;
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
    },
  };
}
