import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  labelsKey,
  namespaceLabels,
  selectorMatches,
  selectorProblem,
  workloadLabels,
} from './labels.js';

test('labels: workload labels drop the revision labels', () => {
  assert.deepEqual(
    workloadLabels({
      b: '2',
      'pod-template-hash': 'x',
      a: '1',
      'controller-revision-hash': 'y',
      'pod-template-generation': '3',
    }),
    { a: '1', b: '2' },
  );
  // a StatefulSet's pods differ in their name and index labels
  assert.deepEqual(
    workloadLabels({
      app: 'postgres',
      'apps.kubernetes.io/pod-index': '0',
      'statefulset.kubernetes.io/pod-name': 'postgres-0',
      'controller-revision-hash': 'postgres-6d',
    }),
    { app: 'postgres' },
  );
  assert.equal(labelsKey({ b: '2', a: '1' }), 'a=1,b=2');
  assert.deepEqual(namespaceLabels('x', { team: 'a' }), {
    team: 'a',
    'kubernetes.io/metadata.name': 'x',
  });
});

test('labels: selectors', () => {
  assert.ok(selectorMatches({}, {}));
  assert.ok(selectorMatches({}, { a: '1' }));
  assert.ok(selectorMatches({ matchLabels: { a: '1' } }, { a: '1', b: '2' }));
  assert.ok(!selectorMatches({ matchLabels: { a: '1' } }, { a: '2' }));
  const ex = (
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist',
    labels: Record<string, string>,
    values?: string[],
  ) =>
    selectorMatches(
      { matchExpressions: [{ key: 'k', operator, ...(values ? { values } : {}) }] },
      labels,
    );
  assert.ok(ex('In', { k: 'a' }, ['a', 'b']));
  assert.ok(!ex('In', {}, ['a']));
  assert.ok(ex('NotIn', {}, ['a']), 'NotIn matches a missing key');
  assert.ok(!ex('NotIn', { k: 'a' }, ['a']));
  assert.ok(ex('Exists', { k: '' }));
  assert.ok(!ex('Exists', {}));
  assert.ok(ex('DoesNotExist', {}));
  assert.ok(!ex('DoesNotExist', { k: 'x' }));
  assert.ok(
    !selectorMatches(
      { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] },
      { a: '1' },
    ),
    'ANDed',
  );
  assert.equal(
    selectorProblem({ matchLabels: { a: 1 } }, 's'),
    's.matchLabels.a: must be a string',
  );
  assert.equal(selectorProblem({ foo: 1 }, 's'), 's: unknown field "foo"');
  assert.equal(
    selectorProblem({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 's'),
    's.matchExpressions[0].values: must be empty for Exists',
  );
});
