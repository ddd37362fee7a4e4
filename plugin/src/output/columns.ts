// Columns output: IG-like headers. Piped or redirected, widths are fixed from the start (the
// column's minimum) so rows stay aligned, and a longer value only pushes its own row (nothing is
// cut: a file keeps every byte). On a terminal (live view, lists) widths grow with the content,
// and a terminal too narrow for the table is fitted by `ColumnLayout.plan`.

import type { Writable } from 'node:stream';
import type { ColumnSpec, GadgetEvent } from '#gadgets/framework/types.js';
import { UserError } from '../errors.js';
import { escapeControl } from './escape.js';
import type { ObjectSink } from './types.js';
import { writeChunk } from './write.js';

export interface TableColumn {
  name: string;
  header: string;
  /** the header on a narrow terminal (NAMESPACE for K8S.NAMESPACE) */
  shortHeader: string;
  /** minimum width (at least the header's); the fixed width of piped output */
  width: number;
  flex: boolean;
  align: 'left' | 'right';
  /** a Kubernetes column: shortened, then dropped, first on a narrow terminal */
  k8s: boolean;
}

/**
 * Headers of the Kubernetes columns, their short form, and minimum widths that hold typical
 * names (a Deployment's pod name is ~24 characters), so piped rows rarely overflow.
 */
const K8S_COLUMNS: Record<string, { header: string; short: string; min: number }> = {
  node: { header: 'K8S.NODE', short: 'NODE', min: 16 },
  namespace: { header: 'K8S.NAMESPACE', short: 'NAMESPACE', min: 16 },
  pod: { header: 'K8S.PODNAME', short: 'POD', min: 24 },
  container: { header: 'K8S.CONTAINER', short: 'CONTAINER', min: 16 },
};

/** Order in which a narrow terminal drops Kubernetes columns (the pod names the most). */
const K8S_DROP_ORDER = ['node', 'namespace', 'container', 'pod'];

/** Width a shortened Kubernetes column keeps on a narrow terminal. */
const K8S_NARROW = 12;

export function columnHeader(c: Pick<ColumnSpec, 'name' | 'header'>): string {
  return c.header ?? K8S_COLUMNS[c.name]?.header ?? c.name.toUpperCase();
}

function toTableColumn(c: ColumnSpec): TableColumn {
  const header = columnHeader(c);
  const k8s = K8S_COLUMNS[c.name];
  const shortHeader = k8s && header.length > k8s.short.length ? k8s.short : header;
  return {
    name: c.name,
    header,
    shortHeader,
    width: Math.max(header.length, c.width ?? 0, k8s?.min ?? 0),
    flex: c.flex ?? false,
    align: c.align ?? 'left',
    k8s: k8s !== undefined,
  };
}

/**
 * The spec a `-o columns=` name means: the field name or the header as printed (PID, K8S.NODE,
 * ERR), in any case; undefined if none.
 */
export function findColumn<T extends Pick<ColumnSpec, 'name' | 'header'>>(
  specs: readonly T[],
  name: string,
): T | undefined {
  const n = name.toLowerCase();
  return (
    specs.find((c) => c.name === name) ??
    specs.find((c) => c.name.toLowerCase() === n || columnHeader(c).toLowerCase() === n)
  );
}

const K8S_ONLY = new Set(['node', 'namespace', 'pod']);

/** Without Kubernetes there is one node and no pods: hide those, and call the container CONTAINER. */
export function singleNodeColumns(specs: readonly ColumnSpec[]): ColumnSpec[] {
  return specs.map((c) =>
    K8S_ONLY.has(c.name)
      ? { ...c, hidden: true }
      : c.name === 'container'
        ? { ...c, header: 'CONTAINER' }
        : c,
  );
}

/** The visible columns, or exactly the picked ones (in the order given, hidden ones allowed). */
export function selectColumns(
  specs: readonly ColumnSpec[],
  pick?: readonly string[],
): TableColumn[] {
  if (!pick) return specs.filter((c) => !c.hidden).map(toTableColumn);
  return pick.map((name) => {
    const spec = findColumn(specs, name);
    if (!spec) {
      throw new UserError(
        `unknown column "${name}": valid columns are ${specs.map((c) => c.name).join(', ')}`,
      );
    }
    return toTableColumn(spec);
  });
}

/** One cell's text: arrays joined by spaces, control characters escaped so a row stays a line. */
export function cellText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return escapeControl(v);
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(v);
    case 'undefined':
      return '';
    default:
      if (v === null) return '';
      if (Array.isArray(v)) return v.map(cellText).join(' ');
      if (v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex');
      return escapeControl(
        JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)),
      );
  }
}

const ELLIPSIS = '…';

function truncate(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width <= 0) return '';
  return s.slice(0, width - 1) + ELLIPSIS;
}

/** How a table is printed on a terminal of some width: per column, its width (0: dropped) and header. */
export interface LayoutPlan {
  widths: number[];
  headers: string[];
}

/** Column widths that only ever grow, and rows formatted to them. */
export class ColumnLayout {
  readonly widths: number[];
  /** the longest value seen per column (the minimum widths aside) */
  private readonly content: number[];

  constructor(
    readonly columns: readonly TableColumn[],
    readonly gap = 2,
  ) {
    this.widths = columns.map((c) => c.width);
    this.content = columns.map(() => 0);
  }

