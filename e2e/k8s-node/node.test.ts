// The real node: kubelet + containerd + CNI + kube-proxy + CoreDNS on this machine
// (scripts/k8s/up.sh --node), busybox workload pods, and kubectl-gadget through the path it takes
// on any cluster: `deploy --wait`, then `trace exec|open` reaching the daemon in the gadget pod
// through the API server, the kubelet and the CRI port-forward.
//
//   node scripts/run-tests.mjs integration k8s-node
//
// Starts its own cluster in /tmp/kgadget-e2e-node (and removes it), unless
// KGADGET_NODE_KUBECONFIG names a running one (see cluster.ts). Needs root; a cold machine
// builds the Kubernetes binaries and CoreDNS first (~7 min). Writes the measured figures to
// build/k8s-node/figures.json.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { countInFile } from '../bench/proc.js';
import { count, fmt, heldClosure, minus, waitReleased, type BpfIds } from '../helpers/bpf.js';
import { CLI, Cli, ROOT, marker, sleep, type Ev } from '../helpers/cli.js';
import {
  NODE_NAME,
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  gadgetPod as clusterGadgetPod,
  gadgetRun as clusterGadgetRun,
  execIn,
  getPod,
  kubectl,
  kubectlOk,
  ok,
  rssMiB,
  run,
  skipReason,
  teardown,
  waitFor,
  waitPodsReady,
  type Cluster,
  type PodSpec,
} from './cluster.js';

const execFileP = promisify(execFile);
const skip = skipReason();
const NS = `kgn-e2e-${randomBytes(3).toString('hex')}`;
const SLEEP = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];
const PODS: PodSpec[] = [
  {
    name: 'web',
    labels: { app: 'web' },
    containers: [
      { name: 'main', command: SLEEP },
      { name: 'side', command: SLEEP },
    ],
  },
  { name: 'other', labels: { app: 'other' }, containers: [{ name: 'main', command: SLEEP }] },
  {
    // execs and opens all the time: the first event of a run comes from it
    name: 'ticker',
    labels: { app: 'ticker' },
    containers: [
      {
        name: 'main',
        command: [
          '/bin/sh',
          '-c',
          'trap "exit 0" TERM; while :; do cat /proc/uptime >/dev/null; usleep 50000; done',
        ],
      },
    ],
  },
  { name: 'load', labels: { app: 'load' }, containers: [{ name: 'main', command: SLEEP }] },
];

let cluster: Cluster | undefined;
const figures: Record<string, unknown> = {};
const clis = new Set<Cli>();

function c(): Cluster {
  assert.ok(cluster, 'cluster');
  return cluster;
}

/** The CLI against the cluster (Kubernetes mode: no --local, no --remote). */
function gadgetCli(args: string[]): Cli {
  const cli = new Cli([...args, '--kubeconfig', c().kubeconfig], {
    env: { KUBECONFIG: c().kubeconfig },
  });
  clis.add(cli);
  void cli.exited.then(() => clis.delete(cli));
  return cli;
}

function gadgetRun(args: string[], timeoutMs = 180_000): ReturnType<typeof run> {
  return clusterGadgetRun(c(), args, timeoutMs);
}

/** kubectl exec, not waiting (the trigger loops below must not block the event loop). */
async function execAsync(pod: string, container: string, cmd: string[]): Promise<void> {
  await execFileP(
    c().kubectl,
    ['--kubeconfig', c().kubeconfig, '-n', NS, 'exec', pod, '-c', container, '--', ...cmd],
    {
      timeout: 30_000,
    },
  ).catch(() => undefined); // a failing command (cat of a missing file) is expected
}

/** Repeats trigger until the CLI shows an event matching it (the run is attached). */
async function attached(
  cli: Cli,
  trigger: (m: string) => Promise<void>,
  matches: (m: string) => (e: Ev) => boolean,
  timeoutMs = 60_000,
): Promise<Ev> {
  const m = marker('ready');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = cli.events.find(matches(m));
    if (found) return found;
    if (!cli.running) throw new Error(`CLI exited before it was attached: ${cli.describeExit()}`);
    if (Date.now() > deadline) {
      throw new Error(
        `no ready event after ${timeoutMs} ms; ${cli.events.length} events; stderr: ${cli.stderr}`,
      );
    }
    await trigger(m);
    await sleep(100);
  }
}

