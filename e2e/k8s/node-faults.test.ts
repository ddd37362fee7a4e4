// Per-node failures in Kubernetes mode (issue 14 #3, issue 13 #4), through the REAL API server of
// scripts/k8s/up.sh: 10 SIMULATED nodes of the scale harness (e2e/scale/harness.ts: a stand-in
// kubelet serves each node's port-forward, one replay daemon process per node here), and the
// real CLI (`trace exec -A -o json`, no KGADGET_FAKE_KUBELET_ENDPOINTS): every node's stream is a
// port-forward through the API server.
//
// - kill a daemon (kill -9 of one node's daemon of 10): one warning naming it, the rest go on;
//   after the retry window (KGADGET_NODE_RETRY_SECONDS=6 here) one more warning, and the run
//   ends with the partial exit code 3;
// - delete a gadget pod and replace it (as a DaemonSet would: a new pod of another name on the
//   node, Running and Ready, its new daemon): the CLI streams from the new pod within 5 s of its
//   Ready, with one warning for the loss and one for the gap;
// - a slow node (its daemon stopped, SIGSTOP, from the start): the others stream at once, the
//   status line names it after the per-node timeout, and once it answers (SIGCONT) it joins;
// - the API server restarts: every node's stream is cut, and each resumes when it is back, with
//   its gap reported per node.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, ROOT, sleep } from '../helpers/cli.js';
import { ensureCluster, KUBECTL, run, type ClusterHandle } from './harness-fake-kubelet.js';
import { ScaleHarness, SIM_LABEL } from '../scale/harness.js';

