// GadgetRuntime over gRPC: the CLI side of daemon/src/server/server.ts. Yields the same
// RunMessage objects as the in-process LocalRuntime, so callers cannot tell them apart, except
// that a slow reader may see a `log` warning "N messages dropped" (the daemon drops whole
// batches rather than buffering without bound).

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as pb from '#proto/gen/gadget/v1/gadget.js';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import { RunError } from '#gadgets/framework/errors.js';
import {
  HINT_TRAILER,
  SHUTTING_DOWN,
  containerFromPb,
  descriptorFromPb,
  infoFromPb,
  runMessageFromPb,
  runRequestToPb,
  type GadgetSummary,
} from '#proto/ts/convert.js';
import type {
  GadgetRuntime,
  NodeInfo,
  RunMessage,
  RunRequest,
  TraceloopApi,
} from '#gadgets/framework/runtime.js';
import { entryFromPb, sessionFromPb, startOptionsToPb } from '#proto/ts/traceloop.js';
import { formatAddress, grpcTarget, parseAddress, type DaemonAddress } from './address.js';
import { UserError } from '../errors.js';
import { tlsFlagsGiven, type RemoteTlsFlagValues } from '../flags.js';

/** TLS to a daemon on tcp:// (PEM contents): mutual when cert and key are given. */
export interface RemoteTls {
  /** CA to verify the daemon's certificate against; default the system roots */
  ca?: Buffer;
  /** client certificate chain and its key, for a daemon started with --tls-client-ca */
  cert?: Buffer;
  key?: Buffer;
  /** name the daemon's certificate must carry instead of the address's host */
  serverName?: string;
}

const TLS_FLAGS_HINT =
  'e.g. --remote tcp://HOST:PORT --tls-ca ca.crt --tls-cert client.crt --tls-key client.key (PEM files)';

/**
 * The --tls-* flags of a --remote address, with their files read: undefined when none is given.
 * One-line UserErrors: --tls-* with a unix address, a certificate without its key (or the other
 * way round), an unreadable file.
 */
export async function remoteTlsFromFlags(
  address: string,
  flags: RemoteTlsFlagValues,
): Promise<RemoteTls | undefined> {
  const given = tlsFlagsGiven(flags);
  if (given.length === 0) return undefined;
  const addr = parseAddress(address);
  if (addr.kind === 'unix') {
    throw new UserError(
      `${given.join(', ')}: TLS applies to tcp:// addresses, not ${formatAddress(addr)}`,
      'a unix socket is protected by its file mode; drop the --tls-* flags, or use --remote tcp://HOST:PORT',
    );
  }
  if ((flags['tls-cert'] === undefined) !== (flags['tls-key'] === undefined)) {
    const [has, needs] =
      flags['tls-cert'] !== undefined ? ['--tls-cert', '--tls-key'] : ['--tls-key', '--tls-cert'];
    throw new UserError(
      `${has} needs ${needs}: a client certificate goes with its private key`,
      TLS_FLAGS_HINT,
    );
  }
  const read = async (flag: string, path: string | undefined): Promise<Buffer | undefined> => {
    if (path === undefined) return undefined;
    let b: Buffer;
    try {
      b = await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new UserError(`cannot read ${flag} ${path}: ${code}`, TLS_FLAGS_HINT);
    }
    if (!b.includes('-----BEGIN ')) {
      throw new UserError(
        `${flag} ${path} is not a PEM file (no "-----BEGIN" line)`,
        TLS_FLAGS_HINT,
      );
    }
    return b;
  };
  const tls: RemoteTls = {};
  const ca = await read('--tls-ca', flags['tls-ca']);
  const cert = await read('--tls-cert', flags['tls-cert']);
  const key = await read('--tls-key', flags['tls-key']);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const name = flags['tls-server-name']?.trim();
  if (flags['tls-server-name'] !== undefined && !name) {
    throw new UserError('--tls-server-name needs a name, e.g. --tls-server-name gadget.example');
  }
  if (name) tls.serverName = name;
  return tls;
}

