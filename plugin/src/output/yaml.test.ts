import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createYamlSink } from './yaml.js';

test('yaml: a stream of documents, each starting with ---', async () => {
  const out = new PassThrough();
  let got = '';
  out.on('data', (d: Buffer) => (got += d.toString()));
  const sink = await createYamlSink(out);
  await sink.write([
    {
      timestamp: '2024-05-01T12:34:56.123456789Z',
      node: 'node-1',
      namespace: '',
      pid: 42,
      mntns_id: 2n ** 63n,
      flags: ['O_RDONLY', 'O_CLOEXEC'],
      path: '/etc/a: b',
    },
    { timestamp: '2024-05-01T12:34:57.000000000Z', args: [], ok: true, raw: Buffer.from('hi') },
  ]);
  await sink.end();
  assert.equal(
    got,
    [
      '---',
      'timestamp: 2024-05-01T12:34:56.123456789Z',
      'node: node-1',
      'namespace: ""',
      'pid: 42',
      'mntns_id: 9223372036854775808',
      'flags:',
      '  - O_RDONLY',
      '  - O_CLOEXEC',
      'path: "/etc/a: b"',
      '---',
      'timestamp: 2024-05-01T12:34:57.000000000Z',
      'args: []',
      'ok: true',
      'raw: aGk=',
      '',
    ].join('\n'),
  );
});

test('yaml: no raw control character, C1 and DEL included; the value parses back', async () => {
  const { parse } = await import('yaml');
  const out = new PassThrough();
  let got = '';
  out.on('data', (d: Buffer) => (got += d.toString()));
  const sink = await createYamlSink(out);
  const args = ['kg-\u001b]0;pwned\u0007', '\u001b[2J', '\u009b31mred\u007f'];
  await sink.write([{ pid: 1, args }]);
  await sink.end();
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(got, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assert.match(got, /\\x9b31mred\\x7f/);
  assert.deepEqual((parse(got.replace(/^---\n/, '')) as { args: string[] }).args, args);
});
