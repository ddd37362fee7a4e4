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
import {
  CallerCaps,
  checkListen,
  insecureWarning,
  DEFAULT_MAX_RUNS,
  DEFAULT_MAX_RUNS_PER_CALLER,
  auditList,
  auditMap,
  auditString,
  overallExhausted,
  subjectString,
  type AuditSink,
  type Caller,
  type ServerTls,
} from './security.js';
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
import type { RunMetrics } from '../metrics/registry.js';

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
  /** Mutual TLS for a tcp:// listener (security.ts loadServerTls): client certificates required. */
  tls?: ServerTls;
  /** Lets a non-loopback TCP listener without TLS through, with a warning (else refused). */
  insecure?: boolean;
  /** Concurrent runs on this daemon; more get RESOURCE_EXHAUSTED. Default 64. */
  maxRuns?: number;
  /** Concurrent runs of one caller (Kubernetes user, TLS client subject, else the connection); default 16. */
  maxRunsPerCaller?: number;
  /** The audit log of runs (security.ts openAuditLog); default none. */
  audit?: AuditSink;
  /** BPF object loads so far, for GetInfo (LocalRuntime.loads); default the runtime's `loads`. */
  loads?: () => number;
  /** Prometheus counters of each started run (daemon/src/metrics); default none. */
  runMetrics?: (gadget: string) => RunMetrics;
}

/** The daemon's run counters (GetInfo's DaemonStats). */
export interface ServerStats {
  /** runs streaming now */
  runsActive: number;
  /** runs started since the server started */
  runsStarted: number;
  /** calls refused by --max-runs or --max-runs-per-caller */
  runsRefused: number;
  /** calls the client cancelled before their run started: nothing was run for them */
  runsCancelledBeforeStart: number;
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
  /** run counters since start */
  stats(): ServerStats;
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
  const caps = new CallerCaps(opts.maxRunsPerCaller ?? DEFAULT_MAX_RUNS_PER_CALLER);
  const slots = { used: 0, max: opts.maxRuns ?? DEFAULT_MAX_RUNS };
  const starts = new StartPacer();
  const stats: ServerStats = {
    runsActive: 0,
    runsStarted: 0,
    runsRefused: 0,
    runsCancelledBeforeStart: 0,
  };
  if (opts.tls && addr.kind !== 'tcp') {
    throw new Error(`TLS applies to tcp:// listen addresses, not ${formatAddress(addr)}`);
  }
  const insecure = checkListen(addr, opts.tls !== undefined, opts.insecure ?? false);

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
    getInfo: unary(async () => ({
      ...infoToPb(await runtime.info()),
      stats: {
        runsActive: String(stats.runsActive),
        runsStarted: String(stats.runsStarted),
        runsRefused: String(stats.runsRefused),
        runsCancelledBeforeStart: String(stats.runsCancelledBeforeStart),
        ...loadsOf(opts.loads ?? runtime),
      },
    })),
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
      if (call.cancelled) {
        stats.runsCancelledBeforeStart += 1;
        return;
      }
      const id = nextRunId++;
      const run = streamRun({
        id,
        runtime,
        call,
        limits,
        log,
        onRunEvent: opts.onRunEvent,
        authorizer: opts.authorizer,
        caps,
        slots,
        stats,
        audit: opts.audit,
        runMetrics: opts.runMetrics,
        starts,
      });
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

  const bound = await bind(server, addr, opts.tls);
  log('info', `listening on ${bound}${opts.tls ? ' (mutual TLS)' : ''}`);
  if (insecure) log('warn', insecureWarning(bound));

