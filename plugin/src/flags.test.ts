import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnSpec, ParamSpec } from '#gadgets/framework/types.js';
import { isUserError } from './errors.js';
import { gadgetFlags, paramFlags, paramValues, parseTimeout } from './flags.js';
import { parseOutputSpec } from './output/spec.js';

const columns: ColumnSpec[] = [{ name: 'pid' }, { name: 'comm' }, { name: 'uid', hidden: true }];

test('-o: columns, columns=a,b, json, yaml', () => {
  assert.deepEqual(parseOutputSpec('columns', columns), { format: 'columns' });
  assert.deepEqual(parseOutputSpec('json', columns), { format: 'json' });
  assert.deepEqual(parseOutputSpec('yaml', columns), { format: 'yaml' });
  assert.deepEqual(parseOutputSpec('columns=uid, pid', columns), {
    format: 'columns',
    columns: ['uid', 'pid'],
  });
});

test('-o: bad values are one-line user errors', () => {
  const msg = (v: string): string => {
    try {
      parseOutputSpec(v, columns);
    } catch (e) {
      assert.ok(isUserError(e));
      return e.reason;
    }
    throw new Error('no error');
  };
  assert.equal(
    msg('xml'),
    'invalid --output "xml": expected columns | columns=a,b,c | json | jsonpretty | yaml',
  );
  assert.equal(msg('columns='), 'invalid --output "columns=": no column names after "columns="');
  assert.equal(
    msg('columns=pid,nope'),
    'unknown column "nope" in --output: valid columns are pid, comm, uid',
  );
  assert.equal(
    msg('columns=a,b'),
    'unknown columns "a", "b" in --output: valid columns are pid, comm, uid',
  );
});

test('--timeout: whole seconds', () => {
  assert.equal(parseTimeout('10'), 10);
  assert.equal(parseTimeout('0'), 0);
  for (const bad of ['abc', '-1', '1.5', '', '10s']) {
    assert.throws(
      () => parseTimeout(bad),
      /invalid --timeout ".*": expected a whole number of seconds/,
    );
  }
});

const params: ParamSpec[] = [
  { name: 'failed', type: 'bool', default: 'false', description: 'only failed', char: 'X' },
  { name: 'on', type: 'bool', default: 'true', description: 'default on' },
  { name: 'max-args', type: 'int', default: '20', description: 'max args' },
  { name: 'user', type: 'string', description: 'user' },
  { name: 'prefix', type: 'string[]', description: 'prefixes' },
];

test('param flags are generated from the descriptor', () => {
  const f = paramFlags(params);
  assert.equal(f.failed!.type, 'boolean');
  assert.equal(f.failed!.char, 'X');
  assert.equal(f.on!.type, 'boolean');
  assert.equal((f.on as { allowNo?: boolean }).allowNo, true);
  assert.equal(f['max-args']!.type, 'option');
  assert.equal(f['max-args']!.default, 20);
  assert.equal(f.user!.type, 'option');
  assert.equal((f.prefix as { multiple?: boolean }).multiple, true);
  const all = gadgetFlags({ params, columns });
  for (const k of [
    'local',
    'remote',
    'namespace',
    'containername',
    'container-id',
    'host',
    'output',
    'timeout',
    'debug',
    'failed',
  ]) {
    assert.ok(k in all, k);
  }
});

test('a param colliding with a common flag is caught', () => {
  assert.throws(() => paramFlags([{ name: 'host', type: 'bool', description: '' }]), /collides/);
  assert.throws(
    () => paramFlags([{ name: 'x', type: 'bool', description: '', char: 'c' }]),
    /collides/,
  );
});

test('param values become RunRequest.params strings', () => {
  assert.deepEqual(
    paramValues(params, {
      failed: true,
      on: false,
      'max-args': 5,
      prefix: ['/etc', '/tmp'],
      other: 'x',
    }),
    { failed: 'true', on: 'false', 'max-args': '5', prefix: '["/etc","/tmp"]' },
  );
  assert.deepEqual(paramValues(params, {}), {});
});

test('-F parses against the columns; unknown columns list the valid ones', async () => {
  const { parseFilterFlag, parseSort } = await import('./flags.js');
  const cols = [{ name: 'pid' }, { name: 'comm' }, { name: 'node', header: 'K8S.NODE' }];
  assert.deepEqual(parseFilterFlag('PID:>=5', cols), {
    column: 'pid',
    negate: false,
    op: '>=',
    value: '5',
    text: 'PID:>=5',
  });
  assert.equal(parseFilterFlag('k8s.node:!n1', cols).column, 'node');
  assert.throws(
    () => parseFilterFlag('cmd:sh', cols),
    /^UserError: unknown column "cmd" in --filter: valid columns are pid, comm, node$/,
  );
  assert.deepEqual(parseSort('-pid, comm', cols), [
    { column: 'pid', descending: true },
    { column: 'comm', descending: false },
  ]);
  assert.throws(
    () => parseSort('pid,x', cols),
    /unknown column "x" in --sort: valid columns are pid, comm, node/,
  );
  assert.throws(() => parseSort(',', cols), /invalid --sort ",": no column names/);
});

test('--sort -col: a leading space keeps it a value for oclif', async () => {
  const { sortArgv } = await import('./flags.js');
  assert.deepEqual(sortArgv(['--local', '--sort', '-name', '-o', 'json']), [
    '--local',
    '--sort= -name',
    '-o',
    'json',
  ]);
  assert.deepEqual(sortArgv(['--sort=-pid,name']), ['--sort= -pid,name']);
  assert.deepEqual(sortArgv(['--sort', 'name', '-n', 'x']), ['--sort', 'name', '-n', 'x']);
  assert.deepEqual(sortArgv(['--', '--sort', '-x']), ['--', '--sort', '-x']);
});
