// The local cluster with a real node (scripts/k8s/up.sh --node) as the e2e tests use it: bring it
// up (or use one that runs already), kubectl, pods, the gadget image, host pids of containers.
//
// Environment:
//   KGADGET_NODE_KUBECONFIG   use this running node cluster (started with up.sh --node); the
//                             tests neither start nor stop it. Its state dir is the kubeconfig's.
//   KGADGET_NODE_E2E_DIR      state dir of the cluster the tests start (default
//                             /tmp/kgadget-e2e-node); its ports differ from up.sh's defaults,
//                             so a developer's control plane may keep running
//   KGADGET_SKIP_K8S_NODE=1   skip these tests

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, ROOT, sleep } from '../helpers/cli.js';

export const SCRIPTS = join(ROOT, 'scripts', 'k8s');
export const GADGET_IMAGE = process.env.KGADGET_IMAGE ?? 'localhost/kubectl-gadget:dev';
export const BUSYBOX_IMAGE = 'localhost/kgadget/busybox:local';
export const NODE_NAME = 'kgnode';
const CONTAINERD_STATE = process.env.KGADGET_NODE_CONTAINERD_STATE ?? '/run/containerd';

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Cluster {
  dir: string;
  kubeconfig: string;
  kubectl: string;
  /** env for scripts/k8s/*.sh and the CLI (KGADGET_CLUSTER_DIR, ports, KUBECONFIG) */
  env: NodeJS.ProcessEnv;
  /** true when the tests started it (and stop it) */
  owned: boolean;
  /** ms `up.sh --node` took (owned clusters) */
  upMs: number;
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Result {
  const t0 = Date.now();
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: opts.env ?? process.env,
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 256 << 20,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

export function ok(r: Result, what: string): string {
  if (r.status !== 0) {
    throw new Error(
      `${what}: exit ${r.status}\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`,
    );
  }
  return r.stdout;
}

function which(bin: string): boolean {
  return run('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Why these tests cannot run here, or undefined. */
export function skipReason(): string | undefined {
  if (process.env.KGADGET_SKIP_K8S_NODE === '1') return 'KGADGET_SKIP_K8S_NODE=1';
  if (process.env.KGADGET_NODE_KUBECONFIG) {
    return existsSync(process.env.KGADGET_NODE_KUBECONFIG)
      ? undefined
      : `KGADGET_NODE_KUBECONFIG=${process.env.KGADGET_NODE_KUBECONFIG} does not exist`;
  }
  if (process.getuid?.() !== 0) return 'needs root (kubelet, containerd, network setup)';
  for (const b of ['containerd', 'ctr', 'runc', 'iptables', 'buildah', 'openssl', 'cc']) {
    if (!which(b)) return `${b} not found (apt-get install containerd runc iptables buildah)`;
  }
  if (!existsSync('/usr/lib/cni/bridge')) {
    return 'no CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)';
  }
  return undefined;
}

function kubectlOf(dir: string): string {
  try {
    const m = /^export KUBECTL=(.*)$/m.exec(readFileSync(join(dir, 'env'), 'utf8'));
    if (m?.[1]) return m[1];
  } catch {
    // no env file: fall through
  }
  return existsSync('/usr/lib/google-cloud-sdk/bin/kubectl.1.33')
    ? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'
    : 'kubectl';
}

/**
 * The environment of scripts/k8s/*.sh for a test cluster in `dir`: ports other than up.sh's
 * defaults, so a developer's control plane may keep running; no KUBECONFIG.
 */
export function testClusterEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KGADGET_CLUSTER_DIR: dir,
    KGADGET_ETCD_CLIENT_PORT: process.env.KGADGET_ETCD_CLIENT_PORT ?? '23792',
    KGADGET_ETCD_PEER_PORT: process.env.KGADGET_ETCD_PEER_PORT ?? '23802',
    KGADGET_KCM_PORT: process.env.KGADGET_KCM_PORT ?? '10377',
    KGADGET_SCHED_PORT: process.env.KGADGET_SCHED_PORT ?? '10379',
  };
  delete env.KUBECONFIG;
  return env;
}

/** Starts the node cluster (or attaches to KGADGET_NODE_KUBECONFIG's). */
export function clusterUp(): Cluster {
  const given = process.env.KGADGET_NODE_KUBECONFIG;
  if (given) {
    const dir = dirname(given);
    const env = { ...process.env, KGADGET_CLUSTER_DIR: dir, KUBECONFIG: given };
    return { dir, kubeconfig: given, kubectl: kubectlOf(dir), env, owned: false, upMs: 0 };
  }
  const dir = process.env.KGADGET_NODE_E2E_DIR ?? '/tmp/kgadget-e2e-node';
  const env = testClusterEnv(dir);
  // cold: builds the Kubernetes binaries (~5 min) and CoreDNS (~1.5 min) first
  const r = run(join(SCRIPTS, 'up.sh'), ['--node'], { env, timeoutMs: 20 * 60_000 });
  ok(r, 'scripts/k8s/up.sh --node');
  const kubeconfig = join(dir, 'admin.kubeconfig');
  env.KUBECONFIG = kubeconfig;
  return { dir, kubeconfig, kubectl: kubectlOf(dir), env, owned: true, upMs: r.ms };
}

export function clusterDown(c: Cluster | undefined): Result | undefined {
  if (!c?.owned) return undefined;
  return run(join(SCRIPTS, 'down.sh'), [], { env: c.env, timeoutMs: 120_000 });
}

export function kubectl(c: Cluster, args: string[], input?: string, timeoutMs = 60_000): Result {
  return run(c.kubectl, ['--kubeconfig', c.kubeconfig, ...args], { env: c.env, input, timeoutMs });
}

export function kubectlOk(c: Cluster, args: string[], input?: string, timeoutMs = 60_000): string {
  return ok(kubectl(c, args, input, timeoutMs), `kubectl ${args.join(' ')}`);
}

/** Imports the gadget image (rebuilt first when older than the build outputs). */
export function importGadgetImage(c: Cluster): Result {
  return run(join(SCRIPTS, 'images.sh'), ['gadget'], { env: c.env, timeoutMs: 10 * 60_000 });
}

export interface PodSpec {
  name: string;
  labels?: Record<string, string>;
  containers: Array<{ name: string; command: string[] }>;
  initContainers?: Array<{ name: string; command: string[] }>;
  /** default Always (the API server's) */
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
}

/** The spec of a busybox pod on the node (imagePullPolicy Never: the image was imported). */
export function podSpecOf(p: Omit<PodSpec, 'name' | 'labels'>): Record<string, unknown> {
  const ct = (c: { name: string; command: string[] }): Record<string, unknown> => ({
    name: c.name,
    image: BUSYBOX_IMAGE,
    imagePullPolicy: 'Never',
    command: c.command,
  });
  return {
    nodeName: NODE_NAME,
    terminationGracePeriodSeconds: 1,
    enableServiceLinks: false,
    ...(p.restartPolicy ? { restartPolicy: p.restartPolicy } : {}),
    ...(p.initContainers ? { initContainers: p.initContainers.map(ct) } : {}),
    containers: p.containers.map(ct),
  };
}

/** A busybox pod on the node (imagePullPolicy Never: the image was imported). */
export function podYaml(ns: string, p: PodSpec): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: ns, labels: p.labels ?? {} },
    spec: podSpecOf(p),
  });
}

