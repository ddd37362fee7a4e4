// THE SCALE HARNESS: A SIMULATION of N Kubernetes nodes, fanned in by the real CLI through the
// real API server's port-forward. What is simulated, and why:
//
// - N kubelets cannot run on one machine. Each simulated node is a real Node object (InternalIP
//   127.0.0.1, its own kubelet port in status.daemonEndpoints, Ready, a Lease renewed like a
//   kubelet's), with a gadget pod bound to it (namespace gadget, label k8s-app=gadget, as deploy's
//   DaemonSet makes them) whose status the harness sets Running and Ready, as a kubelet would.
//   The pods are owned by their Node (like mirror pods): no DaemonSet adopts them, and deleting
//   the node collects them.
// - The kubelet's port-forward endpoint is kgadget-standin-kubelet (scripts/k8s/standin: the
//   kubelet's own streaming port-forward code, one HTTPS port per node, several nodes per
//   process). It forwards each pod's port to the daemon serving that node.
// - The daemons are replay daemons (replay-daemon.ts): the real gRPC server, with a replay runtime
//   that sends captured real records at a set rate instead of BPF. One process serves up to
//   `nodesPerProcess` nodes.
//
// Real: the API server (its pods/portforward proxy, authn/authz), the CLI (`kubectl-gadget trace
// ... -o json`, Kubernetes mode, no KGADGET_FAKE_KUBELET_ENDPOINTS), the gRPC server, the record
// framing. Everything started is stopped by close(), also after failures.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { CLI, ROOT, sleep } from '../helpers/cli.js';
import { KUBECTL, run } from '../k8s/harness-fake-kubelet.js';
import type { ReplayRunReport } from './replay-runtime.js';

type K8s = typeof import('@kubernetes/client-node');

export const SIM_LABEL = 'kgscale.kubectl-gadget.io/simulated';
const GADGET_NS = 'gadget';
const DAEMON_PORT = 8477;

export interface ScaleOptions {
  kubeconfig: string;
  /** the cluster CA: the stand-in requires the API server's client certificate signed by it */
  caFile?: string;
  nodes: number;
  /** records per second per node */
  rate: number;
  /** records per run per node (then the run ends); 0 = until cancelled */
  count: number;
  /** after `count` records, each run stays open, idle, until the CLI cancels it */
  hold?: boolean;
  /** nodes per replay-daemon process; default 50 */
  nodesPerProcess?: number;
  /** nodes per stand-in kubelet process; default 500 */
  nodesPerStandin?: number;
  /** nodes whose gadget pod starts Pending, not Ready (until markReady) */
  pendingNodes?: string[];
  log?: (m: string) => void;
}

