// Kubernetes mode of the CLI: one GadgetRuntime over the gadget daemons of the cluster's nodes.
//
// - finds the gadget pods (namespace gadget, label k8s-app=gadget) through the API server, one
//   per node, or only the one of --node;
// - reaches each through the transport (transport.ts: pods/portforward bridged to a private unix
//   socket) with a RemoteRuntime that presents the caller's identity (identity.ts), which the
//   daemons authorize per namespace;
// - fans the nodes' streams into one: a header per node, containers and batches stamped with
//   their node (the pipeline keeps per-node decoding state, timestamps and containers), stats
//   summed, daemon logs prefixed with the node, one `done` at the end;
// - a node that fails is reported as a warning naming it, and the others go on; only when every
//   node fails does the run fail, with the nodes' error (one line when they agree);
// - maps the filter like kubectl: -n defaults to the context's namespace, -A is every namespace,
//   and only pod processes are traced unless --host.

import { setMaxListeners } from 'node:events';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type {
  ContainerFilter,
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
  RunStats,
} from '#gadgets/framework/runtime.js';
import { errText, UserError } from '../../errors.js';
import { RemoteRuntime } from '../remote-runtime.js';
import { connect, type Cluster } from './client.js';
import { parseLabelSelector } from '#gadgets/framework/labels.js';
import {
  GADGET_NAME,
  GADGET_NAMESPACE,
  POD_LABEL_KEY,
  POD_LABEL_VALUE,
  POD_SELECTOR,
} from './constants.js';
import { callerIdentity, type CallerIdentity } from './identity.js';
import type { KubeFlags } from './kubeconfig.js';
import { defaultTransport, type GadgetPod, type GadgetTransport } from './transport.js';

export interface KubernetesFlags extends KubeFlags {
  namespace?: string;
  'all-namespaces'?: boolean;
  node?: string;
  host?: boolean;
}

/** One node's daemon. */
export interface NodeTarget {
  node: string;
  pod: GadgetPod;
  runtime: GadgetRuntime;
}

export interface NodeVersion {
  node: string;
  pod: string;
  info?: NodeInfo;
  error?: string;
}

export interface KubernetesRuntimeOptions {
  /** -n default: the kubeconfig context's namespace */
  defaultNamespace: string;
  allNamespaces?: boolean;
  /** where warnings of calls without a message stream go (listContainers) */
  warn?: (message: string) => void;
  /** messages a slow consumer may have waiting before node streams are paused */
  maxQueued?: number;
  /** closed with the runtime */
  transport?: GadgetTransport;
  /**
   * How long a node whose stream was lost mid-run (API server restarted, tunnel cut) is dialed
   * again before it counts as failed; default 120000 ms. 0: no reconnection.
   */
  reconnectMs?: number;
  /** First wait between reconnection attempts (doubling up to 2 s); default 250 ms. */
  reconnectBackoffMs?: number;
  /** how long a node may take to answer before the status line names it; default 10 s */
  connectTimeoutMs?: number;
  /**
   * The node's gadget pod now, found through the API server: the same target, a new one when the
   * DaemonSet replaced the pod, or why it cannot be dialed yet (no pod, not Ready). Without it a
   * node is dialed again as it was.
   */
  refresh?: (current: NodeTarget) => Promise<NodeTarget | string>;
}

/** How long a node that stopped answering is retried (KGADGET_NODE_RETRY_SECONDS overrides). */
export const DEFAULT_RETRY_WINDOW_MS = 120_000;
/** How long each node has to answer (port-forward and gRPC handshake) before it is named. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Dials in flight at once (port-forward set-up, TLS, gRPC handshake). A node's connect timeout
 * starts when its dial does: 1,000 nodes dialed at once each waited behind the others' handshakes
 * and all missed a 10 s timeout (bench:scale, idle phase).
 */
export const MAX_DIALS = 64;

