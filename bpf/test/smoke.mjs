#!/usr/bin/env node
// Kernel-side smoke test, independent of the daemon: loads each object with gadget-run, runs the
// workloads and asserts on the decoded records. Root only; leaves nothing loaded or pinned.
//   bash bpf/test/build.sh && node bpf/test/smoke.mjs
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { decodeStream } from './decode.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const T = join(ROOT, 'build/bpf/test');
const G = join(ROOT, 'build/gadgets');
const layout = (name) => JSON.parse(readFileSync(join(G, `${name}.layout.json`), 'utf8'));
const sh = (script) => execFileSync('bash', ['-c', script], { encoding: 'utf8' });

/** Runs obj with gadget-run while workload() runs; returns the decoded records. */
async function trace(obj, args, lay, workload) {
  const p = spawn(join(T, 'gadget-run'), [...args, obj], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  let err = '';
  p.stdout.on('data', (d) => out.push(d));
  const exited = new Promise((r) => p.on('exit', r));
  await new Promise((resolve, reject) => {
    p.stderr.on('data', (d) => {
      err += d;
      if (err.includes('ready')) resolve();
    });
    p.on('exit', () => reject(new Error(`gadget-run failed:\n${err}`)));
  });
  try {
    await workload();
    await sleep(300);
  } finally {
    p.kill('SIGINT');
    await exited;
  }
  if (lay) assert.match(err, /lost 0/);
  return lay ? decodeStream(lay, Buffer.concat(out)) : [];
}

let failures = 0;
async function test(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}

const open = layout('trace_open');
const exec = layout('trace_exec');
const openObj = join(G, 'trace_open.bpf.o');
const execObj = join(G, 'trace_exec.bpf.o');
const mine = (comm) => (r) => r.comm === comm;
const byPath = (recs, p) => recs.filter((r) => r.path[0] === p);

await test('trace_open: syscalls, flags, mode, dirfd, errors', async () => {
  const recs = (
    await trace(openObj, [], open, () => execFileSync(join(T, 'work-open'), { cwd: '/' }))
  ).filter(mine('work-open'));
  const uid = process.getuid();
  for (const r of recs) {
    assert.equal(r.uid, uid);
    assert.equal(r.pid, r.tid);
    assert.equal(r.full_path_len, 0);
    assert.equal(r.path_size, Buffer.byteLength(r.path[0]) + 1);
  }
  const host = byPath(recs, '/etc/hostname');
  assert.equal(host.length, 1);
  const creats = recs.filter((r) => r.flags === 0o1101);
  assert.equal(creats.length, 1, 'the ia32 readlink (85) must not show up as creat (85)');
  assert.ok(host[0].ret >= 0);
  assert.equal(host[0].dirfd, -100);
  assert.equal(byPath(recs, '/nonexistent/file')[0].ret, -2);
  const lib = byPath(recs, 'lib')[0];
  assert.ok(lib.dirfd >= 0 && lib.ret >= 0);
  const creat = byPath(recs, 'trace-open-creat.tmp')[0];
  assert.equal(creat.flags, 0o1101); // O_CREAT|O_WRONLY|O_TRUNC
  assert.equal(creat.mode, 0o640);
  const how = byPath(recs, '/etc/passwd')[0];
  assert.equal(how.flags, 0o2000000); // O_CLOEXEC from struct open_how
  const how2 = byPath(recs, 'no/such/dir/x')[0];
  assert.equal(how2.flags, 0o101);
  assert.equal(how2.mode, 0o600);
  assert.equal(how2.ret, -2);
});

await test('trace_open: failed_only', async () => {
  const recs = (
    await trace(openObj, ['-s', 'failed_only=1'], open, () => execFileSync(join(T, 'work-open')))
  ).filter(mine('work-open'));
  assert.ok(recs.length >= 4);
  assert.ok(recs.every((r) => r.ret < 0));
});

await test('trace_open: full_path and prefixes', async () => {
  const recs = (
    await trace(openObj, ['-s', 'full_path=1', '-p', '/usr/lib', '-p', '/tmp/'], open, () =>
      execFileSync(join(T, 'work-open'), { cwd: '/' }),
    )
  ).filter(mine('work-open'));
  const full = Object.fromEntries(recs.map((r) => [r.path[0], r.path[1]]));
  assert.equal(full['lib'], '/usr/lib'); // success: the fd's path
  assert.equal(full['missing-in-cwd'], '/tmp/missing-in-cwd'); // failure: cwd + path
  assert.equal(full['trace-open-creat.tmp'], '/tmp/trace-open-creat.tmp');
  assert.ok(!('/etc/hostname' in full), 'prefix filter');
  assert.ok(!('missing-rel' in full), '/usr/missing-rel matches no prefix');
  for (const r of recs) assert.equal(r.full_path_len, Buffer.byteLength(r.path[1]));
});

await test('trace_exec: success, failure, memfd, thread, long argv', async () => {
  const recs = (
    await trace(execObj, [], exec, () => execFileSync(join(T, 'work-exec'), { cwd: '/usr' }))
  ).filter((r) => r.pcomm === 'work-exec');
  const find = (arg) => recs.filter((r) => r.args.includes(arg));
  const plain = find('--plain')[0];
  assert.deepEqual(plain.args, ['true', '--plain', 'two words', '', 'last']);
  assert.equal(plain.args_count, 5);
  assert.equal(plain.ret, 0);
  assert.equal(plain.comm, 'true');
  assert.equal(plain.cwd, '/usr');
  assert.match(plain.exepath, /\/true$/);
  const fail = find('--fail')[0];
  assert.equal(fail.ret, -2);
  assert.equal(fail.exepath, '/nonexistent/nope');
  assert.equal(fail.comm, 'work-exec');
  const [memOk, memBad] = [
    find('--memfd').find((r) => r.ret === 0),
    find('--memfd').find((r) => r.ret < 0),
  ];
  assert.equal(memOk.exepath, '/memfd:fileless');
  assert.equal(memBad.exepath, '/memfd:fileless'); // execveat(fd, "", AT_EMPTY_PATH): fd's path
  assert.equal(memBad.ret, -8);
  const thr = find('--from-thread')[0];
  assert.notEqual(thr.tid, thr.pid, 'tid is the exec-ing (non-leader) thread');
  const many = recs.filter((r) => r.args[0] === 'many');
  assert.equal(many.length, 4);
  for (const r of many) {
    const long = r.args_count === 41;
    assert.equal(r.args_truncated, long);
    assert.equal(r.args_size, long ? 16384 : 405);
    if (!long) assert.equal(r.args.length, 101);
  }
});

await test('trace_exec: ignore_failed', async () => {
  const recs = (
    await trace(execObj, ['-s', 'ignore_failed=1'], exec, () => execFileSync(join(T, 'work-exec')))
  ).filter((r) => r.pcomm === 'work-exec');
  assert.ok(recs.length >= 5);
  assert.ok(recs.every((r) => r.ret === 0));
});

await test('container_tracker: nested mount namespaces map to the container', async () => {
  const pins = '/sys/fs/bpf/kg-smoke';
  const gpins = '/sys/fs/bpf/kg-smoke-gadget';
  rmSync(pins, { recursive: true, force: true });
  rmSync(gpins, { recursive: true, force: true });
  mkdirSync(pins);
  mkdirSync(gpins);
  const key = (n) => [...Buffer.from(new BigUint64Array([BigInt(n)]).buffer)].join(' ');
  const ns = (pid) => statSync(`/proc/${pid}/ns/mnt`).ino;
  let container;
  try {
    await trace(join(ROOT, 'build/bpf/container_tracker.bpf.o'), ['-P', pins], null, async () => {
      container = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '30']);
      await sleep(300);
      const c = ns(container.pid);
      sh(`bpftool map update pinned ${pins}/gadget_mntns_container key ${key(c)} value 1`);
      const reuse = ['gadget_mntns_alias', 'gadget_mntns_known'].flatMap((m) => [
        '-r',
        `${m}=${pins}/${m}`,
      ]);
      const recs = await trace(
        openObj,
        [...reuse, '-s', 'gadget_filter_mode=1', '-P', gpins],
        open,
        async () => {
          for (const n of [ns('self'), c]) {
            sh(`bpftool map update pinned ${pins}/gadget_mntns_known key ${key(n)} value 1`);
          }
          sh(`bpftool map update pinned ${gpins}/gadget_mntns_filter key ${key(c)} value 1`);
          const w = join(T, 'work-ns');
          const inC = `nsenter -t ${container.pid} -m`;
          sh(`${w} clone /x-host-clone; ${inC} ${w} unshare /x-unshare; ${inC} ${w} clone /x-clone;
              ${inC} unshare -m ${w} clone /x-nested; cat /x-host 2>/dev/null || true`);
        },
      );
      const seen = Object.fromEntries(
        recs.filter((r) => r.path[0].startsWith('/x-')).map((r) => [r.path[0], r.mntns_id]),
      );
      assert.equal(seen['/x-unshare'], String(c));
      assert.equal(seen['/x-clone'], String(c));
      assert.equal(seen['/x-nested'], String(c));
      assert.ok(!('/x-host' in seen), 'host (known, not in filter) is filtered out');
      // a namespace made from the host is no alias: unknown, so it passes for user space to classify
      assert.ok(seen['/x-host-clone'] && seen['/x-host-clone'] !== String(c));
      assert.equal(JSON.parse(sh(`bpftool -j map dump pinned ${pins}/unshare_mntns`)).length, 0);
    });
  } finally {
    container?.kill();
    rmSync(gpins, { recursive: true, force: true });
    rmSync(pins, { recursive: true, force: true });
  }
});

process.exitCode = failures ? 1 : 0;
