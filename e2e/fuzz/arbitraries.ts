// Input generators the fuzz targets share: strings that break parsers (control characters,
// quotes, separators, lone surrogates, huge values) and byte buffers.

import fc from 'fast-check';

/** Characters that matter to the parsers: separators, quotes, escapes, controls, non-ASCII. */
const NASTY_CHARS = [
  '\n',
  '\r',
  '\t',
  '\0',
  '\x1b',
  '\x7f',
  '\u0085',
  '\u2028',
  '\ud800',
  '\udc00',
  '\ufeff',
  'é',
  '😀',
  '"',
  "'",
  '\\',
  ' ',
  ',',
  '=',
  '!',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ':',
  '/',
  '.',
  '-',
  '_',
  '#',
  '%',
  '@',
  'a',
  'Z',
  '0',
  '9',
];

/** Short strings built from the characters parsers care about. */
export const nastyString = (maxLength = 40): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...NASTY_CHARS), maxLength });

/** A huge string (past every clip and header limit), sometimes with a newline in it. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 1_000, max: 200_000 }), fc.constantFrom('x', 'é', '\n', 'a\nb', '"'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)));

/** Any string: printable, nasty, full unicode, huge, or one of the given words. */
export function anyString(words: readonly string[] = [], maxLength = 40): fc.Arbitrary<string> {
  const arbs: Array<fc.WeightedArbitrary<string>> = [
    { arbitrary: fc.string({ maxLength }), weight: 3 },
    { arbitrary: nastyString(maxLength), weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', maxLength }), weight: 2 },
    { arbitrary: hugeString, weight: 1 },
  ];
  if (words.length > 0) arbs.push({ arbitrary: fc.constantFrom(...words), weight: 4 });
  return fc.oneof(...arbs);
}

/** Words glued with separators: closer to the grammar than random text. */
export function tokens(words: readonly string[], seps: readonly string[]): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(fc.constantFrom(...words), fc.constantFrom(...seps)), { maxLength: 8 })
    .map((parts) => parts.map(([w, s]) => w + s).join(''));
}

/** Random text edits (insert, delete, replace a character) applied to a valid text. */
export function mutated(valid: fc.Arbitrary<string>, maxEdits = 4): fc.Arbitrary<string> {
  return fc
    .tuple(
      valid,
      fc.array(
        fc.tuple(
          fc.constantFrom('insert', 'delete', 'replace', 'cut', 'dup'),
          fc.nat(),
          fc.constantFrom(...NASTY_CHARS, ': ', '- ', '\n  ', '&a ', '*a', '!!binary ', '<<: '),
        ),
        { maxLength: maxEdits },
      ),
    )
    .map(([text, edits]) => {
      let s = text;
      for (const [op, at, ch] of edits) {
        const i = s.length === 0 ? 0 : at % (s.length + 1);
        if (op === 'insert') s = s.slice(0, i) + ch + s.slice(i);
        else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
        else if (op === 'replace') s = s.slice(0, i) + ch + s.slice(i + 1);
        else if (op === 'cut') s = s.slice(0, i);
        else s = s.slice(0, i) + s.slice(i, i + 40) + s.slice(i);
      }
      return s;
    });
}

/**
 * A JSON-like object with one value at a random path replaced by a random JSON value, or
 * deleted: structure-aware mutation of valid records.
 */
export function mutatedObject<T>(valid: fc.Arbitrary<T>, maxEdits = 3): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      valid,
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.oneof(
            fc.jsonValue({ maxDepth: 2 }),
            anyString(),
            fc.constantFrom(-1, 1.5, 65536, 2 ** 53, -0, 1e308, '', null, [], {}),
          ),
          fc.boolean(),
        ),
        { minLength: 1, maxLength: maxEdits },
      ),
    )
    .map(([v, edits]) => {
      const obj = structuredClone(v) as unknown;
      for (const [at, value, del] of edits) {
        const paths: Array<[Record<string, unknown> | unknown[], string | number]> = [];
        const walk = (o: unknown): void => {
          if (Array.isArray(o)) {
            o.forEach((x, i) => {
              paths.push([o, i]);
              walk(x);
            });
          } else if (o && typeof o === 'object') {
            for (const [k, x] of Object.entries(o)) {
              paths.push([o as Record<string, unknown>, k]);
              walk(x);
            }
          }
        };
        walk(obj);
        const p = paths[at % Math.max(1, paths.length)];
        if (!p) continue;
        const [parent, key] = p;
        if (del && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key];
        else (parent as Record<string | number, unknown>)[key] = value;
      }
      return obj;
    });
}

/** Bytes: empty, small, or up to `max`. */
export const bytes = (max = 512): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 32 }), weight: 3 },
    { arbitrary: fc.uint8Array({ maxLength: max }), weight: 2 },
  );
