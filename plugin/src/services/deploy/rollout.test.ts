import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { nodeLine, podNode, podStatus, rolloutState } from './rollout.js';

function ds(generation: number, status?: Partial<NonNullable<V1DaemonSet['status']>>): V1DaemonSet {
  return {
    metadata: { name: 'gadget', namespace: 'gadget', generation },
    spec: {
      selector: {},
      template: { spec: { containers: [{ name: 'gadget', image: 'img:2' }] } },
    },
    ...(status
      ? {
          status: {
            currentNumberScheduled: 0,
            desiredNumberScheduled: 0,
            numberMisscheduled: 0,
            numberReady: 0,
            observedGeneration: generation,
            ...status,
          },
        }
      : {}),
  };
}

interface PodOpts {
  node?: string;
  gen?: number;
  ready?: boolean;
  waiting?: { reason: string; message?: string };
  running?: boolean;
  deleting?: boolean;
}
function pod(name: string, o: PodOpts): V1Pod {
  return {
    metadata: {
      name,
      labels: { 'k8s-app': 'gadget', 'pod-template-generation': String(o.gen ?? 2) },
      ...(o.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: {
      containers: [{ name: 'gadget', image: 'img:2' }],
      ...(o.node ? { nodeName: o.node } : {}),
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['affine'] }] },
            ],
          },
        },
      },
    },
    status: {
      phase: o.ready || o.running ? 'Running' : 'Pending',
      conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'gadget',
          image: 'img:2',
          imageID: '',
          ready: !!o.ready,
          restartCount: 0,
          state: o.waiting ? { waiting: o.waiting } : o.ready || o.running ? { running: {} } : {},
        },
      ],
    },
  };
}

test('pod states', () => {
  const d = ds(2);
  assert.equal(podStatus(pod('a', { node: 'n1', ready: true }), d).state, 'ready');
  assert.deepEqual(
    podStatus(pod('a', { node: 'n1', waiting: { reason: 'ContainerCreating' } }), d),
    {
      node: 'n1',
      pod: 'a',
      state: 'pending',
      detail: 'ContainerCreating',
    },
  );
  const pull = podStatus(
    pod('a', {
      node: 'n1',
      waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' },
    }),
    d,
  );
  assert.equal(pull.state, 'failing');
  assert.equal(pull.detail, 'ImagePullBackOff: Back-off pulling image "x"');
  assert.equal(podStatus(pod('a', { node: 'n1', running: true }), d).state, 'starting');
  assert.equal(podStatus(pod('a', { node: 'n1', ready: true, gen: 1 }), d).state, 'old');
  assert.equal(
    podStatus(pod('a', { node: 'n1', ready: true, deleting: true }), d).state,
    'terminating',
  );
  // not scheduled yet: the node comes from the DaemonSet's node affinity
  assert.equal(podNode(pod('a', {})), 'affine');
  assert.equal(podStatus(pod('a', {}), d).node, 'affine');
});

test('rollout: done only when observed, every node has a ready pod of the current generation', () => {
  // not observed by the controller yet
  assert.equal(rolloutState(ds(2), []).done, false);
  assert.equal(
    rolloutState(ds(2, { observedGeneration: 1, desiredNumberScheduled: 0 }), []).done,
    false,
  );
  // nothing to run: done
  const zero = rolloutState(ds(2, { desiredNumberScheduled: 0 }), []);
  assert.equal(zero.done, true);
  assert.equal(zero.desired, 0);

  const status = { desiredNumberScheduled: 2, updatedNumberScheduled: 2 };
  const mid = rolloutState(ds(2, status), [
    pod('a', { node: 'n1', ready: true }),
    pod('b', { node: 'n2', waiting: { reason: 'ContainerCreating' } }),
  ]);
  assert.equal(mid.done, false);
  assert.equal(mid.ready, 1);
  assert.deepEqual(
    mid.nodes.map((n) => [n.node, n.state]),
    [
      ['n1', 'ready'],
      ['n2', 'pending'],
    ],
  );
  // upgrade: the new pod wins over the old one on the same node, but an old pod still blocks
  const upgrading = rolloutState(ds(2, status), [
    pod('a', { node: 'n1', ready: true }),
    pod('old-b', { node: 'n2', ready: true, gen: 1, deleting: true }),
    pod('b', { node: 'n2', ready: true }),
  ]);
  assert.deepEqual(
    upgrading.nodes.map((n) => [n.node, n.pod, n.state]),
    [
      ['n1', 'a', 'ready'],
      ['n2', 'b', 'ready'],
    ],
  );
  assert.equal(upgrading.done, true);
  const stale = rolloutState(ds(2, { desiredNumberScheduled: 2, updatedNumberScheduled: 1 }), [
    pod('a', { node: 'n1', ready: true }),
    pod('old-b', { node: 'n2', ready: true, gen: 1 }),
  ]);
  assert.equal(stale.done, false);
  assert.equal(stale.nodes[1]!.state, 'old');

  const done = rolloutState(ds(2, status), [
    pod('a', { node: 'n1', ready: true }),
    pod('b', { node: 'n2', ready: true }),
  ]);
  assert.equal(done.done, true);
  assert.equal(done.ready, 2);
});

test('node lines', () => {
  assert.equal(nodeLine({ node: 'n1', pod: 'a', state: 'ready', detail: '' }, 4), '  n1    ready');
  assert.equal(
    nodeLine({ node: 'node-2', pod: 'b', state: 'pending', detail: 'ContainerCreating' }, 6),
    '  node-2  pending: ContainerCreating',
  );
});
