// npm run bench:containers: CONTAINERS AT SCALE ON ONE NODE (issue 14 #4). Not a test, not in
// CI: real podman containers (busybox rootfs, runc, cgroupfs, nofile/nproc 1024) against a real
// `kubectl-gadget daemon` with BPF in the kernel.
//
//   1. a daemon on its own unix socket and traceloop pin directory; `traceloop start` through it
//      (which keeps the daemon's container registry and tracker running);
//   2. the daemon's idle CPU (no trace runs, nothing starting) at 0, 100 and 500 containers;
//   3. for --minutes: --churn workers each start one-shot containers (`sh -c '/bin/true MARK'`,
//      --rm) back to back, while `trace exec -c TICKER` (a long-lived container that execs twice a
//      second) and an unfiltered `trace exec` run through the daemon, and traceloop records;
//      every --sample seconds the daemon's CPU and RSS;
//   4. identity on a sample of the churned containers: the exec of each one's marker must carry
//      its own name and id (from --cidfile), and `traceloop list` must name it with its own id;
//      `trace exec -c TICKER` must hold the ticker's execs and nothing else;
//   5. with --map-full, a fault injection: the tracker's gadget_mntns_container map (8,192
//      entries) is filled with made-up namespaces through bpftool, one more container starts,
//      and the script reports what the daemon says and whether the new container is still traced;
//   6. everything is removed (containers, traceloop pins, the daemon), also after a failure or
//      SIGINT.
//
//   flock /tmp/kg-bench.lock npm run bench:containers -- [--containers 500] [--minutes 5]
//     [--churn 3] [--sample 10] [--idle-seconds 30] [--identity-sample 40] [--map-full]
//     [--json FILE]

import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cli, runCli, sleep, type Ev } from '../helpers/cli.js';
import { ensureRootfs, podman, podmanSkip, ROOTFS_DIR } from '../fixtures/podman.js';
import { cpuSeconds, rssMiB } from './harness.js';

