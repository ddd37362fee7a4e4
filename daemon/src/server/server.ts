// The daemon's gRPC server: a thin mapping of a GadgetRuntime onto gadget.v1.GadgetService.
//
//   const srv = await startServer(runtime, 'unix:///run/kubectl-gadget/gadget.sock');
//   ...
//   await srv.close();
//
// RunGadget streams the runtime's RunMessages. The runtime is consumed continuously; messages
// wait in a per-call queue while the client's HTTP/2 window is full ('drain'), and when the queue
// is over its bound whole batches are dropped (never headers, containers, stats, logs or done).
// Dropped batches still consume a sequence number, so the client sees the gap.

import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../../../proto/gen/gadget/v1/gadget.js';
import type { GadgetRuntime, RunMessage } from '../../../gadgets/framework/runtime.js';
import type { Authorizer, CallMetadata } from '../k8s/authz.js';
import { clip, isRunError, type RunErrorCode } from '../../../gadgets/framework/errors.js';
import { checkTimeoutSeconds } from '../../../gadgets/framework/resolve.js';
import {
  DEFAULT_ADDRESS,
  formatAddress,
  grpcTarget,
  hostPort,
  parseAddress,
  type DaemonAddress,
} from '../../../proto/ts/address.js';
import {
  HINT_TRAILER,
  SHUTTING_DOWN,
  containerToPb,
  descriptorToPb,
  infoToPb,
  runMessageToPb,
  runRequestFromPb,
  type GadgetSummary,
} from '../../../proto/ts/convert.js';
import { traceloopHandlers } from './traceloop.js';

export interface ServerOptions {
  /** Full gadget descriptors for ListGadgets; default: the gadget registry of this install. */
  listGadgets?: () => Promise<GadgetSummary[]>;
  /** Server keepalive ping interval (ms); default 5000. */
  keepaliveTimeMs?: number;
  /** How long a ping may go unanswered before the connection (and its runs) is dropped; default 5000. */
  keepaliveTimeoutMs?: number;
  /** Bytes of batches queued for one slow client before new batches are dropped; default 32 MiB. */
  maxQueuedBytes?: number;
  /** Batches queued for one slow client before new batches are dropped; default 4096. */
  maxQueuedBatches?: number;
  /** Diagnostics (run start/end, drops); default: silent. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Called when a run starts and when it has finished (tests, metrics). */
  onRunEvent?: (e: RunEvent) => void;
  /**
   * Kubernetes mode (daemon/src/k8s/authz.ts): RunGadget is authorized with the caller's identity
   * from the call metadata before anything runs, and ListContainers shows only what it may see.
   * GetInfo and ListGadgets stay open (the readiness probe asks GetInfo).
   */
  authorizer?: Authorizer;
}

/** grpc.Metadata as the authorizer reads it. */
export function callMetadata(md: grpc.Metadata): CallMetadata {
  return {
    get: (key) => {
      const v = md.get(key)[0];
      return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
    },
  };
}

export type RunEvent =
  | { type: 'start'; id: number; gadget: string; peer: string }
  | {
      type: 'end';
      id: number;
      /** why the server stopped: 'done' (runtime finished), 'cancelled', 'error', 'shutdown' */
      outcome: 'done' | 'cancelled' | 'error' | 'shutdown';
      droppedBatches: number;
      droppedRecords: number;
    };

export interface GadgetServer {
  /** canonical address actually listened on (tcp port filled in when 0 was asked) */
  address: string;
  /** runs currently streaming */
  activeRuns(): number;
  /** Aborts every run, stops accepting calls and removes the unix socket. */
  close(): Promise<void>;
}

const STATUS_OF: Record<RunErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

/**
 * Longest status message or hint sent: they travel in the HTTP/2 trailer, and a trailer over the
 * client's header limit is never delivered (the call hangs). Messages clip what they quote;
 * this bounds whatever slips through.
 */
export const MAX_STATUS_CHARS = 2000;

/** A runtime error as a gRPC status: user errors keep their code, message and hint. */
export function toStatus(e: unknown): Partial<grpc.StatusObject> & { code: grpc.status } {
  const metadata = new grpc.Metadata();
  const status = (code: grpc.status, details: string) => ({
    code,
    details: clip(details, MAX_STATUS_CHARS),
    metadata,
  });
  if (isRunError(e)) {
    if (e.hint) metadata.set(HINT_TRAILER, Buffer.from(clip(e.hint, MAX_STATUS_CHARS), 'utf8'));
    return status(STATUS_OF[e.code] ?? grpc.status.UNKNOWN, e.message);
  }
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (code === 'UNKNOWN_GADGET') return status(grpc.status.NOT_FOUND, e.message);
    // a request field this daemon cannot decode (convert.ts) is the caller's to fix
    if (e.name === 'ProtocolError') return status(grpc.status.INVALID_ARGUMENT, e.message);
    return status(grpc.status.INTERNAL, e.message || e.name);
  }
  return status(grpc.status.INTERNAL, String(e));
}

