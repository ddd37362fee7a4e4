// Printing a finished list (containers, gadgets): a table sized to all rows, one JSON array,
// or one YAML document.

import type { Writable } from 'node:stream';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import { formatTable, selectColumns } from './columns.js';
import { toPrettyJson } from './json.js';
import type { OutputSpec } from './spec.js';
import { drained, writeChunk } from './write.js';
import { loadYamlStringify } from './yaml.js';

/** One --sort key: a column's field name, descending with a leading `-` (as IG has it). */
export interface SortKey {
  column: string;
  descending: boolean;
}

export interface ListOutput {
  output: OutputSpec;
  /** --sort: rows (and json/yaml data) ordered by these columns' values, first key first */
  sort?: readonly SortKey[];
  stdout?: Writable & { isTTY?: boolean; columns?: number };
}

/**
 * `rows` feed the columns view (flat, display-ready); `data` is what json/yaml print (the API
 * objects themselves), defaulting to the rows.
 */
export async function printList(
  columns: readonly ColumnSpec[],
  rows: readonly Record<string, unknown>[],
  opts: ListOutput,
  data: unknown = rows,
): Promise<void> {
  const out = opts.stdout ?? process.stdout;
  if (opts.sort && opts.sort.length > 0) {
    // data and rows describe the same items in the same order: sort both by the rows' values
    const order = sortedOrder(rows, opts.sort);
    const items: unknown = data;
    if (Array.isArray(items) && items.length === rows.length)
      data = order.map((i) => items[i] as unknown);
    const before = rows;
    rows = order.map((i) => before[i]!);
  }
  let text: string;
  switch (opts.output.format) {
    case 'json':
    case 'jsonpretty':
      text = toPrettyJson(data) + '\n';
      break;
    case 'yaml': {
      const stringify = await loadYamlStringify();
      text = stringify(data, { lineWidth: 0 });
      break;
    }
    case 'columns': {
      const cols = selectColumns(columns, opts.output.columns);
      text = formatTable(cols, rows, out.isTTY ? out.columns : undefined);
      break;
    }
  }
  await writeChunk(out, text);
  await drained(out);
}

/** Numbers (and numeric text) by value, everything else as text; a stable sort. */
function compareValues(a: unknown, b: unknown): number {
  const na = typeof a === 'number' || typeof a === 'bigint' ? Number(a) : NaN;
  const nb = typeof b === 'number' || typeof b === 'bigint' ? Number(b) : NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  const sa = a === null || a === undefined ? '' : String(a);
  const sb = b === null || b === undefined ? '' : String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Indices of `rows` in --sort order. */
export function sortedOrder(
  rows: readonly Record<string, unknown>[],
  keys: readonly SortKey[],
): number[] {
  return rows
    .map((_, i) => i)
    .sort((i, j) => {
      for (const k of keys) {
        const c = compareValues(rows[i]![k.column], rows[j]![k.column]);
        if (c !== 0) return k.descending ? -c : c;
      }
      return i - j;
    });
}