/** CPU seconds (user + system) of a process so far, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15); CLK_TCK 100
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole machine was busy so far (all CPUs; /proc/stat minus idle and iowait). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9);
  const v = f.map(Number);
  return (v.reduce((a, b) => a + b, 0) - v[3]! - v[4]!) / 100;
}

/** Resident set size (MiB) of a process, from /proc. */
export function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** A child process whose stdout is JSON lines. */
class JsonProc {
  readonly lines: unknown[] = [];
  private err = '';
  private readonly exited: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          this.err += line + '\n';
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.err.length < 1 << 16) this.err += d;
    });
    this.exited = new Promise((r) => proc.on('close', () => r()));
  }

  get stderr(): string {
    return this.err;
  }

  async waitFor<T>(pick: (o: unknown) => T | undefined, ms: number, what: string): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (const o of this.lines) {
        const v = pick(o);
        if (v !== undefined) return v;
      }
      if (this.proc.exitCode !== null) throw new Error(`${what}: exited: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`${what}: not ready in ${ms} ms: ${this.err}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

/** The stand-in kubelet binary (built and cached on first use). */
export function standinBinary(): string {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'k8s', 'standin', 'build.sh')], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (r.status !== 0) throw new Error(`scripts/k8s/standin/build.sh failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

export const nodeName = (i: number): string => `kgscale-sim-${String(i).padStart(4, '0')}`;

export class ScaleHarness {
  readonly nodeNames: string[];
  readonly dir: string;
  private k8s!: K8s;
  private kc!: KubeConfig;
  private core!: CoreV1Api;
  private readonly replays: JsonProc[] = [];
  private readonly standins: JsonProc[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly log: (m: string) => void;
  /** kubelet port of each simulated node */
  readonly ports = new Map<string, number>();

  private constructor(private readonly opts: ScaleOptions) {
    this.nodeNames = Array.from({ length: opts.nodes }, (_, i) => nodeName(i + 1));
    this.dir = mkdtempSync('/tmp/kgscale-');
    this.log = opts.log ?? (() => {});
  }

  /** Starts everything; on failure, stops what started and rethrows. */
  static async start(opts: ScaleOptions): Promise<ScaleHarness> {
    const h = new ScaleHarness(opts);
    try {
      await h.setUp();
      return h;
    } catch (e) {
      await h.close();
      throw e;
    }
  }

  /** replay-daemon processes and the nodes each serves */
  get layout(): { replayProcesses: number; standinProcesses: number; nodesPerProcess: number } {
    return {
      replayProcesses: this.replays.length,
      standinProcesses: this.standins.length,
      nodesPerProcess: this.opts.nodesPerProcess ?? 50,
    };
  }

  /** pids of the simulation's own processes (replay daemons, stand-ins) */
  get simPids(): number[] {
    return [...this.replayPids, ...this.standinPids];
  }

  get replayPids(): number[] {
    return this.replays.map((p) => p.proc.pid!);
  }

  get standinPids(): number[] {
    return this.standins.map((p) => p.proc.pid!);
  }

  private async setUp(): Promise<void> {
    const t0 = Date.now();
    this.k8s = await import('@kubernetes/client-node');
    this.kc = new this.k8s.KubeConfig();
    this.kc.loadFromFile(this.opts.kubeconfig);
    this.core = this.kc.makeApiClient(this.k8s.CoreV1Api);
    await this.removeObjects(); // what a crashed run left
    const names = this.nodeNames;

    // replay daemons
    const per = this.opts.nodesPerProcess ?? 50;
    for (let i = 0; i < names.length; i += per) {
      const part = names.slice(i, i + per);
      const p = new JsonProc(
        spawn(
          process.execPath,
          [
            join(ROOT, 'dist', 'e2e', 'scale', 'replay-daemon.js'),
            '--dir',
            this.dir,
            '--nodes',
            part.join(','),
            '--first-index',
            String(i),
            '--rate',
            String(this.opts.rate),
            '--count',
            String(this.opts.count),
            ...(this.opts.hold ? ['--hold'] : []),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT },
        ),
      );
      this.replays.push(p);
    }
    for (const p of this.replays)
      await p.waitFor(
        (o) => ((o as { ready?: boolean }).ready ? true : undefined),
        60_000,
        'replay daemon',
      );

    // stand-in kubelets
    const bin = standinBinary();
    const perStandin = this.opts.nodesPerStandin ?? 500;
    for (let i = 0; i < names.length; i += perStandin) {
      const cfg = join(this.dir, `standin-${i}.json`);
      writeFileSync(
        cfg,
        JSON.stringify({
          daemonPort: DAEMON_PORT,
          nodes: names
            .slice(i, i + perStandin)
            .map((n) => ({ name: n, target: `unix://${join(this.dir, `${n}.sock`)}` })),
        }),
      );
      const args = ['-config', cfg];
      if (this.opts.caFile) args.push('-client-ca', this.opts.caFile);
      this.standins.push(new JsonProc(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })));
    }
    for (const s of this.standins) {
      const ports = await s.waitFor(
        (o) => (o as { ports?: Record<string, number> }).ports,
        30_000,
        'stand-in kubelet',
      );
      for (const [n, port] of Object.entries(ports)) this.ports.set(n, port);
    }
    this.log(
      `${names.length} simulated nodes: ${this.replays.length} replay-daemon process(es), ${this.standins.length} stand-in kubelet process(es) (${Date.now() - t0} ms)`,
    );

    // the API objects
    await this.core
      .createNamespace({ body: { metadata: { name: GADGET_NS } } })
      .catch((e: unknown) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
    const t1 = Date.now();
    // kubectl with Lists: one process per chunk, its requests on one kept-alive connection
    // (about 10x the rate of a client-node call per object here)
    const nodes = names.map((n) => this.nodeObject(n));
    await this.kubectlLists('create', nodes);
    await this.kubectlLists('replace', nodes, ['--subresource=status']);
    await this.kubectlLists('create', this.leaseObjects());
    this.leaseTimer = setInterval(() => {
      if (this.renewing) return;
      this.renewing = this.kubectlLists('replace', this.leaseObjects())
        .catch((e: unknown) => this.log(`lease renewal: ${String(e).split('\n')[0]}`))
        .finally(() => (this.renewing = undefined));
    }, 10_000);
    this.uids = await this.nodeUids();
    const pending = new Set(this.opts.pendingNodes ?? []);
    const pods = names.map((n) => this.podObject(n, this.uids.get(n) ?? '', !pending.has(n)));
    await this.kubectlLists('create', pods);
    await this.kubectlLists('replace', pods, ['--subresource=status']);
    this.log(
      `nodes and gadget pods Running+Ready${pending.size ? ` (${pending.size} Pending)` : ''} in ${Date.now() - t1} ms`,
    );
  }

  private uids = new Map<string, string>();

  /** What a kubelet writes once the pod's container started and its probe passed. */
  async markReady(node: string): Promise<void> {
    const pod = this.podObject(node, this.uids.get(node) ?? '', true);
    await this.kubectlLists('replace', [pod], ['--subresource=status']);
  }

  private renewing: Promise<void> | undefined;

  /** `kubectl VERB -f LIST` over `objects`, in up to 4 concurrent chunks. */
  private async kubectlLists(
    verb: 'create' | 'replace',
    objects: object[],
    extra: string[] = [],
  ): Promise<void> {
    const chunks = 4;
    const size = Math.ceil(objects.length / chunks);
    const parts: object[][] = [];
    for (let i = 0; i < objects.length; i += size) parts.push(objects.slice(i, i + size));
    await Promise.all(
      parts.map(async (items, i) => {
        const file = join(this.dir, `objects-${verb}-${i}.json`);
        writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
        const argv = [
          '--kubeconfig',
          this.opts.kubeconfig,
          verb,
          ...extra,
          '-o',
          'name',
          '-f',
          file,
        ];
        let r = await run(KUBECTL, argv, { timeoutMs: 5 * 60_000 });
        // a replace races the control plane's own writes (the node controller on 1,000 new
        // Nodes: "the object has been modified"); a replace is idempotent, so try it again
        for (
          let i = 0;
          i < 5 && r.status !== 0 && verb === 'replace' && /Conflict/.test(r.stderr);
          i++
        ) {
          await sleep(200);
          r = await run(KUBECTL, argv, { timeoutMs: 5 * 60_000 });
        }
        if (r.status !== 0)
          throw new Error(
            `kubectl ${verb} ${extra.join(' ')}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`,
          );
      }),
    );
  }

  private async nodeUids(): Promise<Map<string, string>> {
    const r = await run(KUBECTL, [
      '--kubeconfig',
      this.opts.kubeconfig,
      'get',
      'nodes',
      '-l',
      `${SIM_LABEL}=true`,
      '-o',
      'json',
    ]);
    if (r.status !== 0) throw new Error(`kubectl get nodes: ${r.stderr}`);
    const list = JSON.parse(r.stdout) as { items: V1Node[] };
    return new Map(list.items.map((n) => [n.metadata!.name!, n.metadata!.uid!]));
  }

  private nodeObject(name: string): V1Node {
    const now = new Date().toISOString();
    const res = { cpu: '8', memory: '16Gi', pods: '110' };
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        // no kubernetes.io/os label: a real deploy's DaemonSet (nodeSelector os=linux) never
        // places its pods here
        labels: { [SIM_LABEL]: 'true', 'kubernetes.io/hostname': name },
      },
      // no pod of the cluster's own (CoreDNS, a test's) is scheduled here; gadget pods tolerate it
      spec: { taints: [{ key: SIM_LABEL, value: 'true', effect: 'NoSchedule' }] },
      status: {
        capacity: res,
        allocatable: res,
        addresses: [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: name },
        ],
        // where the API server dials this node's kubelet: its stand-in's port
        daemonEndpoints: { kubeletEndpoint: { Port: this.ports.get(name)! } },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'simulated node of the scale harness (e2e/scale/harness.ts)',
            lastHeartbeatTime: now as unknown as Date,
            lastTransitionTime: now as unknown as Date,
          },
        ],
        nodeInfo: {
          architecture: 'amd64',
          bootID: '',
          containerRuntimeVersion: 'replay://simulation',
          kernelVersion: 'simulation',
          kubeProxyVersion: '',
          kubeletVersion: 'v0.0.0-standin-simulation',
          machineID: '',
          operatingSystem: 'linux',
          osImage: 'kgscale simulation',
          systemUUID: '',
        },
      },
    };
  }

  /** Node Leases, renewed every 10 s as kubelets do: the node lifecycle controller keeps the nodes Ready. */
  private leaseObjects(): object[] {
    const renewTime = new Date().toISOString().replace('Z', '000Z'); // MicroTime
    return this.nodeNames.map((name) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'kube-node-lease', labels: { [SIM_LABEL]: 'true' } },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
    }));
  }

  private podObject(node: string, nodeUid: string, ready: boolean): V1Pod {
    const now = new Date().toISOString() as unknown as Date;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `gadget-${node}`,
        namespace: GADGET_NS,
        labels: { 'k8s-app': 'gadget', [SIM_LABEL]: 'true' },
        // owned by its node, like a mirror pod: no DaemonSet adopts it, and the node's deletion
        // collects it
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid, controller: true },
        ],
      },
      spec: {
        nodeName: node,
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 0,
        tolerations: [{ operator: 'Exists' }],
        containers: [
          {
            name: 'gadget',
            image: 'kgscale/replay-daemon:simulation',
            ports: [{ containerPort: DAEMON_PORT, protocol: 'TCP' }],
          },
        ],
      },
      // what a kubelet would write: Running and Ready (or still starting: Pending)
      status: ready ? this.readyStatus(now) : this.pendingStatus(now),
    };
  }

  private pendingStatus(now: Date): V1Pod['status'] {
    return {
      phase: 'Pending',
      hostIP: '127.0.0.1',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now },
      ],
      containerStatuses: [
        {
          name: 'gadget',
          image: 'kgscale/replay-daemon:simulation',
          imageID: '',
          ready: false,
          started: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    };
  }

  private readyStatus(now: Date): V1Pod['status'] {
    return {
      phase: 'Running',
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: now,
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: now,
      })),
      containerStatuses: [
        {
          name: 'gadget',
          image: 'kgscale/replay-daemon:simulation',
          imageID: '',
          containerID: 'replay://simulation',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        },
      ],
    };
  }

  /** The replay daemons' reports of the runs that ended, by node (the last run of each). */
  runReports(): Map<string, ReplayRunReport> {
    const out = new Map<string, ReplayRunReport>();
    for (const p of this.replays)
      for (const o of p.lines) {
        const r = (o as { run?: ReplayRunReport }).run;
        if (r) out.set(r.node, r);
      }
    return out;
  }

  /** The streams each stand-in kubelet forwarded: node -> "namespace/pod:port" of each. */
  forwards(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const p of this.standins)
      for (const o of p.lines) {
        const f = (o as { forward?: { node: string; pod: string; port: number } }).forward;
        if (f) out.set(f.node, [...(out.get(f.node) ?? []), `${f.pod}:${f.port}`]);
      }
    return out;
  }

  /** Waits until every node's run ended (its report is in), or the deadline. */
  async waitRunReports(ms: number): Promise<Map<string, ReplayRunReport>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = this.runReports();
      if (r.size >= this.nodeNames.length || Date.now() > deadline) return r;
      await sleep(100);
    }
  }

  /** Forgets the reports of earlier runs (a harness may serve several CLI runs). */
  clearRunReports(): void {
    for (const p of this.replays) p.lines.length = 0;
  }

  /** The simulated nodes, pods and leases this harness (or a crashed one) made. */
  private async removeObjects(): Promise<void> {
    const sel = `${SIM_LABEL}=true`;
    await this.core
      .deleteCollectionNamespacedPod({
        namespace: GADGET_NS,
        labelSelector: sel,
        gracePeriodSeconds: 0,
      })
      .catch(() => undefined);
    await this.core.deleteCollectionNode({ labelSelector: sel }).catch(() => undefined);
    const coord = this.kc.makeApiClient(this.k8s.CoordinationV1Api);
    await coord
      .deleteCollectionNamespacedLease({ namespace: 'kube-node-lease', labelSelector: sel })
      .catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.leaseTimer);
    await this.renewing;
    if (this.core) await this.removeObjects();
    await Promise.all([...this.standins, ...this.replays].map((p) => p.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// the CLI run and what it measures

export interface CliRunOptions {
  kubeconfig: string;
  gadget: 'trace_exec' | 'trace_open';
  /** nodes to expect events from */
  nodes: string[];
  /** records each node sends (the run's count): the run is over when all arrived */
  expectPerNode: number;
  /** more CLI flags; default ['-A'] */
  args?: string[];
  timeoutMs: number;
  /** --cpu-prof into this directory */
  cpuProfDir?: string;
  /** called every 500 ms while the CLI runs (for API server CPU samples and the like) */
  onSample?: () => void;
  /** processes whose CPU is measured over the same steady window (API server, ...) */
  otherPids?: Record<string, number[]>;
  /** idle runs: SIGINT the CLI this long after every node delivered its records */
  holdMs?: number;
  /** output lines of other nodes (the real node) are appended here as they arrive: node -> lines */
  keep?: Map<string, string[]>;
  /** called once every node of `nodes` delivered a first event (the steady state began) */
  onAllFirst?: () => void;
  /** the CLI is not stopped (holdMs) before this settles, even when every record arrived */
  until?: Promise<unknown>;
  log?: (m: string) => void;
}

export interface CliRunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** events per node */
  perNode: Map<string, number>;
  /** ms from spawn to each node's first event */
  firstMs: Map<string, number>;
  /** ms from spawn to each node's last event */
  lastMs: Map<string, number>;
  /** events per node that arrived after the first event from every node (the steady window) */
  perNodeSteady: Map<string, number>;
  /** output lines that were not a simulated node's event */
  other: number;
  /** emit-to-output latency, ms, of every event */
  latencies: Float64Array;
  /** the same, of the events output after the first event from every node (steady state) */
  steadyLatencies: Float64Array;
  /** CLI CPU seconds: total (sampled every 500 ms), and between the first event from every node and the last event */
  cpuTotal: number;
  cpuSteady: number;
  /** wall ms of the steady window */
  steadyMs: number;
  /** events output within the steady window */
  steadyEvents: number;
  rssMaxMiB: number;
  /** CLI CPU seconds from spawn to the first event from every node */
  cpuAtAllFirst: number;
  /** CPU seconds of otherPids (summed per name), and the machine's (`machine`), over the steady window */
  otherCpuSteady: Record<string, number>;
  /** CLI CPU seconds and RSS (MiB) over the hold (holdMs after every node delivered) */
  cpuHold: number;
  rssHoldMiB: number;
  /** ms from spawn to the first event from every node */
  allFirstMs: number;
  wallMs: number;
}

/** "2026-12-07T06:44:23.417032000Z" -> unix ms (float, sub-ms kept). */
function tsMs(s: string, cache: { prefix: string; ms: number }): number {
  const p = s.slice(0, 19);
  if (p !== cache.prefix) {
    cache.prefix = p;
    cache.ms = Date.parse(p + 'Z');
  }
  return cache.ms + Number(s.slice(20, 29)) / 1e6;
}

/**
 * Runs `kubectl-gadget trace <exec|open> -A -o json` in Kubernetes mode against the cluster of
 * `kubeconfig`, with no shortcut (KGADGET_FAKE_KUBELET_ENDPOINTS removed from its environment),
 * and measures it from its output: events per node, first event per node, latency (now minus the
 * event's timestamp, which the replay stamped with its emit time), CPU and RSS.
 */
export async function runCli(o: CliRunOptions): Promise<CliRunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: o.kubeconfig };
  delete env.KGADGET_FAKE_KUBELET_ENDPOINTS;
  delete env.KGADGET_KUBECONFIG;
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
  const cmd = o.gadget === 'trace_exec' ? ['trace', 'exec'] : ['trace', 'open'];
  const t0 = performance.now();
  const p = spawn(
    process.execPath,
    [...nodeArgs, CLI, ...cmd, ...(o.args ?? ['-A']), '-o', 'json'],
    {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = p.pid!;
  const want = new Set(o.nodes);
  const perNode = new Map<string, number>();
  const perNodeSteady = new Map<string, number>();
  const firstMs = new Map<string, number>();
  const lastMs = new Map<string, number>();
  const total = o.nodes.length * o.expectPerNode;
  const latencies = new Float64Array(Math.max(total, 1));
  let nLat = 0;
  let steadyFrom = -1; // index in latencies of the first event after all nodes' first
  let other = 0;
  const keep = o.keep ?? new Map<string, string[]>();
  let complete = 0;
  let allFirstMs = NaN;
  let cpuAtAllFirst = NaN;
  let eventsAtAllFirst = 0;
  let events = 0;
  let lastEventAt = 0;
  let cpuAtLast = NaN;
  let eventsAtLast = 0;
  let rssMax = 0;
  // the machine's busy CPU too: is it the limit, or the CLI?
  const sumCpu = (): Record<string, number> => ({
    ...Object.fromEntries(
      Object.entries(o.otherPids ?? {}).map(([k, pids]) => [
        k,
        pids.reduce((a, q) => a + (cpuSeconds(q) || 0), 0),
      ]),
    ),
    machine: machineBusySeconds(),
  });
  let otherAtAllFirst: Record<string, number> = {};
  let otherAtLast: Record<string, number> = {};
  let cpuHoldEnd = NaN;
  let rssHold = NaN;
  const cache = { prefix: '', ms: 0 };
  let stderr = '';
  let buf = '';
  let doneAt = 0;
  p.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 1 << 16) stderr += d;
  });
  p.stdout.setEncoding('utf8').on('data', (d: string) => {
    const now = performance.now();
    const nowWall = performance.timeOrigin + now;
    buf += d;
    let start = 0;
    let nl;
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      const line = buf.slice(start, nl);
      start = nl + 1;
      // {"timestamp":"2026-12-07T06:44:23.417032000Z","node":"kgscale-sim-0001",...
      const ni = line.indexOf('"node":"');
      const ne = ni >= 0 ? line.indexOf('"', ni + 8) : -1;
      const node = ne > 0 ? line.slice(ni + 8, ne) : '';
      if (!want.has(node) || !line.startsWith('{"timestamp":"')) {
        keep.get(node)?.push(line);
        other++;
        continue;
      }
      const c = (perNode.get(node) ?? 0) + 1;
      perNode.set(node, c);
      events++;
      const rel = now - t0;
      if (c === 1) {
        firstMs.set(node, rel);
        if (firstMs.size === want.size) {
          allFirstMs = rel;
          cpuAtAllFirst = cpuSeconds(pid);
          otherAtAllFirst = sumCpu();
          steadyFrom = nLat + 1;
          eventsAtAllFirst = events;
          o.onAllFirst?.();
        }
      }
      lastMs.set(node, rel);
      if (steadyFrom >= 0 && steadyFrom <= nLat)
        perNodeSteady.set(node, (perNodeSteady.get(node) ?? 0) + 1);
      if (c === o.expectPerNode) complete++;
      if (nLat < latencies.length) latencies[nLat++] = nowWall - tsMs(line.slice(14, 44), cache);
      lastEventAt = rel;
    }
    buf = buf.slice(start);
    if (complete === want.size && !doneAt) {
      doneAt = now;
      cpuAtLast = cpuSeconds(pid);
      otherAtLast = sumCpu();
      eventsAtLast = events;
      // a run that does not end by itself (idle, or other nodes in the cluster): stop it
      void Promise.resolve(o.until)
        .catch(() => undefined)
        .then(() =>
          setTimeout(() => {
            cpuHoldEnd = cpuSeconds(pid);
            rssHold = rssMiB(pid);
            p.kill('SIGINT');
          }, o.holdMs ?? 3000).unref(),
        );
    }
  });
  let cpuLast = 0;
  // the last sample taken while events still arrived: where the steady window of a run that did
  // not get every record ends (CPU after the last event, waiting for records that never came,
  // is not the steady state's)
  let eventsSampled = 0;
  let lastActive:
    { at: number; cpu: number; events: number; other: Record<string, number> } | undefined;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssMiB(pid) || 0);
    cpuLast = cpuSeconds(pid) || cpuLast;
    if (events > eventsSampled && !Number.isNaN(allFirstMs)) {
      eventsSampled = events;
      lastActive = { at: performance.now() - t0, cpu: cpuLast, events, other: sumCpu() };
    }
    o.onSample?.();
  }, 500);
  const killer = setTimeout(() => {
    o.log?.(`the CLI did not finish in ${o.timeoutMs} ms: SIGINT`);
    p.kill('SIGINT');
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  }, o.timeoutMs);
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    p.on('close', (code, sig) => r([code, sig])),
  );
  clearInterval(sampler);
  clearTimeout(killer);
  // the last sample (every 500 ms): /proc of the process is gone once it exited
  const cpuTotal = cpuLast;
  let steadyEnd = lastEventAt;
  if (Number.isNaN(cpuAtLast)) {
    // not every record arrived: the steady window ends at the last sample that saw events come
    cpuAtLast = lastActive?.cpu ?? cpuLast;
    eventsAtLast = lastActive?.events ?? events;
    otherAtLast = lastActive?.other ?? sumCpu();
    steadyEnd = lastActive?.at ?? lastEventAt;
  }
  return {
    status,
    signal,
    stderr,
    perNode,
    firstMs,
    lastMs,
    perNodeSteady,
    other,
    latencies: latencies.subarray(0, nLat),
    steadyLatencies: latencies.subarray(steadyFrom < 0 ? nLat : Math.min(steadyFrom, nLat), nLat),
    cpuTotal,
    cpuSteady: cpuAtLast - cpuAtAllFirst,
    steadyMs: steadyEnd - allFirstMs,
    steadyEvents: eventsAtLast - eventsAtAllFirst,
    rssMaxMiB: rssMax,
    cpuAtAllFirst,
    otherCpuSteady: Object.fromEntries(
      Object.keys(otherAtLast).map((k) => [k, otherAtLast[k]! - (otherAtAllFirst[k] ?? 0)]),
    ),
    cpuHold: cpuHoldEnd - cpuAtLast,
    rssHoldMiB: rssHold,
    allFirstMs,
    wallMs: performance.now() - t0,
  };
}

/** The p-th percentile (0..100) of values (sorted copy). */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
