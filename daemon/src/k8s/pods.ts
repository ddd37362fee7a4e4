// The pod watch of the node daemon: every pod bound to this node (field selector
// spec.nodeName=<node>), fed into the container registry with ContainerRegistry.setPodInfo():
// labels, owner (a ReplicaSet resolved to its Deployment, a Job to its CronJob), pod IP and
// hostNetwork. Identity (namespace, pod, container) does not come from here: the registry reads
// it from the runtime's OCI annotations when the container is created, before its entrypoint
// runs; this watch adds what only the API server knows.
//
// A small reflector over @kubernetes/client-node's list and Watch:
// - list -> apply the whole set (pods gone since the last list are forgotten) -> watch from the
//   list's resourceVersion, with bookmarks and a server-side timeout, then watch again from the
//   last resourceVersion seen;
// - 410 Gone (resourceVersion too old) -> list again;
// - any other failure (API server restarting, network gone) -> retry with backoff (0.5 s .. 30 s),
//   watching from the last resourceVersion, or listing again if that fails with 410. Tracing is
//   never stopped: the registry keeps what it knew, and the resync catches up.
// - a watch that sends nothing (not even a bookmark) for watchTimeout + 30 s is taken for dead
//   (a silently dropped connection) and restarted.

import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { PodInfo } from '../containers/registry.js';
import type { ContainerInfo } from '../../../gadgets/framework/containers.js';
import { deadline, errorText, httpStatus, type DaemonKubeConfig } from './config.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** What the reflector needs from the API server (injectable for tests). */
export interface PodApi {
  list(): Promise<{ items: V1Pod[]; resourceVersion: string }>;
  /**
   * Starts a watch from `resourceVersion`. `onEvent` gets each event; `onDone` is called once when
   * the watch ends (err undefined: closed normally, e.g. the server-side timeout).
   */
  watch(
    resourceVersion: string,
    onEvent: (type: WatchEventType, obj: unknown) => void,
    onDone: (err?: unknown) => void,
  ): Promise<{ abort(): void }>;
  /** The controller owner of `kind/name` in `namespace`, or null (GET of a ReplicaSet or Job). */
  getOwner(kind: 'ReplicaSet' | 'Job', namespace: string, name: string): Promise<OwnerRef | null>;
}

export interface OwnerRef {
  kind: string;
  name: string;
}

/** Where pod info goes: ContainerRegistry.setPodInfo. */
export interface PodInfoSink {
  setPodInfo(podUid: string, info: PodInfo | null): void;
  /** the pod's container ids (current and previous instances) with their container names */
  noteContainerIds?(
    podUid: string,
    namespace: string,
    pod: string,
    ids: ReadonlyArray<{ id: string; container: string; runtime: ContainerInfo['runtime'] }>,
  ): void;
}

export interface PodWatcherOptions {
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** first retry delay after a failure (ms, default 500), doubled up to maxBackoffMs (30000) */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** server-side watch timeout (s, default 300) */
  watchTimeoutSeconds?: number;
  /** how long a watch may be silent before it is restarted (ms, default watch timeout + 30 s) */
  idleMs?: number;
  /** how long owner lookups are cached (ms, default 10 min) */
  ownerTtlMs?: number;
}

interface Known {
  uid: string;
  namespace: string;
  name: string;
  /** JSON of the last PodInfo given to the sink, to skip no-op updates */
  last: string;
}

export function controllerOf(pod: {
  metadata?: { ownerReferences?: V1OwnerReference[] };
}): OwnerRef | null {
  const refs = pod.metadata?.ownerReferences ?? [];
  const c = refs.find((r) => r.controller) ?? refs[0];
  return c ? { kind: c.kind, name: c.name } : null;
}

/** The pod's own facts, with the direct controller as owner (resolution comes after). */
export function podInfoOf(pod: V1Pod): PodInfo {
  const owner = controllerOf(pod);
  return {
    labels: { ...(pod.metadata?.labels ?? {}) },
    ownerKind: owner?.kind ?? '',
    ownerName: owner?.name ?? '',
    podIp: pod.status?.podIP ?? '',
    hostNetwork: pod.spec?.hostNetwork ?? false,
  };
}

const SCHEME_RUNTIME: Record<string, ContainerInfo['runtime']> = {
  containerd: 'containerd',
  'cri-o': 'cri-o',
  docker: 'docker',
};

