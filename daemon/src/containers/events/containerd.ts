// containerd's event stream: /containerd.services.events.v1.Events/Subscribe on its socket, over
// gRPC (@grpc/grpc-js; messages decoded with protobufjs from descriptor.ts, see events.proto).
// No containerd-namespace header: the stream carries the events of every namespace (k8s.io,
// moby, default, ...), each envelope naming its own.
//
//   /containers/create  ContainerCreate{id, image}          image of a container not run yet
//   /tasks/create       TaskCreate{container_id, bundle}    the bundle's config.json exists now:
//                                                           read at once (CRI names, annotations)
//   /tasks/start        TaskStart{container_id, pid}        the init pid
//   /tasks/exit         TaskExit{container_id, id, ...}     id == container_id: the init exited
//   /tasks/delete       TaskDelete                          the bundle is gone
//
// Each subscription is followed by a listing of the containers in containerd's metadata, in every
// namespace (Namespaces.List, Containers.List with their OCI spec): a container whose task ran and
// ended while no stream was open is still named if its metadata was kept (kubelet keeps exited
// containers until its GC; `ctr run` without --rm keeps them).
//
// What it learns stays in a MetaCache for the registry's retention after the exit, so events of
// a container that is gone (its bundle deleted) still find its name. A stream that ends or fails
// (containerd restarted) is subscribed again with a backoff. Events published while no stream
// was open are lost: containerd keeps no history; the on-disk sources cover what still runs.

import { EventEmitter } from 'node:events';

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

import type { RuntimeName } from '../cgroup.js';
import {
  ContainerdSource,
  parseOciConfig,
  type MetadataSource,
  type RuntimeMeta,
} from '../sources.js';
import { MetaCache, type MetaCacheStats } from './cache.js';
import { DESCRIPTOR } from './descriptor.js';

const SUBSCRIBE = '/containerd.services.events.v1.Events/Subscribe';
const LIST_NAMESPACES = '/containerd.services.namespaces.v1.Namespaces/List';
const LIST_CONTAINERS = '/containerd.services.containers.v1.Containers/List';
/** The topics decoded; containerd ORs the filters. */
export const CONTAINERD_TOPICS = [
  '/containers/create',
  '/containers/delete',
  '/tasks/create',
  '/tasks/start',
  '/tasks/exit',
  '/tasks/delete',
];

export type ContainerdEventKind =
  | 'container-create'
  | 'container-delete'
  | 'task-create'
  | 'task-start'
  | 'task-exit'
  | 'task-delete';

export interface ContainerdEvent {
  kind: ContainerdEventKind;
  namespace: string;
  /** the container id */
  id: string;
  /** exec id of task-exit / task-delete ('' or the container id for the init) */
  execId: string;
  pid: number;
  exitStatus: number;
  /** what the cache holds for the id after this event (undefined before task-create) */
  meta?: RuntimeMeta;
  /** envelope time, Unix ms */
  time: number;
}

export interface ContainerdEventSourceOptions {
  /** containerd's gRPC socket (default /run/containerd/containerd.sock) */
  socket?: string;
  /** prefix of the host paths the events name (bundles): HOST_ROOT in a pod, '' on the host */
  hostRoot?: string;
  /** state dirs, to read a task whose create event was missed (default ['/run/containerd']) */
  stateDirs?: string[];
  dockerRoot?: string;
  /** extra Subscribe filters (tests: a probe topic) */
  extraFilters?: string[];
  maxEntries?: number;
  retentionMs?: number;
  /** reconnect backoff bounds (default 100 ms .. 5 s, doubling) */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  warn?: (message: string) => void;
}

export interface ContainerdEventStats extends MetaCacheStats {
  connected: boolean;
  /** envelopes received */
  envelopes: number;
  /** task and container events applied */
  events: number;
  /** envelopes of an event type this source does not decode */
  unknownType: number;
  /** envelopes or events that did not decode */
  malformed: number;
  /** bundles that could not be read at task create */
  bundleErrors: number;
  /** streams that failed or ended */
  errors: number;
  /** subscriptions made after the first */
  reconnects: number;
  /** containers learned from Containers.List */
  listed: number;
  /** listings that failed */
  listErrors: number;
  /** 'event' (etc.) listeners that threw */
  listenerErrors: number;
}

