import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ADDRESS, normalizeAddress } from './address.js';

test('normalizeAddress: default, canonical forms, one-line errors', () => {
  assert.equal(normalizeAddress(undefined), DEFAULT_ADDRESS);
  assert.equal(normalizeAddress(''), 'unix:///run/kubectl-gadget/gadget.sock');
  assert.equal(normalizeAddress('10.1.2.3:7000'), 'tcp://10.1.2.3:7000');
  assert.equal(normalizeAddress('unix:/tmp/x.sock'), 'unix:///tmp/x.sock');
  assert.throws(
    () => normalizeAddress('x'),
    (e: Error) => !e.message.includes('\n'),
  );
});