const argsOf = (e: Ev): string => (Array.isArray(e.args) ? (e.args as unknown[]).join(' ') : '');
const execOf = (m: string) => (e: Ev) => argsOf(e).includes(m);
const openOf = (m: string) => (e: Ev) => typeof e.path === 'string' && e.path.includes(m);

function assertIdentity(e: Ev, pod: string, container: string): void {
  assert.equal(e.node, NODE_NAME, `node of ${JSON.stringify(e)}`);
  assert.equal(e.namespace, NS, `namespace of ${JSON.stringify(e)}`);
  assert.equal(e.pod, pod, `pod of ${JSON.stringify(e)}`);
  assert.equal(e.container, container, `container of ${JSON.stringify(e)}`);
  assert.equal(e.runtime, 'containerd', `runtime of ${JSON.stringify(e)}`);
}

async function stopClean(cli: Cli): Promise<void> {
  const x = await cli.stop('SIGINT', 15_000);
  assert.equal(x.code, 0, `exit after SIGINT: ${cli.describeExit()}`);
  assert.deepEqual(cli.badLines, [], 'stdout lines that are not JSON objects');
}

function gadgetPod(): { name: string; id: string; pid: number } {
  return clusterGadgetPod(c());
}

describe('local Kubernetes node (scripts/k8s/up.sh --node)', { skip, timeout: 45 * 60_000 }, () => {
  before(
    () => {
      cluster = clusterUp();
      if (cluster.owned) figures.clusterUpMs = cluster.upMs;
      createNamespace(c(), NS);
      applyPods(c(), NS, PODS);
      waitPodsReady(
        c(),
        NS,
        PODS.map((p) => p.name),
      );
    },
    { timeout: 25 * 60_000 },
  );

  after(
    async () => {
      await Promise.all([...clis].map((x) => x.stop('SIGKILL')));
      if (cluster) {
        mkdirSync(join(ROOT, 'build', 'k8s-node'), { recursive: true });
        writeFileSync(
          join(ROOT, 'build', 'k8s-node', 'figures.json'),
          JSON.stringify(figures, null, 2) + '\n',
        );
        teardown(cluster, [NS]);
      }
    },
    { timeout: 5 * 60_000 },
  );

  describe('the node', () => {
    test('is Ready, with containerd and the node address', () => {
      const node = JSON.parse(kubectlOk(c(), ['get', 'node', NODE_NAME, '-o', 'json'])) as {
        status: {
          conditions: Array<{ type: string; status: string }>;
          addresses: Array<{ type: string; address: string }>;
          nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
        };
      };
      assert.equal(node.status.conditions.find((x) => x.type === 'Ready')?.status, 'True');
      assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
      assert.deepEqual(
        node.status.addresses.find((a) => a.type === 'InternalIP'),
        { type: 'InternalIP', address: '10.243.0.1' },
      );
    });

    test('busybox pods run; kubectl logs, exec and port-forward work', async () => {
      const m = marker('logs');
      applyPods(c(), NS, [
        {
          name: 'echo',
          containers: [
            {
              name: 'main',
              command: ['/bin/sh', '-c', `echo ${m}; exec httpd -f -p 8080 -h /tmp`],
            },
          ],
        },
      ]);
      waitPodsReady(c(), NS, ['echo']);
      await waitFor(
        () => kubectl(c(), ['-n', NS, 'logs', 'echo']).stdout.includes(m),
        20_000,
        'kubectl logs',
      );
      const e = execIn(c(), NS, 'echo', 'main', [
        'sh',
        '-c',
        `echo ${m}-page > /tmp/index.html; cat /tmp/index.html`,
      ]);
      assert.equal(ok(e, 'kubectl exec').trim(), `${m}-page`);
      // port-forward to the pod's httpd from this machine's loopback
      const pf = spawn(
        c().kubectl,
        ['--kubeconfig', c().kubeconfig, '-n', NS, 'port-forward', 'pod/echo', ':8080'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      try {
        let out = '';
        pf.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        const port = await waitFor(
          () => /127\.0\.0\.1:(\d+) ->/.exec(out)?.[1],
          20_000,
          'port-forward to listen',
        );
        const body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
        assert.equal(body.trim(), `${m}-page`);
      } finally {
        pf.kill('SIGTERM');
      }
      // kept until the namespace goes: a pod deleted now would hand its mount namespace number
      // to a later pod (the replacement test below covers that on purpose)
    });

    test('pods reach the kubernetes Service, resolve cluster names, have no default route', () => {
      // 10.96.0.1:443 -> kube-proxy DNAT -> the apiserver on the node address
      ok(
        execIn(c(), NS, 'other', 'main', ['sh', '-c', 'echo | nc -w 3 10.96.0.1 443']),
        'nc 10.96.0.1 443',
      );
      // CoreDNS through the kube-dns Service (10.96.0.10), with the pod's search domains
      const ns = ok(
        execIn(c(), NS, 'other', 'main', ['nslookup', 'kubernetes.default.svc.cluster.local']),
        'nslookup',
      );
      assert.match(ns, /Address: 10\.96\.0\.1\b/);
      ok(
        execIn(c(), NS, 'other', 'main', ['sh', '-c', 'echo | nc -w 3 kubernetes.default 443']),
        'nc kubernetes.default',
      );
      const routes = ok(execIn(c(), NS, 'other', 'main', ['ip', 'route']), 'ip route');
      assert.doesNotMatch(routes, /^default/m, 'pods have no default route');
      assert.match(routes, /^10\.96\.0\.0\/16 via 10\.244\.0\.1/m);
      // and the machine blackholes both ranges
      const host = run('ip', ['route', 'show', 'type', 'blackhole']).stdout;
      assert.match(host, /10\.96\.0\.0\/16/);
      assert.match(host, /10\.244\.0\.0\/16/);
    });
  });

  describe('kubectl gadget through port-forward', () => {
    let idleHeld: BpfIds | undefined;

    test('deploy --wait rolls the DaemonSet out on the node', () => {
      const r = deployGadget(c());
      figures.deployWaitMs = r.ms;
      const g = gadgetPod();
      const pod = getPod(c(), 'gadget', g.name);
      assert.equal(pod.status?.containerStatuses?.[0]?.ready, true, 'gadget pod ready');
      idleHeld = heldClosure(g.pid);
      assert.ok(count(idleHeld) > 0, 'the idle daemon holds its container tracker');
      figures.gadgetPodRssIdleMiB = Math.round(rssMiB(g.pid) * 10) / 10;
    });

    test('trace exec -n -p -c: the events of kubectl exec, with namespace, pod and container', async () => {
      const cli = gadgetCli(['trace', 'exec', '-n', NS, '-p', 'web', '-c', 'main', '-o', 'json']);
      await attached(cli, (m) => execAsync('web', 'main', ['/bin/echo', m]), execOf);
      const mine = marker('exec');
      const side = marker('side');
      const other = marker('other');
      await execAsync('web', 'side', ['/bin/echo', side]);
      await execAsync('other', 'main', ['/bin/echo', other]);
      await execAsync('web', 'main', ['/bin/echo', mine]);
      const e = await cli.waitForEvent(execOf(mine), 15_000, 'the exec in web/main');
      assertIdentity(e, 'web', 'main');
      assert.deepEqual(e.args, ['/bin/echo', mine]);
      await sleep(500);
      assert.equal(cli.events.filter(execOf(side)).length, 0, 'container side filtered out');
      assert.equal(cli.events.filter(execOf(other)).length, 0, 'pod other filtered out');
      for (const ev of cli.events) assertIdentity(ev, 'web', 'main');
      await stopClean(cli);
    });

    test('trace exec -l: only pods with the label', async () => {
      const cli = gadgetCli(['trace', 'exec', '-n', NS, '-l', 'app=web', '-o', 'json']);
      await attached(cli, (m) => execAsync('web', 'side', ['/bin/echo', m]), execOf);
      const other = marker('other');
      const mine = marker('web');
      await execAsync('other', 'main', ['/bin/echo', other]);
      await execAsync('web', 'main', ['/bin/echo', mine]);
      assertIdentity(
        await cli.waitForEvent(execOf(mine), 15_000, 'the exec in web'),
        'web',
        'main',
      );
      await sleep(500);
      assert.equal(
        cli.events.filter(execOf(other)).length,
        0,
        'pod other (app=other) filtered out',
      );
      for (const ev of cli.events) assert.equal(ev.pod, 'web');
      await stopClean(cli);
    });

    test('-n, -p, -l matching nothing: one warning each, and the run goes on (the pod appears)', async () => {
      const name = `late-${randomBytes(3).toString('hex')}`;
      const nosuch = `kgn-nosuch-${randomBytes(3).toString('hex')}`;
      const runs: Array<[string[], string]> = [
        [['-n', nosuch], `-n ${nosuch}`],
        [['-n', NS, '-l', 'app=nosuch'], `-n ${NS} -l app=nosuch`],
        [['-n', NS, '-p', name], `-n ${NS} -p ${name}`],
      ];
      const clis = runs.map(([flags]) => gadgetCli(['trace', 'exec', ...flags, '-o', 'json']));
      for (const [i, cli] of clis.entries()) {
        const want = `warning: no pod matches ${runs[i]![1]} (yet); still watching\n`;
        await cli.waitUntil(() => cli.stderr.includes(want), 60_000, want);
      }
      // the pod of -p starts after the warning: its entrypoint is traced
      const m = marker('appears');
      applyPods(c(), NS, [
        {
          name,
          containers: [{ name: 'app', command: ['/bin/sh', '-c', `echo ${m}; exec sleep 3600`] }],
        },
      ]);
      const e = await clis[2]!.waitForEvent(execOf(m), 60_000, `the entrypoint of ${name}`);
      assertIdentity(e, name, 'app');
      await sleep(1000);
      for (const [i, cli] of clis.entries()) {
        assert.ok(cli.running, `${runs[i]![1]}: still running`);
        const x = await cli.stop('SIGINT', 15_000);
        assert.equal(x.code, 0, cli.describeExit());
        // once, and nothing else
        assert.equal(x.stderr, `warning: no pod matches ${runs[i]![1]} (yet); still watching\n`);
      }
      assert.deepEqual(clis[0]!.events, []);
      assert.deepEqual(clis[1]!.events, []);
      kubectlOk(c(), ['-n', NS, 'delete', 'pod', name, '--wait=false']);
    });

    test('trace exec -A leaves out the gadget pod (its readiness probe); -n gadget shows it', async () => {
      const all = gadgetCli(['trace', 'exec', '-A', '-o', 'json']);
      const own = gadgetCli(['trace', 'exec', '-n', 'gadget', '-o', 'json']);
      await attached(all, (m) => execAsync('web', 'main', ['/bin/echo', m]), execOf);
      const since = Date.now();
      // the probe execs `run.js version --remote ...` every 10 s: one while -A is attached
      const ms = (e: Ev): number =>
        Date.parse(String(e.timestamp).replace(/(\.\d{3})\d*Z$/, '$1Z'));
      const probe = (e: Ev): boolean =>
        argsOf(e).includes('version') && e.namespace === 'gadget' && ms(e) > since;
      const p = await own.waitForEvent(probe, 30_000, 'the readiness probe exec');
      assert.equal(p.pod, gadgetPod().name);
      const after = marker('after');
      await execAsync('web', 'main', ['/bin/echo', after]);
      await all.waitForEvent(execOf(after), 15_000, 'an exec after the probe');
      await stopClean(all);
      await stopClean(own);
      assert.deepEqual(
        all.events.filter((e) => e.namespace === 'gadget').map(argsOf),
        [],
        '-A shows no exec of the gadget namespace',
      );
      assert.ok(
        all.events.some((e) => e.namespace === NS),
        '-A shows the other pods',
      );
    });

    test('trace open -n -p -c and -l: the opens of kubectl exec', async () => {
      const cli = gadgetCli(['trace', 'open', '-n', NS, '-p', 'web', '-c', 'main', '-o', 'json']);
      await attached(cli, (m) => execAsync('web', 'main', ['cat', `/tmp/${m}`]), openOf);
      const mine = marker('open');
      const side = marker('side');
      await execAsync('web', 'side', ['cat', `/tmp/${side}`]);
      await execAsync('web', 'main', ['cat', `/tmp/${mine}`]);
      const e = await cli.waitForEvent(openOf(mine), 15_000, 'the open in web/main');
      assertIdentity(e, 'web', 'main');
      assert.equal(e.path, `/tmp/${mine}`);
      assert.equal(e.error, 'ENOENT');
      await sleep(500);
      assert.equal(cli.events.filter(openOf(side)).length, 0, 'container side filtered out');
      await stopClean(cli);

      const byLabel = gadgetCli([
        'trace',
        'open',
        '-n',
        NS,
        '-l',
        'app=other',
        '-c',
        'main',
        '-o',
        'json',
      ]);
      await attached(byLabel, (m) => execAsync('other', 'main', ['cat', `/tmp/${m}`]), openOf);
      const web = marker('web');
      const oth = marker('other');
      await execAsync('web', 'main', ['cat', `/tmp/${web}`]);
      await execAsync('other', 'main', ['cat', `/tmp/${oth}`]);
      assertIdentity(
        await byLabel.waitForEvent(openOf(oth), 15_000, 'the open in other'),
        'other',
        'main',
      );
      await sleep(500);
      assert.equal(byLabel.events.filter(openOf(web)).length, 0, 'pod web filtered out');
      await stopClean(byLabel);
    });

    test('a pod created after tracing began: its entrypoint, with its pod name', async () => {
      const cli = gadgetCli(['trace', 'exec', '-n', NS, '-o', 'json']);
      await attached(cli, (m) => execAsync('other', 'main', ['/bin/echo', m]), execOf);
      const m = marker('late');
      const name = `late-${randomBytes(3).toString('hex')}`;
      applyPods(c(), NS, [
        {
          name,
          containers: [{ name: 'app', command: ['/bin/sh', '-c', `echo ${m}; exec sleep 3600`] }],
        },
      ]);
      const e = await cli.waitForEvent(execOf(m), 60_000, `the entrypoint of ${name}`);
      assertIdentity(e, name, 'app');
      assert.deepEqual(e.args, ['/bin/sh', '-c', `echo ${m}; exec sleep 3600`]);
      await stopClean(cli);
      kubectlOk(c(), ['-n', NS, 'delete', 'pod', name, '--wait=false']);
    });

    // A rolling update in small: the kernel hands the new container's mount namespace the inode
    // number the deleted one had (nsfs numbers are reused at once), so an identity keyed by
    // mntns alone would name the old pod. The container tracker notes every namespace created
    // (gadget_mntns_fresh), and a run drops the stale mapping before it decides on a batch.
    test('a pod replacing a deleted one while tracing: the new pod, not the old one', async () => {
      const suffix = randomBytes(3).toString('hex');
      const oldName = `old-${suffix}`;
      const newName = `new-${suffix}`;
      applyPods(c(), NS, [{ name: oldName, containers: [{ name: 'app', command: SLEEP }] }]);
      waitPodsReady(c(), NS, [oldName]);
      const cli = gadgetCli(['trace', 'exec', '-n', NS, '-o', 'json']);
      await attached(cli, (m) => execAsync(oldName, 'app', ['/bin/echo', m]), execOf);
      kubectlOk(c(), ['-n', NS, 'delete', 'pod', oldName, '--wait=true', '--grace-period=1']);
      const m = marker('new');
      applyPods(c(), NS, [
        {
          name: newName,
          containers: [{ name: 'app', command: ['/bin/sh', '-c', `echo ${m}; exec sleep 3600`] }],
        },
      ]);
      const e = await cli.waitForEvent(execOf(m), 60_000, `the entrypoint of ${newName}`);
      await stopClean(cli);
      kubectlOk(c(), ['-n', NS, 'delete', 'pod', newName, '--wait=false']);
      assertIdentity(e, newName, 'app');
    });

    test('kill -9 of the CLI mid-stream leaves no BPF program in the gadget pod', async () => {
      const g = gadgetPod();
      const before = heldClosure(g.pid);
      // the CLI's private socket dirs (transport.ts: mkdtemp kgadget-*); a killed CLI cannot
      // remove its own
      const bridges = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('kgadget-'));
      const bridgesBefore = new Set(bridges());
      const cli = gadgetCli(['trace', 'open', '-n', NS, '-p', 'ticker', '-o', 'json']);
      await cli.waitForEvent((e) => e.pod === 'ticker', 60_000, 'events of the ticker pod');
      const during = heldClosure(g.pid);
      const run = minus(during, before);
      assert.ok(run.prog.size > 0, `the run's programs in the daemon: ${fmt(run)}`);
      await cli.kill9();
      for (const n of bridges()) {
        if (!bridgesBefore.has(n)) rmSync(join(tmpdir(), n), { recursive: true, force: true });
      }
      // the port-forward stream closes; the daemon ends the run and unloads it
      await waitReleased(run, 30_000, 'BPF objects of the killed run');
      const left = minus(heldClosure(g.pid), before);
      assert.equal(count(left), 0, `objects the daemon holds beyond its idle set: ${fmt(left)}`);
    });

    test('figures: first event, events/s with zero lost, gadget pod RSS', async (t) => {
      const g = gadgetPod();
      // (1) command to first event, through the API server, kubelet and CRI port-forward
      const firsts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const cli = gadgetCli(['trace', 'exec', '-n', NS, '-p', 'ticker', '-o', 'json']);
        await cli.waitForEvent(() => true, 60_000, 'a first event');
        firsts.push(Date.now() - t0);
        await stopClean(cli);
      }
      firsts.sort((a, b) => a - b);
      figures.firstEventMs = { runs: firsts, median: firsts[1] };
      t.diagnostic(`command -> first event: ${firsts.join(', ')} ms`);

      // (2) events/s with zero lost: kg-workload open-rate in the load pod, trace open -> file
      ok(run('bash', [join(ROOT, 'e2e', 'workloads', 'build.sh')]), 'e2e/workloads/build.sh');
      kubectlOk(c(), [
        '-n',
        NS,
        'cp',
        join(ROOT, 'build', 'bin', 'kg-workload'),
        'load:/tmp/kg-workload',
        '-c',
        'main',
      ]);
      ok(execIn(c(), NS, 'load', 'main', ['chmod', '755', '/tmp/kg-workload']), 'chmod');
      const rates = (process.env.KGADGET_NODE_RATES ?? '5000,10000,20000,40000,80000')
        .split(',')
        .map(Number);
      const seconds = 5;
      const steps: Array<Record<string, number>> = [];
      let rssMax = 0;
      for (const rate of rates) {
        const m = marker('rate');
        const outFile = join(ROOT, 'build', 'k8s-node', `open-${rate}.ndjson`);
        mkdirSync(join(ROOT, 'build', 'k8s-node'), { recursive: true });
        const fd = openSync(outFile, 'w');
        const child = spawn(
          process.execPath,
          [
            CLI,
            'trace',
            'open',
            '-n',
            NS,
            '-p',
            'load',
            '-o',
            'json',
            '--kubeconfig',
            c().kubeconfig,
          ],
          {
            stdio: ['ignore', fd, 'pipe'],
          },
        );
        closeSync(fd);
        let stderr = '';
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const exited = new Promise<void>((r) => child.on('close', () => r()));
        try {
          const ready = marker('ready');
          await waitFor(
            () => {
              void execAsync('load', 'main', ['cat', `/tmp/${ready}`]);
              return existsSync(outFile) && readFileSync(outFile, 'utf8').includes(ready);
            },
            60_000,
            'trace open attached',
            500,
          );
          const sampler = setInterval(() => {
            try {
              rssMax = Math.max(rssMax, rssMiB(g.pid));
            } catch {
              /* gone */
            }
          }, 250);
          // async: the RSS sampler runs meanwhile
          const w = await execFileP(
            c().kubectl,
            ['--kubeconfig', c().kubeconfig, '-n', NS, 'exec', 'load', '-c', 'main', '--'].concat([
              '/tmp/kg-workload',
              'open-rate',
              String(rate),
              String(seconds),
              `/tmp/${m}`,
            ]),
            { timeout: (seconds + 60) * 1000 },
          ).finally(() => clearInterval(sampler));
          const truth = JSON.parse(w.stdout.trim().split('\n').pop()!) as {
            opens: number;
            seconds: number;
          };
          // every event in the file before stopping
          await waitFor(
            () => countInFile(outFile, [m])[0]! >= truth.opens,
            20_000,
            'all events',
            250,
          ).catch(() => undefined);
          child.kill('SIGINT');
          await exited;
          const seen = countInFile(outFile, [m])[0]!;
          rmSync(outFile, { force: true }); // up to ~150 MB at the top step
          const lost = [...stderr.matchAll(/(\d+) events lost/g)].reduce(
            (n, x) => n + Number(x[1]),
            0,
          );
          const dropped = [...stderr.matchAll(/(\d+) (?:events|messages) dropped/g)].reduce(
            (n, x) => n + Number(x[1]),
            0,
          );
          const step = {
            rate,
            opens: truth.opens,
            seen,
            lost,
            dropped,
            eventsPerSecond: Math.round(truth.opens / truth.seconds),
          };
          steps.push(step);
          t.diagnostic(`open-rate ${rate}/s: ${JSON.stringify(step)}`);
          if (seen !== truth.opens || lost > 0 || dropped > 0) break;
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      }
      const clean = steps.filter((s) => s.seen === s.opens && s.lost === 0 && s.dropped === 0);
      figures.throughput = {
        steps,
        maxZeroLossEventsPerSecond: clean.length
          ? Math.max(...clean.map((s) => s.eventsPerSecond!))
          : 0,
      };
      figures.gadgetPodRssLoadMiB = Math.round(rssMax * 10) / 10;
      figures.gadgetPodRssAfterMiB = Math.round(rssMiB(g.pid) * 10) / 10;
      t.diagnostic(`figures: ${JSON.stringify(figures)}`);
      assert.ok(
        clean.length > 0 && clean[0]!.rate === rates[0],
        `zero lost at ${rates[0]} opens/s: ${JSON.stringify(steps)}`,
      );
    });

    test('undeploy --wait leaves nothing behind', async () => {
      const g = gadgetPod();
      const held = heldClosure(g.pid);
      const r = gadgetRun(['undeploy', '--wait', '--timeout', '120']);
      ok(r, 'undeploy --wait');
      figures.undeployWaitMs = r.ms;
      assert.equal(kubectl(c(), ['get', 'namespace', 'gadget']).status, 1, 'namespace gadget gone');
      for (const kind of ['clusterrole', 'clusterrolebinding']) {
        assert.equal(kubectl(c(), ['get', kind, 'gadget']).status, 1, `${kind} gadget gone`);
      }
      const labelled = kubectlOk(c(), [
        'get',
        'all,sa,clusterrole,clusterrolebinding',
        '-A',
        '-l',
        'app.kubernetes.io/managed-by=kubectl-gadget',
        '-o',
        'name',
      ]);
      assert.equal(labelled.trim(), '', 'no object of kubectl-gadget left');
      await waitFor(() => !existsSync(`/proc/${g.pid}`), 30_000, 'the daemon process to exit');
      await waitReleased(held, 30_000, 'BPF objects of the gadget pod');
      if (idleHeld) await waitReleased(idleHeld, 1000, 'BPF objects of the idle daemon');
    });
  });
});