export interface RemoteRuntimeOptions {
  /**
   * Name of the daemon in error messages; default the canonical address. Kubernetes mode can
   * say e.g. "node worker-1 (pod gadget-x7k2p)" while dialing a local bridge socket.
   */
  label?: string;
  /** Dial this gRPC target instead of the one derived from the address. */
  target?: string;
  /** Use an already-built channel (grpc.Client `channelOverride`), e.g. over a port-forward. */
  channelOverride?: grpc.Channel;
  /** How long to wait for the connection before failing; default 3000 ms. */
  connectTimeoutMs?: number;
  /** Deadline for unary calls (info, lists); default 30000 ms. */
  callTimeoutMs?: number;
  /** Client keepalive ping interval / timeout during calls; default 5000 / 5000 ms. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Appended to "cannot reach daemon" errors; default "is `kubectl-gadget daemon` running?". */
  unreachableHint?: string;
  /**
   * Call metadata for each call, e.g. the caller's Kubernetes identity (Kubernetes mode,
   * plugin/src/runtimes/k8s/identity.ts). Made fresh per call: it may hold one-time proofs.
   */
  metadata?: () => Promise<Record<string, string>>;
  /**
   * Explains a connection failure better than gRPC can, e.g. what the port-forward to the pod
   * answered; appended to "cannot reach"/"lost connection" errors when it returns something.
   */
  explainUnreachable?: () => string | undefined;
  /** TLS to a tcp:// daemon (remoteTlsFromFlags); default plaintext. */
  tls?: RemoteTls;
}

const DEFAULT_HINT = 'is `kubectl-gadget daemon` running?';

export class RemoteRuntime implements GadgetRuntime {
  /** canonical address (unix:///… or tcp://…) */
  readonly address: string;
  private readonly label: string;
  private readonly client: grpc.Client;
  private readonly connectTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly hint: string;
  private readonly metadataFn: RemoteRuntimeOptions['metadata'];
  private readonly explain: RemoteRuntimeOptions['explainUnreachable'];
  private readonly tls: RemoteTls | undefined;
  private readonly addr: DaemonAddress;

  /** @throws AddressError for a malformed address (one line, lists the accepted forms) */
  constructor(address: string, opts: RemoteRuntimeOptions = {}) {
    const addr = parseAddress(address);
    this.addr = addr;
    this.address = formatAddress(addr);
    this.label = opts.label ?? this.address;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30000;
    this.hint = opts.unreachableHint ?? DEFAULT_HINT;
    this.metadataFn = opts.metadata;
    this.explain = opts.explainUnreachable;
    this.tls = opts.tls;
    const options: grpc.ClientOptions = {
      'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 5000,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 5000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.max_receive_message_length': 256 << 20,
      // a new attempt after a failure should not wait for a long backoff
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    };
    if (opts.channelOverride) options.channelOverride = opts.channelOverride;
    let creds = grpc.credentials.createInsecure();
    if (opts.tls) {
      if (addr.kind !== 'tcp') {
        throw new RunError(
          'INVALID_ARGUMENT',
          `TLS applies to tcp:// addresses, not ${this.address}`,
        );
      }
      creds = grpc.credentials.createSsl(
        opts.tls.ca ?? null,
        opts.tls.key ?? null,
        opts.tls.cert ?? null,
      );
      if (opts.tls.serverName) {
        options['grpc.ssl_target_name_override'] = opts.tls.serverName;
        options['grpc.default_authority'] = opts.tls.serverName;
      } else if (isIP(addr.host)) {
        quietIpServername();
      }
    }
    this.client = new grpc.Client(opts.target ?? grpcTarget(addr), creds, options);
  }

  async info(): Promise<NodeInfo> {
    return infoFromPb(await this.unary(pb.GadgetServiceDefinition.getInfo, {}));
  }

  async listContainers(): Promise<ContainerInfo[]> {
    const res = await this.unary(pb.GadgetServiceDefinition.listContainers, {});
    return res.containers.map(containerFromPb);
  }

  /** Gadget descriptors as the daemon knows them (params and columns, no functions). */
  async listGadgets(): Promise<GadgetSummary[]> {
    const res = await this.unary(pb.GadgetServiceDefinition.listGadgets, {});
    return res.gadgets.map(descriptorFromPb);
  }