interface ActiveRun {
  abort(reason: string): void;
  finished: Promise<void>;
}

export async function startServer(
  runtime: GadgetRuntime,
  listen: string = DEFAULT_ADDRESS,
  opts: ServerOptions = {},
): Promise<GadgetServer> {
  const addr = parseAddress(listen, { allowPortZero: true });
  const log = opts.log ?? (() => {});
  const limits = {
    bytes: opts.maxQueuedBytes ?? 32 << 20,
    batches: opts.maxQueuedBatches ?? 4096,
  };
  const runs = new Set<ActiveRun>();
  let nextRunId = 1;
  let closing = false;

  const unary =
    <Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      fn(call.request).then(
        (res) => callback(null, res),
        (e: unknown) => callback(toStatus(e)),
      );
    };

  const listGadgets =
    opts.listGadgets ??
    (async () =>
      (await (await import('../../../gadgets/framework/registry.js')).listAllGadgets()).map((g) =>
        'params' in g ? g : { ...g, params: [], columns: [] },
      ));

  const handlers: pb.GadgetServiceHandlers = {
    getInfo: unary(async () => infoToPb(await runtime.info())),
    listGadgets: unary(async () => ({ gadgets: (await listGadgets()).map(descriptorToPb) })),
    listContainers: (call, callback) => {
      void (async () => {
        let list = await runtime.listContainers();
        if (opts.authorizer) {
          list = await opts.authorizer.visibleContainers(callMetadata(call.metadata), list);
        }
        return { containers: list.map(containerToPb) };
      })().then(
        (res) => callback(null, res),
        (e: unknown) => callback(toStatus(e)),
      );
    },
    runGadget: (call) => {
      if (closing) {
        call.emit('error', {
          code: grpc.status.UNAVAILABLE,
          details: SHUTTING_DOWN,
        });
        return;
      }
      const id = nextRunId++;
      const run = streamRun(id, runtime, call, limits, log, opts.onRunEvent, opts.authorizer);
      runs.add(run);
      void run.finished.finally(() => runs.delete(run));
    },
    ...traceloopHandlers(runtime, opts.authorizer, toStatus),
  };

  const server = new grpc.Server({
    'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 5000,
    'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 5000,
    // grpc-js servers enforce no ping policy: client keepalive pings are always accepted.
    // batches can be large; the client raises its receive limit to match
    'grpc.max_send_message_length': -1,
  });
  server.addService(pb.GadgetServiceDefinition, handlers);

  const bound = await bind(server, addr);
  log('info', `listening on ${bound}`);

  let closed: Promise<void> | undefined;
  return {
    address: bound,
    activeRuns: () => runs.size,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        for (const r of runs) r.abort('shutdown');
        await withTimeout(Promise.all([...runs].map((r) => r.finished)), 2000);
        await withTimeout(
          new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
          2000,
        );
        server.forceShutdown();
        if (addr.kind === 'unix') await unlink(addr.path).catch(() => {});
      })()),
  };
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

// ---- binding ------------------------------------------------------------------------------------

async function bind(server: grpc.Server, addr: DaemonAddress): Promise<string> {
  if (addr.kind === 'tcp') {
    const port = await bindAsync(server, hostPort(addr.host, addr.port));
    return formatAddress({ ...addr, port });
  }
  const dir = dirname(addr.path);
  // Only a directory we create gets 0700; an existing one (e.g. /tmp) keeps its mode.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleSocket(addr.path);
  // umask so the socket is never reachable by others, even between bind and chmod
  const oldMask = process.umask(0o177);
  try {
    await bindAsync(server, grpcTarget(addr));
  } finally {
    process.umask(oldMask);
  }
  await chmod(addr.path, 0o600);
  return formatAddress(addr);
}

function bindAsync(server: grpc.Server, target: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`cannot listen on ${target}: ${err.message}`)) : resolve(port),
    ),
  );
}

