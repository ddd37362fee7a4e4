// E2E harness for Kubernetes mode against the REAL control plane (scripts/k8s/up.sh), on a machine
// with no kubelet. THIS HARNESS STANDS IN FOR THE KUBELET, and only for it:
//
// - it registers a Node object (status Ready, allocatable, a Lease it renews) so the real
//   scheduler and DaemonSet controller place pods on it;
// - for each workload pod bound to that node it starts real podman containers from the busybox
//   rootfs, with the OCI annotations a CRI runtime sets (io.kubernetes.cri.sandbox-name, ...),
//   and writes the pod's status (Running, a made-up pod IP, containerStatuses) like a kubelet;
//   pods being deleted are stopped and removed (grace period 0), as a kubelet finalises them;
// - the gadget pod that the DaemonSet places on the node gets status Running, but its container
//   is stood in for by the daemon running as a LOCAL PROCESS (`kubectl-gadget daemon
//   --kubernetes`), with the gadget ServiceAccount's own token (kubectl create token) in a
//   kubeconfig given through KGADGET_KUBECONFIG: the daemon's RBAC is the ServiceAccount's;
// - port-forward needs a kubelet, so the CLI reaches that daemon through the transport seam
//   KGADGET_FAKE_KUBELET_ENDPOINTS (plugin/src/runtimes/k8s/transport.ts) that maps the node to
//   the daemon's unix socket. Pod discovery still goes through the API server. The real
//   port-forward path is tested with a real kubelet (next issue).
// - apiProxy: a TCP proxy between the daemon and the API server that a test can cut, to show the
//   daemon's pod watch reconnects and resyncs without stopping tracing.
//
// Everything it starts is torn down by close(), also after failures.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { cleanupTestContainers, ensureRootfs, podman, TEST_PREFIX } from '../fixtures/podman.js';

/** podman names of the pod containers this stand-in runs */
const CONTAINER_PREFIX = `${TEST_PREFIX}k8s-`;
import { CLI, ROOT, sleep } from '../helpers/cli.js';

type K8s = typeof import('@kubernetes/client-node');

export const KUBECTL =
  process.env.KUBECTL ??
  (existsSync('/usr/lib/google-cloud-sdk/bin/kubectl.1.33')
    ? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'
    : 'kubectl');

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without blocking the event loop: the stand-in kubelet and the API
 * proxy live in the test's process and must keep answering while the CLI runs.
 */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    p.stdin!.on('error', () => undefined);
    p.stdin!.end(opts.input ?? '');
  });
}