export interface ContainerdEventSourceEvents {
  event: [ContainerdEvent];
  /** an envelope of any topic (tests: a probe) */
  envelope: [{ namespace: string; topic: string }];
  /** the stream failed or ended; a new one follows after `retryMs` */
  disconnected: [{ error: string; retryMs: number }];
  /** the listing after a subscription is done (count: containers learned; error if it failed) */
  listed: [{ count: number; error?: string }];
}

interface Codecs {
  envelope: protobuf.Type;
  request: protobuf.Type;
  byTypeName: Map<string, protobuf.Type>;
  listNamespaces: [protobuf.Type, protobuf.Type];
  listContainers: [protobuf.Type, protobuf.Type];
}
let codecs: Codecs | undefined;
function getCodecs(): Codecs {
  if (codecs) return codecs;
  const root = protobuf.Root.fromJSON(DESCRIPTOR);
  const byTypeName = new Map<string, protobuf.Type>();
  for (const n of [
    'TaskCreate',
    'TaskStart',
    'TaskExit',
    'TaskDelete',
    'ContainerCreate',
    'ContainerDelete',
  ]) {
    byTypeName.set(`containerd.events.${n}`, root.lookupType(`containerd.events.${n}`));
  }
  codecs = {
    envelope: root.lookupType('containerd.services.events.v1.Envelope'),
    request: root.lookupType('containerd.services.events.v1.SubscribeRequest'),
    byTypeName,
    listNamespaces: [
      root.lookupType('containerd.services.namespaces.v1.ListNamespacesRequest'),
      root.lookupType('containerd.services.namespaces.v1.ListNamespacesResponse'),
    ],
    listContainers: [
      root.lookupType('containerd.services.containers.v1.ListContainersRequest'),
      root.lookupType('containerd.services.containers.v1.ListContainersResponse'),
    ],
  };
  return codecs;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: true, arrays: true };

interface Timestamp {
  seconds: number;
  nanos: number;
}
const tsMs = (t: Timestamp | null | undefined): number =>
  t ? t.seconds * 1000 + Math.floor(t.nanos / 1e6) : 0;

/** Envelope bytes -> topic, namespace, event type name and value. Throws on malformed input. */
export function decodeEnvelope(bytes: Uint8Array): {
  namespace: string;
  topic: string;
  time: number;
  typeName: string;
  value: Uint8Array;
} {
  const c = getCodecs();
  const env = c.envelope.toObject(c.envelope.decode(bytes), TO_OBJECT) as {
    timestamp: Timestamp | null;
    namespace: string;
    topic: string;
    event: { type_url: string; value: Uint8Array } | null;
  };
  const url = env.event?.type_url ?? '';
  return {
    namespace: env.namespace,
    topic: env.topic,
    time: tsMs(env.timestamp),
    // "containerd.events.TaskCreate", or with a "host/" prefix
    typeName: url.slice(url.lastIndexOf('/') + 1),
    value: env.event?.value ?? new Uint8Array(0),
  };
}

/** Decodes one event of a known type (see CONTAINERD_TOPICS); null for other types. */
export function decodeEvent(typeName: string, value: Uint8Array): Record<string, unknown> | null {
  const t = getCodecs().byTypeName.get(typeName);
  if (!t) return null;
  return t.toObject(t.decode(value), TO_OBJECT);
}

