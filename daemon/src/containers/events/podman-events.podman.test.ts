// The podman event source on this host's real events log (events_logger = "file"), with real
// podman containers from the busybox rootfs: a one-shot `podman run --rm` container is named after
// it is gone, and a source started later learns from the replay both a container still running
// and one that ran and was removed while no source was there. Needs root and podman.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  ContainerPool,
  ensureRootfs,
  podman,
  podmanSkip,
  runContainer,
  uniqueName,
  waitFor,
} from '../../../../e2e/fixtures/podman.js';
import { ContainersStorageSource } from '../sources.js';
import { PodmanEventSource } from './podman.js';

const LOG = '/run/libpod/events/events.log';

function eventLogger(): string {
  try {
    return execFileSync('podman', ['info', '--format', '{{.Host.EventLogger}}'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return '';
  }
}

const skip =
  podmanSkip() || (eventLogger() !== 'file' ? 'needs podman with events_logger = "file"' : false);

const onDisk = (): ContainersStorageSource =>
  new ContainersStorageSource(
    ['/var/lib/containers/storage', '/run/containers/storage'],
    ['/run/runc'],
  );

describe('podman event source on the events log', { skip }, () => {
  const pool = new ContainerPool();
  const sources: PodmanEventSource[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'kg-podman-ev-'));
  const extra: string[] = [];

  before(() => {
    ensureRootfs();
  });
  after(async () => {
    for (const s of sources) s.close();
    await pool.cleanup();
    if (extra.length) await podman(['rm', '-f', '-t', '0', ...extra]);
    rmSync(tmp, { recursive: true, force: true });
  });

  function source(): PodmanEventSource {
    const s = new PodmanEventSource({ path: LOG, pollMs: 200 });
    sources.push(s);
    return s;
  }

  test('a one-shot podman run --rm container is named after it is gone', async () => {
    // the log exists once podman wrote any event; this run's create makes sure of it
    const src = source();
    const statuses: string[] = [];
    const name = uniqueName('evoneshot');
    src.on('event', (e) => {
      if (e.meta.name === name) statuses.push(e.status);
    });
    src.start();
    assert.ok(existsSync(LOG));
    const cidfile = join(tmp, 'oneshot.cid');
    const r = await runContainer(name, ['/bin/busybox', 'true'], {
      args: ['--rm', '--cidfile', cidfile],
    });
    assert.equal(r.code, 0, r.stderr);
    // the id, independently of the events: podman writes the cidfile at create
    const id = existsSync(cidfile) ? readFileSync(cidfile, 'utf8').trim() : '';
    assert.match(id, /^[0-9a-f]{64}$/, 'cidfile');
    await waitFor(() => statuses.includes('remove'), 5000);
    // gone: podman no longer lists it, its files are gone
    const ps = await podman(['ps', '-a', '-q', '--no-trunc', '--filter', `id=${id}`]);
    assert.equal(ps.stdout.trim(), '');
    assert.equal(onDisk().lookup(id, 'podman', 0), null);
    const meta = src.lookup(id, 'podman');
    assert.ok(meta, 'named from the events');
    assert.equal(meta.name, name);
    assert.equal(meta.runtime, 'podman');
    assert.ok(src.exitedAt(id) > 0);
    for (const s of ['init', 'start', 'died', 'remove']) assert.ok(statuses.includes(s), s);
    assert.equal(src.lookup(id, 'containerd'), null);
    assert.equal(src.stats().errors, 0);
  });

  test('replay: a running container and a removed one, both from before the source started', async () => {
    const running = await pool.start('evrunning', ['/bin/busybox', 'sleep', '30']);
    const goneName = uniqueName('evgone');
    extra.push(goneName);
    const r = await runContainer(goneName, ['/bin/busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const goneId = (await podman(['inspect', '--format', '{{.Id}}', goneName])).stdout.trim();
    assert.match(goneId, /^[0-9a-f]{64}$/);
    assert.equal((await podman(['rm', goneName])).code, 0);
    assert.equal(onDisk().lookup(goneId, 'podman', 0), null);

    const src = source();
    let replayed = 0;
    src.on('event', (e) => {
      if (e.replay) replayed++;
    });
    src.start(); // the replay is synchronous
    assert.ok(replayed > 0);
    const m1 = src.lookup(running.id, 'podman');
    assert.equal(m1?.name, running.name);
    assert.equal(src.exitedAt(running.id), 0, 'still running');
    const m2 = src.lookup(goneId, 'podman');
    assert.equal(m2?.name, goneName);
    assert.ok(src.exitedAt(goneId) > 0, 'exited');

    // and it follows: the running one stops
    await pool.stop(running);
    await waitFor(() => src.exitedAt(running.id) > 0, 5000);
  });
});