  /** Grow widths to fit these rows; true if any column grew. */
  fit(rows: readonly (readonly string[])[]): boolean {
    let grew = false;
    const w = this.widths;
    const c = this.content;
    for (const row of rows) {
      for (let i = 0; i < w.length; i++) {
        const len = row[i]!.length;
        if (len > c[i]!) c[i] = len;
        if (len > w[i]!) {
          w[i] = len;
          grew = true;
        }
      }
    }
    return grew;
  }

  /**
   * The table on a terminal `maxWidth` wide. While it is too wide: the Kubernetes columns are
   * shortened (short header, K8S_NARROW characters), then dropped (K8S_DROP_ORDER) while the
   * rest would not fit with the flex column (ARGS, PATH) at its minimum; then the flex column
   * gives way, down to its header. Only then is the line cut at the edge.
   */
  plan(maxWidth?: number): LayoutPlan {
    const cols = this.columns;
    const w = this.widths.slice();
    const headers = cols.map((c) => c.header);
    if (maxWidth === undefined || w.length === 0) return { widths: w, headers };
    const total = (flexAt?: number): number => {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < w.length; i++) {
        if (w[i] === 0) continue;
        sum += i === flex && flexAt !== undefined ? flexAt : w[i]!;
        n++;
      }
      return sum + this.gap * Math.max(0, n - 1);
    };
    let flex = cols.findIndex((c) => c.flex);
    if (flex < 0) flex = w.length - 1;
    if (total() <= maxWidth) return { widths: w, headers };

    cols.forEach((c, i) => {
      if (!c.k8s) return;
      headers[i] = c.shortHeader;
      w[i] = Math.max(c.shortHeader.length, Math.min(this.content[i]!, K8S_NARROW));
    });
    const flexMin = Math.min(w[flex]!, cols[flex]!.width);
    for (const name of K8S_DROP_ORDER) {
      if (total(flexMin) <= maxWidth) break;
      const i = cols.findIndex((c) => c.name === name);
      // the flex column itself is never dropped, nor the only column
      if (i >= 0 && i !== flex && w[i] !== 0) w[i] = 0;
    }
    const over = total() - maxWidth;
    if (over > 0) w[flex] = Math.max(Math.min(headers[flex]!.length, w[flex]!), w[flex]! - over);
    return { widths: w, headers };
  }

  private line(cells: readonly string[], maxWidth: number | undefined, p: LayoutPlan): string {
    const w = p.widths;
    const sep = ' '.repeat(this.gap);
    let out = '';
    let last = w.length - 1;
    while (last > 0 && w[last] === 0) last--;
    let first = true;
    for (let i = 0; i <= last; i++) {
      const width = w[i]!;
      if (width === 0) continue;
      let cell = cells[i]!;
      if (maxWidth !== undefined) cell = truncate(cell, width);
      const col = this.columns[i]!;
      if (col.align === 'right') cell = cell.padStart(width);
      else if (i !== last) cell = cell.padEnd(width);
      out += first ? cell : sep + cell;
      first = false;
    }
    if (maxWidth !== undefined && out.length > maxWidth) out = truncate(out, maxWidth);
    return out;
  }

  header(maxWidth?: number, plan = this.plan(maxWidth)): string {
    return this.line(plan.headers, maxWidth, plan);
  }

  row(cells: readonly string[], maxWidth?: number, plan = this.plan(maxWidth)): string {
    return this.line(cells, maxWidth, plan);
  }
}

export function rowCells(columns: readonly TableColumn[], ev: Record<string, unknown>): string[] {
  const out = new Array<string>(columns.length);
  for (let i = 0; i < columns.length; i++) out[i] = cellText(ev[columns[i]!.name]);
  return out;
}

/** A whole table at once (lists): sized to all rows. */
export function formatTable(
  columns: readonly TableColumn[],
  rows: readonly Record<string, unknown>[],
  maxWidth?: number,
): string {
  const layout = new ColumnLayout(columns);
  const cells = rows.map((r) => rowCells(columns, r));
  layout.fit(cells);
  const plan = layout.plan(maxWidth);
  let out = layout.header(maxWidth, plan) + '\n';
  for (const c of cells) out += layout.row(c, maxWidth, plan) + '\n';
  return out;
}

/**
 * Streaming columns (piped or redirected output): header once, widths fixed at the columns'
 * minimums so every row lines up; a longer value pushes only its own row, the last column runs
 * long.
 */
export class ColumnsSink implements ObjectSink {
  readonly kind = 'objects';
  private readonly layout: ColumnLayout;
  /** the widths never change, nor does their plan */
  private readonly plan: LayoutPlan;
  private headerDone = false;

  constructor(
    private readonly out: Writable,
    readonly columns: readonly TableColumn[],
    private readonly maxWidth?: number,
  ) {
    this.layout = new ColumnLayout(columns);
    this.plan = this.layout.plan(maxWidth);
  }

  write(events: GadgetEvent[]): void | Promise<void> {
    const rows = events.map((e) => rowCells(this.columns, e));
    let s = '';
    if (!this.headerDone) {
      s = this.layout.header(this.maxWidth, this.plan) + '\n';
      this.headerDone = true;
    }
    for (const r of rows) s += this.layout.row(r, this.maxWidth, this.plan) + '\n';
    return writeChunk(this.out, s);
  }

  async end(failed = false): Promise<void> {
    // a run without events still shows what it would have printed (not one that failed)
    if (!this.headerDone && !failed) {
      this.headerDone = true;
      await writeChunk(this.out, this.layout.header(this.maxWidth, this.plan) + '\n');
    }
  }
}
