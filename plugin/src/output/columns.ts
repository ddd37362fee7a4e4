// Columns output: IG-like headers, widths that grow with the content, never cut unless a
// terminal width is given (then the flex column is truncated first).

import type { Writable } from 'node:stream';
import type { ColumnSpec, GadgetEvent } from '../../../gadgets/framework/types.js';
import { UserError } from '../errors.js';
import { escapeControl } from './escape.js';
import type { ObjectSink } from './types.js';
import { writeChunk } from './write.js';

export interface TableColumn {
  name: string;
  header: string;
  /** minimum width (at least the header's) */
  width: number;
  flex: boolean;
  align: 'left' | 'right';
}

const K8S_HEADERS: Record<string, string> = {
  node: 'K8S.NODE',
  namespace: 'K8S.NAMESPACE',
  pod: 'K8S.PODNAME',
  container: 'K8S.CONTAINER',
};

export function columnHeader(c: Pick<ColumnSpec, 'name' | 'header'>): string {
  return c.header ?? K8S_HEADERS[c.name] ?? c.name.toUpperCase();
}

function toTableColumn(c: ColumnSpec): TableColumn {
  const header = columnHeader(c);
  return {
    name: c.name,
    header,
    width: Math.max(header.length, c.width ?? 0),
    flex: c.flex ?? false,
    align: c.align ?? 'left',
  };
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
    const spec = specs.find((c) => c.name === name);
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

/** Column widths that only ever grow, and rows formatted to them. */
export class ColumnLayout {
  readonly widths: number[];

  constructor(
    readonly columns: readonly TableColumn[],
    readonly gap = 2,
  ) {
    this.widths = columns.map((c) => c.width);
  }

  /** Grow widths to fit these rows; true if any column grew. */
  fit(rows: readonly (readonly string[])[]): boolean {
    let grew = false;
    const w = this.widths;
    for (const row of rows) {
      for (let i = 0; i < w.length; i++) {
        const len = row[i]!.length;
        if (len > w[i]!) {
          w[i] = len;
          grew = true;
        }
      }
    }
    return grew;
  }

  /** Widths to print with: on a terminal narrower than the table, the flex column gives way. */
  private effectiveWidths(maxWidth: number | undefined): number[] {
    const w = this.widths.slice();
    if (maxWidth === undefined || w.length === 0) return w;
    const total = w.reduce((a, b) => a + b, 0) + this.gap * (w.length - 1);
    const over = total - maxWidth;
    if (over <= 0) return w;
    let flex = this.columns.findIndex((c) => c.flex);
    if (flex < 0) flex = w.length - 1;
    // never below the header: on a terminal that narrow the line itself is cut
    w[flex] = Math.max(Math.min(this.columns[flex]!.header.length, w[flex]!), w[flex]! - over);
    return w;
  }

  private line(cells: readonly string[], maxWidth: number | undefined): string {
    const w = this.effectiveWidths(maxWidth);
    const sep = ' '.repeat(this.gap);
    let out = '';
    const last = cells.length - 1;
    for (let i = 0; i <= last; i++) {
      const width = w[i]!;
      let cell = cells[i]!;
      if (maxWidth !== undefined) cell = truncate(cell, width);
      const col = this.columns[i]!;
      if (col.align === 'right') cell = cell.padStart(width);
      else if (i !== last) cell = cell.padEnd(width);
      out += i === 0 ? cell : sep + cell;
    }
    if (maxWidth !== undefined && out.length > maxWidth) out = truncate(out, maxWidth);
    return out;
  }

  header(maxWidth?: number): string {
    return this.line(
      this.columns.map((c) => c.header),
      maxWidth,
    );
  }

  row(cells: readonly string[], maxWidth?: number): string {
    return this.line(cells, maxWidth);
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
  let out = layout.header(maxWidth) + '\n';
  for (const c of cells) out += layout.row(c, maxWidth) + '\n';
  return out;
}

/** Streaming columns (piped or redirected output): header once, widths grow as values arrive. */
export class ColumnsSink implements ObjectSink {
  readonly kind = 'objects';
  private readonly layout: ColumnLayout;
  private headerDone = false;

  constructor(
    private readonly out: Writable,
    readonly columns: readonly TableColumn[],
    private readonly maxWidth?: number,
  ) {
    this.layout = new ColumnLayout(columns);
  }

  write(events: GadgetEvent[]): void | Promise<void> {
    const rows = events.map((e) => rowCells(this.columns, e));
    this.layout.fit(rows);
    let s = '';
    if (!this.headerDone) {
      s = this.layout.header(this.maxWidth) + '\n';
      this.headerDone = true;
    }
    for (const r of rows) s += this.layout.row(r, this.maxWidth) + '\n';
    return writeChunk(this.out, s);
  }

  async end(failed = false): Promise<void> {
    // a run without events still shows what it would have printed (not one that failed)
    if (!this.headerDone && !failed) {
      this.headerDone = true;
      await writeChunk(this.out, this.layout.header(this.maxWidth) + '\n');
    }
  }
}