  let closed: Promise<void> | undefined;
  return {
    address: bound,
    activeRuns: () => runs.size,
    stats: () => ({ ...stats }),
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

async function bind(server: grpc.Server, addr: DaemonAddress, tls?: ServerTls): Promise<string> {
  if (addr.kind === 'tcp') {
    const creds = tls
      ? grpc.ServerCredentials.createSsl(
          tls.clientCa,
          [{ private_key: tls.key, cert_chain: tls.cert }],
          // a client without a certificate the CA signed never gets past the handshake
          true,
        )
      : grpc.ServerCredentials.createInsecure();
    const port = await bindAsync(server, hostPort(addr.host, addr.port), creds);
    return formatAddress({ ...addr, port });
  }
  const dir = dirname(addr.path);
  // Only a directory we create gets 0700; an existing one (e.g. /tmp) keeps its mode.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleSocket(addr.path);
  // umask so the socket is never reachable by others, even between bind and chmod
  const oldMask = process.umask(0o177);
  try {
    await bindAsync(server, grpcTarget(addr), grpc.ServerCredentials.createInsecure());
  } finally {
    process.umask(oldMask);
  }
  await chmod(addr.path, 0o600);
  return formatAddress(addr);
}

function bindAsync(
  server: grpc.Server,
  target: string,
  creds: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(target, creds, (err, port) =>
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

interface RunContext {
  id: number;
  runtime: GadgetRuntime;
  call: Call;
  limits: { bytes: number; batches: number };
  log: NonNullable<ServerOptions['log']>;
  onRunEvent: ServerOptions['onRunEvent'];
  authorizer?: Authorizer;
  caps: CallerCaps;
  /** runs admitted under --max-runs (authorizing or running) */
  slots: { used: number; max: number };
  stats: ServerStats;
  audit?: AuditSink;
  runMetrics?: ServerOptions['runMetrics'];
  /** one run start a turn of the event loop */
  starts: StartPacer;
}

/**
 * Run starts, one a turn of the event loop. A run's start (the runtime's join, its header and
 * response headers written) is about 0.7 ms of synchronous work; 200 calls that arrive in one
 * read all resumed in one pass over the immediate queue and held GetInfo back for 111-131 ms
 * (issue 13). One start a turn lets the calls that came meanwhile be served between two.
 */
class StartPacer {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  /** Resolves on a later turn (at least the next check phase), in arrival order. */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.next());
      }
    });
  }

  private next(): void {
    // the start resumes in the microtasks after this callback, within this turn; an immediate
    // queued here runs on the next turn, after the poll phase
    this.waiting.shift()?.();
    if (this.waiting.length > 0) setImmediate(() => this.next());
    else this.scheduled = false;
  }
}

/** The caller as the transport knows it: the TLS client certificate's subject, else the peer. */
function transportCaller(call: Call): Caller {
  let subject: string | undefined;
  try {
    subject = subjectString(call.getAuthContext()?.sslPeerCertificate);
  } catch {
    subject = undefined;
  }
  if (subject) return { id: subject, via: 'tls' };
  const peer = call.getPeer();
  // grpc-js knows no peer address on a unix socket (only root reaches it: 0600)
  return peer === 'unknown' ? { id: 'unix socket', via: 'unix' } : { id: peer, via: 'peer' };
}

function callerFields(c: Caller): Record<string, string> {
  return { caller: auditString(c.id), via: c.via };
}

function refusedRecord(
  id: number,
  caller: Caller,
  call: Call,
  reason: string,
): Record<string, unknown> {
  return {
    time: new Date().toISOString(),
    audit: 'run-refused',
    run: id,
    ...callerFields(caller),
    peer: auditString(call.getPeer()),
    gadget: auditString(call.request.gadget),
    reason: auditString(reason),
  };
}

/** GetInfo's loads: the count of program loads, when the runtime keeps one. */
function loadsOf(from: GadgetRuntime | (() => number)): { loads?: string } {
  const n = typeof from === 'function' ? from() : (from as { loads?: unknown }).loads;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? { loads: String(n) } : {};
}