  async *run(req: RunRequest, signal: AbortSignal): AsyncGenerator<RunMessage> {
    if (signal.aborted) return;
    const t0 = Date.now();
    const s = await this.openStream(
      pb.GadgetServiceDefinition.runGadget,
      runRequestToPb(req),
      signal,
    );
    if (!s) return;
    let lastSeq = 0n;
    let seenDropped = 0n;
    let seenDroppedRecords = 0;
    try {
      for await (const r of s.call as AsyncIterable<pb.RunResponse>) {
        s.received = true;
        const d = runMessageFromPb(r);
        if (!d) continue; // a message kind from a newer daemon
        if (d.seq !== undefined) {
          const gap = d.seq - lastSeq - 1n;
          if (gap > 0n) {
            seenDropped += gap;
            seenDroppedRecords += d.droppedRecords ?? 0;
            yield droppedWarning(gap, d.droppedRecords ?? 0);
          }
          lastSeq = d.seq;
        }
        if (d.done) {
          const total = BigInt(d.done.droppedBatches);
          if (total > seenDropped) {
            // drops after the last delivered batch leave no gap to see
            const records = Number(d.done.droppedRecords) - seenDroppedRecords;
            yield droppedWarning(total - seenDropped, records);
            seenDropped = total;
          }
        }
        yield d.message;
      }
    } catch (e) {
      if (signal.aborted && isStatus(e, grpc.status.CANCELLED)) {
        if (!s.received && !this.connected()) throw this.unreachable(Date.now() - t0);
        return;
      }
      throw await this.translate(e, s.received, s.timedOut);
    } finally {
      s.close();
    }
  }

  /** The daemon's traceloop recorder, over the Traceloop RPCs. */
  traceloop(): TraceloopApi {
    const D = pb.GadgetServiceDefinition;
    return {
      start: async (o) =>
        sessionFromPb(await this.unary(D.traceloopStart, startOptionsToPb(o)), ''),
      stop: async (sessionId) => void (await this.unary(D.traceloopStop, { sessionId })),
      list: async (sessionId) =>
        (await this.unary(D.traceloopList, { sessionId })).entries.map(entryFromPb),
      delete: async (sessionId, container) =>
        (await this.unary(D.traceloopDelete, { sessionId, container })).deleted,
      show: (req, signal) =>
        this.showStream(
          { sessionId: req.sessionId, container: req.container, instance: String(req.instance) },
          signal,
        ),
    };
  }

  private async *showStream(
    req: pb.TraceloopShowRequest,
    signal: AbortSignal,
  ): AsyncGenerator<RunMessage> {
    const s = await this.openStream(pb.GadgetServiceDefinition.traceloopShow, req, signal);
    if (!s) return;
    try {
      for await (const r of s.call as AsyncIterable<pb.RunResponse>) {
        s.received = true;
        const d = runMessageFromPb(r);
        if (d) yield d.message;
      }
    } catch (e) {
      if (signal.aborted && isStatus(e, grpc.status.CANCELLED)) return;
      throw await this.translate(e, s.received, s.timedOut);
    } finally {
      s.close();
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async callMetadata(): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (this.metadataFn) for (const [k, v] of Object.entries(await this.metadataFn())) md.set(k, v);
    return md;
  }

  /**
   * A server stream of `m` (undefined when `signal` aborted meanwhile), cancelled when `signal`
   * aborts or when the channel does not connect in time before the first message (the caller
   * sets `received`; `timedOut` says why it was cancelled). close() when done: it also cancels
   * the daemon-side call when the consumer stopped early (break/return/throw).
   */
  private async openStream<Req>(
    m: pb.ServerStreamingMethod<Req, pb.RunResponse>,
    req: Req,
    signal: AbortSignal,
  ) {
    const md = await this.callMetadata();
    if (signal.aborted) return undefined;
    const call = this.client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      md,
      {},
    );
    const onAbort = (): void => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    const s = {
      call,
      received: false,
      timedOut: false,
      close: (): void => {
        stopWatch();
        signal.removeEventListener('abort', onAbort);
        call.cancel();
      },
    };
    const stopWatch = this.watchConnect(() => {
      if (s.received) return;
      s.timedOut = true;
      call.cancel();
    });
    return s;
  }

