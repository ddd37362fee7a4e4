// The containerd event source against a hostile peer in another process
// (test-support/hostile-containerd.ts): garbage envelopes, an Any of an unknown type, an id with
// a slash, a value that is not its type, a message over the size limit, a stream that ends, a
// listing that does not decode. The source counts each, subscribes again, and still learns the
// one valid container. No root needed.

import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { ContainerdEventSource } from './containerd.js';
import { waitFor } from '../../../../e2e/fixtures/podman.js';

const here = dirname(fileURLToPath(import.meta.url));

test('hostile containerd: everything counted, nothing fatal, the valid container learned', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kg-hostile-cd-'));
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(
    join(bundle, 'config.json'),
    JSON.stringify({
      ociVersion: '1.0.2',
      process: { args: ['/pause'] },
      root: { path: 'rootfs' },
      linux: { namespaces: [{ type: 'mount' }, { type: 'network' }] },
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.container-name': 'app',
        'io.kubernetes.cri.sandbox-name': 'pod-h',
        'io.kubernetes.cri.sandbox-namespace': 'ns-h',
        'io.kubernetes.cri.image-name': 'registry.example/app:1',
      },
    }),
  );
  const socket = join(dir, 'containerd.sock');
  let subscriptions = 0;
  const child: ChildProcess = fork(
    join(here, 'test-support', 'hostile-containerd.js'),
    [socket, bundle],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const src = new ContainerdEventSource({
    socket,
    stateDirs: [join(dir, 'state')],
    backoffMinMs: 20,
    backoffMaxMs: 100,
  });
  after(() => {
    src.close();
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { listening?: boolean; error?: string; subscribed?: number }) => {
      if (m.subscribed) subscriptions = m.subscribed;
      if (m.listening) resolve();
      if (m.error) reject(new Error(m.error));
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const disconnects: string[] = [];
  src.on('disconnected', (d) => disconnects.push(d.error));
  src.on('event', () => {
    throw new Error('a listener with a bug');
  });
  src.start();

  await waitFor(() => subscriptions >= 3 && src.exitedAt('good1') > 0, 10_000);
  const meta = src.lookup('good1', 'unknown');
  assert.ok(meta);
  assert.equal(meta.name, 'app');
  assert.equal(meta.image, 'registry.example/app:1');
  assert.equal(meta.k8s?.pod, 'pod-h');
  assert.equal(meta.k8s?.namespace, 'ns-h');
  assert.equal(meta.containerdNamespace, 'k8s.io');
  assert.equal(meta.initPid, 4321);
  assert.equal(meta.bundle, join(bundle, 'config.json'));
  assert.equal(src.lookup('a/../b', 'unknown'), null);

  const s = src.stats();
  assert.equal(s.unknownType, 1, JSON.stringify(s));
  // the garbage envelope, the id with a slash, the TaskStart value that does not decode
  assert.equal(s.malformed, 3, JSON.stringify(s));
  assert.equal(s.bundleErrors, 0);
  assert.equal(s.listenerErrors, 2, 'task-create and task-exit reached the listener');
  assert.ok(s.errors >= 2 && s.reconnects >= 2, JSON.stringify(s));
  assert.ok(s.listErrors >= 1, JSON.stringify(s));
  assert.ok(
    disconnects.some((e) => /RESOURCE_EXHAUSTED|larger than max/i.test(e)),
    disconnects.join('; '),
  );
  assert.ok(
    disconnects.some((e) => e === 'stream ended'),
    disconnects.join('; '),
  );
  assert.equal(child.exitCode, null, 'the server still runs');
});
