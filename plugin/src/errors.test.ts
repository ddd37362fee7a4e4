import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatError, oneLine, UserError } from './errors.js';

test('UserError: one line (+ hint), exit 1', () => {
  assert.deepEqual(formatError(new UserError('no such gadget'), false), {
    lines: ['Error: no such gadget'],
    exitCode: 1,
  });
  assert.deepEqual(formatError(new UserError('--local needs root', 'run with sudo'), false), {
    lines: ['Error: --local needs root', 'Hint: run with sudo'],
    exitCode: 1,
  });
});

test('a UserError thrown from a flag parser keeps its own message', () => {
  const e = new UserError('invalid --timeout "x"');
  e.message = `Parsing --timeout \n\t${e.message}\nSee more help with --help`;
  assert.deepEqual(formatError(e, false).lines, ['Error: invalid --timeout "x"']);
});

test('daemon RunError and AddressError are user errors', () => {
  const run = Object.assign(new Error('gadget "x" not found'), {
    name: 'RunError',
    code: 'NOT_FOUND',
    hint: 'see list-gadgets',
  });
  assert.deepEqual(formatError(run, false), {
    lines: ['Error: gadget "x" not found', 'Hint: see list-gadgets'],
    exitCode: 1,
  });
  const addr = Object.assign(new Error('bad address "x"'), { name: 'AddressError' });
  assert.equal(formatError(addr, false).exitCode, 1);
});

test("oclif's parse errors become one actionable line", () => {
  const nonexistent = Object.assign(
    new Error('Nonexistent flag: --bogus\nSee more help with --help'),
    {
      oclif: { exit: 2 },
      parse: { input: { context: { id: 'trace:exec' } } },
    },
  );
  assert.deepEqual(formatError(nonexistent, false), {
    lines: ['Error: Nonexistent flag: --bogus (see: kubectl gadget trace exec --help)'],
    exitCode: 1,
  });
  assert.equal(
    oneLine('Parsing --max \n\tExpected an integer but received: x\nSee more help with --help'),
    '--max: Expected an integer but received: x',
  );
  assert.equal(
    oneLine(
      'The following error occurred:\n  \u001b[2m--remote=x cannot also be provided when using --local\u001b[22m\nSee more help with --help',
    ),
    '--remote=x cannot also be provided when using --local',
  );
  const exit = Object.assign(new Error('EEXIT: 0'), { oclif: { exit: 0 }, code: 'EEXIT' });
  assert.deepEqual(formatError(exit, false), { lines: [], exitCode: 0 });
});

test('anything else is a bug: exit 2, stack only under --debug', () => {
  const e = new TypeError('x is undefined');
  const plain = formatError(e, false);
  assert.equal(plain.exitCode, 2);
  assert.deepEqual(plain.lines, ['Error (bug): x is undefined (run with --debug for the stack)']);
  const dbg = formatError(e, true);
  assert.equal(dbg.lines[0], 'Error (bug): x is undefined');
  assert.match(dbg.lines[1]!, /TypeError: x is undefined\n\s+at /);
});
