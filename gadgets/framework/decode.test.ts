import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBytes, makeDecoder, splitNulStrings } from './decode.js';
import type { RecordLayout } from './types.js';

const layout: RecordLayout = {
  struct: 'event',
  size: 48,
  fields: [
    { name: 'timestamp', kind: 'u64', offset: 0, size: 8 },
    { name: 'mntns_id', kind: 'u64', offset: 8, size: 8 },
    { name: 'pid', kind: 'u32', offset: 16, size: 4 },
    { name: 'ret', kind: 's32', offset: 20, size: 4 },
    { name: 'comm', kind: 'cstring', offset: 24, size: 8 },
    { name: 'flag', kind: 'bool', offset: 32, size: 1 },
    { name: 'args_size', kind: 'u32', offset: 36, size: 4 },
    { name: 'args', kind: 'bytes', offset: 40, size: 0 },
  ],
};

test('decoder reads every field kind at its BTF offset', () => {
  const buf = Buffer.alloc(64);
  buf.writeBigUInt64LE(18446744073709551615n, 0);
  buf.writeBigUInt64LE(4026531841n, 8);
  buf.writeUInt32LE(4242, 16);
  buf.writeInt32LE(-2, 20);
  buf.write('sh\0junk', 24);
  buf.writeUInt8(1, 32);
  buf.writeUInt32LE(5, 36);
  buf.write('ab\0cd', 40);
  const rec = makeDecoder(layout)(buf, 0, 48);
  assert.equal(rec.timestamp, 18446744073709551615n); // bigint: no precision lost
  assert.equal(rec.mntns_id, 4026531841);
  assert.equal(rec.pid, 4242);
  assert.equal(rec.ret, -2);
  assert.equal(rec.comm, 'sh');
  assert.equal(rec.flag, true);
  assert.deepEqual(splitNulStrings(rec.args as Buffer), ['ab', 'cd']);
});

test('decoder honours a record offset and the size field bound', () => {
  const buf = Buffer.alloc(128);
  buf.writeUInt32LE(3, 16 + 36);
  buf.write('xyzzy', 16 + 40);
  const rec = makeDecoder(layout)(buf, 16, 48);
  assert.equal((rec.args as Buffer).toString(), 'xyz');
});

test('invalid UTF-8 is escaped, never dropped', () => {
  const b = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9, 0xe2, 0x82]);
  assert.equal(decodeBytes(b, 0, b.length), 'a\\xffbé\\xe2\\x82');
  const ok = Buffer.from('héllo wörld ✓');
  assert.equal(decodeBytes(ok, 0, ok.length), 'héllo wörld ✓');
});

test('argv splitting keeps empty arguments but not the trailing terminator', () => {
  assert.deepEqual(splitNulStrings(Buffer.from('ls\0\0-l\0')), ['ls', '', '-l']);
  assert.deepEqual(splitNulStrings(Buffer.from('')), []);
});
