// Kubernetes label selector: parser and matcher (pure functions).
//
// Grammar (as k8s.io/apimachinery/pkg/labels.Parse):
//   selector    ::= "" | requirement ("," requirement)*
//   requirement ::= "!" KEY
//                 | KEY
//                 | KEY ("=" | "==" | "!=") VALUE?
//                 | KEY ("in" | "notin") "(" VALUE? ("," VALUE?)* ")"
//                 | KEY (">" | "<") INTEGER
// Requirements are ANDed. Whitespace separates tokens and is otherwise ignored.

import { clip } from './errors.js';

/** Input quoted in a message, clipped (errors.ts). */
const q = (s: string): string => JSON.stringify(clip(s));

export type LabelOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists' | '>' | '<';

export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  /** '=' and '!=': one value; 'in'/'notin': the set; '>'/'<': one integer; exists: none */
  values: string[];
}

export class LabelSelectorError extends Error {
  constructor(
    message: string,
    readonly selector: string,
  ) {
    super(`invalid label selector ${q(selector)}: ${message}`);
    this.name = 'LabelSelectorError';
  }
}

type TokKind =
  'id' | 'in' | 'notin' | '!' | '=' | '==' | '!=' | '(' | ')' | ',' | '>' | '<' | 'end';
interface Tok {
  kind: TokKind;
  text: string;
}

const SPECIAL = new Set(['!', '=', '(', ')', ',', '>', '<']);
const isSpace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i] as string;
    if (isSpace(ch)) {
      i++;
      continue;
    }
    if (SPECIAL.has(ch)) {
      const two = s.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        out.push({ kind: two, text: two });
        i += 2;
      } else {
        out.push({ kind: ch as TokKind, text: ch });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < s.length && !isSpace(s[j] as string) && !SPECIAL.has(s[j] as string)) j++;
    const text = s.slice(i, j);
    out.push({ kind: text === 'in' ? 'in' : text === 'notin' ? 'notin' : 'id', text });
    i = j;
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

const NAME_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const INT_RE = /^[-+]?[0-9]+$/;

/** A Kubernetes qualified name: [prefix/]name, prefix a DNS subdomain (<=253), name <=63. */
export function validLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  let name = key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN_RE.test(prefix))
      return false;
  }
  return name.length > 0 && name.length <= 63 && NAME_RE.test(name);
}

/** A Kubernetes label value: empty, or <=63 chars of [A-Za-z0-9-_.] starting and ending alnum. */
export function validLabelValue(v: string): boolean {
  return v === '' || (v.length <= 63 && NAME_RE.test(v));
}

/** Parses a selector string; throws LabelSelectorError. The empty selector gives []. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const toks = lex(selector);
  let pos = 0;
  const peek = (): Tok => toks[pos] as Tok;
  const next = (): Tok => toks[pos++] as Tok;
  const fail = (msg: string): never => {
    throw new LabelSelectorError(msg, selector);
  };
  const key = (): string => {
    const t = next();
    if (t.kind !== 'id')
      fail(`expected a key, found ${t.kind === 'end' ? 'end of string' : q(t.text)}`);
    if (!validLabelKey(t.text)) fail(`invalid label key ${q(t.text)}`);
    return t.text;
  };
  const value = (v: string): string => {
    if (!validLabelValue(v)) fail(`invalid label value ${q(v)}`);
    return v;
  };

  const reqs: LabelRequirement[] = [];
  if (peek().kind === 'end') return reqs;
  for (;;) {
    if (peek().kind === '!') {
      next();
      reqs.push({ key: key(), op: '!exists', values: [] });
    } else {
      const k = key();
      const op = peek();
      switch (op.kind) {
        case 'end':
        case ',':
          reqs.push({ key: k, op: 'exists', values: [] });
          break;
        case '=':
        case '==':
        case '!=': {
          next();
          const v = peek();
          let val = '';
          if (v.kind === 'id') val = next().text;
          else if (v.kind !== 'end' && v.kind !== ',')
            fail(`expected a value after ${op.text}, found ${q(v.text)}`);
          reqs.push({ key: k, op: op.kind === '!=' ? '!=' : '=', values: [value(val)] });
          break;
        }
        case 'in':
        case 'notin': {
          next();
          if (next().kind !== '(') fail(`expected '(' after ${op.kind}`);
          const vals: string[] = [];
          // Each element is an optional identifier; commas separate, ')' closes. "()" is {""}.
          for (;;) {
            const t = peek();
            if (t.kind === 'id') {
              vals.push(value(next().text));
              const sep = next();
              if (sep.kind === ')') break;
              if (sep.kind !== ',') fail(`expected ',' or ')' in value set, found ${q(sep.text)}`);
            } else if (t.kind === ',') {
              next();
              vals.push('');
            } else if (t.kind === ')') {
              next();
              vals.push('');
              break;
            } else {
              fail(`unterminated value set for ${k}`);
            }
          }
          reqs.push({ key: k, op: op.kind, values: [...new Set(vals)] });
          break;
        }
        case '>':
        case '<': {
          next();
          const v = next();
          if (v.kind !== 'id' || !INT_RE.test(v.text)) fail(`${op.text} needs an integer value`);
          reqs.push({ key: k, op: op.kind, values: [v.text] });
          break;
        }
        default:
          fail(`unexpected ${q(op.text)} after key ${clip(k)}`);
      }
    }
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== ',') fail(`expected ',' or end of string, found ${q(sep.text)}`);
    if (peek().kind === 'end') fail('trailing comma');
  }
  return reqs;
}

export function requirementMatches(
  r: LabelRequirement,
  labels: Readonly<Record<string, string>>,
): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case '!exists':
      return !has;
    case '=':
    case 'in':
      return has && r.values.includes(v as string);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(v as string);
    case '>':
    case '<': {
      if (!has || !INT_RE.test(v as string)) return false;
      const a = BigInt(v as string);
      const b = BigInt(r.values[0] as string);
      return r.op === '>' ? a > b : a < b;
    }
  }
}

/** True when every requirement holds ([] matches everything). */
export function matchLabels(
  reqs: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return reqs.every((r) => requirementMatches(r, labels));
}

const cache = new Map<string, LabelRequirement[]>();
/** Parses (cached) and matches; throws LabelSelectorError on a bad selector. */
export function labelSelectorMatches(
  selector: string,
  labels: Readonly<Record<string, string>>,
): boolean {
  let reqs = cache.get(selector);
  if (!reqs) {
    reqs = parseLabelSelector(selector);
    if (cache.size > 256) cache.clear();
    cache.set(selector, reqs);
  }
  return matchLabels(reqs, labels);
}

/** Canonical text of parsed requirements (for logs and messages). */
export function formatLabelSelector(reqs: readonly LabelRequirement[]): string {
  return reqs
    .map((r) => {
      switch (r.op) {
        case 'exists':
          return r.key;
        case '!exists':
          return `!${r.key}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.op} (${r.values.join(',')})`;
        default:
          return `${r.key}${r.op}${r.values[0] ?? ''}`;
      }
    })
    .join(',');
}
