// A gadget's transform written as a list of output fields, each derived from the raw record in
// one of a few declared ways. `fieldTransform` turns the list into the descriptor's `transform`
// (the object path: columns, yaml, live view); because the derivation is declared, the CLI can
// also compile it into a serializer that writes `-o json` straight from the record bytes
// (plugin/src/output/fast-json.ts). Gadgets with a transform of their own keep the object path.

import { splitNulStrings } from './decode.js';
import type { GadgetEvent, RawRecord, RecordLayout } from './types.js';

/** A raw field's value as the decoder gives it, for the integer and bool kinds. */
export type Scalar = number | boolean;

export type FieldSpec =
  /** the raw field's decoded value, unchanged */
  | { name: string; copy: string }
  /**
   * a pure function of integer/bool raw fields: its JSON is cached per input values, so it must
   * depend on nothing else (errno names, flag names, modes)
   */
  | { name: string; of: readonly string[]; map: (...values: Scalar[]) => unknown }
  /**
   * the `index`-th NUL-separated string of a `bytes` field (`splitNulStrings`), or '' when there
   * is none; with `ifPositive`, also '' unless that integer field is > 0
   */
  | { name: string; nulString: string; index: number; ifPositive?: string }
  /** every NUL-separated string of a `bytes` field, as an array (argv) */
  | { name: string; nulStrings: string }
  /** anything else: computed from the whole decoded record (the serializer decodes for it) */
  | { name: string; compute: (raw: RawRecord) => unknown };

export const field = {
  copy: (name: string, from = name): FieldSpec => ({ name, copy: from }),
  map: <T extends Scalar[]>(
    name: string,
    of: readonly string[],
    map: (...values: T) => unknown,
  ): FieldSpec => ({ name, of, map: map as (...values: Scalar[]) => unknown }),
  nulString: (name: string, from: string, index: number, ifPositive?: string): FieldSpec =>
    ifPositive === undefined
      ? { name, nulString: from, index }
      : { name, nulString: from, index, ifPositive },
  nulStrings: (name: string, from: string): FieldSpec => ({ name, nulStrings: from }),
  compute: (name: string, compute: (raw: RawRecord) => unknown): FieldSpec => ({ name, compute }),
};

type Transform = (raw: RawRecord, params: Record<string, string>) => GadgetEvent | null;

const specsOf = new WeakMap<Transform, readonly FieldSpec[]>();

/** Source of one field's value on the object path (`h[i]`: the spec's function). */
function valueSrc(
  f: FieldSpec,
  i: number,
  acc: (k: string) => string,
  strings: (k: string) => string,
): string {
  if ('copy' in f) return acc(f.copy);
  if ('map' in f) return `h[${i}](${f.of.map(acc).join(', ')})`;
  if ('compute' in f) return `h[${i}](raw)`;
  if ('nulStrings' in f) return strings(f.nulStrings);
  const item = `(${strings(f.nulString)}[${f.index}] ?? '')`;
  return f.ifPositive === undefined ? item : `(${acc(f.ifPositive)} > 0 ? ${item} : '')`;
}

/**
 * A descriptor `transform` from field specs: one property per spec, in order. Compiled once, so
 * every event has the same shape; a `bytes` field is split once per event however often used.
 */
export function fieldTransform(specs: readonly FieldSpec[]): Transform {
  const names = new Set<string>();
  for (const f of specs) {
    if (names.has(f.name) || f.name === '__proto__')
      throw new Error(`field ${f.name}: declared twice or reserved`);
    if ('nulString' in f && !(Number.isSafeInteger(f.index) && f.index >= 0))
      throw new Error(`field ${f.name}: bad index ${f.index}`);
    names.add(f.name);
  }
  const frozen = Object.freeze([...specs]);
  const acc = (k: string): string => `raw[${JSON.stringify(k)}]`;
  const split = new Set<string>();
  for (const f of frozen) {
    if ('nulString' in f) split.add(f.nulString);
    if ('nulStrings' in f) split.add(f.nulStrings);
  }
  const ids = [...split].map((k, i) => [k, `s_${i}`] as const);
  const id = new Map(ids);
  const helpers = frozen.map((f) => ('map' in f ? f.map : 'compute' in f ? f.compute : null));
  const props = frozen.map(
    (f, i) => `${JSON.stringify(f.name)}: ${valueSrc(f, i, acc, (k) => id.get(k)!)}`,
  );
  const src =
    `return function transform(raw) {\n` +
    ids.map(([k, v]) => `  const ${v} = split(${acc(k)});\n`).join('') +
    `  return { ${props.join(', ')} };\n};`;
  const transform = new Function('h', 'split', src)(helpers, splitNulStrings) as Transform;
  specsOf.set(transform, frozen);
  return transform;
}

/** The specs a transform was made from, if it was made by `fieldTransform`. */
export function fieldSpecsOf(transform: Transform): readonly FieldSpec[] | undefined {
  return specsOf.get(transform);
}

const SCALAR_KINDS = new Set(['u8', 's8', 'u16', 's16', 'u32', 's32', 'u64', 's64', 'bool']);

/**
 * Why records of `layout` cannot go through a transform made of `specs`, or undefined: a bytes
 * field a string spec splits is missing or not bytes, or a field a function of integers reads is
 * missing or not an integer. (A copied field or an `ifPositive` field may be missing: left out,
 * and not positive.) A layout comes from the daemon, which may be of another version: the
 * transform would otherwise fail on every record (found by fuzzing, e2e/fuzz/records.ts).
 */
export function layoutMismatch(
  layout: Pick<RecordLayout, 'fields'>,
  specs: readonly FieldSpec[],
): string | undefined {
  const kinds = new Map(layout.fields.map((f) => [f.name, f.kind as string]));
  const check = (name: string, ok: (k: string) => boolean, what: string, optional = false) => {
    const k = kinds.get(name);
    if (k === undefined) return optional ? undefined : `no field ${name}`;
    return ok(k) ? undefined : `field ${name} is ${k}, not ${what}`;
  };
  const scalar = (k: string): boolean => SCALAR_KINDS.has(k);
  const bytes = (k: string): boolean => k === 'bytes';
  for (const s of specs) {
    let problem: string | undefined;
    if ('map' in s) problem = s.of.map((n) => check(n, scalar, 'an integer')).find(Boolean);
    else if ('nulStrings' in s) problem = check(s.nulStrings, bytes, 'bytes');
    else if ('nulString' in s) {
      problem =
        check(s.nulString, bytes, 'bytes') ??
        (s.ifPositive === undefined ? undefined : check(s.ifPositive, scalar, 'an integer', true));
    }
    if (problem) return problem;
  }
  return undefined;
}
