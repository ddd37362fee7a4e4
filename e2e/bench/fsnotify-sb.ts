// Diagnostic for (f): does the exec watch's fanotify mark (FAN_CLASS_CONTENT, on the runc inode)
// slow down opens on the superblock that holds runc? Since the kernel counts permission-class
// watchers per superblock (fsnotify_sb_has_priority_watchers), an open on a watched superblock
// runs the FS_OPEN_PERM hook instead of setting FMODE_NONOTIFY_PERM and skipping it.
// The open/close loop of (b) on files on several superblocks (host / = runc's, a tmpfs, a podman
// container's overlay root), in rounds of ABBA order: no watcher; ExecWatcher on the runtime
// binaries (as the daemon starts it, nothing else); the same watcher on a runc copy on its own
// tmpfs (the mark off the host's superblock). Root; hold `flock /tmp/kg-bench.lock` (exclusive).
// `node dist/e2e/bench/fsnotify-sb.js [ROUNDS=30] [ITERS=200000]`; writes build/bench/fsnotify-sb.json.

import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExecWatcher, findRuntimeBinaries } from '../../daemon/src/containers/runtime-exec.js';
import { ensureRootfs, PODMAN_BASE_ARGS, uniqueName } from '../fixtures/podman.js';
import { idlestCpu, median, sleep } from './proc.js';
import { OUT, TMP, WORKLOAD, buildBenchArtifacts } from './setup.js';

const sh = (cmd: string, args: string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8' }).trim();

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 30);
  const iters = Number(process.argv[3] ?? 200000);
  buildBenchArtifacts();
  const dir = join(TMP, 'fsnotify-sb');
  const cleanups: (() => void)[] = [];
  const cleanup = (): void => {
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch (e) {
        process.stderr.write(`cleanup: ${String(e).split('\n')[0]}\n`);
      }
    }
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  let watcher: ExecWatcher | null = null;
  try {
    rmSync(dir, { recursive: true, force: true });
    for (const d of ['tmpfs', 'alt']) mkdirSync(join(dir, d), { recursive: true });
    sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'kgfsn-loop', join(dir, 'tmpfs')]);
    cleanups.push(() => sh('umount', [join(dir, 'tmpfs')]));
    sh('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'kgfsn-alt', join(dir, 'alt')]);
    cleanups.push(() => sh('umount', [join(dir, 'alt')]));
    const runtimes = findRuntimeBinaries('/');
    if (!runtimes[0]) throw new Error('no runc or crun found');
    copyFileSync(runtimes[0], join(dir, 'alt', 'runc'));
    const rootfs = join(dir, 'rootfs');
    cpSync(ensureRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
    for (const f of ['loopfile', 'tmpfs/loopfile', 'rootfs/loopfile'])
      writeFileSync(join(dir, f), 'x');

    // the container's root is an overlay (`--rootfs DIR:O`), its /dev/shm a tmpfs of its own
    const name = uniqueName('kgfsn');
    sh(
      'podman',
      ['run', '-d', '--rm', ...PODMAN_BASE_ARGS, '--ulimit', 'nofile=1024:1024']
        .concat(['--ulimit', 'nproc=1024:1024', '-v', `${WORKLOAD}:/kgw:ro`, '--name', name])
        .concat(['--rootfs', `${rootfs}:O`, '/bin/sleep', '900']),
    );
    cleanups.push(() => sh('podman', ['rm', '-f', '-t', '0', name]));
    const pid = sh('podman', ['inspect', '-f', '{{.State.Pid}}', name]);
    sh('nsenter', ['-t', pid, '-m', '/bin/sh', '-c', 'echo x > /dev/shm/loopfile']);

    const locs: Record<string, [string, string]> = {
      'host / (runc sb)': ['', join(dir, 'loopfile')],
      'host tmpfs': ['', join(dir, 'tmpfs', 'loopfile')],
      'container overlay root': [pid, '/loopfile'],
      'container /dev/shm (tmpfs)': [pid, '/dev/shm/loopfile'],
    };
    const fs: Record<string, string> = {};
    for (const [l, [p, path]] of Object.entries(locs)) {
      const st = (a: string[]): string =>
        p ? sh('nsenter', ['-t', p, '-m', '/bin/stat', ...a, path]) : sh('stat', [...a, path]);
      fs[l] = `${st(['-f', '-c', '%T'])}, dev ${st(['-c', '%d'])}`;
    }
    const watches: Record<string, string[] | null> = {
      none: null,
      'exec watch (runc)': runtimes,
      'watch on a runc copy on its own tmpfs': [join(dir, 'alt', 'runc')],
    };
    const loop = (cpu: number, p: string, path: string): { ns: number; cpu: number } => {
      const cmd = p ? ['nsenter', '-t', p, '-m', '/kgw'] : [WORKLOAD];
      const r = JSON.parse(
        sh('taskset', ['-c', String(cpu), ...cmd, 'open-loop', String(iters), path]),
      ) as { ns_per_iter: number; cpu_ns_per_iter: number };
      return { ns: r.ns_per_iter, cpu: r.cpu_ns_per_iter };
    };

    const ns: Record<string, number[]> = {};
    const cpuNs: Record<string, number[]> = {};
    const paired: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      const cpu = await idlestCpu();
      const wOrder = Object.keys(watches);
      if (r % 2) wOrder.reverse();
      const lOrder = Object.keys(locs);
      if (Math.floor(r / 2) % 2) lOrder.reverse();
      const row: Record<string, number> = {};
      for (const w of wOrder) {
        const paths = watches[w];
        if (paths) watcher = ExecWatcher.start(paths);
        await sleep(50);
        for (const l of lOrder) {
          const [p, path] = locs[l] ?? ['', ''];
          const m = loop(cpu, p, path);
          (ns[`${w}|${l}`] ??= []).push(m.ns);
          (cpuNs[`${w}|${l}`] ??= []).push(m.cpu);
          row[`${w}|${l}`] = m.ns;
        }
        if (watcher) {
          watcher.close();
          watcher = null;
          await sleep(50); // the kernel frees the mark after an SRCU grace period
        }
      }
      for (const w of Object.keys(watches).slice(1))
        for (const l of Object.keys(locs))
          (paired[`${w}|${l}`] ??= []).push((row[`${w}|${l}`] ?? NaN) / (row[`none|${l}`] ?? NaN));
      process.stderr.write(`round ${r + 1}/${rounds} cpu ${cpu}\n`);
    }

    const table = Object.keys(locs).map((l) => {
      const base = median(ns[`none|${l}`] ?? []);
      const out: Record<string, string | number> = { location: l, fs: fs[l] ?? '', none: base };
      for (const w of Object.keys(watches).slice(1)) {
        out[w] = median(ns[`${w}|${l}`] ?? []);
        out[`${w}: ratio`] = +(Number(out[w]) / base).toFixed(3);
        const pr = paired[`${w}|${l}`] ?? [];
        out[`${w}: paired`] = +median(pr).toFixed(3);
        // a sign test: in how many rounds the watched run was the slower one
        out[`${w}: slower`] = `${pr.filter((x) => x > 1).length}/${pr.length}`;
        out[`${w}: cpu`] = +(
          median(cpuNs[`${w}|${l}`] ?? []) / median(cpuNs[`none|${l}`] ?? [])
        ).toFixed(3);
      }
      return out;
    });
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    writeFileSync(
      join(OUT, 'fsnotify-sb.json'),
      JSON.stringify({ date: new Date().toISOString(), rounds, iters, load, table, ns, cpuNs }),
    );
    console.table(table);
  } finally {
    watcher?.close();
    cleanup();
  }
}

await main();
