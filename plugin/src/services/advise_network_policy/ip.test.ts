import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cidrContains,
  compareIps,
  hostCidr,
  ipFromBytes,
  normalizeIp,
  parseCidr,
  parseIp,
} from './ip.js';

test('ip: parse and format, IPv4-mapped IPv6 becomes IPv4', () => {
  assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIp('::ffff:a00:1'), '10.0.0.1');
  assert.equal(normalizeIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(normalizeIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(normalizeIp('::'), '::');
  assert.equal(normalizeIp('::1'), '::1');
  assert.equal(normalizeIp('fe80::1%eth0'), 'fe80::1');
  assert.equal(normalizeIp('64:ff9b::192.0.2.1'), '64:ff9b::c000:201');
  assert.equal(normalizeIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  assert.equal(normalizeIp('nope'), '');
  assert.equal(normalizeIp('10.0.0.256'), '');
  assert.deepEqual(parseIp('1.2.3.4'), { family: 4, value: 0x01020304n });
});

test('ip: from kernel bytes', () => {
  assert.equal(ipFromBytes([10, 0, 0, 1], 4), '10.0.0.1');
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1];
  assert.equal(ipFromBytes(mapped, 6), '192.0.2.1');
  const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  assert.equal(ipFromBytes(v6, 6), '2001:db8::1');
});

test('ip: CIDRs', () => {
  const c = parseCidr('172.17.0.0/16');
  assert.ok(cidrContains(c, parseIp('172.17.255.1')!));
  assert.ok(!cidrContains(c, parseIp('172.18.0.1')!));
  assert.ok(!cidrContains(c, parseIp('2001:db8::1')!));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0'), parseIp('8.8.8.8')!));
  assert.ok(!cidrContains(parseCidr('0.0.0.0/0'), parseIp('::1')!));
  assert.ok(cidrContains(parseCidr('::/0'), parseIp('::1')!));
  assert.ok(cidrContains(parseCidr('2001:db8::/32'), parseIp('2001:db8:ffff::1')!));
  assert.ok(cidrContains(parseCidr('10.0.0.5'), parseIp('10.0.0.5')!));
  assert.ok(cidrContains(parseCidr('10.0.0.7/24'), parseIp('10.0.0.200')!), 'host bits ignored');
  assert.ok(cidrContains(parseCidr('::ffff:10.0.0.0/104'), parseIp('10.1.2.3')!), 'mapped CIDR');
  assert.throws(() => parseCidr('10.0.0.0/33'), /bad prefix length/);
  assert.throws(() => parseCidr('x/8'), /bad address/);
  assert.equal(hostCidr('::ffff:1.2.3.4'), '1.2.3.4/32');
  assert.equal(hostCidr('2001:db8::7'), '2001:db8::7/128');
  assert.deepEqual(['10.0.0.10', '::1', '10.0.0.9', '9.0.0.1'].sort(compareIps), [
    '9.0.0.1',
    '10.0.0.9',
    '10.0.0.10',
    '::1',
  ]);
});
