// The pieces of the daemon's security options that need no process: audit line capping and
// escaping, the loopback test of --listen, the per-caller counting and the flag checks.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  auditLine,
  auditList,
  auditMap,
  auditString,
  CallerCaps,
  checkListen,
  daemonSecurity,
  isLoopbackHost,
} from './security.js';
import { parseAddress } from '../../../proto/ts/address.js';

describe('audit strings', () => {
  test('capped at 256 characters, with the count of what was left out', () => {
    assert.equal(auditString('abc'), 'abc');
    assert.equal(auditString('x'.repeat(256)), 'x'.repeat(256));
    assert.equal(auditString('x'.repeat(1000)), `${'x'.repeat(256)}…(+744 chars)`);
    // a surrogate pair is never split
    const s = 'a'.repeat(255) + '😀' + 'b';
    assert.equal(auditString(s), `${'a'.repeat(255)}…(+3 chars)`);
  });

  test('lists and maps: at most 32 entries, each capped', () => {
    const l = Array.from({ length: 40 }, (_, i) => `n${i}`);
    assert.deepEqual(auditList(l), [...l.slice(0, 32), '…(+8 more)']);
    const m: Record<string, string> = {};
    for (let i = 0; i < 33; i++) m[`k${i}`] = 'v'.repeat(300);
    const out = auditMap(m);
    assert.equal(Object.keys(out).length, 33);
    assert.equal(out.k0, `${'v'.repeat(256)}…(+44 chars)`);
    assert.equal(out['…'], '(+1 more)');
  });

  test('a line has no raw control character and parses back to the same values', () => {
    const v = 'a\nb\r\u0000\u001b[31m\u007f\u0085\u009b\u2028\u2029é✓';
    const line = auditLine({ v });
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    assert.equal(line, '{"v":"a\\nb\\r\\u0000\\u001b[31m\\u007f\\u0085\\u009b\\u2028\\u2029é✓"}');
    assert.deepEqual(JSON.parse(line), { v });
  });
});

describe('--listen without TLS', () => {
  test('loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });

  test('beyond loopback: refused without TLS, allowed (and flagged) with --insecure', () => {
    const any = parseAddress('tcp://0.0.0.0:7878');
    assert.throws(() => checkListen(any, false, false), {
      name: 'RunError',
      message:
        'refusing to listen on tcp://0.0.0.0:7878 without TLS: anyone who reaches it could trace every process on this node',
    });
    assert.equal(checkListen(any, false, true), true);
    assert.equal(checkListen(any, true, false), false);
    assert.equal(checkListen(parseAddress('tcp://127.0.0.1:7878'), false, false), false);
    assert.equal(checkListen(parseAddress('unix:///run/x.sock'), false, false), false);
  });

  test('daemonSecurity: caps must be whole numbers >= 1', async () => {
    await assert.rejects(daemonSecurity({ listen: 'tcp://127.0.0.1:0', maxRuns: 0 }), {
      message: 'invalid --max-runs 0: expected a whole number >= 1',
    });
    await assert.rejects(daemonSecurity({ listen: 'tcp://127.0.0.1:0', maxRunsPerCaller: 1.5 }), {
      message: 'invalid --max-runs-per-caller 1.5: expected a whole number >= 1',
    });
  });
});

describe('CallerCaps', () => {
  test('counts per caller; a release frees one slot, once', () => {
    const caps = new CallerCaps(2);
    const alice = { id: 'alice', via: 'kubernetes' as const };
    const bob = { id: 'alice', via: 'tls' as const }; // same name, another kind of identity
    const r1 = caps.acquire(alice);
    const r2 = caps.acquire(alice);
    assert.equal(typeof r1, 'function');
    assert.equal(typeof r2, 'function');
    const refused = caps.acquire(alice);
    assert.ok(typeof refused !== 'function');
    assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(
      refused.details,
      'too many runs: user "alice" already has 2 on this daemon (--max-runs-per-caller 2)',
    );
    assert.equal(typeof caps.acquire(bob), 'function');
    if (typeof r1 === 'function') {
      r1();
      r1();
    }
    assert.equal(typeof caps.acquire(alice), 'function');
    assert.ok(typeof caps.acquire(alice) !== 'function', 'one release frees one slot');
    assert.equal(caps.callers, 2);
  });
});