/** The synchronous form, for setup before anything of the harness runs in this process. */
export function runSync(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Result {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    cwd: ROOT,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function ok(r: Result, what: string): string {
  if (r.status !== 0)
    throw new Error(`${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// the control plane

export interface ClusterHandle {
  kubeconfig: string;
  /** scripts/k8s/up.sh was run by us: close() runs down.sh */
  started: boolean;
  server: string;
  caFile: string;
  close(): void;
}

function reachable(kubeconfig: string): boolean {
  if (!existsSync(kubeconfig)) return false;
  return (
    runSync(KUBECTL, ['--kubeconfig', kubeconfig, 'get', '--raw', '/readyz'], { timeoutMs: 15_000 })
      .status === 0
  );
}

/**
 * The cluster to test against: KGADGET_KUBECONFIG (or KUBECONFIG) if it points at a live one, the
 * cluster of $KGADGET_CLUSTER_DIR if it runs, else a fresh one from scripts/k8s/up.sh, which
 * close() stops again.
 */
export function ensureCluster(log: (m: string) => void): ClusterHandle {
  const given = process.env.KGADGET_KUBECONFIG || process.env.KUBECONFIG || '';
  const stateDir = process.env.KGADGET_CLUSTER_DIR || '/tmp/kgadget-cluster';
  let kubeconfig = '';
  let started = false;
  if (given && !given.includes(':') && reachable(given)) {
    kubeconfig = given;
    log(`reusing the cluster of ${given}`);
  } else if (reachable(join(stateDir, 'admin.kubeconfig'))) {
    kubeconfig = join(stateDir, 'admin.kubeconfig');
    log(`reusing the running cluster in ${stateDir}`);
  } else {
    const t0 = Date.now();
    const r = runSync('bash', [join(ROOT, 'scripts', 'k8s', 'up.sh')], { timeoutMs: 15 * 60_000 });
    ok(r, 'scripts/k8s/up.sh');
    const m = /export KUBECONFIG=(\S+)/.exec(r.stdout);
    if (!m) throw new Error(`scripts/k8s/up.sh printed no KUBECONFIG: ${r.stdout}`);
    kubeconfig = m[1]!;
    started = true;
    log(`started a cluster with scripts/k8s/up.sh in ${Date.now() - t0} ms`);
  }
  const cfg = runSync(KUBECTL, [
    '--kubeconfig',
    kubeconfig,
    'config',
    'view',
    '--minify',
    '--raw',
    '-o',
    'json',
  ]);
  const view = JSON.parse(ok(cfg, 'kubectl config view')) as {
    clusters: Array<{
      cluster: {
        server: string;
        'certificate-authority'?: string;
        'certificate-authority-data'?: string;
      };
    }>;
  };
  const c = view.clusters[0]!.cluster;
  let caFile = c['certificate-authority'] ?? '';
  let caDir = '';
  if (!caFile && c['certificate-authority-data']) {
    const dir = (caDir = mkdtempSync(join(tmpdir(), 'kgtest-ca-')));
    caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, Buffer.from(c['certificate-authority-data'], 'base64'));
  }
  return {
    kubeconfig,
    started,
    server: c.server,
    caFile,
    close() {
      if (caDir) rmSync(caDir, { recursive: true, force: true });
      if (started)
        runSync('bash', [join(ROOT, 'scripts', 'k8s', 'down.sh')], { timeoutMs: 120_000 });
    },
  };
}

/** A kubeconfig for a bearer token (a ServiceAccount's, from kubectl create token). */
export function tokenKubeconfig(
  path: string,
  server: string,
  caFile: string,
  user: string,
  token: string,
  namespace: string,
): string {
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kgtest',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${caFile}`,
      'users:',
      `- name: ${user}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      `- name: ${user}`,
      `  context: {cluster: kgtest, user: ${user}, namespace: ${namespace}}`,
      `current-context: ${user}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

// ---------------------------------------------------------------------------------------------
// a TCP proxy the daemon talks to the API server through, cut on demand

export class ApiProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.cutOff) {
        client.destroy();
        return;
      }
      const upstream = netConnect(this.targetPort, this.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ---------------------------------------------------------------------------------------------
// the kubelet stand-in

export interface FakeKubeletOptions {
  kubeconfig: string;
  node: string;
  log?: (m: string) => void;
}

interface RunningPod {
  uid: string;
  namespace: string;
  name: string;
  containers: string[];
  /** a pod IP the stand-in makes up (there is no CNI) */
  ip: string;
  work: Promise<void>;
}

/** The stand-in kubelet of one node (see the header comment). */
export class FakeKubelet {
  readonly node: string;
  private k8s!: K8s;
  private kc!: KubeConfig;
  private core!: CoreV1Api;
  private readonly pods = new Map<string, RunningPod>();
  private watchAbort: { abort(): void } | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ipCounter = 10;
  private readonly log: (m: string) => void;
  /** pods whose containers started (uid -> container names), for tests */
  readonly started = new Map<string, string[]>();

  constructor(private readonly opts: FakeKubeletOptions) {
    this.node = opts.node;
    this.log = opts.log ?? (() => {});
  }

  async start(): Promise<void> {
    this.k8s = await import('@kubernetes/client-node');
    this.kc = new this.k8s.KubeConfig();
    this.kc.loadFromFile(this.opts.kubeconfig);
    this.core = this.kc.makeApiClient(this.k8s.CoreV1Api);
    ensureRootfs();
    // pod containers a crashed run left behind would still be pods to the daemon
    await cleanupTestContainers(CONTAINER_PREFIX);
    await this.core.deleteNode({ name: this.node, gracePeriodSeconds: 0 }).catch(() => undefined);
    await this.core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: this.node,
          labels: {
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'kubernetes.io/hostname': this.node,
            'kgtest/fake-kubelet': 'true',
          },
        },
      },
    });
    await this.writeNodeStatus();
    await this.renewLease();
    this.leaseTimer = setInterval(() => void this.renewLease().catch(() => undefined), 10_000);
    this.leaseTimer.unref();
    await this.watchPods();
  }

  /** Writes the node's status (retried on conflicts: controllers annotate new nodes). */
  private async writeNodeStatus(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writeNodeStatusOnce();
        return;
      } catch (e) {
        if ((e as { code?: number }).code !== 409 || attempt >= 10) throw e;
        await sleep(100);
      }
    }
  }

  private async writeNodeStatusOnce(): Promise<void> {
    const now = new Date();
    const n = await this.core.readNode({ name: this.node });
    const res = { cpu: '8', memory: '16Gi', pods: '110' };
    n.status = {
      capacity: res,
      allocatable: res,
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: this.node },
      ],
      // no kubelet listens here: port-forward through the API server cannot work on this node
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'stand-in kubelet of the e2e harness (e2e/k8s/harness-fake-kubelet.ts)',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: '',
        containerRuntimeVersion: 'podman://stand-in',
        kernelVersion: runSync('uname', ['-r']).stdout.trim(),
        kubeProxyVersion: '',
        kubeletVersion: 'v0.0.0-fake-kubelet',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'kgtest',
        systemUUID: '',
      },
    };
    await this.core.replaceNodeStatus({ name: this.node, body: n });
  }

  /** The node Lease, as kubelets heartbeat: keeps the node controller from tainting the node. */
  private async renewLease(): Promise<void> {
    const coord = this.kc.makeApiClient(this.k8s.CoordinationV1Api);
    const spec = {
      holderIdentity: this.node,
      leaseDurationSeconds: 40,
      renewTime: new this.k8s.V1MicroTime(),
    };
    try {
      const l = await coord.readNamespacedLease({ name: this.node, namespace: 'kube-node-lease' });
      l.spec = { ...l.spec, ...spec };
      await coord.replaceNamespacedLease({
        name: this.node,
        namespace: 'kube-node-lease',
        body: l,
      });
    } catch {
      await coord
        .createNamespacedLease({
          namespace: 'kube-node-lease',
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.node },
            spec,
          },
        })
        .catch(() => undefined);
    }
  }

  private async watchPods(): Promise<void> {
    if (this.stopped) return;
    const list = await this.core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${this.node}`,
    });
    for (const p of list.items) this.onPod(p);
    const w = new this.k8s.Watch(this.kc);
    this.watchAbort = await w.watch(
      '/api/v1/pods',
      {
        fieldSelector: `spec.nodeName=${this.node}`,
        resourceVersion: list.metadata?.resourceVersion,
      },
      (type: string, obj: V1Pod) => {
        if (type === 'ADDED' || type === 'MODIFIED') this.onPod(obj);
      },
      () => {
        if (!this.stopped) setTimeout(() => void this.watchPods().catch(() => undefined), 300);
      },
    );
  }

  private onPod(pod: V1Pod): void {
    if (process.env.KGTEST_KUBELET_DEBUG)
      this.log(
        `pod ${pod.metadata?.namespace}/${pod.metadata?.name} deleting=${!!pod.metadata?.deletionTimestamp}`,
      );
    const uid = pod.metadata?.uid ?? '';
    if (!uid) return;
    let rp = this.pods.get(uid);
    if (pod.metadata?.deletionTimestamp) {
      if (rp && (rp as { deleting?: boolean }).deleting) return;
      const prev = rp?.work ?? Promise.resolve();
      const entry: RunningPod & { deleting?: boolean } = rp ?? {
        uid,
        namespace: pod.metadata.namespace ?? '',
        name: pod.metadata.name ?? '',
        containers: [],
        ip: '',
        work: Promise.resolve(),
      };
      entry.deleting = true;
      entry.work = prev
        .then(() => this.deletePod(entry))
        .catch((e: unknown) => this.log(`delete ${entry.name}: ${String(e)}`));
      this.pods.set(uid, entry);
      return;
    }
    if (rp) return;
    rp = {
      uid,
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      containers: [],
      ip: `10.244.7.${this.ipCounter++}`,
      work: Promise.resolve(),
    };
    this.pods.set(uid, rp);
    const entry = rp;
    entry.work = this.runPod(pod, entry).catch((e: unknown) =>
      this.log(`run ${entry.namespace}/${entry.name}: ${String(e)}`),
    );
  }

  private async runPod(pod: V1Pod, rp: RunningPod): Promise<void> {
    // the gadget pod's container is the daemon process the harness runs (see startDaemon)
    const standIn = rp.namespace === 'gadget';
    const ids: Record<string, string> = {};
    if (!standIn) {
      for (const c of pod.spec?.containers ?? []) {
        const name = `${CONTAINER_PREFIX}${rp.name}-${c.name}-${rp.uid.slice(0, 8)}`;
        rp.containers.push(name);
        const args = [
          'run',
          '-d',
          '--name',
          name,
          '--ulimit',
          'nofile=1024:1024',
          '--ulimit',
          'nproc=1024:1024',
          '--network',
          'none',
          '--annotation',
          'io.kubernetes.cri.container-type=container',
          '--annotation',
          `io.kubernetes.cri.sandbox-name=${rp.name}`,
          '--annotation',
          `io.kubernetes.cri.sandbox-namespace=${rp.namespace}`,
          '--annotation',
          `io.kubernetes.cri.sandbox-uid=${rp.uid}`,
          '--annotation',
          `io.kubernetes.cri.container-name=${c.name}`,
          '--annotation',
          `io.kubernetes.cri.image-name=${c.image ?? ''}`,
          '--rootfs',
          ensureRootfs(),
          ...(c.command ?? []),
          ...(c.args ?? []),
        ];
        const r = await podman(args);
        if (r.code !== 0) throw new Error(`podman run ${name}: ${r.stderr.trim()}`);
        ids[c.name] = r.stdout.trim().split('\n').pop() ?? '';
      }
      this.started.set(rp.uid, Object.keys(ids));
    }
    const now = new Date();
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const cur = await this.core.readNamespacedPod({ name: rp.name, namespace: rp.namespace });
        if (cur.metadata?.uid !== rp.uid || cur.metadata?.deletionTimestamp) return;
        cur.status = {
          ...cur.status,
          phase: 'Running',
          hostIP: '127.0.0.1',
          podIP: rp.ip,
          podIPs: [{ ip: rp.ip }],
          startTime: now,
          conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
            type,
            status: 'True',
            lastTransitionTime: now,
          })),
          containerStatuses: (cur.spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image ?? '',
            imageID: '',
            containerID: standIn
              ? 'stand-in://kubectl-gadget-daemon-process'
              : `podman://${ids[c.name] ?? ''}`,
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: now } },
          })),
        };
        await this.core.replaceNamespacedPodStatus({
          name: rp.name,
          namespace: rp.namespace,
          body: cur,
        });
        return;
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
      }
    }
  }

  private async deletePod(rp: RunningPod): Promise<void> {
    if (rp.containers.length) await podman(['rm', '-f', '-t', '0', ...rp.containers]);
    await this.core
      .deleteNamespacedPod({
        name: rp.name,
        namespace: rp.namespace,
        body: { gracePeriodSeconds: 0, preconditions: { uid: rp.uid } },
        gracePeriodSeconds: 0,
      })
      .catch((e: unknown) => {
        // already gone (its namespace was deleted): fine
        if ((e as { code?: number }).code !== 404) {
          this.log(`delete pod ${rp.namespace}/${rp.name}: ${String(e).split('\n')[0]}`);
        }
      });
    this.pods.delete(rp.uid);
  }

  /** Pod containers this stand-in runs now (podman names). */
  containers(): string[] {
    return [...this.pods.values()].flatMap((p) => p.containers);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    this.watchAbort?.abort();
    await Promise.all([...this.pods.values()].map((p) => p.work.catch(() => undefined)));
    const names = this.containers();
    if (names.length) await podman(['rm', '-f', '-t', '0', ...names]);
    if (!this.core) return;
    // like a node that is gone for good: its pods are removed, then the node
    const left = await this.core
      .listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.node}` })
      .catch(() => undefined);
    for (const p of left?.items ?? []) {
      await this.core
        .deleteNamespacedPod({
          name: p.metadata!.name!,
          namespace: p.metadata!.namespace!,
          gracePeriodSeconds: 0,
        })
        .catch(() => undefined);
    }
    await this.core.deleteNode({ name: this.node }).catch(() => undefined);
    const coord = this.kc.makeApiClient(this.k8s.CoordinationV1Api);
    await coord
      .deleteNamespacedLease({ name: this.node, namespace: 'kube-node-lease' })
      .catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// the daemon, as a local process standing in for the gadget pod's container

export interface DaemonHandle {
  proc: ChildProcess;
  socket: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startDaemon(opts: {
  node: string;
  kubeconfig: string;
  dir: string;
}): Promise<DaemonHandle> {
  const socket = join(opts.dir, `daemon-${opts.node}.sock`);
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'daemon',
      '--listen',
      `unix://${socket}`,
      '--node',
      opts.node,
      '--kubernetes',
      '--verbose',
    ],
    {
      env: { ...process.env, KGADGET_KUBECONFIG: opts.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: ROOT,
    },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.on('close', () => r()));
  const handle: DaemonHandle = {
    proc,
    socket,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + 60_000;
  while (!/listening on unix:/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited: ${out}`);
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`the daemon did not start: ${out}`);
    }
    await sleep(50);
  }
  return handle;
}

/** The endpoints file of the transport seam: node -> the stand-in daemon's address. */
export function writeEndpoints(dir: string, nodes: Record<string, string>): string {
  const path = join(dir, 'fake-kubelet-endpoints.json');
  writeFileSync(path, JSON.stringify({ nodes }));
  return path;
}

export function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