const PREFIX = 'kgscale-ctr-';
const RUN_ARGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[bench:containers +${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
};

const { values } = parseArgs({
  options: {
    containers: { type: 'string', default: '500' },
    minutes: { type: 'string', default: '5' },
    churn: { type: 'string', default: '3' },
    sample: { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '30' },
    'identity-sample': { type: 'string', default: '40' },
    'start-parallel': { type: 'string', default: '4' },
    'map-full': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const positive = (name: string): number => {
  const v = Number(values[name as keyof typeof values]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`--${name}: expected a positive number\n`);
    process.exit(2);
  }
  return v;
};
const N = Math.round(positive('containers'));
const MINUTES = positive('minutes');
const CHURN = Math.round(positive('churn'));
const SAMPLE_S = positive('sample');
const IDLE_S = positive('idle-seconds');
const ID_SAMPLE = Math.round(positive('identity-sample'));
const START_PAR = Math.round(positive('start-parallel'));

// ---- what must be removed at the end, whatever happens -----------------------------------------

const dir = mkdtempSync('/tmp/kgscale-ctr-');
const sock = join(dir, 'gadget.sock');
const ADDR = `unix://${sock}`;
const PIN_DIR = `/sys/fs/bpf/kgscale-ctr-${process.pid}`;
const ENV = { KGADGET_TRACELOOP_PIN_DIR: PIN_DIR };
const clis: Cli[] = [];
let daemon: Cli | undefined;
let cleaning: Promise<void> | undefined;

async function ourContainers(): Promise<string[]> {
  const r = await podman(['ps', '-a', '--format', '{{.Names}}'], 120_000);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(PREFIX));
}

async function removeAll(): Promise<number> {
  let left = await ourContainers();
  for (let attempt = 0; attempt < 3 && left.length; attempt++) {
    for (let i = 0; i < left.length; i += 50)
      await podman(['rm', '-f', '-t', '0', ...left.slice(i, i + 50)], 300_000);
    left = await ourContainers();
  }
  return left.length;
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of clis) await c.stop('SIGINT', 10_000).catch(() => c.kill9());
    if (daemon?.running) {
      await runCli(['traceloop', 'delete', '--remote', ADDR], { env: ENV, timeoutMs: 60_000 });
      await daemon.stop('SIGTERM', 20_000).catch(() => daemon!.kill9());
    }
    const left = await removeAll();
    if (left) log(`WARNING: ${left} containers ${PREFIX}* could not be removed`);
    rmSync(PIN_DIR, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: removing everything`);
    void cleanup().finally(() => process.exit(130));
  });

// ---- measurements ---------------------------------------------------------------------------------

function memAvailableMiB(): number {
  const m = /MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function fdCount(pid: number): number {
  try {
    return spawnSync('ls', [`/proc/${pid}/fd`], { encoding: 'utf8' }).stdout.split('\n').length - 1;
  } catch {
    return NaN;
  }
}

/** The daemon's CPU (% of one core) over `seconds` with nothing else asked of it. */
async function idleCpu(pid: number, seconds: number): Promise<number> {
  const a = cpuSeconds(pid);
  const w0 = performance.now();
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - a) / ((performance.now() - w0) / 1000)) * 100;
}

interface Sample {
  t: number;
  cpuPct: number;
  rssMiB: number;
  fds: number;
  churned: number;
  churnFailed: number;
  running: number;
  load1: number;
}

// ---- containers -----------------------------------------------------------------------------------

async function startLong(name: string, cmd: string[]): Promise<void> {
  const r = await podman(
    ['run', '-d', '--name', name, ...RUN_ARGS, '--rootfs', ROOTFS_DIR, ...cmd],
    120_000,
  );
  if (r.code !== 0) throw new Error(`podman run ${name}: ${r.stderr.trim().split('\n')[0]}`);
}

async function startMany(from: number, to: number): Promise<void> {
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      await startLong(`${PREFIX}long-${String(i).padStart(4, '0')}`, ['sleep', '2147483647']);
    }
  };
  await Promise.all(Array.from({ length: START_PAR }, worker));
}

interface Churned {
  name: string;
  id: string;
  mark: string;
  code: number;
}

/** podman's running containers of ours (ps is cheap next to inspect). */
async function runningCount(): Promise<number> {
  const r = await podman(['ps', '--format', '{{.Names}}'], 120_000);
  return r.stdout.split('\n').filter((s) => s.startsWith(PREFIX)).length;
}

// ---- the run ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const why = podmanSkip();
  if (why) throw new Error(`bench:containers ${why}`);
  ensureRootfs();
  const stale = await removeAll();
  if (stale) throw new Error(`${stale} leftover ${PREFIX}* containers could not be removed`);

  // memory: measured on 10 containers, projected to N, with 4 GiB to spare
  const mem0 = memAvailableMiB();
  log(`MemAvailable ${mem0.toFixed(0)} MiB; ${N} containers asked`);

  daemon = new Cli(['daemon', '--listen', ADDR], { env: ENV });
  clis.length = 0;
  await daemon.waitUntil(
    () => daemon!.stderr.includes('listening') && existsSync(sock),
    60_000,
    'the daemon listening',
  );
  const dpid = daemon.pid;
  const tl = await runCli(['traceloop', 'start', '--remote', ADDR, '--syscalls', '256'], {
    env: ENV,
    timeoutMs: 120_000,
  });
  if (tl.code !== 0) throw new Error(`traceloop start: ${tl.stderr.trim()}`);
  await sleep(3000);
  const idle: Record<string, number> = {};
  idle['0'] = await idleCpu(dpid, IDLE_S);
  const rss0 = rssMiB(dpid);
  log(`idle at 0 containers: daemon ${idle['0']!.toFixed(2)}% CPU, RSS ${rss0.toFixed(0)} MiB`);

  const tStart = Date.now();
  await startMany(0, 10);
  // other processes come and go on this machine: never less than 4 MiB (conmon + sleep)
  const perCtrMiB = Math.max(4, (mem0 - memAvailableMiB()) / 10);
  const need = perCtrMiB * N + 4096;
  log(`10 containers took ${perCtrMiB.toFixed(1)} MiB each: ${N} need ~${need.toFixed(0)} MiB`);
  if (need > memAvailableMiB()) throw new Error(`not enough memory for ${N} containers`);
  const firstStop = Math.min(100, N);
  await startMany(10, firstStop);
  const rate100 = firstStop / ((Date.now() - tStart) / 1000);
  await sleep(5000);
  idle[String(firstStop)] = await idleCpu(dpid, IDLE_S);
  log(`idle at ${firstStop}: daemon ${idle[String(firstStop)]!.toFixed(2)}% CPU`);
  const t2 = Date.now();
  await startMany(firstStop, N);
  const startRate = (N - firstStop) / Math.max(0.001, (Date.now() - t2) / 1000);
  const memN = memAvailableMiB();
  log(
    `${N} long-lived containers running (${startRate.toFixed(1)}/s); MemAvailable ${memN.toFixed(0)} MiB`,
  );
  await sleep(5000);
  idle[String(N)] = await idleCpu(dpid, IDLE_S);
  const rssN = rssMiB(dpid);
  log(`idle at ${N}: daemon ${idle[String(N)]!.toFixed(2)}% CPU, RSS ${rssN.toFixed(0)} MiB`);

  // the ticker, and the runs
  const TICKER = `${PREFIX}ticker`;
  await startLong(TICKER, [
    'sh',
    '-c',
    'i=0; while :; do i=$((i+1)); /bin/true kgtick-$i; sleep 0.5; done',
  ]);
  const tracerC = new Cli(['trace', 'exec', '--remote', ADDR, '-c', TICKER, '-o', 'json'], {
    env: ENV,
  });
  const tracerAll = new Cli(['trace', 'exec', '--remote', ADDR, '-o', 'json'], { env: ENV });
  clis.push(tracerC, tracerAll);
  await tracerC.waitForEvent((e) => String(e.args ?? '').includes('kgtick-'), 60_000, 'a tick');
  log('trace exec -c ticker and trace exec (all) running; churn starts');

  // churn
  const churned: Churned[] = [];
  let churnFailed = 0;
  let stop = false;
  let seq = 0;
  const churnWorker = async (w: number): Promise<void> => {
    while (!stop) {
      const n = seq++;
      const name = `${PREFIX}churn-${w}-${n}`;
      const mark = `kgchurn-${n}-${process.pid}`;
      const cidfile = join(dir, `${name}.cid`);
      const r = await podman(
        [
          'run',
          '--rm',
          '--cidfile',
          cidfile,
          '--name',
          name,
          ...RUN_ARGS,
          '--rootfs',
          ROOTFS_DIR,
          'sh',
          '-c',
          `/bin/true ${mark}`,
        ],
        120_000,
      );
      let id = '';
      try {
        id = readFileSync(cidfile, 'utf8').trim();
        rmSync(cidfile, { force: true });
      } catch {
        /* no id: counted as failed below */
      }
      if (r.code !== 0 || !id) churnFailed++;
      else churned.push({ name, id, mark, code: r.code });
    }
  };
  const samples: Sample[] = [];
  let lastCpu = cpuSeconds(dpid);
  let lastT = performance.now();
  const churnT0 = performance.now();
  const workers = Array.from({ length: CHURN }, (_, w) => churnWorker(w));
  const endAt = Date.now() + MINUTES * 60_000;
  while (Date.now() < endAt) {
    await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, endAt - Date.now())));
    const now = performance.now();
    const cpu = cpuSeconds(dpid);
    const s: Sample = {
      t: Math.round((now - churnT0) / 1000),
      cpuPct: ((cpu - lastCpu) / ((now - lastT) / 1000)) * 100,
      rssMiB: rssMiB(dpid),
      fds: fdCount(dpid),
      churned: churned.length,
      churnFailed,
      running: await runningCount(),
      load1: Number(loadavg()[0]!.toFixed(1)),
    };
    lastCpu = cpu;
    lastT = now;
    samples.push(s);
    log(
      `t=${s.t}s daemon ${s.cpuPct.toFixed(1)}% CPU ${s.rssMiB.toFixed(0)} MiB ${s.fds} fds; churned ${s.churned} (failed ${s.churnFailed}); running ${s.running}; load ${s.load1}`,
    );
    if (!daemon.running) throw new Error(`the daemon exited: ${daemon.describeExit()}`);
  }
  stop = true;
  await Promise.all(workers);
  const churnS = (performance.now() - churnT0) / 1000;
  const churnRate = churned.length / churnS;
  log(`churn: ${churned.length} containers in ${churnS.toFixed(0)} s (${churnRate.toFixed(2)}/s)`);
  await sleep(3000); // the last events through

  // identity: the ticker run
  const tickerEvents = tracerC.events.filter((e) => e.comm !== undefined || e.args !== undefined);
  const notTicker = tickerEvents.filter((e) => e.container !== TICKER);
  const ticks = tickerEvents.filter((e) => String(e.args ?? '').includes('kgtick-')).length;
  // identity: a sample of the churned containers, in the unfiltered run
  const step = Math.max(1, Math.floor(churned.length / ID_SAMPLE));
  const sample = churned.filter((_, i) => i % step === 0).slice(0, ID_SAMPLE);
  const byMark = new Map<string, Ev>();
  for (const e of tracerAll.events) {
    const m = /kgchurn-\d+-\d+/.exec(String(e.args ?? ''));
    if (m) byMark.set(m[0], e);
  }
  let exact = 0;
  let missing = 0;
  const wrong: string[] = [];
  for (const c of sample) {
    const e = byMark.get(c.mark);
    if (!e) missing++;
    else if (e.container === c.name && e.container_id === c.id) exact++;
    else
      wrong.push(
        `${c.name} (${c.id.slice(0, 12)}) shown as ${String(e.container)} (${String(e.container_id).slice(0, 12)})`,
      );
  }
  // every churned container's marker, not only the sample's
  let allExact = 0;
  let allSeen = 0;
  for (const c of churned) {
    const e = byMark.get(c.mark);
    if (!e) continue;
    allSeen++;
    if (e.container === c.name && e.container_id === c.id) allExact++;
  }
  log(
    `identity (trace exec): sample ${exact}/${sample.length} exact, ${missing} missing, ${wrong.length} wrong; all churned: ${allExact}/${allSeen} seen exact of ${churned.length}`,
  );
  // traceloop: the sample's recordings
  const list = await runCli(['traceloop', 'list', '--remote', ADDR, '-o', 'json'], {
    env: ENV,
    timeoutMs: 120_000,
  });
  const listed = new Map<string, Ev>();
  let entries: Ev[] = [];
  try {
    entries = JSON.parse(list.stdout) as Ev[]; // one JSON array
  } catch {
    log(`traceloop list: not JSON: ${list.stdout.slice(0, 200)} ${list.stderr.trim()}`);
  }
  for (const e of entries) {
    const c = (e.container ?? {}) as Ev;
    if (typeof c.name === 'string') listed.set(c.name, c);
  }
  let tlExact = 0;
  let tlAbsent = 0;
  const tlWrong: string[] = [];
  for (const c of sample) {
    const l = listed.get(c.name);
    if (!l) tlAbsent++;
    else if (l.id === c.id) tlExact++;
    else tlWrong.push(`${c.name}: listed with id ${String(l.id).slice(0, 12)}`);
  }
  // `traceloop show NAME` of a few of them (after `podman rm`): their own syscalls
  let shown = 0;
  let shownRecords = 0;
  for (const c of sample.filter((x) => listed.get(x.name)?.id === x.id).slice(0, 10)) {
    const r = await runCli(['traceloop', 'show', c.name, '--remote', ADDR, '-o', 'json'], {
      env: ENV,
      timeoutMs: 120_000,
    });
    if (r.code === 0 && r.events.length > 0) {
      shown++;
      shownRecords += r.events.length;
    } else log(`traceloop show ${c.name}: exit ${r.code}, ${r.events.length} records ${r.stderr}`);
  }
  log(
    `identity (traceloop list, exit ${list.code}): sample ${tlExact}/${sample.length} exact, ${tlAbsent} not listed (evicted or never recorded), ${tlWrong.length} wrong; ${listed.size} recordings listed; traceloop show read ${shown} of them (${shownRecords} records)`,
  );

  for (const c of [tracerC, tracerAll]) await c.stop('SIGINT', 20_000);
  const runStderr = [tracerC, tracerAll].map((c) => c.stderr.trim()).filter(Boolean);
  await sleep(5000);
  idle[`${N}+churned`] = await idleCpu(dpid, IDLE_S);
  const rssEnd = rssMiB(dpid);
  log(`idle at ${N} after the churn: ${idle[`${N}+churned`]!.toFixed(2)}% CPU, RSS ${rssEnd} MiB`);

  let mapFull: Record<string, unknown> | undefined;
  if (values['map-full']) mapFull = await mapFullProbe(dpid, TICKER);

  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`,
    loadAverageEnd: loadavg().map((v) => Number(v.toFixed(1))),
    containers: N,
    minutes: MINUTES,
    churnWorkers: CHURN,
    memory: { availableBeforeMiB: mem0, availableWithAllMiB: memN, perContainerMiB: perCtrMiB },
    startRatePerS: { first100: rate100, rest: startRate },
    idleCpuPct: idle,
    daemonRssMiB: { at0: rss0, atN: rssN, afterChurn: rssEnd },
    churn: { containers: churned.length, failed: churnFailed, seconds: churnS, perS: churnRate },
    samples,
    tickerRun: { events: tickerEvents.length, ticks, notTicker: notTicker.length },
    identity: {
      sample: sample.length,
      exact,
      missing,
      wrong,
      allChurnedSeen: allSeen,
      allChurnedExact: allExact,
      traceloop: {
        exact: tlExact,
        absent: tlAbsent,
        wrong: tlWrong,
        listed: listed.size,
        shown,
        shownRecords,
      },
    },
    runStderr,
    daemonStderrTail: daemon.stderr.split('\n').slice(-20),
    mapFull,
  };
  if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(JSON.stringify({ ...out, samples: undefined }, null, 2) + '\n');
  process.stdout.write(
    'samples:\n' +
      samples
        .map(
          (s) =>
            `  t=${s.t}s cpu ${s.cpuPct.toFixed(1)}% rss ${s.rssMiB.toFixed(0)} MiB fds ${s.fds} churned ${s.churned} running ${s.running} load ${s.load1}`,
        )
        .join('\n') +
      '\n',
  );
}

// ---- past the kernel map's size (fault injection) ----------------------------------------------------

function bpftoolJson(args: string[]): unknown {
  return JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));
}