function streamRun(ctx: RunContext): ActiveRun {
  const { id, runtime, call, log, onRunEvent, authorizer, slots, stats, audit, starts } = ctx;
  const ac = new AbortController();
  let outcome: 'done' | 'cancelled' | 'error' | 'shutdown' | undefined;
  let callGone = false;
  let metrics: RunMetrics | undefined;
  // events count when handed to the call, not when queued (a client gone drops its queue)
  const out = new OutQueue(call, ctx.limits, (n) => metrics?.delivered(n));

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
    let started = false;
    let release: (() => void) | undefined;
    let holdsSlot = false;
    let caller = transportCaller(call);
    /** the client went away, or close() came: start nothing (and say why to a live client) */
    const notStartable = (): boolean => {
      if (callGone || call.cancelled) {
        stats.runsCancelledBeforeStart += 1;
        return true;
      }
      if (ac.signal.aborted) {
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: SHUTTING_DOWN });
        return true;
      }
      return false;
    };
    let gadget = '';
    const t0 = Date.now();
    let records = 0;
    let kernel: { events: number; lost: number } | undefined;
    try {
      const req = runRequestFromPb(call.request);
      gadget = req.gadget;
      checkTimeoutSeconds(req.timeoutSeconds);
      // A reset sent with the request (HEADERS, DATA, RST_STREAM) may still sit in the socket's
      // read: waiting for a turn of the event loop lets it land, so such a call costs nothing
      // more. The turn is the pacer's: starts are spread, one a turn.
      await starts.turn();
      if (notStartable()) return;
      if (slots.used >= slots.max) {
        const st = overallExhausted(slots.used, slots.max);
        stats.runsRefused += 1;
        audit?.write(refusedRecord(id, caller, call, st.details));
        call.emit('error', st);
        return;
      }
      slots.used += 1;
      holdsSlot = true;
      if (authorizer) {
        const user = await authorizer.authorizeRun(callMetadata(call.metadata), req);
        if (user) caller = { id: user.username, via: 'kubernetes' };
        // answers of a burst of reviews arrive together: paced again
        await starts.turn();
        if (notStartable()) return;
      }
      const got = ctx.caps.acquire(caller);
      if (typeof got !== 'function') {
        stats.runsRefused += 1;
        audit?.write(refusedRecord(id, caller, call, got.details));
        call.emit('error', got);
        return;
      }
      release = got;
      started = true;
      stats.runsStarted += 1;
      stats.runsActive += 1;
      metrics = ctx.runMetrics?.(req.gadget);
      onRunEvent?.({ type: 'start', id, gadget: req.gadget, peer: call.getPeer() });
      log('info', `run ${id}: ${req.gadget} for ${call.getPeer()}`);
      const f = req.filter;
      audit?.write({
        time: new Date(t0).toISOString(),
        audit: 'run-start',
        run: id,
        ...callerFields(caller),
        peer: auditString(call.getPeer()),
        gadget: auditString(req.gadget),
        namespaces: f.namespaces.length === 0 ? '*' : auditList(f.namespaces),
        pods: auditList(f.pods),
        labelSelector: auditString(f.labelSelector),
        containers: auditList(f.containerNames),
        containerIds: auditList(f.containerIds),
        host: f.host,
        params: auditMap(req.params),
        timeoutSeconds: req.timeoutSeconds,
      });
      let seq = 0;
      for await (const msg of runtime.run(req, ac.signal)) {
        if (callGone) break;
        // a run the shutdown ended did not complete: the client gets UNAVAILABLE below
        if (msg.kind === 'done' && outcome === 'shutdown') continue;
        if (msg.kind === 'done') sentDone = true;
        if (msg.kind === 'batch') {
          seq += 1;
          records += msg.count;
          const dropped = out.droppedRecords;
          out.pushBatch(msg, seq);
          if (out.droppedRecords !== dropped) metrics?.dropped(1, out.droppedRecords - dropped);
        } else if (msg.kind === 'done') {
          out.push({
            done: {
              reason: msg.reason,
              droppedBatches: String(out.droppedBatches),
              droppedRecords: String(out.droppedRecords),
            },
          });
        } else {
          if (msg.kind === 'stats') {
            // a run's stats are since its start: the counter gets the increase
            metrics?.lost(msg.stats.lost - (kernel?.lost ?? 0));
            kernel = { events: msg.stats.events, lost: msg.stats.lost };
          }
          out.push(runMessageToPb(msg));
        }
      }
    } catch (e) {
      runError = e;
    } finally {
      release?.();
      if (holdsSlot) slots.used -= 1;
    }
    if (!started && runError === undefined) return; // refused or cancelled: answered above
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
    const errText =
      runError === undefined ? undefined : ((runError as Error)?.message ?? String(runError));
    if (!started) {
      // the request was invalid or not authorized: nothing ran
      audit?.write(refusedRecord(id, caller, call, errText ?? ''));
      return;
    }
    stats.runsActive -= 1;
    metrics?.ended();
    outcome ??= 'done';
    if (out.droppedBatches > 0) {
      log(
        'warn',
        `run ${id}: dropped ${out.droppedBatches} batches (${out.droppedRecords} records) for a slow client`,
      );
    }
    log('info', `run ${id}: ended (${outcome})`);
    audit?.write({
      time: new Date().toISOString(),
      audit: 'run-end',
      run: id,
      ...callerFields(caller),
      gadget: auditString(gadget),
      outcome,
      durationMs: Date.now() - t0,
      records,
      droppedBatches: out.droppedBatches,
      droppedRecords: out.droppedRecords,
      ...(kernel ? { kernelEvents: kernel.events, kernelLost: kernel.lost } : {}),
      ...(errText !== undefined && outcome === 'error' ? { error: auditString(errText) } : {}),
    });
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
    /** records of each batch written to the call (metrics) */
    private readonly sent: (records: number) => void = () => {},
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
        this.sent(r.batch.count);
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
