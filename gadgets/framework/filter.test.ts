import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ContainerFilter } from './runtime.js';
import { emptyFilter, matchesFilter } from './filter.js';
import { emptyK8s } from './containers.js';
import type { ContainerInfo } from './containers.js';

function container(over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    runtime: 'podman',
    id: 'abcdef'.padEnd(64, '0'),
    name: 'web',
    pid: 10,
    mntnsId: 4026532000,
    generation: 1,
    state: 'running',
    startedAt: 0,
    image: '',
    annotations: {},
    ...over,
  };
}
const pod = container({
  runtime: 'containerd',
  id: '123456'.padEnd(64, '0'),
  name: 'nginx',
  k8s: {
    ...emptyK8s(),
    namespace: 'default',
    pod: 'nginx-1',
    container: 'nginx',
    podUid: 'u',
    labels: { app: 'nginx', tier: 'front' },
  },
});
const f = (over: Partial<ContainerFilter>): ContainerFilter => ({ ...emptyFilter(), ...over });

describe('matchesFilter', () => {
  it('the empty filter selects everything, host included', () => {
    assert.ok(matchesFilter(emptyFilter(), null));
    assert.ok(matchesFilter(emptyFilter(), container()));
    assert.ok(matchesFilter(emptyFilter(), pod));
  });

  it('host alone selects only host processes', () => {
    assert.ok(matchesFilter(f({ host: true }), null));
    assert.ok(!matchesFilter(f({ host: true }), container()));
  });

  it('host with a selector selects the host and the matching containers', () => {
    const flt = f({ host: true, containerNames: ['web'] });
    assert.ok(matchesFilter(flt, null));
    assert.ok(matchesFilter(flt, container()));
    assert.ok(!matchesFilter(flt, pod));
  });

  it('names match the runtime name or the k8s container name', () => {
    assert.ok(matchesFilter(f({ containerNames: ['web'] }), container()));
    assert.ok(matchesFilter(f({ containerNames: ['nginx'] }), pod));
    assert.ok(!matchesFilter(f({ containerNames: ['db'] }), container()));
    assert.ok(!matchesFilter(f({ containerNames: ['web'] }), null));
  });

  it('ids match by prefix', () => {
    assert.ok(matchesFilter(f({ containerIds: ['abc'] }), container()));
    assert.ok(matchesFilter(f({ containerIds: ['ABCDEF'] }), container()));
    assert.ok(!matchesFilter(f({ containerIds: ['abd'] }), container()));
    assert.ok(!matchesFilter(f({ containerIds: [''] }), container()));
  });

  it('namespaces, pods and labels need a k8s identity', () => {
    assert.ok(matchesFilter(f({ namespaces: ['default'] }), pod));
    assert.ok(!matchesFilter(f({ namespaces: ['kube-system'] }), pod));
    assert.ok(!matchesFilter(f({ namespaces: ['default'] }), container()));
    assert.ok(matchesFilter(f({ pods: ['nginx-1'] }), pod));
    assert.ok(!matchesFilter(f({ pods: ['nginx-2'] }), pod));
    assert.ok(matchesFilter(f({ labelSelector: 'app=nginx,tier in (front,back)' }), pod));
    assert.ok(!matchesFilter(f({ labelSelector: 'app!=nginx' }), pod));
    assert.ok(!matchesFilter(f({ labelSelector: 'app' }), container()));
  });

  it('selectors are ANDed', () => {
    assert.ok(matchesFilter(f({ namespaces: ['default'], containerNames: ['nginx'] }), pod));
    assert.ok(!matchesFilter(f({ namespaces: ['default'], containerNames: ['web'] }), pod));
  });

  it('podsOnly drops non-pod containers and the host unless host is set', () => {
    assert.ok(matchesFilter(f({ podsOnly: true }), pod));
    assert.ok(!matchesFilter(f({ podsOnly: true }), container()));
    assert.ok(!matchesFilter(f({ podsOnly: true }), null));
    assert.ok(matchesFilter(f({ podsOnly: true, host: true }), null));
  });
});