/** The map ids held by a process (fdinfo). */
function mapIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  const fdDir = `/proc/${pid}/fdinfo`;
  for (const fd of spawnSync('ls', [fdDir], { encoding: 'utf8' }).stdout.split('\n')) {
    if (!fd) continue;
    try {
      const m = /map_id:\s+(\d+)/.exec(readFileSync(join(fdDir, fd), 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return ids;
}

async function mapFullProbe(dpid: number, TICKER: string): Promise<Record<string, unknown>> {
  const held = mapIdsOf(dpid);
  const maps = bpftoolJson(['map', 'show']) as Array<{
    id: number;
    name?: string;
    max_entries: number;
  }>;
  const m = maps.find((x) => held.has(x.id) && x.name?.startsWith('gadget_mntns_co'));
  if (!m) return { error: 'gadget_mntns_container not found among the daemon maps' };
  const dump = bpftoolJson(['map', 'dump', 'id', String(m.id)]) as Array<{ key: string[] }>;
  const entries = dump.length;
  // the namespaces in the map before the fill (a new container may reuse a dead one's inode)
  const realKeys = new Set(
    dump.map((e) => Buffer.from(e.key.map((x) => parseInt(x, 16))).readBigUInt64LE(0)),
  );
  // made-up namespaces (no live namespace has inode >= 2^40): fill the map to max_entries
  const fake = m.max_entries - entries;
  const key = (i: number): string => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE((1n << 40n) + BigInt(i));
    return [...b].map((x) => String(x)).join(' ');
  };
  const batch = join(dir, 'fill.batch');
  writeFileSync(
    batch,
    Array.from({ length: fake }, (_, i) => `map update id ${m.id} key ${key(i)} value 1 any`).join(
      '\n',
    ) + '\n',
  );
  execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
  const after = (bpftoolJson(['map', 'dump', 'id', String(m.id)]) as unknown[]).length;
  log(
    `map-full: gadget_mntns_container (id ${m.id}) ${entries} -> ${after}/${m.max_entries} entries`,
  );
  const errBefore = daemon!.stderr.length;
  const name = `${PREFIX}past-full`;
  const tick = (e: Ev): boolean => String(e.args ?? '').includes('kgtick-');
  const full = (e: Ev): boolean => String(e.args ?? '').includes('kgfull-');
  // a run that was going before the new container (the ticker's), and one for the new container
  const before = new Cli(['trace', 'exec', '--remote', ADDR, '-c', TICKER, '-o', 'json'], {
    env: ENV,
  });
  // three new containers: namespace inodes are reused, one may land on a key already there
  const names = [1, 2, 3].map((i) => `${name}-${i}`);
  const tracer = new Cli(
    ['trace', 'exec', '--remote', ADDR, ...names.flatMap((n) => ['-c', n]), '-o', 'json'],
    { env: ENV },
  );
  clis.push(before, tracer);
  await before.waitForEvent(tick, 60_000, 'a tick');
  await sleep(2000);
  const ticksAt = before.events.filter(tick).length;
  const news: Array<{ name: string; mntns: number; inodeAlreadyAKey: boolean }> = [];
  for (const n of names) {
    await startLong(n, [
      'sh',
      '-c',
      `i=0; while :; do i=$((i+1)); /bin/true kgfull-${n}-$i; sleep 0.5; done`,
    ]);
    const pid = Number((await podman(['inspect', '-f', '{{.State.Pid}}', n])).stdout.trim());
    const mntns = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/mnt`))?.[1] ?? 0);
    news.push({ name: n, mntns, inodeAlreadyAKey: realKeys.has(BigInt(mntns)) });
  }
  await sleep(10_000);
  const seen = tracer.events.filter(full);
  const nowKeys = new Set(
    (bpftoolJson(['map', 'dump', 'id', String(m.id)]) as Array<{ key: string[] }>).map((e) =>
      Buffer.from(e.key.map((x) => parseInt(x, 16))).readBigUInt64LE(0),
    ),
  );
  const perContainer = news.map((c) => {
    const own = seen.filter((e) => String(e.args ?? '').includes(`kgfull-${c.name}-`));
    return {
      ...c,
      inMapNow: nowKeys.has(BigInt(c.mntns)),
      execs: own.length,
      named: own.filter((e) => e.container === c.name).length,
    };
  });
  const named = seen.filter((e) => names.includes(String(e.container))).length;
  const ticksAfter = before.events.filter(tick).length - ticksAt;
  const beforeRunning = before.running;
  const tracerRunning = tracer.running;
  await before.stop('SIGINT', 20_000);
  await tracer.stop('SIGINT', 20_000);
  const daemonSaid = daemon!.stderr
    .slice(errBefore)
    .trim()
    .split('\n')
    .filter((l) => l && (!l.startsWith('{') || l.includes('"error"')))
    .slice(0, 8);
  // take the made-up entries out again; is the new container traced then?
  writeFileSync(
    batch,
    Array.from({ length: fake }, (_, i) => `map delete id ${m.id} key ${key(i)}`).join('\n') + '\n',
  );
  execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
  const again = new Cli(['trace', 'exec', '--remote', ADDR, '-c', names[0]!, '-o', 'json'], {
    env: ENV,
  });
  clis.push(again);
  const recovered = await again
    .waitForEvent(
      (e) => full(e) && e.container === names[0],
      30_000,
      'an exec of the new container',
    )
    .then(() => true)
    .catch(() => false);
  await again.stop('SIGINT', 20_000);
  const res = {
    map: 'gadget_mntns_container',
    maxEntries: m.max_entries,
    realEntries: entries,
    filled: after,
    newContainerExecsSeen: seen.length,
    newContainerExecsNamed: named,
    perContainer,
    runForNewContainer: tracerRunning ? 'running' : `ended: ${tracer.describeExit()}`,
    earlierRunTicksIn10s: ticksAfter,
    earlierRun: beforeRunning ? 'running' : `ended: ${before.describeExit()}`,
    daemonStderr: daemonSaid,
    tracedAfterTheMapHasRoomAgain: recovered,
    cliStderrAfter: again.stderr.trim().split('\n').slice(0, 3),
  };
  log(`map-full: ${JSON.stringify(res)}`);
  return res;
}

main()
  .catch((e: unknown) => {
    log(`FAILED: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() =>
    cleanup().then(() => {
      const left = spawnSync('podman', ['ps', '-a', '--format', '{{.Names}}'], {
        encoding: 'utf8',
      }).stdout.includes(PREFIX);
      log(`cleaned up${left ? ' (BUT containers are left)' : ''}`);
    }),
  );
