// Inputs fuzzing found (e2e/fuzz/, `npm run fuzz`) that broke the gadget framework, kept as fixed
// cases: each message is one line of bounded length, and a layout that does not fit a declared
// transform is named before any record goes through it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { clipLine, MAX_ECHO } from './clip.js';
import { isRunError } from './errors.js';
import { field, fieldSpecsOf, fieldTransform, layoutMismatch } from './fields.js';
import { getGadget } from './registry.js';
import { resolveParams } from './resolve.js';
import { descriptor as traceExec } from '../trace_exec/gadget.js';
import { descriptor as traceOpen } from '../trace_open/gadget.js';
import { parseSlot, SLOT_SIZE } from '../traceloop/format.js';
import { parseSyscallFilter, SyscallFilterError } from '../traceloop/table.js';
import { gadgetLayoutPath } from './paths.js';
import type { FieldLayout, RecordLayout } from './types.js';

/** One line, at most `max` characters. */
function assertOneLine(m: string, max: number): void {
  assert.doesNotMatch(m, /[\r\n\u2028\u2029]/, `one line: ${JSON.stringify(m.slice(0, 200))}`);
  assert.ok(m.length <= max, `${m.length} characters (at most ${max})`);
}

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isRunError(e), `a RunError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('no error');
}

describe('clipLine', () => {
  test('escapes controls and line separators, then clips', () => {
    assert.equal(clipLine('a\nb\tc\rd\x00e\x7f\u2028'), 'a\\nb\\tc\\rd\\x00e\\x7f\\u2028');
    const long = clipLine('\n'.repeat(5000));
    assert.equal(long.length, MAX_ECHO + 1);
    assert.ok(long.endsWith('…'));
    assert.equal(clipLine('plain'), 'plain');
  });
});

describe('resolveParams (RunRequest.params)', () => {
  test('a key that is a newline', () => {
    const m = message(() => resolveParams(traceExec, { '\n': 'x' }));
    const valid = traceExec.params.map((p) => p.name).join(', ');
    assert.equal(m, `unknown parameter "\\n" for trace exec (valid: ${valid})`);
    assertOneLine(m, 300);
  });

  test('a value with a newline, and a value of 200,000 characters', () => {
    const p = traceOpen.params.find((x) => x.type === 'string[]');
    assert.ok(p, 'trace open has a list parameter');
    const m = message(() => resolveParams(traceOpen, { [p.name]: '["a\nb"' }));
    assert.match(m, /^invalid value "\["a\\nb"" for --/);
    assertOneLine(m, 400);
    const huge = message(() => resolveParams(traceOpen, { [p.name]: `[${'\n'.repeat(200_000)}` }));
    assertOneLine(huge, 600);
  });
});

describe('getGadget', () => {
  test('an unknown name with a newline is quoted on one line', async () => {
    await assert.rejects(getGadget('nope\ngadget'), (e: Error) => {
      assert.match(e.message, /^unknown gadget "nope\\ngadget" \(available: /);
      assertOneLine(e.message, 600);
      return true;
    });
    await assert.rejects(getGadget('x'.repeat(100_000)), (e: Error) => {
      assertOneLine(e.message, 600);
      return true;
    });
  });
});

describe('layoutMismatch (a layout from a daemon of another version)', () => {
  const specs = fieldSpecsOf(traceExec.transform);

  test('trace exec declares its transform', () => {
    assert.ok(specs && specs.length > 0);
  });

  test('no fields at all: named before any record (was a TypeError per record)', () => {
    assert.equal(layoutMismatch({ fields: [] }, specs!), 'no field ret');
  });

  test('a bytes field that is an integer, an integer field that is bytes', () => {
    const f = (name: string, kind: FieldLayout['kind']): FieldLayout => ({
      name,
      kind,
      offset: 0,
      size: kind === 'bytes' ? 8 : 4,
    });
    const t = fieldTransform([
      field.nulStrings('args', 'args'),
      field.map('n', ['count'], (x: number) => x + 1),
      field.copy('maybe'),
      field.nulString('second', 'args', 1, 'second_len'),
    ]);
    const layoutSpecs = fieldSpecsOf(t)!;
    assert.equal(
      layoutMismatch({ fields: [f('args', 'u32'), f('count', 'u32')] }, layoutSpecs),
      'field args is u32, not bytes',
    );
    assert.equal(
      layoutMismatch({ fields: [f('args', 'bytes'), f('count', 'bytes')] }, layoutSpecs),
      'field count is bytes, not an integer',
    );
    assert.equal(
      layoutMismatch({ fields: [f('args', 'bytes'), f('count', 's64')] }, layoutSpecs),
      undefined,
    );
  });

  test("the built layouts fit their gadgets' transforms", () => {
    for (const d of [traceExec, traceOpen]) {
      const l = JSON.parse(readFileSync(gadgetLayoutPath(d.name), 'utf8')) as RecordLayout;
      assert.equal(layoutMismatch(l, fieldSpecsOf(d.transform)!), undefined, d.name);
    }
  });
});

describe('traceloop parseSlot', () => {
  test('a record shorter than the slot header is torn, not read past the batch', () => {
    // a layout of 128 bytes without fields let a 4-byte record through (RangeError)
    const batch = Buffer.alloc(8, 1);
    assert.equal(parseSlot(batch, 4, 4), null);
    assert.equal(parseSlot(Buffer.alloc(SLOT_SIZE - 1, 1), 0, SLOT_SIZE), null);
    assert.equal(parseSlot(Buffer.alloc(SLOT_SIZE, 1), -1, SLOT_SIZE), null);
  });
});

describe('traceloop --syscall-filter', () => {
  test('an unknown name with a newline (TraceloopStart.syscalls) is quoted on one line', () => {
    assert.throws(
      () => parseSyscallFilter(['zz\n-']),
      (e: Error) => {
        assert.ok(e instanceof SyscallFilterError);
        assert.match(e.message, /^unknown syscall "zz\\n-" in --syscall-filter/);
        assertOneLine(e.message, 400);
        return true;
      },
    );
  });
});
