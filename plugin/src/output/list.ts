// Printing a finished list (containers, gadgets): a table sized to all rows, one JSON array,
// or one YAML document.

import type { Writable } from 'node:stream';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import { formatTable, selectColumns } from './columns.js';
import { toPrettyJson } from './json.js';
import type { OutputSpec } from './spec.js';
import { drained, writeChunk } from './write.js';
import { loadYamlStringify } from './yaml.js';

export interface ListOutput {
  output: OutputSpec;
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
  let text: string;
  switch (opts.output.format) {
    case 'json':
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
