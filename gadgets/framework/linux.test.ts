import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errnoName, modeString, openFlagNames } from './linux.js';

test('errno names', () => {
  assert.equal(errnoName(-2), 'ENOENT');
  assert.equal(errnoName(-13), 'EACCES');
  assert.equal(errnoName(-111), 'ECONNREFUSED');
  assert.equal(errnoName(3), '');
  assert.equal(errnoName(0), '');
});

test('open flags always name the access mode', () => {
  assert.deepEqual(openFlagNames(0), ['O_RDONLY']);
  assert.deepEqual(openFlagNames(0o2000000), ['O_RDONLY', 'O_CLOEXEC']);
  assert.deepEqual(openFlagNames(0o1101), ['O_WRONLY', 'O_CREAT', 'O_TRUNC']);
  assert.deepEqual(openFlagNames(2 | 0o20200000), ['O_RDWR', 'O_DIRECTORY', 'O_TMPFILE']);
});

test('mode as octal string', () => {
  assert.equal(modeString(0o644), '0644');
  assert.equal(modeString(0o100755), '0755');
});
