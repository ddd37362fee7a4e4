/** @jsxImportSource preact */
// The Events view: pick trace exec or trace open and its filters, start and stop a run, watch the
// rows stream in. The server sends a run's new rows every 100 ms; the page keeps the newest
// VIEW_ROWS (older rows leave the view and are counted) and renders at most once per frame and
// per RENDER_MS, so a 10k events/s run does not freeze it. Every value is shown as text.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api, ApiError } from './api.js';

/** rows kept in the table (and exported); the server sends at most this many per tick */
export const VIEW_ROWS = 250;
/** at most one table render per this many ms (and per frame): a flood costs 5 renders/s */
const RENDER_MS = 200;

type Row = Record<string, unknown>;
interface Column {
  name: string;
  header: string;
}
interface GadgetInfo {
  name: string;
  command: string;
  columns: Column[];
}
interface Totals {
  events: number;
  lost: number;
  dropped: number;
  skipped: number;
}
type RunEvent =
  | { type: 'start'; gadget: string; columns: Column[] }
  | { type: 'rows'; rows: Row[]; totals: Totals; warnings: string[] }
  | { type: 'end'; reason: string; totals: Totals };

/** The rows in view plus the counts, mutated by the stream and rendered once per frame. */
interface Buffer {
  rows: Row[];
  /** key of the next row (rows keep theirs while the view scrolls) */
  nextKey: number;
  keys: number[];
  received: number;
  droppedFromView: number;
  totals: Totals;
}

const emptyTotals = (): Totals => ({ events: 0, lost: 0, dropped: 0, skipped: 0 });
const newBuffer = (): Buffer => ({
  rows: [],
  nextKey: 0,
  keys: [],
  received: 0,
  droppedFromView: 0,
  totals: emptyTotals(),
});

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  // args as the columns output shows them
  if (Array.isArray(v)) return v.map((x) => String(x)).join(' ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function errorText(e: ApiError): string {
  return e.hint ? `${e.message} (hint: ${e.hint})` : e.message;
}