/** Container ids a pod's status names (running, terminated and the instance before), no scheme. */
export function containerIdsOf(
  pod: V1Pod,
): Array<{ id: string; container: string; runtime: ContainerInfo['runtime'] }> {
  const out: Array<{ id: string; container: string; runtime: ContainerInfo['runtime'] }> = [];
  const st = pod.status;
  for (const s of [
    ...(st?.initContainerStatuses ?? []),
    ...(st?.containerStatuses ?? []),
    ...(st?.ephemeralContainerStatuses ?? []),
  ]) {
    for (const raw of [
      s.containerID,
      s.lastState?.terminated?.containerID,
      s.state?.terminated?.containerID,
    ]) {
      const m = raw ? /^([a-z0-9-]+):\/\/([0-9a-f]+)$/.exec(raw) : null;
      const id = m?.[2];
      if (id && !out.some((o) => o.id === id)) {
        out.push({ id, container: s.name, runtime: SCHEME_RUNTIME[m[1]!] ?? 'unknown' });
      }
    }
  }
  return out;
}

export class PodWatcher {
  private readonly known = new Map<string, Known>();
  private readonly owners = new Map<string, { at: number; owner: OwnerRef | null }>();
  private resourceVersion = '';
  private stopped = false;
  private current: { abort(): void } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private loop: Promise<void> | undefined;
  private syncedResolve!: () => void;
  /** resolves after the first successful list */
  readonly synced: Promise<void>;
  /** lists done (1 = the initial one; more = resyncs) */
  lists = 0;
  /** whether a watch is established right now */
  connected = false;
  private readonly log: NonNullable<PodWatcherOptions['log']>;
  private readonly o: Required<Omit<PodWatcherOptions, 'log'>>;

  constructor(
    private readonly api: PodApi,
    private readonly sink: PodInfoSink,
    opts: PodWatcherOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
    this.o = {
      backoffMs: opts.backoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      watchTimeoutSeconds,
      idleMs: opts.idleMs ?? watchTimeoutSeconds * 1000 + 30_000,
      ownerTtlMs: opts.ownerTtlMs ?? 10 * 60_000,
    };
    this.synced = new Promise((r) => (this.syncedResolve = r));
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.cycle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    this.current?.abort();
    this.current = undefined;
    this.connected = false;
  }

  /** Pods currently known (namespace/name), for tests and diagnostics. */
  pods(): string[] {
    return [...this.known.values()].map((k) => `${k.namespace}/${k.name}`).sort();
  }