/** A counting gate: at most `n` holders; waiters are served in order. */
class DialGate {
  private held = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async acquire(signal: AbortSignal): Promise<void> {
    if (this.held < this.n) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal.removeEventListener('abort', stop);
        resolve();
      };
      const stop = (): void => {
        const k = this.waiting.indexOf(go);
        if (k >= 0) this.waiting.splice(k, 1);
        reject(new Error('aborted while waiting to dial'));
      };
      signal.addEventListener('abort', stop, { once: true });
      this.waiting.push(go);
    });
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held--;
  }
}

/** KGADGET_NODE_RETRY_SECONDS: the retry window (seconds, >= 0), or the default. */
export function retryWindowMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.KGADGET_NODE_RETRY_SECONDS;
  if (v === undefined || v === '') return DEFAULT_RETRY_WINDOW_MS;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new UserError(
      `KGADGET_NODE_RETRY_SECONDS=${v}: not a number of seconds`,
      'unset it, or give e.g. 120 (0: never retry a node)',
    );
  return Math.round(n * 1000);
}

/** A stream that delivered and then lost its connection (RemoteRuntime marks it). */
export function isLostConnection(e: unknown): boolean {
  return (e as { lost?: unknown } | undefined)?.lost === true;
}

function isUnavailable(e: unknown): boolean {
  return (e as { code?: unknown } | undefined)?.code === 'UNAVAILABLE';
}

const sleepUnless = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Picks the gadget pod of each node: running before not, ready before not, newest first. */
export function pickPods(pods: GadgetPod[], created: Map<string, number> = new Map()): GadgetPod[] {
  const byNode = new Map<string, GadgetPod>();
  const rank = (p: GadgetPod): number => (p.phase === 'Running' ? 2 : 0) + (p.ready ? 1 : 0);
  for (const p of pods) {
    if (!p.node) continue; // not scheduled yet
    const cur = byNode.get(p.node);
    if (
      !cur ||
      rank(p) > rank(cur) ||
      (rank(p) === rank(cur) && (created.get(p.name) ?? 0) > (created.get(cur.name) ?? 0))
    ) {
      byNode.set(p.node, p);
    }
  }
  return [...byNode.values()].sort((a, b) => a.node.localeCompare(b.node));
}

/** The filter as Kubernetes mode means it (see the header comment). */
export function kubernetesRequest(
  req: RunRequest,
  opts: { defaultNamespace: string; allNamespaces?: boolean },
): RunRequest {
  const f = { ...req.filter };
  if (!opts.allNamespaces && f.namespaces.length === 0 && !f.host)
    f.namespaces = [opts.defaultNamespace];
  f.podsOnly = !f.host;
  return { ...req, filter: f };
}

/**
 * Without -n, -p or --host (so with -A) the gadget's own pods are left out: their readiness
 * probe execs `version` every 10 s. They are in when asked for: -n gadget, -p, or a -l that
 * names their label.
 */
export function withoutGadgetPods(f: ContainerFilter): ContainerFilter {
  if (f.host || f.namespaces.length > 0 || f.pods.length > 0) return f;
  const sel = f.labelSelector.trim();
  if (parseLabelSelector(sel).some((r) => r.key === POD_LABEL_KEY)) return f;
  const exclude = `${POD_LABEL_KEY}!=${POD_LABEL_VALUE}`;
  return { ...f, labelSelector: sel ? `${sel},${exclude}` : exclude };
}

/** A merge of several producers into one async stream, with a bound on what waits. */
class Merge<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;
  private spaceWaiters: Array<() => void> = [];
  private ended = false;

  constructor(private readonly max: number) {}

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Resolves when there is room (producers await it between messages). */
  space(): Promise<void> {
    if (this.items.length < this.max || this.ended) return Promise.resolve();
    return new Promise((r) => this.spaceWaiters.push(r));
  }

  end(): void {
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
    this.releaseSpace();
  }

  private releaseSpace(): void {
    const ws = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of ws) w();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const batch = this.items;
        this.items = [];
        this.releaseSpace();
        for (const it of batch) yield it;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

