import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import {
  compileTail,
  jsonString,
  jsonTail,
  jsonValue,
  makeTail,
  NdjsonSink,
  toJson,
  toPrettyJson,
} from './json.js';

test('jsonString escapes exactly like JSON.stringify', () => {
  for (const s of [
    '',
    'plain',
    'a"b',
    'back\\slash',
    'nl\nx',
    '\u0000',
    'é ü 日本',
    '\ud800',
    '😀',
  ]) {
    assert.equal(jsonString(s), JSON.stringify(s));
  }
});

test('toJson: bigint-safe, bytes as base64, same as JSON.stringify otherwise', () => {
  const plain = { a: 1, b: 'x', c: [1, 'two', true], d: null, e: { f: -1.5 }, u: undefined };
  assert.equal(toJson(plain), JSON.stringify(plain));
  assert.equal(toJson({ n: 2n ** 64n, s: 'x' }), '{"n":18446744073709551616,"s":"x"}');
  assert.equal(toJson({ b: Buffer.from('hi') }), '{"b":"aGk="}');
  assert.equal(toJson({ n: [1n, NaN] }), '{"n":[1,null]}');
  assert.equal(jsonValue(undefined), undefined);
});

test('jsonTail continues an object', () => {
  assert.equal('{"a":1' + jsonTail({ b: 2, c: 'x' }), '{"a":1,"b":2,"c":"x"}');
  assert.equal('{"a":1' + jsonTail({}), '{"a":1}');
});

test('toPrettyJson: lists', () => {
  assert.equal(toPrettyJson([{ a: 1n }]), '[\n  {\n    "a": 1\n  }\n]');
});

test('NdjsonSink writes each batch as given', async () => {
  const out = new PassThrough();
  let got = '';
  out.on('data', (d: Buffer) => (got += d.toString()));
  const sink = new NdjsonSink(out);
  await sink.write('{"a":1}\n{"a":2}\n');
  await sink.end();
  assert.equal(got, '{"a":1}\n{"a":2}\n');
});

test('compiled tails match jsonTail, fall back on another shape or type', () => {
  const sample = {
    fd: 3,
    error: '',
    flags: ['O_RDONLY'],
    ok: true,
    raw: Buffer.from('x'),
    big: 1n,
  };
  const t = makeTail(sample);
  const same = (o: Record<string, unknown>): void =>
    assert.equal(t(o), jsonTail(o), JSON.stringify(Object.keys(o)));
  same(sample);
  same({ fd: -1, error: 'ENOENT "x"', flags: [], ok: false, raw: Buffer.alloc(0), big: 2n ** 70n });
  same({ fd: NaN, error: 5, flags: 'notarray', ok: 'yes', raw: null, big: undefined });
  same({ fd: 1 });
  same({ error: '', fd: 3, flags: [], ok: true, raw: null, big: 1n });
  same({});
  assert.equal(compileTail(sample)({ fd: 1 }), null);
  assert.equal(compileTail({})({}), '}');
  // a changed shape that stays is recompiled; output is the same either way
  for (let i = 0; i < 100; i++) same({ path: `/p${i}`, n: i });
});
