// The pure half of the exec watch source: command-line parsing, records -> identity, the cache's
// bounds, and finding the runtime binaries under a hand-made host root. Records are shaped like
// those the native watcher produced for podman 4.3 + runc 1.1 on this machine.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import {
  configuredRuntimePaths,
  factsOf,
  findRuntimeBinaries,
  parseConmonArgv,
  parseRuntimeArgv,
  RuntimeExecSource,
  runtimeExecWarning,
  type ExecRecord,
} from './runtime-exec.js';
import type { MetadataSource } from './sources.js';

const ID = 'ec526be199dd117503ff3e722deae4e3fb2706295f2d4a58be8a061a6ca1521c';
const ID2 = 'b2'.repeat(32);
const BUNDLE = `/var/lib/containers/storage/overlay-containers/${ID}/userdata`;
const PIDFILE = `/run/containers/storage/overlay-containers/${ID}/userdata/pidfile`;
const PODMAN_CONFIG = JSON.stringify({
  ociVersion: '1.0.2-dev',
  process: { args: ['/bin/busybox', 'true'] },
  root: { path: '/rootfs' },
  hostname: 'ec526be199dd',
  annotations: { 'io.container.manager': 'libpod', 'org.opencontainers.image.stopSignal': '15' },
  linux: { namespaces: [{ type: 'network' }, { type: 'mount' }] },
});

function rec(p: Partial<ExecRecord>): ExecRecord {
  return {
    kind: 'perm',
    seq: 1,
    pid: 100,
    ppid: 99,
    exe: '',
    argv: [],
    cwd: '/',
    bundle: '',
    config: null,
    tsNs: 1,
    answerNs: 1000,
    ...p,
  };
}

const conmonRec = rec({
  exe: '/usr/bin/conmon',
  argv: [
    '/usr/bin/conmon',
    '--api-version',
    '1',
    '-c',
    ID,
    '-u',
    ID,
    '-r',
    '/usr/bin/runc',
    '-b',
    BUNDLE,
    '-p',
    PIDFILE,
    '-n',
    'web-1',
    '--exit-dir',
    '/run/libpod/exits',
  ],
  bundle: BUNDLE,
  config: PODMAN_CONFIG,
});

const runcCreateRec = rec({
  seq: 2,
  exe: '/usr/sbin/runc',
  argv: [
    '/usr/bin/runc',
    '--log-format=json',
    '--log',
    '/run/x/oci-log',
    'create',
    '--bundle',
    BUNDLE,
    '--pid-file',
    PIDFILE,
    ID,
  ],
  bundle: BUNDLE,
  config: PODMAN_CONFIG,
});

describe('runtime command lines', () => {
  it('parses runc create with value-taking global options', () => {
    const a = parseRuntimeArgv(runcCreateRec.argv);
    assert.deepEqual(a, { subcommand: 'create', id: ID, bundle: BUNDLE, pidFile: PIDFILE });
  });
  it('parses runc start, delete --force, crun --root=X create, and runc init (no id)', () => {
    assert.equal(parseRuntimeArgv(['runc', 'start', ID]).subcommand, 'start');
    assert.equal(parseRuntimeArgv(['runc', 'start', ID]).id, ID);
    assert.deepEqual(parseRuntimeArgv(['/usr/bin/runc', 'delete', '--force', ID]), {
      subcommand: 'delete',
      id: ID,
      bundle: '',
      pidFile: '',
    });
    const c = parseRuntimeArgv([
      'crun',
      '--root=/run/crun',
      '--systemd-cgroup',
      'create',
      '-b',
      '/b',
      'x1',
    ]);
    assert.deepEqual(c, { subcommand: 'create', id: 'x1', bundle: '/b', pidFile: '' });
    assert.deepEqual(parseRuntimeArgv(['/usr/bin/runc', 'init']), {
      subcommand: 'init',
      id: '',
      bundle: '',
      pidFile: '',
    });
  });
  it("parses conmon's -c -n -b -p, and its exec sessions", () => {
    const c = parseConmonArgv(conmonRec.argv);
    assert.deepEqual(c, { id: ID, name: 'web-1', bundle: BUNDLE, pidFile: PIDFILE, exec: false });
    assert.equal(parseConmonArgv(['conmon', '-c', ID, '-e']).exec, true);
  });
});

