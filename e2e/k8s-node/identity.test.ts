// Container identity on the real node (issue 12): while `trace exec -n NS -o json` runs, the
// execs of short-lived workloads carry their namespace, pod and container, 10 runs out of 10 for
// each kind: a one-shot pod (restartPolicy Never), a millisecond-long init container, a Job's pod
// and a pod deleted as soon as it has run. The runs of a kind start together (one apply), so the
// node starts ten containers at once, as a failing Job or a burst of `kubectl run` does.
//
//   flock /tmp/kg-cluster.lock flock -s /tmp/kg-bench.lock \
//     node scripts/run-tests.mjs integration k8s-node/identity
//
// Starts its own cluster in /tmp/kgadget-e2e-node (and removes it), unless
// KGADGET_NODE_KUBECONFIG names a running one (see cluster.ts). KGADGET_IDENTITY_RUNS sets the
// runs per kind (default 10); KGADGET_IDENTITY_DEPLOY_FLAGS adds deploy flags (--no-sys-admin:
// without the runtime exec watch, to compare).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Cli, marker, sleep, type Ev } from '../helpers/cli.js';
import {
  NODE_NAME,
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  gadgetPod,
  podSpecOf,
  skipReason,
  teardown,
  waitPodsReady,
  type Cluster,
  type PodJson,
} from './cluster.js';

const execFileP = promisify(execFile);
const skip = skipReason();
const NS = `kgn-id-${randomBytes(3).toString('hex')}`;
const RUNS = Number(process.env.KGADGET_IDENTITY_RUNS ?? '10');
const SLEEP = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];
/** the per-run command: an entrypoint that execs once more and exits at once */
const oneShot = (mark: string): string[] => ['/bin/sh', '-c', `/bin/true ${mark}`];
const DEPLOY_FLAGS = (process.env.KGADGET_IDENTITY_DEPLOY_FLAGS ?? '').split(' ').filter(Boolean);

/** Inodes a process holds fanotify marks on (its fdinfo), seen from the host. */
function fanotifyMarks(pid: number): number[] {
  const out: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link = '';
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (link !== 'anon_inode:[fanotify]') continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    for (const m of info.matchAll(/^fanotify ino:([0-9a-f]+) /gm)) out.push(parseInt(m[1]!, 16));
  }
  return out;
}

let cluster: Cluster | undefined;
let cli: Cli | undefined;
const counts: Record<string, number> = {};

function c(): Cluster {
  assert.ok(cluster, 'cluster');
  return cluster;
}

/** kubectl without blocking the event loop (the CLI's output keeps flowing meanwhile). */
async function kubectlAsync(args: string[], input?: string): Promise<string> {
  const p = execFileP(c().kubectl, ['--kubeconfig', c().kubeconfig, ...args], {
    timeout: 60_000,
    maxBuffer: 64 << 20,
    env: c().env,
  });
  if (input !== undefined) p.child.stdin?.end(input);
  return (await p).stdout;
}

async function podsOf(selector: string): Promise<PodJson[]> {
  const out = await kubectlAsync(['-n', NS, 'get', 'pods', '-l', selector, '-o', 'json']);
  return (JSON.parse(out) as { items: PodJson[] }).items;
}

const done = (p: PodJson): boolean =>
  p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

const argsOf = (e: Ev): string[] => (Array.isArray(e.args) ? (e.args as string[]) : []);
const isExec =
  (argv: string[]) =>
  (e: Ev): boolean => {
    const a = argsOf(e);
    return a.length === argv.length && a.every((x, i) => x === argv[i]);
  };

/** One run: its marker, and the execs it must show with its identity. */
interface Run {
  mark: string;
  /** the pod's name; a Job's pod is known only once it exists */
  pod: string;
  job?: string;
  execs: Array<{ argv: string[]; container: string }>;
}

