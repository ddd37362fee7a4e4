// The shared trace_open's union of the runs' kernel filters, and each run's own filter over what
// passes, on records laid out as the kernel writes them (the layout generated from its BTF).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gadgetLayoutPath } from '../framework/paths.js';
import type { RecordLayout } from '../framework/types.js';
import { kernelConfig, MAX_PREFIXES, openFilter, packPrefixes } from './gadget.js';

const layout = JSON.parse(readFileSync(gadgetLayoutPath('trace_open'), 'utf8')) as RecordLayout;
const off = (n: string): number => layout.fields.find((f) => f.name === n)!.offset;

/**
 * A record as trace_open writes it: the path as passed with its NUL, then with full_path the
 * resolved path and its NUL (path_size counts both, full_path_len the resolved path's length).
 */
function record(path: string, ret: number, full?: string): Buffer {
  const p = Buffer.from(path + '\0');
  const f = full === undefined ? Buffer.alloc(0) : Buffer.from(full + '\0');
  const b = Buffer.alloc(off('path') + p.length + f.length);
  b.writeUInt32LE(4242, off('pid'));
  b.writeInt32LE(ret, off('ret'));
  b.writeUInt32LE(p.length + f.length, off('path_size'));
  b.writeUInt32LE(full === undefined ? 0 : Buffer.byteLength(full), off('full_path_len'));
  p.copy(b, off('path'));
  f.copy(b, off('path') + p.length);
  return b;
}

const run = (o: Record<string, string> = {}): Record<string, string> => ({
  failed: 'false',
  'full-path': 'false',
  ...o,
});

test('kernelConfig: --failed when every run asked, --full-path when one did, prefixes as a union', () => {
  const one = kernelConfig([run({ failed: 'true', prefix: '["/etc/"]' })]);
  assert.deepEqual(one, {
    failed_only: true,
    full_path: false,
    prefix_count: 1,
    prefixes: packPrefixes(['/etc/']),
  });
  const two = kernelConfig([
    run({ failed: 'true', prefix: '["/etc/","/tmp/"]' }),
    run({ 'full-path': 'true', prefix: '["/tmp/","/var/"]' }),
  ]);
  assert.equal(two.failed_only, false);
  assert.equal(two.full_path, true);
  assert.equal(two.prefix_count, 3);
  assert.deepEqual(two.prefixes, packPrefixes(['/etc/', '/tmp/', '/var/']));
});

test('kernelConfig: no prefix filter in the kernel when a run has none or the union does not fit', () => {
  assert.equal(kernelConfig([run({ prefix: '["/etc/"]' }), run()]).prefix_count, 0);
  const many = Array.from({ length: MAX_PREFIXES + 1 }, (_, i) => run({ prefix: `/d${i}/` }));
  assert.equal(kernelConfig(many).prefix_count, 0);
  assert.equal(kernelConfig(many.slice(0, MAX_PREFIXES)).prefix_count, MAX_PREFIXES);
  assert.equal(kernelConfig([]).failed_only, false);
});

test('openFilter: a run without --full-path gets the bytes trace_open loaded for it alone writes', () => {
  const f = openFilter(run(), layout)!;
  const withFull = record('rel.txt', 3, '/home/u/rel.txt');
  const out = f(withFull, 0, withFull.length);
  assert.ok(Buffer.isBuffer(out));
  assert.deepEqual(out, record('rel.txt', 3));
  // a resolution that failed still left its NUL (path_size = n + 1): cut as well
  const failedRes = record('x', -2, '');
  assert.deepEqual(f(failedRes, 0, failedRes.length), record('x', -2));
  // already as this run wants it: kept as is (no copy)
  const plain = record('/etc/passwd', 3);
  assert.equal(f(plain, 0, plain.length), true);
  // at an offset inside a batch
  const batch = Buffer.concat([Buffer.alloc(12), withFull]);
  assert.deepEqual(f(batch, 12, withFull.length), record('rel.txt', 3));
});

test('openFilter: --full-path runs keep the resolved path; prefixes match it only for them', () => {
  const rec = record('rel.txt', 3, '/etc/rel.txt');
  const full = openFilter(run({ 'full-path': 'true', prefix: '["/etc/"]' }), layout)!;
  assert.equal(full(rec, 0, rec.length), true);
  const notFull = openFilter(run({ prefix: '["/etc/"]' }), layout)!;
  assert.equal(notFull(rec, 0, rec.length), false);
  const abs = record('/etc/hosts', 3, '/etc/hosts');
  assert.deepEqual(notFull(abs, 0, abs.length), record('/etc/hosts', 3));
  const other = record('/tmp/a', 3, '/tmp/a');
  assert.equal(full(other, 0, other.length), false);
  // a prefix longer than the path does not match
  const short = openFilter(run({ prefix: '["/etc/hosts.d/"]' }), layout)!;
  assert.equal(short(abs, 0, abs.length), false);
});

test('openFilter: --failed drops successful opens another run wanted', () => {
  const f = openFilter(run({ failed: 'true', 'full-path': 'true' }), layout)!;
  const ok = record('/a', 3, '/a');
  const bad = record('/b', -13, '/b');
  assert.equal(f(ok, 0, ok.length), false);
  assert.equal(f(bad, 0, bad.length), true);
});