export class KubernetesRuntime implements GadgetRuntime {
  private readonly warn: (message: string) => void;
  /** nodes of the last run that failed or were given up on while others streamed */
  private partial: string[] = [];

  constructor(
    readonly nodes: NodeTarget[],
    private readonly opts: KubernetesRuntimeOptions,
  ) {
    this.warn = opts.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
  }

  /** Connects to the cluster of the kubeconfig and to the gadget daemons of the chosen nodes. */
  static async open(flags: KubernetesFlags): Promise<KubernetesRuntime> {
    const cluster = await connect(flags);
    const pods = await findGadgetPods(cluster, flags.node);
    const identity = await callerIdentity(cluster.target.kc).catch((e: unknown) => {
      throw new UserError(
        `cannot get credentials of context "${cluster.ref.context}": ${errText(e)}`,
        "the kubeconfig user's credentials are needed to authorize with the gadget daemons",
      );
    });
    const reconnectMs = retryWindowMs();
    const transport = await defaultTransport(cluster.target.kc);
    try {
      const nodes: NodeTarget[] = [];
      for (const pod of pods) nodes.push(await nodeTarget(pod, transport, identity));
      return new KubernetesRuntime(nodes, {
        defaultNamespace: cluster.target.namespace,
        allNamespaces: flags['all-namespaces'],
        transport,
        reconnectMs,
        refresh: (cur) => refreshTarget(cluster, transport, identity, cur),
      });
    } catch (e) {
      await transport.close();
      throw e;
    }
  }

  /** Nodes the last run lost for good (the run's output misses their events from then on). */
  partialNodes(): string[] {
    return [...new Set(this.partial)];
  }

  /** The request with Kubernetes-mode filter defaults. */
  request(req: RunRequest): RunRequest {
    return kubernetesRequest(req, this.opts);
  }

  /** The first node that answers (gadget list); see nodeVersions() for every node. */
  async info(): Promise<NodeInfo> {
    const errors: string[] = [];
    for (const n of this.nodes) {
      try {
        return await n.runtime.info();
      } catch (e) {
        errors.push(`node ${n.node}: ${errText(e)}`);
      }
    }
    throw new UserError(`no gadget daemon answered: ${errors.join('; ')}`);
  }

  /** Every node's daemon version (or why it did not answer), for `version`. */
  async nodeVersions(): Promise<NodeVersion[]> {
    return Promise.all(
      this.nodes.map(async (n) => {
        try {
          return { node: n.node, pod: n.pod.name, info: await n.runtime.info() };
        } catch (e) {
          return { node: n.node, pod: n.pod.name, error: errText(e) };
        }
      }),
    );
  }

