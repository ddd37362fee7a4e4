import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRfc3339Nano, TimestampFormatter } from './time.js';

test('RFC 3339 with 9-digit nanoseconds, exact from bigint', () => {
  assert.equal(formatRfc3339Nano(1714566896123456789n), '2024-05-01T12:34:56.123456789Z');
  assert.equal(formatRfc3339Nano(1714566896000000001n), '2024-05-01T12:34:56.000000001Z');
  assert.equal(formatRfc3339Nano(1714566896999999999n), '2024-05-01T12:34:56.999999999Z');
  assert.equal(formatRfc3339Nano(0n), '1970-01-01T00:00:00.000000000Z');
  assert.equal(formatRfc3339Nano(-1n), '1969-12-31T23:59:59.999999999Z');
  // a double would round this one (2^53 < 1.7e18): the last digits must survive
  const ns = 1714566896123456789n;
  assert.notEqual(BigInt(Number(ns)), ns);
  assert.match(formatRfc3339Nano(ns), /\.123456789Z$/);
});

test('TimestampFormatter adds the boot-to-wall offset and caches the second', () => {
  const f = new TimestampFormatter(1_714_566_896_000_000_000n);
  assert.equal(f.format(0n), '2024-05-01T12:34:56.000000000Z');
  assert.equal(f.format(123_456_789n), '2024-05-01T12:34:56.123456789Z');
  assert.equal(f.format(999_999_999n), '2024-05-01T12:34:56.999999999Z');
  assert.equal(f.format(1_000_000_000n), '2024-05-01T12:34:57.000000000Z');
  // back into an earlier second (out-of-order CPUs)
  assert.equal(f.format(999_999_998n), '2024-05-01T12:34:56.999999998Z');
  assert.equal(f.format(86_400_000_000_007n), '2024-05-02T12:34:56.000000007Z');
  assert.equal(f.format(5), '2024-05-01T12:34:56.000000005Z');
  for (let i = 0n; i < 3_000_000_000n; i += 7_777_777n) {
    assert.equal(f.format(i), formatRfc3339Nano(i + 1_714_566_896_000_000_000n));
  }
});
