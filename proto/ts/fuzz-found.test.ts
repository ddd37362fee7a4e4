// Inputs fuzzing found (e2e/fuzz/, `npm run fuzz`) that broke the wire helpers, kept as fixed
// cases: an address quoted whole, a field kind with a newline, and record layouts a daemon may
// send that made the CLI's generated decoders read past a record or allocate per a huge count.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type * as pb from '../gen/gadget/v1/gadget.js';
import { AddressError, parseAddress } from './address.js';
import { layoutFromPb, ProtocolError } from './convert.js';

function assertOneLine(m: string, max: number): void {
  assert.doesNotMatch(m, /[\r\n\u2028\u2029]/, `one line: ${JSON.stringify(m.slice(0, 200))}`);
  assert.ok(m.length <= max, `${m.length} characters (at most ${max})`);
}

describe('parseAddress', () => {
  const cases: Array<[string, RegExp]> = [
    // the input was quoted whole
    ['x'.repeat(5000), /^invalid daemon address "x+…": /],
    ['tcp://a\nb:1', /^invalid daemon address "tcp:\/\/a\\nb:1": "a\\nb" is not a valid host name/],
    [
      `tcp://[::1]:${'9'.repeat(5000)}`,
      /^invalid daemon address "tcp:\/\/\[::1\]:9+…": port "9+…" is not a number/,
    ],
    [
      // (trailing whitespace is trimmed: the newlines sit inside)
      `/${'a\n'.repeat(3000)}x`,
      /^invalid daemon address "\/(a\\n)+a?…": to use a unix socket write unix:\/\/\/(a\\n)+a?…$/,
    ],
    [`${'h'.repeat(3000)}\n://x`, /^invalid daemon address "h+…": /],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input.slice(0, 30)), () => {
      assert.throws(
        () => parseAddress(input),
        (e: Error) => {
          assert.ok(e instanceof AddressError);
          assert.match(e.message, want);
          assertOneLine(e.message, 600);
          return true;
        },
      );
    });
  }
});

function field(f: Partial<pb.FieldLayout>): pb.FieldLayout {
  return { name: 'a', kind: 'u32', offset: 0, size: 4, elem: '', count: 0, ...f };
}

function layoutError(fields: pb.FieldLayout[], structName = 'event'): string {
  try {
    layoutFromPb({ structName, size: 64, fields });
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `a ProtocolError, got ${String(e)}`);
    assertOneLine(e.message, 400);
    return e.message;
  }
  assert.fail('the layout was accepted');
}

describe('layoutFromPb (a RunHeader from a daemon)', () => {
  test('a field kind with a newline is quoted on one line', () => {
    assert.equal(
      layoutError([field({ kind: '\n32' })]),
      'the daemon sent field kind "\\n32" for event.a, which this CLI does not know (version mismatch? upgrade kubectl-gadget)',
    );
  });

  test('a u64 in 1 byte: the decoder read 7 bytes past the record', () => {
    assert.match(
      layoutError([field({ name: 'mntns_id', kind: 'u64', size: 1 })]),
      /\(event\.mntns_id: u64 of 1 bytes; /,
    );
  });

  test('an array of 2^28 elements: the decoder generator built 2^28 reads', () => {
    assert.match(
      layoutError([field({ kind: 'array', elem: 'u8', size: 8, count: 2 ** 28 })]),
      /\(event\.a: array of 268435456 u8 in 8 bytes; /,
    );
  });

  test('field names that are not identifiers, or __proto__', () => {
    for (const name of ['__proto__', 'a b', '', 'x\ny', 'z'.repeat(129)])
      assert.match(layoutError([field({ name })]), /: not a field name; /, name);
  });

  test('a field ending past 1 MiB', () => {
    assert.match(
      layoutError([field({ offset: 0xffffffff, size: 4 })]),
      /\(event\.a: ends past 1048576 bytes; /,
    );
  });

  test('a struct name with a newline is clipped on one line', () => {
    assertOneLine(layoutError([field({ kind: 'nope' })], `s\n${'t'.repeat(5000)}`), 400);
  });

  test('real layouts still pass', () => {
    const l = layoutFromPb({
      structName: 'event',
      size: 40,
      fields: [
        field({ name: 'timestamp', kind: 'u64', offset: 0, size: 8 }),
        field({ name: 'comm', kind: 'cstring', offset: 8, size: 16 }),
        field({ name: 'ret', kind: 's32', offset: 24, size: 4 }),
        field({ name: 'ids', kind: 'array', elem: 'u16', offset: 28, size: 8, count: 4 }),
        field({ name: 'ok', kind: 'bool', offset: 36, size: 1 }),
        field({ name: 'blob', kind: 'bytes', offset: 37, size: 3 }),
      ],
    });
    assert.equal(l.fields.length, 6);
    assert.equal(l.fields[3]!.count, 4);
  });
});
