// Parser test only: hand-written containerd state (no containerd running). Checks that the
// containerd source reads <state>/io.containerd.runtime.v2.task/<ns>/<id>/{config.json,init.pid}
// from a configurable state dir and maps the CRI annotations.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ContainerdSource, parseOciConfig } from './sources.js';

const SANDBOX_ID = 'a1'.repeat(32);
const CTR_ID = 'b2'.repeat(32);
const PLAIN_ID = 'c3'.repeat(32);
const POD_UID = '5f0c2a9e-7d1b-4c3e-9a8f-0123456789ab';

// Shaped like containerd 1.6 CRI output (trimmed): namespaces point into the sandbox's.
function criConfig(type: 'sandbox' | 'container', extra: Record<string, string> = {}): object {
  return {
    ociVersion: '1.0.2-dev',
    process: {
      user: { uid: 0, gid: 0 },
      args: type === 'sandbox' ? ['/pause'] : ['nginx', '-g', 'daemon off;'],
      cwd: '/',
    },
    root: { path: 'rootfs' },
    hostname: type === 'sandbox' ? 'nginx-7f456874f4-abcde' : '',
    annotations: {
      'io.kubernetes.cri.container-type': type,
      'io.kubernetes.cri.sandbox-id': SANDBOX_ID,
      'io.kubernetes.cri.sandbox-name': 'nginx-7f456874f4-abcde',
      'io.kubernetes.cri.sandbox-namespace': 'web',
      'io.kubernetes.cri.sandbox-uid': POD_UID,
      ...(type === 'container'
        ? {
            'io.kubernetes.cri.container-name': 'nginx',
            'io.kubernetes.cri.image-name': 'docker.io/library/nginx:1.25',
          }
        : {}),
      ...extra,
    },
    linux: {
      cgroupsPath: `/kubepods/besteffort/pod${POD_UID}/${type === 'sandbox' ? SANDBOX_ID : CTR_ID}`,
      namespaces: [
        { type: 'pid' },
        { type: 'ipc', path: '/proc/4242/ns/ipc' },
        { type: 'uts', path: '/proc/4242/ns/uts' },
        { type: 'mount' },
        { type: 'network', path: '/proc/4242/ns/net' },
      ],
    },
  };
}

describe('containerd bundle parser (hand-written state dir)', () => {
  let state: string;
  before(() => {
    state = mkdtempSync(join(tmpdir(), 'kg-containerd-state-'));
    const write = (ns: string, id: string, config: object, pid: number | null): void => {
      const dir = join(state, 'io.containerd.runtime.v2.task', ns, id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      if (pid !== null) writeFileSync(join(dir, 'init.pid'), String(pid));
    };
    write('k8s.io', SANDBOX_ID, criConfig('sandbox'), 4242);
    write('k8s.io', CTR_ID, criConfig('container'), 4300);
    write(
      'default',
      PLAIN_ID,
      {
        ociVersion: '1.0.2',
        process: { args: ['sh'] },
        root: { path: 'rootfs' },
        annotations: {},
        linux: { namespaces: [{ type: 'mount' }] },
      },
      null,
    );
  });
  after(() => rmSync(state, { recursive: true, force: true }));

  it('reads a CRI container: k8s identity, image, init pid', () => {
    const src = new ContainerdSource(['/nonexistent/state', state]);
    const m = src.lookup(CTR_ID, 'unknown');
    assert.ok(m);
    assert.equal(m.runtime, 'containerd');
    assert.equal(m.sandbox, false);
    assert.equal(m.name, 'nginx');
    assert.equal(m.image, 'docker.io/library/nginx:1.25');
    assert.equal(m.initPid, 4300);
    assert.equal(m.containerdNamespace, 'k8s.io');
    assert.equal(
      m.bundle,
      join(state, 'io.containerd.runtime.v2.task', 'k8s.io', CTR_ID, 'config.json'),
    );
    assert.deepEqual(
      { ...m.k8s, labels: undefined },
      {
        namespace: 'web',
        pod: 'nginx-7f456874f4-abcde',
        container: 'nginx',
        podUid: POD_UID,
        labels: undefined,
        ownerKind: '',
        ownerName: '',
        podIp: '',
        hostNetwork: false,
      },
    );
    assert.equal(m.annotations['io.kubernetes.cri.sandbox-id'], SANDBOX_ID);
  });

  it('flags the sandbox (pause) container', () => {
    const m = new ContainerdSource([state]).lookup(SANDBOX_ID, 'containerd');
    assert.equal(m?.sandbox, true);
  });

  it('non-CRI containers: name falls back to the short id, no init.pid gives 0', () => {
    const m = new ContainerdSource([state]).lookup(PLAIN_ID, 'unknown');
    assert.equal(m?.name, PLAIN_ID.slice(0, 12));
    assert.equal(m?.k8s, undefined);
    assert.equal(m?.initPid, 0);
    assert.equal(m?.containerdNamespace, 'default');
  });

  it('does not look for podman / cri-o ids, and misses unknown ids', () => {
    const src = new ContainerdSource([state]);
    assert.equal(src.lookup(CTR_ID, 'podman'), null);
    assert.equal(src.lookup('d4'.repeat(32), 'unknown'), null);
  });

  it('recognises ctr-style /<namespace>/<id> cgroups of known tasks', () => {
    const src = new ContainerdSource([state]);
    assert.deepEqual(src.matchCgroupPath(`/default/${PLAIN_ID}`), {
      id: PLAIN_ID,
      runtime: 'containerd',
    });
    assert.equal(src.matchCgroupPath('/default/nope'), null);
    assert.equal(src.matchCgroupPath('/a/b/c'), null);
  });

  it('parseOciConfig: host network when there is no network namespace; cri-o annotations', () => {
    const o = parseOciConfig({
      process: { args: ['x'] },
      annotations: {
        'io.kubernetes.cri-o.ContainerType': 'container',
        'io.kubernetes.pod.name': 'p',
        'io.kubernetes.pod.namespace': 'n',
        'io.kubernetes.pod.uid': 'u',
        'io.kubernetes.container.name': 'c',
        'io.kubernetes.cri-o.ImageName': 'img',
      },
      linux: { namespaces: [{ type: 'mount' }] },
    });
    assert.equal(o.cri, 'cri-o');
    assert.equal(o.hostNetwork, true);
    assert.equal(o.k8s?.hostNetwork, true);
    assert.equal(o.k8s?.pod, 'p');
    assert.equal(o.k8s?.container, 'c');
    assert.equal(o.image, 'img');
    assert.throws(() => parseOciConfig('[1]'));
  });

  it('podman annotations (io.kubernetes.cri-o.Created) are not taken for cri-o', () => {
    const o = parseOciConfig({
      annotations: { 'io.container.manager': 'libpod', 'io.kubernetes.cri-o.Created': 'x' },
    });
    assert.equal(o.cri, '');
    assert.equal(o.k8s, undefined);
  });
});
