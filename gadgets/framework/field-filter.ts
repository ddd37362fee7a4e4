// -F/--filter col:rule, as Inspektor Gadget has it (pkg/columns/filter): `col:value` equals,
// a leading `!` negates the rule, then `>=`, `>`, `<=`, `<` compare (numbers as numbers, text
// as text) and `~` matches a regular expression (JavaScript syntax here, RE2 in IG). Several
// filters must all match (AND). Pure: the CLI parses them against a command's columns and
// matches events (objects keyed by column name) before formatting.

import { clipLine } from './clip.js';

export type FilterOp = '=' | '>' | '>=' | '<' | '<=' | '~';

export interface FieldFilter {
  /** the column's field name (resolved from what the user typed, e.g. PID -> pid) */
  column: string;
  negate: boolean;
  op: FilterOp;
  value: string;
  /** the expression as typed, for messages */
  text: string;
}

/** A filter whose value cannot be compared with its column's values (pid:>abc). */
export class FilterTypeError extends Error {
  constructor(
    readonly filter: FieldFilter,
    readonly kind: string,
  ) {
    super(
      `-F ${clip(filter.text)}: ${filter.column} is a ${kind}, "${clip(filter.value)}" is not (e.g. -F ${filter.column}:>=1000)`,
    );
  }
}

/** A malformed expression or an unknown column; `message` is one line listing the columns. */
export class FilterSyntaxError extends Error {}

const OPS: readonly FilterOp[] = ['>=', '<=', '>', '<', '~'];
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const INTEGER = /^[-+]?\d+$/;

/**
 * Parse `col:rule`. `resolve` maps what the user typed to a field name (undefined: unknown);
 * `valid` is the list of column names an error shows.
 */
export function parseFieldFilter(
  expr: string,
  resolve: (name: string) => string | undefined,
  valid: readonly string[],
): FieldFilter {
  const cols = `valid columns are ${valid.join(', ')}`;
  const colon = expr.indexOf(':');
  if (colon <= 0) {
    throw new FilterSyntaxError(
      `invalid --filter "${clip(expr)}": expected COLUMN:VALUE (with !, >=, >, <=, < or ~regex after the colon, e.g. comm:~^ba); ${cols}`,
    );
  }
  const name = expr.slice(0, colon).trim();
  const column = resolve(name);
  if (column === undefined)
    throw new FilterSyntaxError(`unknown column "${clip(name)}" in --filter: ${cols}`);
  let rule = expr.slice(colon + 1);
  const negate = rule.startsWith('!');
  if (negate) rule = rule.slice(1);
  let op: FilterOp = '=';
  for (const o of OPS) {
    if (rule.startsWith(o)) {
      op = o;
      rule = rule.slice(o.length);
      break;
    }
  }
  if (op !== '=' && op !== '~' && rule === '') {
    throw new FilterSyntaxError(
      `invalid --filter "${clip(expr)}": nothing to compare after "${op}" (e.g. ${column}:${op}1000)`,
    );
  }
  if (op === '~') {
    try {
      new RegExp(rule);
    } catch (e) {
      throw new FilterSyntaxError(
        `invalid --filter "${clip(expr)}": bad regular expression (${clip((e as Error).message.replace(/^Invalid regular expression: /, ''))})`,
      );
    }
  }
  return { column, negate, op, value: rule, text: expr };
}

type Test = (v: unknown) => boolean;

function compare(op: FilterOp, c: number): boolean {
  switch (op) {
    case '=':
      return c === 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '<':
      return c < 0;
    default:
      return c <= 0;
  }
}

function compileOne(f: FieldFilter): Test {
  const { op, value } = f;
  if (op === '~') {
    const re = new RegExp(value);
    return (v) => re.test(text(v));
  }
  const num = NUMBER.test(value) ? Number(value) : undefined;
  const big = INTEGER.test(value) ? BigInt(value) : undefined;
  return (v) => {
    if (typeof v === 'number') {
      if (num === undefined) throw new FilterTypeError(f, 'number');
      return compare(op, v < num ? -1 : v > num ? 1 : 0);
    }
    if (typeof v === 'bigint') {
      if (big !== undefined) return compare(op, v < big ? -1 : v > big ? 1 : 0);
      if (num === undefined) throw new FilterTypeError(f, 'number');
      const n = Number(v);
      return compare(op, n < num ? -1 : n > num ? 1 : 0);
    }
    // no value (a syscall that did not return): never above or below anything
    if ((v === null || v === undefined) && op !== '=') return false;
    const s = text(v);
    return compare(op, s < value ? -1 : s > value ? 1 : 0);
  };
}

/** What a value reads as for = on text and ~: strings as is, null/absent as "". */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(text).join(' ');
  return String(v);
}

/**
 * One predicate for all the filters (AND); undefined when there are none. Throws
 * FilterTypeError on the first event whose column is a number while the value is not.
 */
export function compileFieldFilters(
  filters: readonly FieldFilter[],
): ((ev: Record<string, unknown>) => boolean) | undefined {
  if (filters.length === 0) return undefined;
  const parts = filters.map((f) => ({ col: f.column, neg: f.negate, test: compileOne(f) }));
  return (ev) => {
    for (const p of parts) if (p.test(ev[p.col]) === p.neg) return false;
    return true;
  };
}

/** input quoted in a message: one line (control characters escaped), clipped */
function clip(s: string): string {
  return clipLine(s, 60);
}
