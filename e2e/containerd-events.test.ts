// The containerd event source against a real containerd 1.6 (its own root, state and socket; see
// e2e/fixtures/containerd.ts): a one-shot container run with `ctr run --rm` is seen from create to
// exit, and its bundle-derived identity is still known once containerd deleted the bundle; the
// source subscribes again after containerd restarts. Needs root, containerd, runc and umoci.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  ContainerdEventSource,
  type ContainerdEvent,
} from '../daemon/src/containers/events/containerd.js';
import { ContainerdSource } from '../daemon/src/containers/sources.js';
import { containerdSkip, TestContainerd } from './fixtures/containerd.js';
import { waitFor } from './fixtures/podman.js';

const skip = containerdSkip();

/**
 * Waits until the source's subscription is live: containerd sends nothing when a stream opens,
 * so a probe event (a namespace created) must come through it.
 */
async function subscribed(src: ContainerdEventSource, cd: TestContainerd): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const name = `kgprobe-${process.pid}-${i}-${Date.now()}`;
    const got = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => {
        src.off('envelope', on);
        resolve(false);
      }, 300);
      const on = (e: { topic: string }): void => {
        if (e.topic !== '/namespaces/create') return;
        clearTimeout(t);
        src.off('envelope', on);
        resolve(true);
      };
      src.on('envelope', on);
    });
    const r = await cd.ctr(['namespaces', 'create', name], 10_000);
    assert.equal(r.code, 0, r.stderr);
    if (await got) return;
  }
  throw new Error('the event source did not subscribe within 15 s');
}