describe('records -> identity', () => {
  it('conmon (podman) gives id and name; runc create gives id and subcommand', () => {
    const f = factsOf(conmonRec);
    assert.equal(f?.id, ID);
    assert.equal(f?.name, 'web-1');
    assert.equal(f?.subcommand, 'create');
    const g = factsOf(runcCreateRec);
    assert.equal(g?.id, ID);
    assert.equal(g?.name, '');
    assert.equal(g?.subcommand, 'create');
  });
  it("a containerd shim's cwd bundle gives the task dir's id and namespace", () => {
    const dir = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${ID2}`;
    const f = factsOf(
      rec({
        exe: '/usr/bin/containerd-shim-runc-v2',
        argv: ['/usr/bin/containerd-shim-runc-v2', '-namespace', 'k8s.io', '-id', ID2],
        cwd: dir,
        bundle: dir,
        config: '{}',
      }),
    );
    assert.equal(f?.id, ID2);
    assert.equal(f?.containerdNamespace, 'k8s.io');
  });
  it('a podman caller (start/delete before exec) names nothing; its exec record does', () => {
    assert.equal(factsOf(rec({ exe: '/usr/bin/podman', argv: ['podman', 'start', 'x'] })), null);
    const f = factsOf(rec({ kind: 'exec', exe: '/usr/sbin/runc', argv: ['runc', 'delete', ID] }));
    assert.equal(f?.id, ID);
    assert.equal(f?.subcommand, 'delete');
  });
});

describe('RuntimeExecSource cache (hand-made records)', () => {
  it('keeps the name conmon gave when runc init re-reads the bundle, and answers by id', () => {
    const s = new RuntimeExecSource();
    s.ingest(conmonRec);
    s.ingest(runcCreateRec);
    const m = s.lookup(ID);
    assert.ok(m);
    assert.equal(m.name, 'web-1');
    assert.equal(m.id, ID);
    assert.equal(m.runtime, 'podman');
    assert.equal(m.annotations['io.container.manager'], 'libpod');
    assert.equal(m.bundle, `${BUNDLE}/config.json`);
    assert.equal(m.initPid, 0); // no pid file on this machine under that path
    assert.equal(s.lookup(ID2), null);
  });
  it('while the files exist, the on-disk source completes it (image, init pid), the exec name stays', () => {
    const s = new RuntimeExecSource();
    const disk = (name: string): MetadataSource => ({
      name: 'disk',
      lookup: (id) => ({
        runtime: 'podman',
        id,
        name,
        image: 'docker.io/library/busybox:latest',
        initPid: 4242,
        annotations: {},
        sandbox: false,
        bundle: '',
        containerdNamespace: '',
      }),
    });
    s.setDiskSources([disk(ID.slice(0, 12))]);
    assert.equal(s.lookup(ID, 'podman', 0), null, 'unknown to the exec watch: not asked');
    s.ingest(conmonRec);
    const m = s.lookup(ID, 'podman', 0);
    assert.equal(m?.name, 'web-1');
    assert.equal(m?.image, 'docker.io/library/busybox:latest');
    assert.equal(m?.initPid, 4242);
    s.setDiskSources([disk('from-disk')]);
    assert.equal(s.lookup(ID, 'podman', 0)?.name, 'from-disk');
  });

  it('maps CRI annotations (containerd) to the k8s identity', () => {
    const s = new RuntimeExecSource();
    const dir = `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${ID2}`;
    s.ingest(
      rec({
        kind: 'exec',
        exe: '/usr/sbin/runc',
        argv: ['runc', '--root', '/run/containerd/runc/k8s.io', 'create', '--bundle', dir, ID2],
        bundle: dir,
        config: JSON.stringify({
          annotations: {
            'io.kubernetes.cri.container-type': 'container',
            'io.kubernetes.cri.container-name': 'app',
            'io.kubernetes.cri.sandbox-name': 'job-x-abcde',
            'io.kubernetes.cri.sandbox-namespace': 'ns1',
            'io.kubernetes.cri.sandbox-uid': 'u-1',
            'io.kubernetes.cri.image-name': 'busybox:1',
          },
          linux: { namespaces: [{ type: 'network', path: '/proc/1/ns/net' }] },
        }),
      }),
    );
    const m = s.lookup(ID2);
    assert.equal(m?.runtime, 'containerd');
    assert.equal(m?.name, 'app');
    assert.equal(m?.image, 'busybox:1');
    assert.equal(m?.containerdNamespace, 'k8s.io');
    assert.equal(m?.k8s?.namespace, 'ns1');
    assert.equal(m?.k8s?.pod, 'job-x-abcde');
    assert.equal(m?.k8s?.container, 'app');
  });
  it('evicts the oldest over maxEntries and expires after retentionMs, counting both', () => {
    const s = new RuntimeExecSource({ maxEntries: 2, retentionMs: 1000 });
    const mk = (id: string): ExecRecord =>
      rec({
        exe: '/usr/sbin/runc',
        argv: ['runc', 'create', '--bundle', '/b', id],
        config: PODMAN_CONFIG,
      });
    s.ingest(mk('a1'), 0);
    s.ingest(mk('a2'), 10);
    s.ingest(mk('a3'), 20);
    assert.deepEqual(s.ids(), ['a2', 'a3']);
    // a newer record of a2 moves it last
    s.ingest(rec({ kind: 'exec', exe: '/usr/sbin/runc', argv: ['runc', 'delete', 'a2'] }), 500);
    assert.deepEqual(s.ids(), ['a3', 'a2']);
    (s as unknown as { sweep(now: number): void }).sweep(1200);
    assert.deepEqual(s.ids(), ['a2']);
    const st = s as unknown as { evicted: number; expired: number };
    assert.equal(st.evicted, 1);
    assert.equal(st.expired, 1);
  });
});

describe('finding the runtime binaries', () => {
  const root = mkdtempSync(join(tmpdir(), 'kg-rtbin-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads BinaryName from containerd and the runtime lists of containers.conf', () => {
    const toml = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  BinaryName = "/opt/rt/runc"\n`;
    const conf = `[engine.runtimes]\ncrun = [\n "/usr/bin/crun",\n "/opt/crun/crun"\n]\nrunc = ["/usr/local/bin/runc"]\n`;
    assert.deepEqual(configuredRuntimePaths(toml, conf), [
      '/opt/rt/runc',
      '/usr/bin/crun',
      '/opt/crun/crun',
      '/usr/local/bin/runc',
    ]);
  });

  it('follows absolute symlinks inside the root, lists each file once, skips non-executables', () => {
    for (const d of ['usr/sbin', 'usr/bin', 'usr/local/bin', 'opt/rt', 'etc/containerd']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    writeFileSync(join(root, 'usr/sbin/runc'), 'x');
    chmodSync(join(root, 'usr/sbin/runc'), 0o755);
    symlinkSync('/usr/sbin/runc', join(root, 'usr/bin/runc')); // absolute: re-rooted
    writeFileSync(join(root, 'usr/local/bin/crun'), 'x'); // not executable
    writeFileSync(join(root, 'opt/rt/runc'), 'x');
    chmodSync(join(root, 'opt/rt/runc'), 0o755);
    writeFileSync(join(root, 'etc/containerd/config.toml'), 'BinaryName = "/opt/rt/runc"\n');
    assert.deepEqual(findRuntimeBinaries(root, '/nonexistent'), [
      join(root, 'usr/sbin/runc'),
      join(root, 'opt/rt/runc'),
    ]);
  });

  it('warns in one line when not permitted, and not when there is no runtime', () => {
    const w = runtimeExecWarning({
      ok: false,
      reason: 'denied',
      message: 'fanotify_init: Operation not permitted',
    });
    assert.ok(w && !w.includes('\n') && w.includes('CAP_SYS_ADMIN'));
    assert.equal(runtimeExecWarning({ ok: false, reason: 'no-binaries', message: '' }), undefined);
  });
});