  private async unary<Req, Res>(m: pb.UnaryMethod<Req, Res>, req: Req): Promise<Res> {
    const md = await this.callMetadata();
    return new Promise<Res>((resolve, reject) => {
      let timedOut = false;
      const call = this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        req,
        md,
        { deadline: Date.now() + this.callTimeoutMs },
        (err, res) => {
          stopWatch();
          if (err) void this.translate(err, false, timedOut).then(reject);
          else if (res === undefined) reject(new Error(`daemon at ${this.label}: empty response`));
          else resolve(res);
        },
      );
      const stopWatch = this.watchConnect(() => {
        timedOut = true;
        call.cancel();
      });
    });
  }

  /**
   * A connection to a tcp:// daemon that failed for a TLS reason (a refused client certificate,
   * an untrusted daemon certificate, TLS on one side only), found by repeating the handshake.
   */
  private async tlsCause(e: grpc.ServiceError, received: boolean): Promise<RunError | undefined> {
    if (received || e.code !== grpc.status.UNAVAILABLE || this.addr.kind !== 'tcp') return;
    if (this.explain) return; // Kubernetes mode: the port-forward explains itself
    if (
      !/No connection|Failed to connect|Connection dropped|ECONNRESET|SSL|TLS|certificate/i.test(
        e.details,
      )
    )
      return;
    const { diagnoseTls } = await import('./tls-diagnose.js');
    const d = await diagnoseTls(this.addr.host, this.addr.port, this.tls, this.connectTimeoutMs);
    if (!d) return;
    return Object.assign(
      new RunError('UNAVAILABLE', `cannot reach daemon at ${this.label}: ${d.message}`, d.hint),
      { unreachable: true },
    );
  }

  /** Calls onTimeout if the channel is not connected within connectTimeoutMs. */
  private watchConnect(onTimeout: () => void): () => void {
    const channel = this.client.getChannel();
    if (channel.getConnectivityState(false) === grpc.connectivityState.READY) return () => {};
    const timer = setTimeout(() => {
      if (channel.getConnectivityState(false) !== grpc.connectivityState.READY) onTimeout();
    }, this.connectTimeoutMs);
    return () => clearTimeout(timer);
  }

  /** The channel has completed its connection (HTTP/2 handshake included). */
  private connected(): boolean {
    return this.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  /** No connection after `ms`: a socket that accepts and never answers is no daemon either. */
  private unreachable(ms: number): RunError {
    return Object.assign(
      new RunError(
        'UNAVAILABLE',
        `cannot reach daemon at ${this.label}: no connection within ${formatSeconds(ms)} (${this.hint})`,
      ),
      { unreachable: true },
    );
  }

  /** UNIMPLEMENTED or an HTTP status: an older daemon, or no gadget daemon at all. */
  private async notServed(e: grpc.ServiceError): Promise<RunError> {
    const notApi = (why: string): RunError =>
      new RunError(
        'FAILED_PRECONDITION',
        `${this.label} does not serve the gadget API: ${why} (is it the address of a kubectl-gadget daemon?)`,
      );
    const http = /^Received HTTP status code (\d+)/.exec(e.details);
    if (http) return notApi(`it answered HTTP ${http[1]}`);
    // every gadget daemon answers GetInfo: when this one does, only the method is newer than it
    if (!(await this.answersGetInfo())) {
      return notApi('the gRPC server there has no gadget.v1 service');
    }
    return new RunError(
      'FAILED_PRECONDITION',
      `daemon at ${this.label}: ${e.details}`,
      'the daemon is older than this CLI: upgrade it',
    );
  }

  private answersGetInfo(): Promise<boolean> {
    const m = pb.GadgetServiceDefinition.getInfo;
    return new Promise((resolve) =>
      this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        {},
        new grpc.Metadata(),
        { deadline: Date.now() + this.connectTimeoutMs },
        (err) => resolve(err?.code !== grpc.status.UNIMPLEMENTED),
      ),
    );
  }

  /** A gRPC failure as a one-line error the CLI can print as is. */
  private async translate(e: unknown, received: boolean, timedOut: boolean): Promise<Error> {
    if (!isServiceError(e)) return e instanceof Error ? e : new Error(String(e));
    const tlsCause = await this.tlsCause(e, received);
    if (tlsCause) return tlsCause;
    const why = this.explain?.();
    if (why && (timedOut || e.code === grpc.status.UNAVAILABLE)) {
      // the transport was refused by the cluster: that is the error, whichever daemon it was
      if (/^permission denied: /.test(why)) return new RunError('PERMISSION_DENIED', why);
      if (received) return lost(`lost connection to daemon at ${this.label}: ${why}`);
      return new RunError('UNAVAILABLE', `cannot reach daemon at ${this.label}: ${why}`);
    }
    if (timedOut) {
      return new RunError(
        'UNAVAILABLE',
        `cannot reach daemon at ${this.label}: no connection within ${Math.round(this.connectTimeoutMs / 1000)} s (${this.hint})`,
      );
    }
    if (e.code === grpc.status.UNIMPLEMENTED || /^Received HTTP status code/.test(e.details)) {
      return this.notServed(e);
    }
    const hintValue = e.metadata?.get(HINT_TRAILER)[0];
    const hint =
      hintValue === undefined
        ? undefined
        : Buffer.isBuffer(hintValue)
          ? hintValue.toString('utf8')
          : hintValue;
    switch (e.code) {
      case grpc.status.INVALID_ARGUMENT:
        return new RunError('INVALID_ARGUMENT', e.details, hint);
      case grpc.status.NOT_FOUND:
        return new RunError('NOT_FOUND', e.details, hint);
      case grpc.status.FAILED_PRECONDITION:
        return new RunError('FAILED_PRECONDITION', e.details, hint);
      case grpc.status.PERMISSION_DENIED:
        return new RunError('PERMISSION_DENIED', e.details, hint);
      case grpc.status.RESOURCE_EXHAUSTED:
        // the daemon's caps on concurrent runs (--max-runs, --max-runs-per-caller)
        return new RunError('UNAVAILABLE', `daemon at ${this.label}: ${e.details}`, hint);
      case grpc.status.UNAVAILABLE:
        if (e.details === SHUTTING_DOWN) {
          return new RunError(
            'UNAVAILABLE',
            `the daemon at ${this.label} ended the run: it is shutting down`,
          );
        }
        // an established connection that closed under the call: the daemon died or restarted
        // (kill -9, OOM), or the network to it broke; not a daemon that was never there
        if (received || isDropped(e.details)) {
          return lost(
            `lost connection to daemon at ${this.label}: the daemon went away (${connectReason(e.details)})`,
          );
        }
        if (isConnectFailure(e.details)) {
          return new RunError(
            'UNAVAILABLE',
            `cannot reach daemon at ${this.label}: ${connectReason(e.details)} (${this.hint})`,
          );
        }
        return new RunError('UNAVAILABLE', e.details, hint);
      case grpc.status.DEADLINE_EXCEEDED:
        return new RunError(
          'UNAVAILABLE',
          `daemon at ${this.label} did not answer within ${Math.round(this.callTimeoutMs / 1000)} s`,
        );
      default:
        return new Error(`daemon at ${this.label}: ${e.details || grpc.status[e.code]}`);
    }
  }
}