  async listContainers(): Promise<ContainerInfo[]> {
    const results = await Promise.allSettled(this.nodes.map((n) => n.runtime.listContainers()));
    const out: ContainerInfo[] = [];
    const failures: Array<{ node: string; error: unknown }> = [];
    results.forEach((r, i) => {
      const node = this.nodes[i]!.node;
      if (r.status === 'fulfilled') out.push(...r.value);
      else failures.push({ node, error: r.reason });
    });
    if (failures.length === this.nodes.length) throw allFailed(failures);
    for (const f of failures) this.warn(`node ${f.node}: ${errText(f.error)}`);
    return out;
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
    const k8sReq = this.request(req);
    const request = { ...k8sReq, filter: withoutGadgetPods(k8sReq.filter) };
    const merge = new Merge<RunMessage>(this.opts.maxQueued ?? 256);
    const ac = new AbortController();
    // every node's stream (and its retries) listens on this signal: not a leak past 10 nodes
    setMaxListeners(0, ac.signal);
    const onAbort = (): void => ac.abort(signal.reason);
    if (signal.aborted) ac.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });

    interface NodeState {
      node: string;
      stats?: RunStats;
      /** totals of the node's earlier streams (a resumed stream counts from 0 again) */
      prior: RunStats;
      done?: string;
      error?: unknown;
      /** the node delivered a header at least once */
      connected: boolean;
      /** why it has not answered yet (its last error), for the status line */
      why?: string;
      /** the pump returned */
      finished: boolean;
      /** waiting to dial the node again */
      retrying: boolean;
      /** lost (or never reached while others streamed) and not back */
      inGap: boolean;
    }
    const states: NodeState[] = this.nodes.map((n) => ({
      node: n.node,
      prior: { events: 0, lost: 0 },
      connected: false,
      finished: false,
      retrying: false,
      inGap: false,
    }));
    // the run is over for a node still being retried once every other node's stream ended
    const retriesOver = new AbortController();
    const retrySignal = AbortSignal.any([ac.signal, retriesOver.signal]);
    setMaxListeners(0, retriesOver.signal, retrySignal);
    const checkRetriesOver = (): void => {
      if (states.some((s) => s.done) && states.every((s) => s.finished || s.retrying))
        retriesOver.abort();
    };
    this.partial = [];
    // failures are held until some node streams: if every node fails, the run fails with one error
    let streaming = false;
    const held: RunMessage[] = [];
    const sumStats = (): RunMessage => {
      const s: RunStats = { events: 0, lost: 0 };
      for (const st of states) {
        s.events += st.prior.events + (st.stats?.events ?? 0);
        s.lost += st.prior.lost + (st.stats?.lost ?? 0);
      }
      return { kind: 'stats', stats: s };
    };

    const warn = (message: string): void => {
      const w: RunMessage = { kind: 'log', level: 'warn', message };
      if (streaming) merge.push(w);
      else held.push(w);
    };
    const reconnectMs = this.opts.reconnectMs ?? DEFAULT_RETRY_WINDOW_MS;
    const backoff0 = this.opts.reconnectBackoffMs ?? 250;
    const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);
    const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;

    // A node that failed before it ever answered is retried only once another node streams: when
    // none does (every node failed), the run fails with the nodes' error instead of waiting.
    const parked = new Set<() => void>();
    const wakeParked = (): void => {
      for (const w of [...parked]) w();
    };
    const nobodyCanStream = (): boolean =>
      !streaming && states.every((s) => s.finished || s.why !== undefined);
    const waitForStreaming = async (): Promise<boolean> => {
      for (;;) {
        if (streaming) return true;
        if (ac.signal.aborted || nobodyCanStream()) return false;
        await new Promise<void>((r) => {
          const w = (): void => {
            parked.delete(w);
            ac.signal.removeEventListener('abort', w);
            r();
          };
          parked.add(w);
          ac.signal.addEventListener('abort', w, { once: true });
        });
      }
    };

    // "connected k/N; not answering: ..." once every node answered or failed, or after the
    // per-node connect timeout; only when some node does not answer
    let statusShown = false;
    const showStatus = (force: boolean): void => {
      if (statusShown || this.nodes.length === 0) return;
      const pending = states.filter((s) => !s.connected);
      if (pending.length === 0) {
        statusShown = true;
        return;
      }
      if (!force && pending.some((s) => s.why === undefined && !s.finished)) return;
      statusShown = true;
      const k = states.length - pending.length;
      warn(
        `connected ${k}/${states.length}; not answering: ${pending
          .map((s) => `${s.node} (${s.why ?? 'no answer yet'})`)
          .join(', ')}`,
      );
    };
    const connectTimeoutMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const statusTimer = setTimeout(() => showStatus(true), connectTimeoutMs + 1000);
    statusTimer.unref?.();

    // One node's stream. A node that does not answer (its daemon died, its pod is being replaced,
    // the API server restarts, the tunnel was cut) is dialed again, through its current gadget
    // pod once that is Ready, until it answers or the retry window is over; the gap is reported.
    // What the node traced in the gap is not recovered: the daemon ends a run whose client left.
    const gate = new DialGate(MAX_DIALS);
    const pump = async (i: number, st: NodeState): Promise<void> => {
      let t = this.nodes[i]!;
      let gapFrom: number | undefined;
      let attempts = 0;
      // a gadget pod not Running and Ready when the command starts is not dialed: it is retried
      // (found again through the API server) until it is, like a node that went away
      let pending = !podReady(t.pod);
      let wasConnected = false;
      for (;;) {
        let dialing = false;
        try {
          if (pending) throw notReadyError(t.pod);
          await gate.acquire(ac.signal);
          dialing = true;
          for await (const m of t.runtime.run(request, ac.signal)) {
            switch (m.kind) {
              case 'header':
                if (dialing) {
                  dialing = false;
                  gate.release();
                }
                wasConnected = st.connected;
                st.connected = true;
                st.why = undefined;
                merge.push({ kind: 'header', header: { ...m.header, node: t.node } });
                if (!streaming) {
                  streaming = true;
                  for (const h of held.splice(0)) merge.push(h);
                  wakeParked();
                }
                if (gapFrom !== undefined) {
                  const now = Date.now();
                  merge.push({
                    kind: 'log',
                    level: 'warn',
                    message: `node ${t.node}: stream ${wasConnected ? 'resumed' : 'started'} after a gap of ${((now - gapFrom) / 1000).toFixed(1)} s (${clock(gapFrom)}-${clock(now)} UTC, ${attempts} attempt(s), pod ${t.pod.name}): what ran on the node in the gap was not traced`,
                  });
                  gapFrom = undefined;
                  st.inGap = false;
                  attempts = 0;
                }
                showStatus(false);
                break;
              case 'containers':
                merge.push({ kind: 'containers', containers: m.containers, node: t.node });
                break;
              case 'batch':
                merge.push({ kind: 'batch', records: m.records, count: m.count, node: t.node });
                break;
              case 'stats':
                st.stats = m.stats;
                merge.push(sumStats());
                break;
              case 'log':
                merge.push({
                  kind: 'log',
                  level: m.level,
                  message: `node ${t.node}: ${m.message}`,
                });
                break;
              case 'done':
                st.done = m.reason;
                break;
            }
            await merge.space();
          }
          if (dialing) gate.release(); // ended before its header
          return;
        } catch (e) {
          if (dialing) {
            dialing = false;
            gate.release();
          }
          if (ac.signal.aborted) {
            if (gapFrom !== undefined || !st.connected) st.error = e;
            return;
          }
          if (st.stats) {
            st.prior.events += st.stats.events;
            st.prior.lost += st.stats.lost;
            st.stats = undefined;
          }
          // only a node that cannot be reached is retried; a refusal (permission, bad request)
          // would be refused again
          if (!isUnavailable(e) || reconnectMs <= 0) {
            st.error = e;
            warn(`node ${t.node}: ${errText(e)}`);
            this.partial.push(t.node);
            return;
          }
          st.why = errText(e);
          st.retrying = true;
          checkRetriesOver();
          if (gapFrom === undefined) {
            if (!st.connected) {
              showStatus(false);
              wakeParked();
              if (!(await waitForStreaming())) {
                st.error = e;
                return;
              }
            }
            gapFrom = Date.now();
            st.inGap = true;
            warn(
              `node ${t.node}: ${errText(e)}; ${st.connected ? 'reconnecting' : 'retrying'} until its gadget pod answers (for up to ${secs(reconnectMs)})`,
            );
          }
          // wait, then find the node's gadget pod again (the DaemonSet may have replaced it);
          // dial once it is Ready
          for (;;) {
            if (Date.now() - gapFrom > reconnectMs) {
              st.error = e;
              warn(
                `node ${t.node}: not back after ${secs(reconnectMs)} (${st.why}); giving up on this node`,
              );
              this.partial.push(t.node);
              return;
            }
            await sleepUnless(Math.min(2000, backoff0 * 2 ** Math.min(attempts, 4)), retrySignal);
            attempts++;
            if (ac.signal.aborted) return;
            if (retriesOver.signal.aborted) {
              st.error = e;
              warn(
                `node ${t.node}: still not answering when the others' streams ended (${st.why})`,
              );
              this.partial.push(t.node);
              return;
            }
            if (!this.opts.refresh) break;
            const r = await this.opts
              .refresh(t)
              .catch((err: unknown) => `cannot list its gadget pod: ${errText(err)}` as const);
            if (typeof r === 'string') {
              st.why = r;
              continue;
            }
            pending = false;
            if (r !== t) {
              const old = t;
              t = r;
              this.nodes[i] = r;
              void old.runtime.close().catch(() => undefined);
            }
            break;
          }
          st.retrying = false;
        }
      }
    };
    const all = Promise.all(
      this.nodes.map((_, i) =>
        pump(i, states[i]!).finally(() => {
          states[i]!.finished = true;
          states[i]!.retrying = false;
          wakeParked();
          checkRetriesOver();
        }),
      ),
    ).then(() => merge.end());

    try {
      for await (const m of merge) yield m;
      await all;
      // a node still gone when the run ended (Ctrl-C, --timeout) was not traced to the end
      for (const st of states) if (st.inGap) this.partial.push(st.node);
      const failed = states.filter((s) => s.error !== undefined);
      if (!signal.aborted && !streaming && failed.length === states.length && states.length > 0) {
        throw allFailed(failed.map((s) => ({ node: s.node, error: s.error })));
      }
      for (const h of held.splice(0)) yield h;
      const reasons = [...new Set(states.filter((s) => s.done).map((s) => s.done!))];
      yield {
        kind: 'done',
        reason: reasons.length === 1 ? reasons[0]! : signal.aborted ? 'cancelled' : 'done',
      };
    } finally {
      clearTimeout(statusTimer);
      signal.removeEventListener('abort', onAbort);
      ac.abort();
      // node streams waiting for room (the consumer stopped early) must not wait forever
      merge.end();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.runtime.close().catch(() => undefined)));
    await this.opts.transport?.close();
  }
}