describe('containerd event source', { skip }, () => {
  let cd: TestContainerd;
  let src: ContainerdEventSource;
  const events: ContainerdEvent[] = [];

  before(async () => {
    cd = await TestContainerd.start();
    await cd.importBusybox();
    src = new ContainerdEventSource({
      socket: cd.socket,
      stateDirs: [cd.state],
      extraFilters: ['topic=="/namespaces/create"'],
      backoffMinMs: 50,
      backoffMaxMs: 500,
    });
    src.on('event', (e) => events.push(e));
    src.start();
    await subscribed(src, cd);
  });

  after(async () => {
    src?.close();
    await cd?.cleanup();
    if (cd) {
      assert.deepEqual(cd.shimPids(), [], 'no shim left');
      assert.equal(existsSync(cd.dir), false);
    }
  });

  /** Runs a one-shot `ctr run --rm` container with CRI-style annotations; returns its id. */
  async function oneShot(tag: string): Promise<string> {
    const id = `kgtest-${tag}-${process.pid}`;
    const r = await cd.ctr([
      'run',
      '--rm',
      ...cd.runArgs(),
      '--annotation',
      'io.kubernetes.cri.container-type=container',
      '--annotation',
      `io.kubernetes.cri.container-name=app-${tag}`,
      '--annotation',
      'io.kubernetes.cri.sandbox-name=pod-x',
      '--annotation',
      'io.kubernetes.cri.sandbox-namespace=ns-x',
      '--annotation',
      'io.kubernetes.cri.sandbox-uid=0b8b3b5e-1c1d-4c4e-9f00-000000000001',
      TestContainerd.IMAGE,
      id,
      '/bin/busybox',
      'true',
    ]);
    assert.equal(r.code, 0, `ctr run: ${r.stderr}`);
    return id;
  }

  async function assertSeen(id: string, tag: string): Promise<void> {
    // `ctr run --rm` returns after the delete; the events are a few ms behind at most
    await waitFor(() => events.some((e) => e.id === id && e.kind === 'container-delete'), 5000);
    const mine = events.filter((e) => e.id === id);
    assert.deepEqual(
      mine.map((e) => e.kind),
      [
        'container-create',
        'task-create',
        'task-start',
        'task-exit',
        'task-delete',
        'container-delete',
      ],
    );
    for (const e of mine) assert.equal(e.namespace, cd.ns);
    const [, create, start, exit] = mine as [
      ContainerdEvent,
      ContainerdEvent,
      ContainerdEvent,
      ContainerdEvent,
    ];
    assert.ok(create.pid > 0);
    assert.equal(start.pid, create.pid);
    assert.equal(exit.pid, create.pid);
    assert.equal(exit.execId, id, 'the init process exited');
    assert.equal(exit.exitStatus, 0);

    // the bundle is gone: the on-disk source no longer knows the container, the events do
    const taskDir = join(cd.state, 'io.containerd.runtime.v2.task', cd.ns, id);
    assert.equal(existsSync(taskDir), false);
    assert.equal(new ContainerdSource([cd.state]).lookup(id, 'unknown'), null);
    const meta = src.lookup(id, 'unknown');
    assert.ok(meta, 'known after the delete');
    assert.equal(meta.id, id);
    assert.equal(meta.runtime, 'containerd');
    assert.equal(meta.containerdNamespace, cd.ns);
    assert.equal(meta.name, `app-${tag}`, 'the CRI container name from config.json');
    assert.equal(meta.image, TestContainerd.IMAGE, "ContainerCreate's image");
    assert.equal(meta.initPid, create.pid);
    assert.equal(meta.bundle, join(taskDir, 'config.json'));
    assert.equal(meta.k8s?.pod, 'pod-x');
    assert.equal(meta.k8s?.namespace, 'ns-x');
    assert.equal(meta.k8s?.container, `app-${tag}`);
    assert.equal(meta.sandbox, false);
    assert.ok(src.exitedAt(id) > 0);
    assert.deepEqual(src.matchCgroupPath(`/${cd.ns}/${id}`), { id, runtime: 'containerd' });
    assert.equal(src.matchCgroupPath(`/other/${id}`), null);
    assert.equal(src.lookup(id, 'podman'), null);
  }

  test('a one-shot ctr run --rm: create, start, exit for its id; named after the delete', async () => {
    const id = await oneShot('oneshot');
    await assertSeen(id, 'oneshot');
    const s = src.stats();
    assert.equal(s.malformed, 0);
    assert.equal(s.bundleErrors, 0);
    assert.equal(s.unknownType, 0);
  });

  test('subscribes again after containerd restarts', async () => {
    const before = src.stats();
    const disconnected = new Promise<void>((resolve) => src.once('disconnected', () => resolve()));
    await cd.restart();
    await disconnected;
    await subscribed(src, cd);
    const s = src.stats();
    assert.ok(s.reconnects > before.reconnects, JSON.stringify(s));
    assert.ok(s.errors > before.errors);
    assert.equal(s.connected, true);
    const id = await oneShot('restarted');
    await assertSeen(id, 'restarted');
    // what was learned before the restart is still there
    assert.equal(src.lookup(`kgtest-oneshot-${process.pid}`, 'unknown')?.name, 'app-oneshot');
  });

  test('a container that ran while no source was there is named from the listing', async () => {
    // kept in containerd's metadata (no --rm): its task ran and is gone
    const id = `kgtest-whiledown-${process.pid}`;
    const r = await cd.ctr([
      'run',
      ...cd.runArgs(),
      '--annotation',
      'io.kubernetes.cri.container-type=container',
      '--annotation',
      'io.kubernetes.cri.container-name=app-whiledown',
      '--annotation',
      'io.kubernetes.cri.sandbox-name=pod-y',
      '--annotation',
      'io.kubernetes.cri.sandbox-namespace=ns-y',
      TestContainerd.IMAGE,
      id,
      '/bin/busybox',
      'true',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(cd.state, 'io.containerd.runtime.v2.task', cd.ns, id)), false);
    const late = new ContainerdEventSource({ socket: cd.socket, stateDirs: [cd.state] });
    try {
      const listed = new Promise<{ count: number; error?: string }>((resolve) =>
        late.once('listed', resolve),
      );
      late.start();
      const l = await listed;
      assert.equal(l.error, undefined);
      assert.ok(l.count >= 1);
      const meta = late.lookup(id, 'unknown');
      assert.equal(meta?.name, 'app-whiledown');
      assert.equal(meta?.k8s?.pod, 'pod-y');
      assert.equal(meta?.image, TestContainerd.IMAGE);
      assert.equal(meta?.containerdNamespace, cd.ns);
      assert.ok(late.exitedAt(id) > 0, 'no task: exited');
      // containers deleted before the listing are not in it
      assert.equal(late.lookup(`kgtest-oneshot-${process.pid}`, 'unknown'), null);
      assert.equal(late.stats().listErrors, 0);
    } finally {
      late.close();
      await cd.ctr(['containers', 'delete', id]);
    }
  });
});