export function EventsView({ api }: { api: Api }): JSX.Element {
  const [gadgets, setGadgets] = useState<GadgetInfo[]>([]);
  const [gadget, setGadget] = useState('trace_exec');
  const [namespace, setNamespace] = useState('');
  const [pod, setPod] = useState('');
  const [container, setContainer] = useState('');
  const [filters, setFilters] = useState('');
  const [running, setRunning] = useState(false);
  const [status, setStatus] = useState('idle');
  const [error, setError] = useState('');
  const [warnings, setWarnings] = useState<string[]>([]);
  const [columns, setColumns] = useState<Column[]>([]);
  const [selected, setSelected] = useState<Row | undefined>();
  const [, setFrame] = useState(0);
  const buf = useRef<Buffer>(newBuffer());
  const close = useRef<(() => void) | undefined>();
  const frame = useRef<number | undefined>();

  useEffect(() => {
    api
      .get<GadgetInfo[]>('/api/events/gadgets')
      .then(setGadgets)
      .catch((e: ApiError) => setError(errorText(e)));
    return () => close.current?.();
  }, [api]);

  // one render per animation frame and per RENDER_MS, however many messages arrived
  const lastRender = useRef(0);
  const schedule = (): void => {
    if (frame.current !== undefined) return;
    const wait = Math.max(0, lastRender.current + RENDER_MS - performance.now());
    frame.current = window.setTimeout(() => {
      requestAnimationFrame(() => {
        frame.current = undefined;
        lastRender.current = performance.now();
        setFrame((n) => n + 1);
      });
    }, wait);
  };

  const onEvent = (m: RunEvent): void => {
    const b = buf.current;
    if (m.type === 'start') {
      setColumns(m.columns);
      setStatus('running');
    } else if (m.type === 'rows') {
      b.received += m.rows.length;
      for (const r of m.rows) {
        b.rows.push(r);
        b.keys.push(b.nextKey++);
      }
      const over = b.rows.length - VIEW_ROWS;
      if (over > 0) {
        b.rows.splice(0, over);
        b.keys.splice(0, over);
        b.droppedFromView += over;
      }
      b.totals = m.totals;
      if (m.warnings.length) setWarnings((w) => [...w, ...m.warnings].slice(-5));
    } else {
      b.totals = m.totals;
      setStatus(`ended: ${m.reason}`);
      setRunning(false);
    }
    schedule();
  };

  const start = async (): Promise<void> => {
    setError('');
    setWarnings([]);
    setSelected(undefined);
    const query = {
      gadget,
      namespace: namespace || undefined,
      podname: pod || undefined,
      containername: container ? container.split(',').map((c) => c.trim()) : undefined,
      filter: filters
        .split('\n')
        .map((f) => f.trim())
        .filter(Boolean),
    };
    try {
      // a bad filter is a one-line error here, before any run starts
      await api.get('/api/events/check', query);
    } catch (e) {
      setError(errorText(e as ApiError));
      return;
    }
    buf.current = newBuffer();
    setRunning(true);
    setStatus('starting');
    close.current = api.stream<RunEvent>('/api/events/stream', query, {
      message: onEvent,
      end: () => setRunning(false),
      fail: (e) => {
        setError(errorText(e));
        setRunning(false);
        setStatus('failed');
      },
    });
  };

  const stop = (): void => {
    close.current?.();
    close.current = undefined;
    setRunning(false);
    setStatus('stopped');
  };

  const exportRows = (): void => {
    const ndjson = buf.current.rows.map((r) => JSON.stringify(r) + '\n').join('');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([ndjson], { type: 'application/x-ndjson' }));
    a.download = `${gadget}.ndjson`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const b = buf.current;
  const rows = b.rows;
  const keys = b.keys;
  return (
    <div class="events">
      <form
        class="controls"
        onSubmit={(e) => {
          e.preventDefault();
          if (!running) void start();
        }}
      >
        <label>
          Gadget{' '}
          <select
            id="gadget"
            value={gadget}
            disabled={running}
            onChange={(e) => setGadget(e.currentTarget.value)}
          >
            {gadgets.map((g) => (
              <option value={g.name}>{g.command}</option>
            ))}
          </select>
        </label>
        <label>
          Namespace{' '}
          <input
            id="namespace"
            value={namespace}
            disabled={running}
            onInput={(e) => setNamespace(e.currentTarget.value)}
          />
        </label>
        <label>
          Pod{' '}
          <input
            id="pod"
            value={pod}
            disabled={running}
            onInput={(e) => setPod(e.currentTarget.value)}
          />
        </label>
        <label>
          Container{' '}
          <input
            id="container"
            value={container}
            disabled={running}
            onInput={(e) => setContainer(e.currentTarget.value)}
          />
        </label>
        <label class="filters">
          Filters (-F, one a line){' '}
          <textarea
            id="filters"
            rows={2}
            value={filters}
            disabled={running}
            placeholder="comm:cat"
            onInput={(e) => setFilters(e.currentTarget.value)}
          />
        </label>
        {/* separate keyed elements: a reused one would become the submit button mid-click */}
        {running ? (
          <button type="button" key="stop" id="stop" onClick={stop}>
            Stop
          </button>
        ) : (
          <button type="submit" key="start" id="start">
            Start
          </button>
        )}
        <button type="button" id="export" disabled={rows.length === 0} onClick={exportRows}>
          Export NDJSON
        </button>
      </form>
      {error && (
        <p class="error" id="error" role="alert">
          {error}
        </p>
      )}
      {warnings.map((w) => (
        <p class="warning">{w}</p>
      ))}
      <p class="counts" id="counts">
        <span id="status">{status}</span> · received <b id="n-received">{b.received}</b> · in view{' '}
        <b id="n-view">{rows.length}</b> · dropped from view{' '}
        <b id="n-dropped-view">{b.droppedFromView + b.totals.skipped}</b> · lost in the kernel{' '}
        <b id="n-lost">{b.totals.lost}</b> · dropped in transit{' '}
        <b id="n-dropped">{b.totals.dropped}</b>
      </p>
      <div class="panes">
        <div class="table-wrap">
          <table id="events-table">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th>{c.header}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows
                .map((r, i) => (
                  <tr
                    key={keys[i]}
                    class={r === selected ? 'selected' : ''}
                    onClick={() => setSelected(r)}
                  >
                    {columns.map((c) => (
                      <td>{text(r[c.name])}</td>
                    ))}
                  </tr>
                ))
                .reverse()}
            </tbody>
          </table>
        </div>
        {selected && (
          <aside id="details">
            <button type="button" class="close" onClick={() => setSelected(undefined)}>
              ×
            </button>
            <table>
              <tbody>
                {Object.entries(selected).map(([k, v]) => (
                  <tr>
                    <th>{k}</th>
                    <td>{text(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </aside>
        )}
      </div>
    </div>
  );
}