/** The error of a call that failed on every node: the nodes' own error when they all agree. */
function allFailed(failures: Array<{ node: string; error: unknown }>): Error {
  const first = failures[0]!.error;
  const texts = failures.map((f) => errText(f.error));
  if (texts.every((t) => t === texts[0]) && first instanceof Error) return first;
  if (failures.length === 1 && first instanceof Error) return first;
  return new UserError(
    `every node failed: ${failures.map((f, i) => `node ${f.node}: ${texts[i]}`).join('; ')}`,
  );
}

/** The node's gadget pod now (see KubernetesRuntimeOptions.refresh). */
async function refreshTarget(
  cluster: Cluster,
  transport: GadgetTransport,
  identity: CallerIdentity,
  cur: NodeTarget,
): Promise<NodeTarget | string> {
  const core = cluster.target.kc.makeApiClient(cluster.k8s.CoreV1Api);
  const list = await core.listNamespacedPod({
    namespace: GADGET_NAMESPACE,
    labelSelector: POD_SELECTOR,
    fieldSelector: `spec.nodeName=${cur.node}`,
  });
  const created = new Map<string, number>();
  const pods = list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => {
      created.set(p.metadata?.name ?? '', new Date(p.metadata?.creationTimestamp ?? 0).getTime());
      return gadgetPod(p);
    });
  const p = pickPods(pods, created)[0];
  if (!p) return 'no gadget pod on the node';
  if (!podReady(p)) return notReadyError(p).message;
  if (p.name === cur.pod.name) return cur;
  return nodeTarget(p, transport, identity);
}

