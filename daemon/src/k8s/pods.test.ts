// The daemon's pod watch with an in-memory API (no cluster): pod info into the registry, owner
// resolution, deletions, 410 Gone -> relist, API server outages -> backoff, reconnect, resync.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { PodInfo } from '../containers/registry.js';
import {
  PodWatcher,
  containerIdsOf,
  podInfoOf,
  type OwnerRef,
  type PodApi,
  type WatchEventType,
} from './pods.js';

function pod(
  name: string,
  uid: string,
  extra: {
    labels?: Record<string, string>;
    owner?: OwnerRef;
    ip?: string;
    rv?: string;
    hostNetwork?: boolean;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid,
      resourceVersion: extra.rv ?? '1',
      labels: extra.labels ?? {},
      ownerReferences: extra.owner
        ? [
            {
              apiVersion: 'apps/v1',
              kind: extra.owner.kind,
              name: extra.owner.name,
              uid: 'o',
              controller: true,
            },
          ]
        : [],
    },
    spec: { containers: [], hostNetwork: extra.hostNetwork },
    status: { podIP: extra.ip ?? '' },
  };
}

interface Watch {
  rv: string;
  onEvent: (type: WatchEventType, obj: unknown) => void;
  onDone: (err?: unknown) => void;
  aborted: boolean;
}

class FakeApi implements PodApi {
  pods: V1Pod[] = [];
  rv = '100';
  lists = 0;
  watches: Watch[] = [];
  down = false;
  owners = new Map<string, OwnerRef | null>();
  ownerCalls = 0;

  async list() {
    this.lists++;
    if (this.down)
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {
        code: 'ECONNREFUSED',
      });
    return { items: this.pods.map((p) => structuredClone(p)), resourceVersion: this.rv };
  }
  async watch(rv: string, onEvent: Watch['onEvent'], onDone: Watch['onDone']) {
    if (this.down) {
      onDone(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
      return { abort() {} };
    }
    const w: Watch = { rv, onEvent, onDone, aborted: false };
    this.watches.push(w);
    return { abort: () => void (w.aborted = true) };
  }
  async getOwner(kind: 'ReplicaSet' | 'Job', _ns: string, name: string) {
    this.ownerCalls++;
    const o = this.owners.get(`${kind}/${name}`);
    if (o === undefined) throw Object.assign(new Error('not found'), { code: 404 });
    return o;
  }
  get current(): Watch {
    return this.watches.at(-1)!;
  }
}

class Sink {
  readonly calls: Array<[string, PodInfo | null]> = [];
  readonly info = new Map<string, PodInfo>();
  setPodInfo(uid: string, info: PodInfo | null): void {
    this.calls.push([uid, info]);
    if (info) this.info.set(uid, info);
    else this.info.delete(uid);
  }
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await tick(5);
  }
}

