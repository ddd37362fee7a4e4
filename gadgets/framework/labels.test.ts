import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  formatLabelSelector,
  labelSelectorMatches,
  LabelSelectorError,
  parseLabelSelector,
  validLabelKey,
} from './labels.js';

describe('label selector parser', () => {
  it('parses the empty selector as no requirement', () => {
    assert.deepEqual(parseLabelSelector(''), []);
    assert.deepEqual(parseLabelSelector('   '), []);
  });

  it('parses every operator', () => {
    const r = parseLabelSelector('a=b,c!=d,e in (x,y),f notin (z),g,!h');
    assert.deepEqual(r, [
      { key: 'a', op: '=', values: ['b'] },
      { key: 'c', op: '!=', values: ['d'] },
      { key: 'e', op: 'in', values: ['x', 'y'] },
      { key: 'f', op: 'notin', values: ['z'] },
      { key: 'g', op: 'exists', values: [] },
      { key: 'h', op: '!exists', values: [] },
    ]);
  });

  it('accepts == and whitespace anywhere between tokens', () => {
    const r = parseLabelSelector('  a == b ,  e in(x , y),f notin( z ) , ! h ');
    assert.deepEqual(r, [
      { key: 'a', op: '=', values: ['b'] },
      { key: 'e', op: 'in', values: ['x', 'y'] },
      { key: 'f', op: 'notin', values: ['z'] },
      { key: 'h', op: '!exists', values: [] },
    ]);
  });

  it('accepts prefixed keys, empty values and numeric comparisons', () => {
    assert.deepEqual(parseLabelSelector('app.kubernetes.io/name=web,tier='), [
      { key: 'app.kubernetes.io/name', op: '=', values: ['web'] },
      { key: 'tier', op: '=', values: [''] },
    ]);
    assert.deepEqual(parseLabelSelector('x in (),y in (a,)'), [
      { key: 'x', op: 'in', values: [''] },
      { key: 'y', op: 'in', values: ['a', ''] },
    ]);
    assert.deepEqual(parseLabelSelector('replicas>2,gen<10'), [
      { key: 'replicas', op: '>', values: ['2'] },
      { key: 'gen', op: '<', values: ['10'] },
    ]);
  });

  it('rejects malformed selectors', () => {
    for (const bad of [
      'a=b,',
      ',a',
      'a b',
      'a in x',
      'a in (x',
      'a in (x y)',
      '!a=b',
      'a=b=c',
      'a>b',
      '=b',
      '-a=b',
      'a=-b',
      'a=' + 'v'.repeat(64),
      'k'.repeat(64),
      'Bad_Prefix/a=b',
      '/a=b',
      'in=b',
      'a notin',
      'a!',
    ]) {
      assert.throws(() => parseLabelSelector(bad), LabelSelectorError, bad);
    }
  });

  it('validates keys like Kubernetes qualified names', () => {
    assert.ok(validLabelKey('a'));
    assert.ok(validLabelKey('a-b_c.d'));
    assert.ok(validLabelKey('example.com/a'));
    assert.ok(!validLabelKey('a-'));
    assert.ok(!validLabelKey('example.com/'));
    assert.ok(!validLabelKey('a/b/c'));
  });

  it('formats canonically', () => {
    assert.equal(
      formatLabelSelector(parseLabelSelector('a==b, c != d, e in (x,y), f notin (z), g, !h')),
      'a=b,c!=d,e in (x,y),f notin (z),g,!h',
    );
  });
});

describe('label selector matching', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod', replicas: '3' };
  const m = (s: string, l: Record<string, string> = labels): boolean => labelSelectorMatches(s, l);

  it('matches everything with the empty selector', () => {
    assert.ok(m(''));
    assert.ok(m('', {}));
  });

  it('equality and inequality', () => {
    assert.ok(m('app=web'));
    assert.ok(m('app==web'));
    assert.ok(!m('app=db'));
    assert.ok(m('app!=db'));
    assert.ok(!m('app!=web'));
    assert.ok(m('missing!=x'), '!= matches when the key is absent');
    assert.ok(!m('missing=x'));
  });

  it('set membership', () => {
    assert.ok(m('env in (prod,staging)'));
    assert.ok(!m('env in (dev,staging)'));
    assert.ok(m('env notin (dev)'));
    assert.ok(!m('env notin (prod)'));
    assert.ok(m('missing notin (x)'), 'notin matches when the key is absent');
    assert.ok(!m('missing in (x)'));
  });

  it('existence', () => {
    assert.ok(m('app'));
    assert.ok(!m('missing'));
    assert.ok(m('!missing'));
    assert.ok(!m('!app'));
  });

  it('numeric comparison', () => {
    assert.ok(m('replicas>2'));
    assert.ok(!m('replicas>3'));
    assert.ok(m('replicas<4'));
    assert.ok(!m('app>1'), 'non-numeric label value never compares');
    assert.ok(!m('missing<1'));
  });

  it('ANDs requirements', () => {
    assert.ok(m('app=web,tier in (front),!canary,env'));
    assert.ok(!m('app=web,tier in (back)'));
  });

  it('throws on a bad selector when matching', () => {
    assert.throws(() => m('a in'), LabelSelectorError);
  });
});