/** A socket file left by a daemon that died is removed; a live one is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new Error(`cannot listen on unix://${path}: the path exists and is not a socket`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) {
    throw new Error(
      `cannot listen on unix://${path}: another daemon is already listening there (stop it or use --listen)`,
    );
  }
  await unlink(path);
}

// ---- RunGadget ------------------------------------------------------------------------------

type Call = grpc.ServerWritableStream<pb.RunRequest, pb.RunResponse>;

function streamRun(
  id: number,
  runtime: GadgetRuntime,
  call: Call,
  limits: { bytes: number; batches: number },
  log: NonNullable<ServerOptions['log']>,
  onRunEvent: ServerOptions['onRunEvent'],
  authorizer?: Authorizer,
): ActiveRun {
  const ac = new AbortController();
  let outcome: 'done' | 'cancelled' | 'error' | 'shutdown' | undefined;
  let callGone = false;
  const out = new OutQueue(call, limits);

  const abort = (why: 'cancelled' | 'shutdown' | 'error') => {
    outcome ??= why;
    if (!ac.signal.aborted) ac.abort(new Error(`run ${why}`));
  };
  const gone = (why: 'cancelled' | 'error') => {
    callGone = true;
    out.close();
    abort(why);
  };
  call.on('cancelled', () => gone('cancelled'));
  call.on('close', () => gone('cancelled'));
  call.on('error', () => gone('error'));

  const finished = (async () => {
    let runError: unknown;
    let sentDone = false;
    try {
      const req = runRequestFromPb(call.request);
      checkTimeoutSeconds(req.timeoutSeconds);
      if (authorizer) await authorizer.authorizeRun(callMetadata(call.metadata), req);
      onRunEvent?.({ type: 'start', id, gadget: req.gadget, peer: call.getPeer() });
      log('info', `run ${id}: ${req.gadget} for ${call.getPeer()}`);
      let seq = 0;
      for await (const msg of runtime.run(req, ac.signal)) {
        if (callGone) break;
        // a run the shutdown ended did not complete: the client gets UNAVAILABLE below
        if (msg.kind === 'done' && outcome === 'shutdown') continue;
        if (msg.kind === 'done') sentDone = true;
        if (msg.kind === 'batch') {
          seq += 1;
          out.pushBatch(msg, seq);
        } else if (msg.kind === 'done') {
          out.push({
            done: {
              reason: msg.reason,
              droppedBatches: String(out.droppedBatches),
              droppedRecords: String(out.droppedRecords),
            },
          });
        } else {
          out.push(runMessageToPb(msg));
        }
      }
    } catch (e) {
      runError = e;
    }
    if (!callGone) {
      await out.flush();
    }
    if (!callGone) {
      if (runError !== undefined && !ac.signal.aborted) {
        outcome ??= 'error';
        call.emit('error', toStatus(runError));
      } else if (outcome === 'shutdown' && !sentDone) {
        // not a normal end: the client must not take the stream for complete
        call.emit('error', {
          code: grpc.status.UNAVAILABLE,
          details: SHUTTING_DOWN,
        });
      } else {
        call.end();
      }
    } else if (runError !== undefined && !ac.signal.aborted) {
      log('warn', `run ${id}: ${(runError as Error)?.message ?? String(runError)}`);
    }
    outcome ??= 'done';
    if (out.droppedBatches > 0) {
      log(
        'warn',
        `run ${id}: dropped ${out.droppedBatches} batches (${out.droppedRecords} records) for a slow client`,
      );
    }
    log('info', `run ${id}: ended (${outcome})`);
    onRunEvent?.({
      type: 'end',
      id,
      outcome,
      droppedBatches: out.droppedBatches,
      droppedRecords: out.droppedRecords,
    });
  })();

  return { abort: (why) => abort(why === 'shutdown' ? 'shutdown' : 'cancelled'), finished };
}

/**
 * Messages waiting for the client's flow-control window. Writes go to the call while it accepts
 * them (write() true); after a false, nothing is written until 'drain'. Batches are dropped when
 * the queue is over its bounds; other messages are always kept (they are few and small).
 */
class OutQueue {
  private items: pb.RunResponse[] = [];
  private head = 0;
  private queuedBytes = 0;
  private queuedBatches = 0;
  private waitingDrain = false;
  private closed = false;
  private flushed: (() => void) | undefined;
  droppedBatches = 0;
  droppedRecords = 0;
  /** records dropped since the last delivered batch */
  private pendingDropped = 0;

  constructor(
    private readonly call: Call,
    private readonly limits: { bytes: number; batches: number },
  ) {
    call.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
  }

  pushBatch(m: Extract<RunMessage, { kind: 'batch' }>, seq: number): void {
    if (this.closed) return;
    const backlog = this.items.length - this.head > 0 || this.waitingDrain;
    if (
      backlog &&
      (this.queuedBytes + m.records.length > this.limits.bytes ||
        this.queuedBatches + 1 > this.limits.batches)
    ) {
      this.droppedBatches += 1;
      this.droppedRecords += m.count;
      this.pendingDropped += m.count;
      return;
    }
    const r = runMessageToPb(m, seq, this.pendingDropped);
    this.pendingDropped = 0;
    this.queuedBytes += m.records.length;
    this.queuedBatches += 1;
    this.items.push(r);
    this.pump();
  }

  push(r: pb.RunResponse): void {
    if (this.closed) return;
    this.items.push(r);
    this.pump();
  }

  /** Resolves when everything queued was handed to the call, or the call went away. */
  flush(): Promise<void> {
    if (this.closed || this.head === this.items.length) return Promise.resolve();
    return new Promise((resolve) => (this.flushed = resolve));
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.head = 0;
    this.settle();
  }

  private pump(): void {
    while (!this.closed && !this.waitingDrain && this.head < this.items.length) {
      const r = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as pb.RunResponse;
      if (r.batch) {
        this.queuedBytes -= r.batch.records.length;
        this.queuedBatches -= 1;
      }
      if (!this.call.write(r)) this.waitingDrain = true;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.settle();
  }

  private settle(): void {
    if (this.flushed && (this.closed || this.head === this.items.length)) {
      const f = this.flushed;
      this.flushed = undefined;
      f();
    }
  }
}