  // ---- the reflector

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.resourceVersion) await this.relist();
      if (this.stopped) return;
      await this.startWatch();
    } catch (e) {
      this.fail(e);
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.api.list();
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const pod of items) {
      const uid = pod.metadata?.uid;
      if (uid) seen.add(uid);
      this.apply(pod);
    }
    for (const uid of [...this.known.keys()]) if (!seen.has(uid)) this.forget(uid);
    this.resourceVersion = resourceVersion;
    this.lists++;
    if (this.lists === 1) {
      this.log('info', `pod watch: ${items.length} pods on this node`);
      this.syncedResolve();
    } else {
      this.log('info', `pod watch: resynced (${items.length} pods on this node)`);
    }
  }

  private async startWatch(): Promise<void> {
    let ended = false;
    const startedAt = Date.now();
    const onDone = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      clearTimeout(this.idleTimer);
      this.connected = false;
      this.current = undefined;
      if (this.stopped) return;
      if ((err === undefined || err === null) && Date.now() - startedAt < 1000) {
        // closed right away (an API server going down closes its watches): back off
        this.fail(new Error('the watch was closed by the API server'));
      } else if (err === undefined || err === null) {
        // a normal end (server-side timeout): watch again from where we are
        this.failures = 0;
        void this.cycle();
      } else if (httpStatus(err) === 410) {
        this.resourceVersion = '';
        void this.cycle();
      } else {
        this.fail(err);
      }
    };
    const onEvent = (type: WatchEventType, obj: unknown): void => {
      if (ended) return;
      this.armIdle(onDone);
      this.event(type, obj, onDone);
    };
    const handle = await this.api.watch(this.resourceVersion, onEvent, onDone);
    if (ended || this.stopped) {
      handle.abort();
      return;
    }
    this.current = handle;
    if (!this.connected && this.failures > 0)
      this.log('info', 'pod watch: reconnected to the API server');
    this.connected = true;
    this.failures = 0;
    this.armIdle(onDone);
  }

  private armIdle(onDone: (err?: unknown) => void): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.current?.abort();
      onDone(new Error(`no watch event for ${Math.round(this.o.idleMs / 1000)}s`));
    }, this.o.idleMs);
    this.idleTimer.unref();
  }

  private event(type: WatchEventType, obj: unknown, onDone: (err?: unknown) => void): void {
    const o = obj as { metadata?: { resourceVersion?: string; uid?: string }; code?: number };
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.apply(obj as V1Pod);
        break;
      case 'DELETED': {
        const uid = o.metadata?.uid;
        if (uid) this.forget(uid);
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR':
        // a Status object: 410 means our resourceVersion is too old
        this.current?.abort();
        onDone(
          o.code === 410
            ? Object.assign(new Error('watch expired'), { statusCode: 410 })
            : new Error(`watch error ${o.code ?? ''}`),
        );
        return;
    }
    const rv = o.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.connected = false;
    const delay = Math.min(this.o.backoffMs * 2 ** this.failures, this.o.maxBackoffMs);
    this.failures++;
    // the first failure is worth a warning; repeats of an outage only every 10th time
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.log(
        'warn',
        `pod watch: ${errorText(err)}; retrying in ${delay / 1000}s (tracing continues; pod labels and owners may be stale until then)`,
      );
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.cycle(), delay);
    this.retryTimer.unref();
  }

  // ---- pods -> registry

  private apply(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const info = podInfoOf(pod);
    const k: Known = this.known.get(uid) ?? {
      uid,
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      last: '',
    };
    this.known.set(uid, k);
    this.sink.noteContainerIds?.(uid, k.namespace, k.name, containerIdsOf(pod));
    const direct = controllerOf(pod);
    // a resolved owner from the cache is used at once; otherwise the direct owner until resolved
    const cached = direct && this.cachedOwner(k.namespace, direct);
    if (cached !== undefined && cached !== null) {
      info.ownerKind = cached.kind;
      info.ownerName = cached.name;
    }
    this.push(k, info);
    if (direct && cached === undefined && (direct.kind === 'ReplicaSet' || direct.kind === 'Job')) {
      void this.resolveOwner(k.namespace, direct).then((top) => {
        if (!top || !this.known.has(uid)) return;
        this.push(k, { ...info, ownerKind: top.kind, ownerName: top.name });
      });
    }
  }

  private push(k: Known, info: PodInfo): void {
    const json = JSON.stringify(info);
    if (json === k.last) return;
    k.last = json;
    this.sink.setPodInfo(k.uid, info);
  }

  private forget(uid: string): void {
    if (!this.known.delete(uid)) return;
    this.sink.setPodInfo(uid, null);
  }

  /** undefined: not cached; null: the direct owner is the top one */
  private cachedOwner(namespace: string, direct: OwnerRef): OwnerRef | null | undefined {
    if (direct.kind !== 'ReplicaSet' && direct.kind !== 'Job') return null;
    const c = this.owners.get(`${namespace}/${direct.kind}/${direct.name}`);
    if (!c || Date.now() - c.at > this.o.ownerTtlMs) return undefined;
    return c.owner ?? direct;
  }

  /** ReplicaSet -> Deployment, Job -> CronJob (when they have such a controller). */
  private async resolveOwner(namespace: string, direct: OwnerRef): Promise<OwnerRef | null> {
    const key = `${namespace}/${direct.kind}/${direct.name}`;
    try {
      const up = await this.api.getOwner(
        direct.kind as 'ReplicaSet' | 'Job',
        namespace,
        direct.name,
      );
      const top = up && (up.kind === 'Deployment' || up.kind === 'CronJob') ? up : null;
      this.owners.set(key, { at: Date.now(), owner: top });
      return top;
    } catch (e) {
      // not found (deleted) or no permission: keep the direct owner, ask again later
      const status = httpStatus(e);
      if (status !== 404)
        this.log(
          'warn',
          `pod watch: owner of ${direct.kind} ${namespace}/${direct.name}: ${errorText(e)}`,
        );
      this.owners.set(key, { at: Date.now() - this.o.ownerTtlMs + 30_000, owner: null });
      return null;
    }
  }
}

/** PodApi over @kubernetes/client-node for the pods bound to `node`. */
export function clientPodApi(
  cfg: DaemonKubeConfig,
  node: string,
  watchTimeoutSeconds = 300,
): PodApi {
  const { k8s, kc } = cfg;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const watch = new k8s.Watch(kc);
  const fieldSelector = `spec.nodeName=${node}`;
  const top = (o: { metadata?: { ownerReferences?: V1OwnerReference[] } }): OwnerRef | null =>
    controllerOf(o);
  return {
    async list() {
      const l = await deadline(
        core.listPodForAllNamespaces({ fieldSelector }),
        60_000,
        'list pods',
      );
      return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
    },
    async watch(resourceVersion, onEvent, onDone) {
      const controller = await watch.watch(
        '/api/v1/pods',
        {
          fieldSelector,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: watchTimeoutSeconds,
        },
        (type: string, obj: unknown) => onEvent(type as WatchEventType, obj),
        (err: unknown) => onDone(err ?? undefined),
      );
      return { abort: () => controller.abort() };
    },
    async getOwner(kind, namespace, name) {
      if (kind === 'ReplicaSet') {
        return top(
          await deadline(
            apps.readNamespacedReplicaSet({ name, namespace }),
            30_000,
            'get replicaset',
          ),
        );
      }
      return top(await deadline(batch.readNamespacedJob({ name, namespace }), 30_000, 'get job'));
    },
  };
}