const skip = process.env.KGADGET_SKIP_K8S_E2E ? 'KGADGET_SKIP_K8S_E2E is set' : false;
const NODES = 10;
const RATE = 20;
const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[node-faults +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
};
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `trace exec -A -o json` in Kubernetes mode; the arrival times of each node's events. */
class NodeCli {
  readonly proc: ChildProcess;
  readonly started = Date.now();
  stderr = '';
  /** node -> arrival times (ms since epoch) */
  readonly arrivals = new Map<string, number[]>();
  bad = 0;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(kubeconfig: string, env: Record<string, string> = {}) {
    this.proc = spawn(
      process.execPath,
      [CLI, 'trace', 'exec', '-A', '-o', 'json', '--kubeconfig', kubeconfig],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: { ...process.env, ...env } },
    );
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const now = Date.now();
      const lines = (this.partial + d).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) {
        try {
          const node = (JSON.parse(l) as { node?: unknown }).node;
          if (typeof node !== 'string') throw new Error('no node');
          let a = this.arrivals.get(node);
          if (!a) this.arrivals.set(node, (a = []));
          a.push(now);
        } catch {
          this.bad++;
        }
      }
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((r) => this.proc.on('close', (code, signal) => r({ code, signal })));
  }

  /** events of `node` that arrived after `since` */
  after(node: string, since: number): number[] {
    return (this.arrivals.get(node) ?? []).filter((t) => t > since);
  }

  async waitFor(fn: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!fn()) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null)
        throw new Error(`CLI exited before ${what}: ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`no ${what} after ${ms} ms; stderr: ${this.stderr}`);
      await sleep(100);
    }
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGINT');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    const x = await this.exited;
    clearTimeout(t);
    return x;
  }

  warnings(): string[] {
    return this.stderr.split('\n').filter(Boolean);
  }
}

describe(
  'Kubernetes mode: per-node failures through the real API server',
  { skip, concurrency: 1 },
  () => {
    let cluster: ClusterHandle | undefined;
    let h: ScaleHarness | undefined;
    const clis: NodeCli[] = [];
    const extra: ChildProcess[] = [];
    const stopped: number[] = [];

    before(async () => {
      cluster = ensureCluster(log);
      h = await ScaleHarness.start({
        kubeconfig: cluster.kubeconfig,
        caFile: cluster.caFile,
        nodes: NODES,
        rate: RATE,
        count: 0,
        nodesPerProcess: 1,
        log,
      });
    });

    after(async () => {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
      await Promise.all(clis.map((c) => c.stop()));
      for (const p of extra) p.kill('SIGKILL');
      await h?.close();
      cluster?.close();
    });

    const kubeconfig = (): string => cluster!.kubeconfig;
    /** the replay daemon process of the harness serving node i (one node per process) */
    const daemonPid = (i: number): number => h!.simPids[i]!;
    const start = async (env: Record<string, string> = {}): Promise<NodeCli> => {
      const c = new NodeCli(kubeconfig(), env);
      clis.push(c);
      return c;
    };
    const everyNode = (c: NodeCli, since: number, nodes = h!.nodeNames): boolean =>
      nodes.every((n) => c.after(n, since).length > 0);
    /** a new daemon for node i (what a restarted container runs), on the socket its stand-in dials */
    const replay = async (node: string, i: number): Promise<void> => {
      const d = spawn(
        process.execPath,
        [
          join(ROOT, 'dist', 'e2e', 'scale', 'replay-daemon.js'),
          ...['--dir', h!.dir, '--nodes', node, '--first-index', String(i)],
          ...['--rate', String(RATE), '--count', '0'],
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT },
      );
      extra.push(d);
      await new Promise<void>((resolve, reject) => {
        d.stdout!.setEncoding('utf8').on('data', (s: string) => {
          if (s.includes('"ready":true')) resolve();
        });
        d.on('exit', () => reject(new Error('replay daemon exited')));
      });
    };

    test('kill a daemon: one warning naming its node, the rest go on; after the retry window, exit 3', async () => {
      const c = await start({ KGADGET_NODE_RETRY_SECONDS: '6' });
      await c.waitFor(() => everyNode(c, 0), 60_000, 'events from every node');
      const gone = h!.nodeNames[0]!;
      process.kill(daemonPid(0), 'SIGKILL');
      const killedAt = Date.now();
      const giveUp = new RegExp(
        `^warning: node ${esc(gone)}: not back after 6 s \\(.+\\); giving up on this node$`,
        'm',
      );
      await c.waitFor(() => giveUp.test(c.stderr), 40_000, 'the give-up warning');
      const gaveUpAt = Date.now();
      // the others went on through the whole window
      const others = h!.nodeNames.slice(1);
      await c.waitFor(() => everyNode(c, gaveUpAt, others), 20_000, 'events after the give-up');
      for (const n of others)
        assert.ok(c.after(n, killedAt).length >= RATE * 5, `${n}: ${c.after(n, killedAt).length}`);
      const x = await c.stop();
      log(`kill: ${c.stderr.trim()}`);
      assert.deepEqual(x, { code: 3, signal: null });
      const w = c.warnings();
      assert.equal(w.length, 3, c.stderr);
      assert.match(
        w[0]!,
        new RegExp(
          `^warning: node ${esc(gone)}: lost connection to daemon at node "${esc(gone)}" \\(pod gadget/gadget-${esc(gone)}\\): .+; reconnecting until its gadget pod answers \\(for up to 6 s\\)$`,
        ),
      );
      assert.match(w[1]!, giveUp);
      assert.equal(
        w[2],
        `warning: partial result: node ${gone} not traced to the end (exit code 3)`,
      );
      assert.equal(c.bad, 0);
      await replay(gone, 0); // for the next tests
    });

    test('delete a gadget pod, the DaemonSet replaces it: the CLI streams from the new pod within 5 s of its Ready', async () => {
      const c = await start();
      await c.waitFor(() => everyNode(c, 0), 60_000, 'events from every node');
      const node = h!.nodeNames[1]!;
      const oldPod = `gadget-${node}`;
      const newPod = `gadget-${node}-b`;
      // the pod's container dies with it
      process.kill(daemonPid(1), 'SIGKILL');
      const k = ['--kubeconfig', kubeconfig()];
      const del = await run(KUBECTL, [
        ...k,
        '-n',
        'gadget',
        'delete',
        'pod',
        oldPod,
        '--grace-period=0',
        '--force',
        '--wait=true',
      ]);
      assert.equal(del.status, 0, del.stderr);
      // the new pod's daemon, then the pod, Running and Ready (what the kubelet would report)
      await replay(node, 1);
      const uid = await run(KUBECTL, [...k, 'get', 'node', node, '-o', 'jsonpath={.metadata.uid}']);
      const now = new Date().toISOString();
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: newPod,
          namespace: 'gadget',
          labels: { 'k8s-app': 'gadget', [SIM_LABEL]: 'true' },
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Node',
              name: node,
              uid: uid.stdout.trim(),
              controller: true,
            },
          ],
        },
        spec: {
          nodeName: node,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          tolerations: [{ operator: 'Exists' }],
          containers: [{ name: 'gadget', image: 'kgscale/replay-daemon:simulation' }],
        },
        status: {
          phase: 'Running',
          hostIP: '127.0.0.1',
          podIP: '127.0.0.1',
          startTime: now,
          conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
            type,
            status: 'True',
            lastTransitionTime: now,
          })),
        },
      };
      const file = join(h!.dir, 'replacement-pod.json');
      writeFileSync(file, JSON.stringify(pod));
      assert.equal((await run(KUBECTL, [...k, 'create', '-f', file])).status, 0);
      const st = await run(KUBECTL, [...k, 'replace', '--subresource=status', '-f', file]);
      assert.equal(st.status, 0, st.stderr);
      const readyAt = Date.now();
      await c.waitFor(
        () => c.after(node, readyAt).length > 0,
        30_000,
        `events of ${node} from ${newPod}`,
      );
      const first = c.after(node, readyAt)[0]!;
      log(`replaced pod: first event ${first - readyAt} ms after Ready; ${c.stderr.trim()}`);
      assert.ok(first - readyAt <= 5000, `${first - readyAt} ms after the new pod was Ready`);
      const x = await c.stop();
      assert.deepEqual(x, { code: 0, signal: null }, c.stderr);
      const w = c.warnings();
      assert.equal(w.length, 2, c.stderr);
      assert.match(
        w[0]!,
        new RegExp(
          `^warning: node ${esc(node)}: lost connection to daemon at node "${esc(node)}" .+; reconnecting until its gadget pod answers \\(for up to 120 s\\)$`,
        ),
      );
      assert.match(
        w[1]!,
        new RegExp(
          `^warning: node ${esc(node)}: stream resumed after a gap of \\d+\\.\\d s \\(.+ UTC, \\d+ attempt\\(s\\), pod ${esc(newPod)}\\): what ran on the node in the gap was not traced$`,
        ),
      );
      // the new stream went through the API server to the new pod
      assert.ok(
        h!.forwards().get(node)!.includes(`gadget/${newPod}:8477`),
        JSON.stringify(h!.forwards().get(node)),
      );
    });

    test('a slow node never holds back the others: they stream at once, the status line names it, it joins when it answers', async () => {
      const slow = h!.nodeNames[2]!;
      const pid = daemonPid(2);
      process.kill(pid, 'SIGSTOP');
      stopped.push(pid);
      const c = await start();
      const others = h!.nodeNames.filter((n) => n !== slow);
      await c.waitFor(() => everyNode(c, 0, others), 60_000, 'events from the other nodes');
      const status = new RegExp(`^warning: connected (\\d+)/(\\d+); not answering: (.+)$`, 'm');
      await c.waitFor(() => status.test(c.stderr), 30_000, 'the status line');
      const m = status.exec(c.stderr)!;
      log(`slow: ${m[0]}`);
      assert.equal(Number(m[1]), Number(m[2]) - 1, m[0]);
      assert.match(m[3]!, new RegExp(`^${esc(slow)} \\(.+\\)$`));
      // the others' first events came before the status line, while the slow node said nothing
      const statusAt = Date.now();
      for (const n of others) assert.ok(c.arrivals.get(n)![0]! < statusAt);
      assert.equal(c.arrivals.get(slow), undefined);
      process.kill(pid, 'SIGCONT');
      stopped.splice(stopped.indexOf(pid), 1);
      const contAt = Date.now();
      await c.waitFor(
        () => c.after(slow, contAt).length > 0,
        30_000,
        `events of ${slow} after SIGCONT`,
      );
      const x = await c.stop();
      assert.deepEqual(x, { code: 0, signal: null }, c.stderr);
      assert.match(
        c.stderr,
        new RegExp(`^warning: node ${esc(slow)}: stream started after a gap`, 'm'),
      );
      for (const l of c.warnings())
        assert.match(l, new RegExp(`^warning: (connected|node ${esc(slow)}:)`), c.stderr);
    });

    test('the API server restarts: every node resumes when it is back, the gap reported per node', async (t) => {
      const dir = dirname(cluster!.kubeconfig);
      const pidFile = join(dir, 'run', 'kube-apiserver.pid');
      if (!existsSync(pidFile)) return t.skip(`no ${pidFile}: not a cluster of scripts/k8s/up.sh`);
      const nodes = h!.nodeNames;
      const c = await start();
      await c.waitFor(() => everyNode(c, 0, nodes), 60_000, 'events from every node');
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // a restart as a rollout does it: SIGTERM, and SIGKILL when the graceful shutdown (which
      // keeps serving open port-forwards) takes longer than 20 s
      process.kill(pid, 'SIGTERM');
      const downAt = Date.now();
      for (let i = 0; existsSync(`/proc/${pid}`) && i < 200; i++) await sleep(100);
      if (existsSync(`/proc/${pid}`)) {
        log('the API server did not exit 20 s after SIGTERM: SIGKILL');
        process.kill(pid, 'SIGKILL');
        while (existsSync(`/proc/${pid}`)) await sleep(100);
      }
      // its open port-forwards (the CLI's streams) end with the process
      const exitedAt = Date.now();
      log(`the API server exited ${exitedAt - downAt} ms after SIGTERM`);
      await sleep(2000);
      const spawnAt = Date.now();
      const logFd = openSync(join(dir, 'logs', 'kube-apiserver.log'), 'a');
      const api = spawn(argv[0]!, argv.slice(1), {
        stdio: ['ignore', logFd, logFd],
        detached: true, // its own session, as scripts/k8s/lib.sh starts it (setsid)
      });
      closeSync(logFd);
      api.unref();
      writeFileSync(pidFile, `${api.pid}\n`);
      for (let i = 0; ; i++) {
        const r = await run(KUBECTL, ['--kubeconfig', kubeconfig(), 'get', '--raw', '/readyz'], {
          timeoutMs: 5000,
        });
        if (r.status === 0) break;
        assert.ok(i < 120, 'the API server is not ready 60 s after its restart');
        await sleep(500);
      }
      const backAt = Date.now();
      log(`API server not answering for ${backAt - downAt} ms, gone for ${backAt - exitedAt} ms`);
      await c.waitFor(
        () => everyNode(c, backAt, nodes),
        60_000,
        'events from every node after the restart',
      );
      const x = await c.stop();
      log(`restart: ${c.stderr.trim()}`);
      assert.deepEqual(x, { code: 0, signal: null }, c.stderr);
      for (const n of nodes) {
        const mine = c.warnings().filter((l) => l.startsWith(`warning: node ${n}: `));
        assert.equal(mine.length, 2, `${n}: ${c.stderr}`);
        assert.match(
          mine[0]!,
          /: lost connection to daemon at .+; reconnecting until its gadget pod answers \(for up to 120 s\)$/,
        );
        assert.match(
          mine[1]!,
          /: stream resumed after a gap of \d+\.\d s \(.+\): what ran on the node in the gap was not traced$/,
        );
        // no event of the node arrived while no API server ran
        const inGap = c.arrivals.get(n)!.filter((a) => a > exitedAt + 500 && a < spawnAt);
        assert.deepEqual(inGap, [], n);
      }
    });
  },
);