describe('PodWatcher', () => {
  test('list, then watch: labels, owner (ReplicaSet -> Deployment), IP, hostNetwork, deletion', async () => {
    const api = new FakeApi();
    api.owners.set('ReplicaSet/web-7d4f', { kind: 'Deployment', name: 'web' });
    api.pods = [
      pod('web-7d4f-x', 'u1', {
        labels: { app: 'web' },
        owner: { kind: 'ReplicaSet', name: 'web-7d4f' },
        ip: '10.0.0.5',
      }),
    ];
    const sink = new Sink();
    const w = new PodWatcher(api, sink);
    w.start();
    await w.synced;
    await until('owner resolved', () => sink.info.get('u1')?.ownerKind === 'Deployment');
    assert.deepEqual(sink.info.get('u1'), {
      labels: { app: 'web' },
      ownerKind: 'Deployment',
      ownerName: 'web',
      podIp: '10.0.0.5',
      hostNetwork: false,
    });
    // the first call carried the direct owner, until resolution
    assert.equal(sink.calls[0]![1]!.ownerKind, 'ReplicaSet');
    await until('watching', () => api.watches.length === 1);
    assert.equal(api.current.rv, '100');

    // a new pod of the same ReplicaSet: the owner comes from the cache, in the first call
    const before = sink.calls.length;
    api.current.onEvent(
      'ADDED',
      pod('web-7d4f-y', 'u2', {
        labels: { app: 'web' },
        owner: { kind: 'ReplicaSet', name: 'web-7d4f' },
        rv: '101',
      }),
    );
    assert.equal(sink.calls[before]![1]!.ownerKind, 'Deployment');
    assert.equal(api.ownerCalls, 1);
    // a no-op update is not passed on; a label change is
    api.current.onEvent(
      'MODIFIED',
      pod('web-7d4f-y', 'u2', {
        labels: { app: 'web' },
        owner: { kind: 'ReplicaSet', name: 'web-7d4f' },
        rv: '102',
      }),
    );
    assert.equal(sink.calls.length, before + 1);
    api.current.onEvent(
      'MODIFIED',
      pod('web-7d4f-y', 'u2', {
        labels: { app: 'web', v: '2' },
        owner: { kind: 'ReplicaSet', name: 'web-7d4f' },
        rv: '103',
      }),
    );
    assert.deepEqual(sink.info.get('u2')!.labels, { app: 'web', v: '2' });
    api.current.onEvent('DELETED', pod('web-7d4f-y', 'u2', { rv: '104' }));
    assert.equal(sink.info.has('u2'), false);
    assert.deepEqual(sink.calls.at(-1), ['u2', null]);
    assert.deepEqual(w.pods(), ['shop/web-7d4f-x']);
    await w.stop();
  });

  test('a Job owned by a CronJob; a bare ReplicaSet stays itself', async () => {
    const api = new FakeApi();
    api.owners.set('Job/backup-123', { kind: 'CronJob', name: 'backup' });
    api.owners.set('ReplicaSet/bare', null);
    api.pods = [
      pod('backup-123-x', 'j1', { owner: { kind: 'Job', name: 'backup-123' } }),
      pod('bare-x', 'r1', { owner: { kind: 'ReplicaSet', name: 'bare' } }),
      pod('db-0', 's1', { owner: { kind: 'StatefulSet', name: 'db' }, hostNetwork: true }),
    ];
    const sink = new Sink();
    const w = new PodWatcher(api, sink);
    w.start();
    await until('cronjob', () => sink.info.get('j1')?.ownerKind === 'CronJob');
    assert.equal(sink.info.get('j1')!.ownerName, 'backup');
    await tick(10);
    assert.deepEqual(
      [sink.info.get('r1')!.ownerKind, sink.info.get('r1')!.ownerName],
      ['ReplicaSet', 'bare'],
    );
    assert.deepEqual(
      [sink.info.get('s1')!.ownerKind, sink.info.get('s1')!.hostNetwork],
      ['StatefulSet', true],
    );
    await w.stop();
  });

  test('410 Gone: a new list, and pods missing from it are forgotten', async () => {
    const api = new FakeApi();
    api.pods = [pod('a', 'ua'), pod('b', 'ub')];
    const sink = new Sink();
    const w = new PodWatcher(api, sink);
    w.start();
    await until('watching', () => api.watches.length === 1);
    api.pods = [pod('a', 'ua', { labels: { x: '1' } })];
    api.rv = '200';
    api.current.onEvent('ERROR', { kind: 'Status', code: 410 });
    await until('relisted', () => api.lists === 2 && api.watches.length === 2);
    assert.equal(api.current.rv, '200');
    assert.equal(sink.info.has('ub'), false);
    assert.deepEqual(sink.info.get('ua')!.labels, { x: '1' });
    await w.stop();
  });

  test('the API server goes away: retries with backoff, then watches on from where it was', async () => {
    const api = new FakeApi();
    api.pods = [pod('a', 'ua')];
    const logs: string[] = [];
    const sink = new Sink();
    const w = new PodWatcher(api, sink, {
      backoffMs: 20,
      maxBackoffMs: 80,
      log: (l, m) => logs.push(`${l} ${m}`),
    });
    w.start();
    await until('watching', () => api.watches.length === 1);
    api.current.onEvent('ADDED', pod('b', 'ub', { rv: '150' }));
    api.down = true;
    api.current.onDone(new Error('socket hang up'));
    assert.equal(w.connected, false);
    await tick(150);
    assert.ok(
      logs.some((l) =>
        /^warn pod watch: socket hang up; retrying in 0.02s \(tracing continues/.test(l),
      ),
      logs.join('\n'),
    );
    api.down = false;
    await until('reconnected', () => w.connected);
    // the watch resumes from the last resourceVersion seen: the server replays what was missed
    assert.equal(api.current.rv, '150');
    assert.equal(api.lists, 1, 'no relist needed');
    assert.ok(logs.includes('info pod watch: reconnected to the API server'), logs.join('\n'));
    api.current.onEvent('ADDED', pod('c', 'uc', { labels: { late: 'yes' }, rv: '151' }));
    assert.deepEqual(sink.info.get('uc')!.labels, { late: 'yes' });
    await w.stop();
  });

  test('a watch that goes silent is restarted', async () => {
    const api = new FakeApi();
    const w = new PodWatcher(api, new Sink(), { idleMs: 50, backoffMs: 10 });
    w.start();
    await until('watching', () => api.watches.length === 1);
    await until('restarted after silence', () => api.watches.length >= 2, 1000);
    assert.equal(api.watches[0]!.aborted, true);
    await w.stop();
  });

  test('a normal end is watched again from the last resourceVersion; one right away backs off', async () => {
    const api = new FakeApi();
    const w = new PodWatcher(api, new Sink(), { backoffMs: 200 });
    w.start();
    await until('watching', () => api.watches.length === 1);
    // closed at once (an API server shutting down closes its watches): not an instant retry
    api.current.onDone();
    await tick(50);
    assert.equal(api.watches.length, 1);
    await until('retried after the backoff', () => api.watches.length === 2, 1000);
    await tick(1050);
    api.current.onEvent('BOOKMARK', { metadata: { resourceVersion: '300' } });
    api.current.onDone();
    await until('rewatched', () => api.watches.length === 3);
    assert.equal(api.current.rv, '300');
    assert.equal(api.lists, 1);
    await w.stop();
  });

  test('podInfoOf', () => {
    assert.deepEqual(podInfoOf(pod('x', 'u', { labels: { a: 'b' }, ip: '1.2.3.4' })), {
      labels: { a: 'b' },
      ownerKind: '',
      ownerName: '',
      podIp: '1.2.3.4',
      hostNetwork: false,
    });
  });
});

describe('containerIdsOf', () => {
  test('current, terminated and previous instances, with the runtime of the id scheme', () => {
    const pod = {
      status: {
        initContainerStatuses: [
          { name: 'init', state: { terminated: { containerID: 'containerd://aa11' } } },
        ],
        containerStatuses: [
          {
            name: 'app',
            containerID: 'containerd://bb22',
            lastState: { terminated: { containerID: 'containerd://cc33' } },
          },
          { name: 'side', containerID: 'cri-o://dd44' },
          { name: 'waiting' },
        ],
      },
    } as unknown as V1Pod;
    assert.deepEqual(containerIdsOf(pod), [
      { id: 'aa11', container: 'init', runtime: 'containerd' },
      { id: 'bb22', container: 'app', runtime: 'containerd' },
      { id: 'cc33', container: 'app', runtime: 'containerd' },
      { id: 'dd44', container: 'side', runtime: 'cri-o' },
    ]);
  });
});