/**
 * grpc-js sends the host as the TLS server name even when it is an IP address, and Node warns
 * about that (DEP0123) on stderr, a second line under every command. Only that warning is dropped.
 */
function quietIpServername(): void {
  if (ipServernameQuiet) return;
  ipServernameQuiet = true;
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[1] === 'string' ? rest[1] : (rest[0] as { code?: unknown })?.code;
    if (code === 'DEP0123') return;
    (emit as (...a: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}
let ipServernameQuiet = false;

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function droppedWarning(batches: bigint, records: number): RunMessage {
  return {
    kind: 'log',
    level: 'warn',
    message: `${batches} messages dropped (${records} records): output could not keep up with the daemon`,
  };
}

/** A RunError for a connection lost mid-call; Kubernetes mode resumes such a node's stream. */
function lost(message: string): RunError {
  return Object.assign(new RunError('UNAVAILABLE', message), { lost: true });
}

/** grpc-js's words for a connection that was established and then closed. */
function isDropped(details: string): boolean {
  return /Connection dropped|ECONNRESET|GOAWAY|Connection closed|Call ended without/i.test(details);
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && 'details' in e;
}

function isStatus(e: unknown, code: grpc.status): boolean {
  return isServiceError(e) && e.code === code;
}

function isConnectFailure(details: string): boolean {
  return /No connection established|Connection dropped|connect E[A-Z]+|getaddrinfo|Name resolution failed|ECONNRESET|Failed to connect/i.test(
    details,
  );
}

/**
 * The useful part of a grpc-js connection error, e.g.
 * "No connection established. Last error: Error: connect ENOENT /x.sock (...)" -> "connect ENOENT".
 */
export function connectReason(details: string): string {
  const connect = /connect (E[A-Z]+)/.exec(details);
  if (connect) return `connect ${connect[1]}`;
  const dns = /getaddrinfo (E[A-Z]+)/.exec(details);
  if (dns) return `cannot resolve host (${dns[1]})`;
  if (/Name resolution failed/.test(details)) return 'cannot resolve host name';
  const sys = /\b(E[A-Z]{3,})\b/.exec(details);
  if (sys) return sys[1]!;
  return details
    .replace(/^No connection established\. Last error: /, '')
    .replace(/^Error: /, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)$/, '')
    .split('\n')[0]!;
}