/** What is wrong with a run's events ([] = every exec seen, each named as its own). */
function problems(r: Run): string[] {
  const out: string[] = [];
  const evs = cli?.events ?? [];
  for (const x of r.execs) {
    const seen = evs.filter(isExec(x.argv));
    if (!seen.length) out.push(`${r.pod || r.job}: no exec ${JSON.stringify(x.argv)}`);
    for (const e of seen) {
      const got = [e.node, e.namespace, e.pod, e.container, e.runtime];
      const want = [NODE_NAME, NS, r.pod, x.container, 'containerd'];
      if (got.some((g, i) => g !== want[i])) {
        out.push(
          `${r.pod || r.job}: exec ${JSON.stringify(x.argv)} named ${JSON.stringify(got)}, not ${JSON.stringify(want)}`,
        );
      }
    }
  }
  return out;
}

/**
 * Starts `runs` (one apply), waits until their pods are done (calling onPods with each listing)
 * and their events came, then reports the count of runs named right and asserts all were.
 */
async function check(
  kind: string,
  runs: Run[],
  objects: unknown[],
  onPods?: (pods: PodJson[]) => Promise<void>,
): Promise<void> {
  const t0 = Date.now();
  await kubectlAsync(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  );
  const selector = `kind=${kind}`;
  let last: PodJson[] = [];
  // until every run is named (with onPods: and every pod is done or gone, so that the runs are
  // judged after what onPods does), else until 10 s after the last pod is done
  for (let doneAt = 0; ;) {
    const named = runs.every((r) => r.pod && problems(r).length === 0);
    if (named && (!onPods || doneAt)) break;
    if (doneAt && Date.now() - doneAt > 10_000) break;
    if (Date.now() - t0 > 150_000) break;
    last = await podsOf(selector);
    for (const r of runs) {
      if (r.job && !r.pod) {
        r.pod = last.find((p) => p.metadata.labels?.['job-name'] === r.job)?.metadata.name ?? '';
      }
    }
    await onPods?.(last);
    const allDone = runs.every((r) => {
      const p = last.find((x) => x.metadata.name === r.pod);
      return r.pod !== '' && (p === undefined || done(p));
    });
    if (allDone && !doneAt) doneAt = Date.now();
    await sleep(300);
  }
  const bad = runs.map(problems);
  const named = bad.filter((b) => b.length === 0).length;
  counts[kind] = named;
  process.stderr.write(
    `identity ${kind}: ${named}/${runs.length} named (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
  await kubectlAsync(['-n', NS, 'delete', 'pods,jobs', '-l', selector, '--wait=false']).catch(
    () => '',
  );
  assert.equal(
    named,
    runs.length,
    `${kind}: ${named}/${runs.length} named:\n${bad.flat().join('\n')}\nCLI stderr: ${cli?.stderr ?? ''}`,
  );
}

const pod = (name: string, kind: string, spec: Record<string, unknown>): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, labels: { kind } },
  spec,
});

/**
 * RUNS runs of a kind, `make` giving each (with its marker and the name `KIND-i`) the execs it
 * must show and the object that starts it.
 */
function batch(
  kind: string,
  make: (mark: string, name: string) => { run: Omit<Run, 'mark'>; object: unknown },
): { runs: Run[]; objs: unknown[] } {
  const runs: Run[] = [];
  const objs: unknown[] = [];
  for (let i = 0; i < RUNS; i++) {
    const mark = marker(kind);
    const { run, object } = make(mark, `${kind}-${i}`);
    runs.push({ mark, ...run });
    objs.push(object);
  }
  return { runs, objs };
}

/** the execs of a oneShot entrypoint: itself, then the /bin/true it runs */
const oneShotExecs = (mark: string, container = 'app'): Run['execs'] => [
  { argv: oneShot(mark), container },
  { argv: ['/bin/true', mark], container },
];
const oneShotSpec = (mark: string): Record<string, unknown> =>
  podSpecOf({ restartPolicy: 'Never', containers: [{ name: 'app', command: oneShot(mark) }] });
/** RUNS pods of one oneShot container each */
const oneShotPods = (kind: string): { runs: Run[]; objs: unknown[] } =>
  batch(kind, (mark, name) => ({
    run: { pod: name, execs: oneShotExecs(mark) },
    object: pod(name, kind, oneShotSpec(mark)),
  }));

describe('container identity on the local Kubernetes node', { skip, timeout: 20 * 60_000 }, () => {
  before(
    async () => {
      cluster = clusterUp();
      createNamespace(c(), NS);
      applyPods(c(), NS, [{ name: 'anchor', containers: [{ name: 'main', command: SLEEP }] }]);
      // KGADGET_IDENTITY_DEPLOY_FLAGS='--no-sys-admin': the same runs without the exec watch
      deployGadget(c(), DEPLOY_FLAGS);
      // the daemon in the pod watches the node's runc (/usr/sbin/runc through /host/usr): the
      // runs below go through the exec watch, not only the after-the-fact sources
      const runc = statSync(realpathSync('/usr/sbin/runc')).ino;
      const marks = fanotifyMarks(gadgetPod(c()).pid);
      if (DEPLOY_FLAGS.includes('--no-sys-admin')) assert.deepEqual(marks, [], 'no exec watch');
      else assert.ok(marks.includes(runc), `fanotify marks ${marks.join(',')} hold runc ${runc}`);
      waitPodsReady(c(), NS, ['anchor']);
      cli = new Cli(['trace', 'exec', '-n', NS, '-o', 'json', '--kubeconfig', c().kubeconfig], {
        env: { KUBECONFIG: c().kubeconfig },
      });
      // attached once an exec in the namespace shows up
      const m = marker('ready');
      const deadline = Date.now() + 60_000;
      while (!cli.events.some(isExec(['/bin/echo', m]))) {
        if (!cli.running) throw new Error(`trace exec exited: ${cli.describeExit()}`);
        if (Date.now() > deadline) throw new Error(`trace exec not attached: ${cli.stderr}`);
        await kubectlAsync(['-n', NS, 'exec', 'anchor', '--', '/bin/echo', m]).catch(() => '');
        await sleep(200);
      }
    },
    { timeout: 25 * 60_000 },
  );

  after(
    async () => {
      process.stderr.write(`identity counts: ${JSON.stringify(counts)}\n`);
      await cli?.stop('SIGINT', 15_000).catch(() => cli?.kill9());
      teardown(cluster, [NS]);
    },
    { timeout: 5 * 60_000 },
  );

  test(`one-shot pods (restartPolicy Never): ${RUNS} of ${RUNS} named`, async () => {
    const { runs, objs } = oneShotPods('once');
    await check('once', runs, objs);
  });

  test(`millisecond-long init containers: ${RUNS} of ${RUNS} named`, async () => {
    const { runs, objs } = batch('init', (mark, name) => ({
      run: {
        pod: name,
        execs: [
          ...oneShotExecs(mark, 'setup'),
          { argv: ['/bin/true', `${mark}-app`], container: 'app' },
        ],
      },
      object: pod(
        name,
        'init',
        podSpecOf({
          restartPolicy: 'Never',
          initContainers: [{ name: 'setup', command: oneShot(mark) }],
          containers: [{ name: 'app', command: ['/bin/true', `${mark}-app`] }],
        }),
      ),
    }));
    await check('init', runs, objs);
  });

  test(`a Job's pods: ${RUNS} of ${RUNS} named`, async () => {
    const { runs, objs } = batch('job', (mark, job) => ({
      run: { pod: '', job, execs: oneShotExecs(mark) },
      object: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: job, namespace: NS, labels: { kind: 'job' } },
        spec: {
          backoffLimit: 0,
          template: { metadata: { labels: { kind: 'job' } }, spec: oneShotSpec(mark) },
        },
      },
    }));
    await check('job', runs, objs);
  });

  test(`pods deleted as soon as they have run: ${RUNS} of ${RUNS} named`, async () => {
    const { runs, objs } = oneShotPods('gone');
    const deleted = new Set<string>();
    await check('gone', runs, objs, async (pods) => {
      const now = pods.filter((p) => done(p) && !deleted.has(p.metadata.name));
      if (!now.length) return;
      for (const p of now) deleted.add(p.metadata.name);
      await kubectlAsync([
        '-n',
        NS,
        'delete',
        'pod',
        ...now.map((p) => p.metadata.name),
        '--wait=false',
      ]);
    });
    assert.equal(deleted.size, RUNS, 'every pod was deleted once it had run');
  });
});