/** Encodes a SubscribeRequest (exported for tests). */
export function encodeSubscribeRequest(filters: string[]): Buffer {
  const t = getCodecs().request;
  return Buffer.from(t.encode(t.fromObject({ filters })).finish());
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
/** ids we cache: containerd's own limit is 76 characters of [A-Za-z0-9_.-] */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

export class ContainerdEventSource
  extends EventEmitter<ContainerdEventSourceEvents>
  implements MetadataSource
{
  readonly name = 'containerd-events';
  readonly socket: string;
  private readonly hostRoot: string;
  private readonly cache: MetaCache;
  private readonly disk: ContainerdSource;
  private readonly filters: string[];
  /** ContainerCreate's image until the TaskCreate of the id */
  private readonly images = new Map<string, string>();
  private readonly warn: (m: string) => void;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private backoffMs: number;
  private client: grpc.Client | undefined;
  private call: grpc.ClientReadableStream<Buffer> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private started = false;
  private warnedDown = false;
  private counters = {
    envelopes: 0,
    events: 0,
    unknownType: 0,
    malformed: 0,
    bundleErrors: 0,
    errors: 0,
    reconnects: 0,
    listed: 0,
    listErrors: 0,
    listenerErrors: 0,
  };

  constructor(opts: ContainerdEventSourceOptions = {}) {
    super();
    this.socket = opts.socket ?? '/run/containerd/containerd.sock';
    this.hostRoot = opts.hostRoot ?? '';
    this.cache = new MetaCache(opts.maxEntries ?? 4096, opts.retentionMs ?? 10 * 60 * 1000);
    this.disk = new ContainerdSource(opts.stateDirs ?? ['/run/containerd'], opts.dockerRoot);
    this.filters = [...CONTAINERD_TOPICS.map((t) => `topic=="${t}"`), ...(opts.extraFilters ?? [])];
    this.warn = opts.warn ?? (() => {});
    this.backoffMinMs = opts.backoffMinMs ?? 100;
    this.backoffMaxMs = opts.backoffMaxMs ?? 5000;
    this.backoffMs = this.backoffMinMs;
  }

  /** Subscribes (and again whenever the stream ends). Never throws. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.subscribe();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.dropCall();
  }

  get connected(): boolean {
    return this.call !== undefined;
  }

  lookup(id: string, hint: RuntimeName): RuntimeMeta | null {
    if (hint === 'podman' || hint === 'cri-o') return null;
    return this.cache.get(id) ?? null;
  }

  /** ctr-style "/<namespace>/<id>" cgroup of a container the events told of (also once gone). */
  matchCgroupPath(path: string): { id: string; runtime: RuntimeName } | null {
    const parts = path.split('/').filter((p) => p && p !== '..');
    if (parts.length !== 2) return null;
    const [ns, id] = parts as [string, string];
    const m = this.cache.get(id);
    return m && m.containerdNamespace === ns ? { id, runtime: m.runtime } : null;
  }

  exitedAt(id: string): number {
    return this.cache.exitedAt(id);
  }

  stats(): ContainerdEventStats {
    return { ...this.cache.stats(), ...this.counters, connected: this.connected };
  }

  private subscribe(): void {
    if (this.closed) return;
    this.retry = undefined;
    try {
      this.client ??= new grpc.Client(`unix://${this.socket}`, grpc.credentials.createInsecure(), {
        // events are small, a listing of a busy node's containers with their specs is not; more
        // is hostile or a bug: the call fails (counted) and is retried
        'grpc.max_receive_message_length': 16 << 20,
        'grpc.initial_reconnect_backoff_ms': this.backoffMinMs,
        'grpc.max_reconnect_backoff_ms': this.backoffMaxMs,
        'grpc.enable_retries': 0,
      });
      const call = this.client.makeServerStreamRequest<Buffer, Buffer>(
        SUBSCRIBE,
        (b) => b,
        (b) => b, // decoded in onData, where a bad message is counted, not fatal
        encodeSubscribeRequest(this.filters),
        new grpc.Metadata(),
      );
      this.call = call;
      call.on('data', (b: Buffer) => this.onData(b));
      call.on('error', (e: Error) => this.onEnd(call, e.message));
      call.on('end', () => this.onEnd(call, 'stream ended'));
      // after the Subscribe call: what the listing misses, the stream tells
      const client = this.client;
      void this.listExisting(client, Date.now()).then(
        (count) => this.safeEmit('listed', { count }),
        (e: unknown) => {
          this.counters.listErrors++;
          this.safeEmit('listed', { count: 0, error: (e as Error).message });
        },
      );
    } catch (e) {
      this.onEnd(undefined, (e as Error).message);
    }
  }

  private unary(
    client: grpc.Client,
    path: string,
    types: [protobuf.Type, protobuf.Type],
    req: Record<string, unknown>,
    namespace: string,
  ): Promise<Record<string, unknown>> {
    const [reqType, resType] = types;
    const md = new grpc.Metadata();
    if (namespace) md.set('containerd-namespace', namespace);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        path,
        (b) => b,
        (b) => b,
        Buffer.from(reqType.encode(reqType.fromObject(req)).finish()),
        md,
        { deadline: Date.now() + 10_000 },
        (err, res) => {
          if (err || !res) {
            reject(err ?? new Error('no response'));
            return;
          }
          try {
            resolve(resType.toObject(resType.decode(res), TO_OBJECT));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        },
      );
    });
  }

  /**
   * Containers.List in every namespace: names of containers whose task ran while no stream was
   * open (or before the daemon started). `at` orders what it learns before later events.
   */
  private async listExisting(client: grpc.Client, at: number): Promise<number> {
    const c = getCodecs();
    const nsr = await this.unary(client, LIST_NAMESPACES, c.listNamespaces, {}, '');
    const namespaces = (Array.isArray(nsr.namespaces) ? nsr.namespaces : [])
      .map((n) => str((n as Record<string, unknown>).name))
      .filter((n) => n && n.length <= 76 && !n.includes('/'))
      .slice(0, 256);
    let count = 0;
    const seen = new Set<string>();
    for (const ns of namespaces) {
      if (this.closed || client !== this.client) break;
      const r = await this.unary(client, LIST_CONTAINERS, c.listContainers, {}, ns);
      const list = Array.isArray(r.containers) ? (r.containers as Record<string, unknown>[]) : [];
      for (const x of list) {
        const id = str(x.id);
        if (!ID_RE.test(id)) {
          this.counters.malformed++;
          continue;
        }
        const spec = x.spec as { value?: Uint8Array } | null;
        let meta: RuntimeMeta = {
          runtime: ns === 'moby' ? 'docker' : 'containerd',
          id,
          name: id.slice(0, 12),
          image: str(x.image).slice(0, 4096),
          initPid: 0,
          annotations: {},
          sandbox: false,
          bundle: '',
          containerdNamespace: ns,
        };
        try {
          if (spec?.value?.length) {
            const oci = parseOciConfig(Buffer.from(spec.value).toString('utf8'));
            meta = {
              ...meta,
              name: oci.criName || oci.annotations['nerdctl/name'] || meta.name,
              image: oci.image || meta.image,
              annotations: oci.annotations,
              k8s: oci.k8s,
              sandbox: oci.sandbox,
            };
          }
        } catch {
          this.counters.malformed++;
        }
        seen.add(id);
        // what the events told (bundle, init pid) is richer than the listing: kept
        if (!this.cache.get(id)) {
          if (!this.cache.set(meta, at)) continue;
          count++;
        }
        // no task directory: the task is gone (or never ran)
        if (!this.disk.findTaskDir(id)) this.cache.markExited(id, Date.now(), at);
      }
    }
    // deleted while no stream was open: no longer running (unless an event since says so)
    const listed = new Set(namespaces);
    for (const id of [...this.cache.ids()]) {
      const m = this.cache.get(id);
      if (m && !seen.has(id) && listed.has(m.containerdNamespace) && !this.cache.exitedAt(id)) {
        this.cache.markExited(id, Date.now(), at);
      }
    }
    this.counters.listed += count;
    return count;
  }

  /** A listener that throws must not count as bad input, nor become an unhandled rejection. */
  private safeEmit<K extends keyof ContainerdEventSourceEvents>(
    name: K,
    ...args: ContainerdEventSourceEvents[K]
  ): void {
    try {
      (this.emit as (n: K, ...a: ContainerdEventSourceEvents[K]) => boolean)(name, ...args);
    } catch (e) {
      this.counters.listenerErrors++;
      if (this.counters.listenerErrors === 1) {
        this.warn(`containerd events: a listener failed: ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }

  private dropCall(): void {
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => {}); // the cancel reports CANCELLED
      call.cancel();
    }
    this.client?.close();
    this.client = undefined;
  }

  private onEnd(call: grpc.ClientReadableStream<Buffer> | undefined, error: string): void {
    if (call && call !== this.call) return; // an old stream's late error
    this.dropCall(); // a new channel next time: no channel-level backoff in the way
    if (this.closed) return;
    this.counters.errors++;
    const retryMs = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMaxMs, this.backoffMs * 2);
    if (!this.warnedDown && this.counters.errors > 5) {
      this.warnedDown = true;
      this.warn(
        `containerd events (${this.socket}): ${error}; retrying every ${this.backoffMaxMs} ms`,
      );
    }
    this.safeEmit('disconnected', { error, retryMs });
    this.counters.reconnects++;
    this.retry = setTimeout(() => this.subscribe(), retryMs);
    this.retry.unref();
  }

  private onData(b: Buffer): void {
    this.counters.envelopes++;
    // a message means the subscription works: the next failure retries fast again
    this.backoffMs = this.backoffMinMs;
    if (this.warnedDown) {
      this.warnedDown = false;
      this.warn(`containerd events (${this.socket}): subscribed again`);
    }
    try {
      const env = decodeEnvelope(b);
      this.safeEmit('envelope', { namespace: env.namespace, topic: env.topic });
      const ev = decodeEvent(env.typeName, env.value);
      if (!ev) {
        if (CONTAINERD_TOPICS.includes(env.topic)) this.counters.unknownType++;
        return;
      }
      const out = this.apply(env.typeName, ev, env.namespace, env.time || Date.now());
      if (!out) return;
      this.counters.events++;
      this.safeEmit('event', out);
    } catch {
      this.counters.malformed++;
    }
  }

  private apply(
    typeName: string,
    ev: Record<string, unknown>,
    namespace: string,
    time: number,
  ): ContainerdEvent | null {
    const type = typeName.slice('containerd.events.'.length);
    const id = str(type.startsWith('Container') ? ev.id : ev.container_id);
    if (!ID_RE.test(id) || namespace.length > 76 || namespace.includes('/')) {
      this.counters.malformed++;
      return null;
    }
    const out: ContainerdEvent = {
      kind: 'task-create',
      namespace,
      id,
      execId: '',
      pid: num(ev.pid),
      exitStatus: num(ev.exit_status),
      time,
    };
    const now = Date.now();
    switch (type) {
      case 'ContainerCreate': {
        out.kind = 'container-create';
        const image = str(ev.image).slice(0, 4096);
        if (image) {
          this.images.set(id, image);
          if (this.images.size > 1024) this.images.delete(this.images.keys().next().value!);
        }
        break;
      }
      case 'ContainerDelete':
        out.kind = 'container-delete';
        this.images.delete(id);
        this.cache.markExited(id, now);
        break;
      case 'TaskCreate': {
        out.kind = 'task-create';
        const meta = this.readBundle(id, namespace, str(ev.bundle), out.pid);
        this.cache.set(meta, now);
        this.cache.markRunning(id, now);
        break;
      }
      case 'TaskStart': {
        out.kind = 'task-start';
        let meta = this.cache.get(id);
        if (!meta) {
          // the create was missed (the stream came up in between): the task dir is there now
          const t = this.disk.findTaskDir(id);
          meta = (t && this.disk.readTask(id, t.dir, t.namespace)) || undefined;
        }
        if (meta) this.cache.set({ ...meta, initPid: out.pid || meta.initPid }, now);
        break;
      }
      case 'TaskExit':
        out.kind = 'task-exit';
        out.execId = str(ev.id);
        if (out.execId === '' || out.execId === id) this.cache.markExited(id, now);
        break;
      case 'TaskDelete':
        out.kind = 'task-delete';
        out.execId = str(ev.id);
        if (out.execId === '' || out.execId === id) this.cache.markExited(id, now);
        break;
      default:
        return null;
    }
    out.meta = this.cache.get(id);
    return out;
  }

  /** TaskCreate: the bundle's config.json, read before anything can delete it. */
  private readBundle(id: string, namespace: string, bundle: string, pid: number): RuntimeMeta {
    const image = this.images.get(id) ?? '';
    this.images.delete(id);
    let meta: RuntimeMeta | null = null;
    if (bundle.startsWith('/') && !bundle.split('/').includes('..')) {
      meta = this.disk.readTask(id, this.hostRoot + bundle, namespace);
    }
    if (!meta) {
      this.counters.bundleErrors++;
      meta = {
        runtime: namespace === 'moby' ? 'docker' : 'containerd',
        id,
        name: id.slice(0, 12),
        image: '',
        initPid: 0,
        annotations: {},
        sandbox: false,
        bundle: '',
        containerdNamespace: namespace,
      };
    }
    return { ...meta, image: meta.image || image, initPid: pid || meta.initPid };
  }
}