function gadgetPod(p: import('@kubernetes/client-node').V1Pod): GadgetPod {
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? GADGET_NAMESPACE,
    node: p.spec?.nodeName ?? '',
    phase: p.status?.phase ?? 'Unknown',
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  };
}

async function nodeTarget(
  pod: GadgetPod,
  transport: GadgetTransport,
  identity: CallerIdentity,
): Promise<NodeTarget> {
  const conn = await transport.connect(pod);
  const runtime = new RemoteRuntime(conn.address, {
    label: `node "${pod.node}" (pod ${pod.namespace}/${pod.name})`,
    metadata: async () => identity.metadataFor(pod.node),
    explainUnreachable: conn.lastError,
    unreachableHint: `check the pod: kubectl -n ${pod.namespace} describe pod ${pod.name}`,
    // the per-node timeout: a port-forward takes a few round trips to the API server and kubelet
    connectTimeoutMs: transport.kind === 'port-forward' ? DEFAULT_CONNECT_TIMEOUT_MS : 5_000,
  });
  return { node: pod.node, pod, runtime };
}

/**
 * The gadget pods to connect to: every node's, or only `node`'s. Errors name what is missing:
 * kubectl-gadget not deployed, no gadget pod (yet) on a node, no such node.
 */
export async function findGadgetPods(cluster: Cluster, node?: string): Promise<GadgetPod[]> {
  const core = cluster.target.kc.makeApiClient(cluster.k8s.CoreV1Api);
  const list = await cluster.call(
    `list pods -l ${POD_SELECTOR} in namespace ${GADGET_NAMESPACE}`,
    () => core.listNamespacedPod({ namespace: GADGET_NAMESPACE, labelSelector: POD_SELECTOR }),
  );
  const created = new Map<string, number>();
  const all: GadgetPod[] = [];
  for (const p of list.items) {
    if (p.metadata?.deletionTimestamp) continue;
    const name = p.metadata?.name ?? '';
    created.set(
      name,
      p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : 0,
    );
    all.push(gadgetPod(p));
  }
  const ctx = `cluster "${cluster.ref.context}"`;
  if (all.length === 0) {
    const ds = await cluster.read({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: GADGET_NAME, namespace: GADGET_NAMESPACE },
    });
    if (!ds) {
      throw new UserError(
        `kubectl-gadget is not deployed in ${ctx} (no DaemonSet ${GADGET_NAMESPACE}/${GADGET_NAME})`,
        'run `kubectl gadget deploy` first',
      );
    }
    throw new UserError(
      `no gadget pod exists yet in ${ctx} (DaemonSet ${GADGET_NAMESPACE}/${GADGET_NAME} has no pods)`,
      'wait for the rollout (`kubectl gadget deploy --wait`), or check: kubectl -n gadget describe daemonset gadget',
    );
  }
  let pods = pickPods(all, created);
  if (node !== undefined && node !== '') {
    pods = pods.filter((p) => p.node === node);
    if (pods.length === 0) {
      const nodes = pickPods(all, created).map((p) => p.node);
      const exists = await cluster
        .read({ apiVersion: 'v1', kind: 'Node', metadata: { name: node } })
        .then((n) => (n ? true : false))
        .catch(() => undefined);
      if (exists === false) {
        throw new UserError(
          `node "${node}" not found in ${ctx}`,
          `nodes with a gadget pod: ${nodes.join(', ') || 'none'}`,
        );
      }
      throw new UserError(
        `no gadget pod on node "${node}"`,
        `nodes with a gadget pod: ${nodes.join(', ') || 'none'} (does the node match deploy's --node-selector, and is the pod scheduled?)`,
      );
    }
  }
  const running = pods.filter((p) => p.phase === 'Running');
  if (running.length === 0) {
    throw new UserError(
      `no gadget pod is running in ${ctx}: ${pods.map((p) => `${p.name} on node "${p.node}" is ${p.phase}`).join(', ')}`,
      'wait for the rollout (`kubectl gadget deploy --wait`), or check: kubectl -n gadget get pods -o wide',
    );
  }
  // the nodes whose pod is not Running and Ready yet are kept: a run retries them until it is
  return pods;
}

function podReady(p: GadgetPod): boolean {
  return p.phase === 'Running' && p.ready;
}

/** Why a node's gadget pod is not dialed yet; retried as a node that cannot be reached. */
function notReadyError(p: GadgetPod): Error {
  return Object.assign(
    new Error(`gadget pod ${p.name} is ${p.phase}${p.ready ? '' : ', not Ready'}`),
    { code: 'UNAVAILABLE' },
  );
}