export function createNamespace(c: Cluster, ns: string): void {
  kubectlOk(c, ['create', 'namespace', ns]);
  // pods need the namespace's default ServiceAccount (made by the controller-manager)
  for (let i = 0; i < 100; i++) {
    if (kubectl(c, ['-n', ns, 'get', 'serviceaccount', 'default']).status === 0) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error(`namespace ${ns}: no default ServiceAccount after 10 s`);
}

export function deleteNamespace(c: Cluster, ns: string): void {
  kubectl(
    c,
    ['delete', 'namespace', ns, '--wait=true', '--timeout=60s', '--ignore-not-found'],
    undefined,
    90_000,
  );
}

export function applyPods(c: Cluster, ns: string, pods: PodSpec[]): void {
  for (const p of pods) kubectlOk(c, ['apply', '-f', '-'], podYaml(ns, p));
}

export function waitPodsReady(c: Cluster, ns: string, names: string[], timeoutS = 90): void {
  ok(
    kubectl(
      c,
      [
        '-n',
        ns,
        'wait',
        '--for=condition=Ready',
        `--timeout=${timeoutS}s`,
        ...names.map((n) => `pod/${n}`),
      ],
      undefined,
      (timeoutS + 10) * 1000,
    ),
    `pods ${names.join(', ')} ready in ${ns}`,
  );
}

/** `kubectl exec` into a container (the events the tests look for). */
export function execIn(
  c: Cluster,
  ns: string,
  pod: string,
  container: string,
  cmd: string[],
): Result {
  return kubectl(c, ['-n', ns, 'exec', pod, '-c', container, '--', ...cmd]);
}

export interface PodJson {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  status?: {
    phase?: string;
    containerStatuses?: Array<{ name: string; containerID?: string; ready?: boolean }>;
  };
}

export function getPod(c: Cluster, ns: string, name: string): PodJson {
  return JSON.parse(kubectlOk(c, ['-n', ns, 'get', 'pod', name, '-o', 'json'])) as PodJson;
}

export function listPods(c: Cluster, ns: string, selector?: string): PodJson[] {
  const args = ['-n', ns, 'get', 'pods', '-o', 'json'];
  if (selector) args.push('-l', selector);
  return (JSON.parse(kubectlOk(c, args)) as { items: PodJson[] }).items;
}

/** Container id (64 hex) of a container of a pod. */
export function containerId(pod: PodJson, container: string): string {
  const s = pod.status?.containerStatuses?.find((x) => x.name === container);
  const id = s?.containerID?.replace(/^[a-z]+:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata.name}: no container ${container} running`);
  return id;
}

/** Host pid of a container's init process (containerd's task state, as the daemon reads it). */
export function hostPidOf(id: string): number {
  const f = join(CONTAINERD_STATE, 'io.containerd.runtime.v2.task', 'k8s.io', id, 'init.pid');
  return Number.parseInt(readFileSync(f, 'utf8').trim(), 10);
}

/** VmRSS of a host process in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function waitFor<T>(
  fn: () => T | undefined | false,
  timeoutMs: number,
  what: string,
  stepMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** The CLI against the cluster (Kubernetes mode: no --local, no --remote), to completion. */
export function gadgetRun(c: Cluster, args: string[], timeoutMs = 180_000): Result {
  return run(process.execPath, [CLI, ...args, '--kubeconfig', c.kubeconfig], {
    env: { ...c.env, KUBECONFIG: c.kubeconfig },
    timeoutMs,
  });
}

/** Imports the gadget image and deploys it with --wait (and `extra` deploy flags). */
export function deployGadget(c: Cluster, extra: string[] = []): Result {
  ok(importGadgetImage(c), 'scripts/k8s/images.sh gadget');
  const r = gadgetRun(c, [
    'deploy',
    '--image',
    GADGET_IMAGE,
    '--image-pull-policy',
    'Never',
    '--wait',
    '--timeout',
    '120',
    ...extra,
  ]);
  ok(r, 'deploy --wait');
  return r;
}

/** The gadget pod of the node: name, container id, host pid of the daemon. */
export function gadgetPod(c: Cluster): { name: string; id: string; pid: number } {
  const pods = listPods(c, 'gadget', 'k8s-app=gadget').filter(
    (p) => p.status?.containerStatuses?.[0]?.ready,
  );
  if (pods.length !== 1) throw new Error(`${pods.length} ready gadget pods, not 1`);
  const p = pods[0]!;
  const id = containerId(p, 'gadget');
  return { name: p.metadata.name, id, pid: hostPidOf(id) };
}

/**
 * The end of a test file (its `after` hook): down.sh for a cluster the tests started (throws
 * when that fails); on the running cluster KGADGET_NODE_KUBECONFIG names, undeploy and delete
 * the test's namespaces, and leave it running.
 */
export function teardown(c: Cluster | undefined, namespaces: readonly string[] = []): void {
  if (!c) return;
  if (c.owned) {
    const d = clusterDown(c);
    if (d && d.status !== 0) throw new Error(`down.sh: ${d.stderr}`);
    return;
  }
  gadgetRun(c, ['undeploy', '--wait', '--timeout', '60']);
  for (const ns of namespaces) deleteNamespace(c, ns);
}
