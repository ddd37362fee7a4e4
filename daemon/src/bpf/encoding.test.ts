// Pure unit tests (no kernel): global encoding. (The batch framing's are in proto/ts/records.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { encodeGlobal } from './encoding.js';
import type { NativeGlobalInfo } from './native.js';

const g = (size: number, kind = 'int', signed = false): NativeGlobalInfo => ({
  name: 'v',
  section: '.rodata',
  offset: 0,
  size,
  kind,
  signed,
});

describe('encodeGlobal', () => {
  it('encodes integers per size and signedness', () => {
    assert.deepEqual([...encodeGlobal(g(1), 255)], [255]);
    assert.deepEqual([...encodeGlobal(g(4), 0x01020304)], [4, 3, 2, 1]);
    assert.deepEqual(
      [...encodeGlobal(g(8, 'int', true), -2n)],
      [254, 255, 255, 255, 255, 255, 255, 255],
    );
    assert.deepEqual([...encodeGlobal(g(2, 'int', true), -1)], [255, 255]);
    assert.deepEqual([...encodeGlobal(g(1, 'bool'), true)], [1]);
    assert.deepEqual([...encodeGlobal(g(8), 2n ** 64n - 1n)], Array(8).fill(255));
  });

  it('rejects values that do not fit', () => {
    assert.throws(() => encodeGlobal(g(1), 256), { code: 'ERANGE' });
    assert.throws(() => encodeGlobal(g(4), -1), { code: 'ERANGE' });
    assert.throws(() => encodeGlobal(g(1, 'int', true), 128), { code: 'ERANGE' });
    assert.throws(() => encodeGlobal(g(4), 1.5), { code: 'EINVAL' });
    assert.throws(() => encodeGlobal(g(16, 'struct'), 1), { code: 'EINVAL' });
    assert.throws(() => encodeGlobal(g(4), new Uint8Array(3)), /value has 3 bytes, variable has 4/);
  });

  it('zero-pads strings and copies exact byte arrays', () => {
    assert.deepEqual([...encodeGlobal(g(4, 'chars'), 'ab')], [97, 98, 0, 0]);
    assert.throws(() => encodeGlobal(g(2, 'chars'), 'abc'), { code: 'ERANGE' });
    assert.deepEqual([...encodeGlobal(g(2, 'chars'), new Uint8Array([9, 8]))], [9, 8]);
  });
});
