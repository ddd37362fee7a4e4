// -o/--output values: columns | columns=a,b,c | json | jsonpretty | yaml. Parsed once, validated against the
// command's columns so a typo fails before anything starts.

import type { ColumnSpec } from '#gadgets/framework/types.js';
import { clipLine } from '#gadgets/framework/clip.js';
import { UserError } from '../errors.js';
import { findColumn } from './columns.js';

export type OutputFormat = 'columns' | 'json' | 'jsonpretty' | 'yaml';

export interface OutputSpec {
  format: OutputFormat;
  /** explicit `columns=a,b`: names in the order given (hidden columns allowed) */
  columns?: string[];
}

export const OUTPUT_HELP = 'columns | columns=a,b,c | json | jsonpretty | yaml';

/** Parse an -o value; `columns` (when given) validates the names of `columns=...`. */
export function parseOutputSpec(value: string, columns?: readonly ColumnSpec[]): OutputSpec {
  const v = value.trim();
  if (v === 'json' || v === 'jsonpretty' || v === 'yaml' || v === 'columns') return { format: v };
  const m = /^columns=(.*)$/s.exec(v);
  if (!m) {
    throw new UserError(`invalid --output "${clipLine(value)}": expected ${OUTPUT_HELP}`);
  }
  const names = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) {
    throw new UserError(`invalid --output "${clipLine(value)}": no column names after "columns="`);
  }
  if (columns) {
    const unknown = names.filter((n) => !findColumn(columns, n));
    if (unknown.length > 0) {
      const list = columns.map((c) => c.name).join(', ');
      const what =
        unknown.length === 1
          ? `unknown column "${clipLine(unknown[0]!, 60)}"`
          : `unknown columns ${clipLine(unknown.map((u) => `"${u}"`).join(', '))}`;
      throw new UserError(`${what} in --output: valid columns are ${list}`);
    }
    // PID, K8S.NODE: the field names the columns print
    return { format: 'columns', columns: names.map((n) => findColumn(columns, n)!.name) };
  }
  return { format: 'columns', columns: names };
}
