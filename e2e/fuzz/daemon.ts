// Fuzz targets against a real daemon process (the CLI's `daemon` on a unix socket of its own,
// e2e/helpers/daemon.ts, with caps of MAX_RUNS): gRPC requests with random fields through
// @grpc/grpc-js, malformed gRPC messages from a raw node:http2 client, raw garbage on the socket,
// and bursts of up to 500 concurrent streams mixed with rapid resets. The daemon must answer
// each with a status whose message is one line, never crash or hang, answer GetInfo between
// batches, and after each burst hold no run, no more BPF objects and no more fds than before.

import { connect, type Socket } from 'node:net';
import * as http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../../proto/gen/gadget/v1/gadget.js';
import { HINT_TRAILER } from '../../proto/ts/convert.js';
import { syscallByName } from '../../gadgets/traceloop/table.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { count, fmt, heldClosure, minus, type BpfIds } from '../helpers/bpf.js';
import { readdirSync } from 'node:fs';
import { anyString, bytes, nastyString, tokens } from './arbitraries.js';
import type { Target } from './runner.js';

const S = pb.GadgetServiceDefinition;

/** --max-runs (and --max-runs-per-caller) of the fuzz daemon: every caller on its socket is one. */
export const MAX_RUNS = 16;

/** Codes a daemon may answer a well-formed request with; INTERNAL or UNKNOWN would be a bug. */
const USER_CODES = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNAVAILABLE,
]);

export class FuzzDaemon {
  readonly client: grpc.Client;
  /** slowest GetInfo answer of the checks (ms) */
  slowestInfoMs = 0;
  infoChecks = 0;

  private constructor(readonly d: TestDaemon) {
    this.client = new grpc.Client(`unix://${d.sock}`, grpc.credentials.createInsecure());
  }

  static async start(): Promise<FuzzDaemon> {
    return new FuzzDaemon(
      await startDaemon('fuzz', {
        args: ['--max-runs', String(MAX_RUNS), '--max-runs-per-caller', String(MAX_RUNS)],
      }),
    );
  }

  /** GetInfo's run counters. */
  stats(ms = 10_000): Promise<pb.DaemonStats> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        S.getInfo.path,
        S.getInfo.requestSerialize,
        S.getInfo.responseDeserialize,
        {},
        new grpc.Metadata(),
        { deadline: Date.now() + ms },
        (err, r?: pb.GetInfoResponse) =>
          err || !r?.stats ? reject(err ?? new Error('GetInfo without stats')) : resolve(r.stats),
      );
    });
  }

  get sock(): string {
    return this.d.sock;
  }

  /** The daemon process lives and answers GetInfo within `ms`. */
  async check(ms = 2000): Promise<void> {
    if (!this.d.running) throw new Error(`the daemon died: ${this.d.daemon.stderr.slice(-500)}`);
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      this.client.makeUnaryRequest(
        S.getInfo.path,
        S.getInfo.requestSerialize,
        S.getInfo.responseDeserialize,
        {},
        new grpc.Metadata(),
        { deadline: Date.now() + ms },
        (err) => (err ? reject(new Error(`GetInfo: ${err.message}`)) : resolve()),
      );
    });
    this.infoChecks++;
    this.slowestInfoMs = Math.max(this.slowestInfoMs, performance.now() - t0);
  }

  async close(): Promise<void> {
    this.client.close();
    await this.d.cleanup();
  }
}

// ---- gRPC requests with random fields -------------------------------------------------------------------

const GADGETS = [
  'trace_exec',
  'trace_open',
  'advise_network_policy',
  'trace exec',
  'traceloop',
  'trace-open',
  ' trace_exec ',
];
const PARAMS = ['ignore-failed', 'failed', 'prefix', 'full-path', 'report-interval', 'dns'];
const KERNEL_FILTERS = ['pid:1', 'comm:!sh', 'uid:>=1000', 'pid:~1', 'args:x', 'comm:', 'tid:<0'];
const VALUES = ['true', 'false', '0', '-1', '1000', '["/etc"]', '[1]', '[', '99999999999999999999'];

const filter: fc.Arbitrary<pb.ContainerFilter> = fc.record({
  containerNames: fc.array(anyString(['c1']), { maxLength: 3 }),
  containerIds: fc.array(anyString(['abc']), { maxLength: 3 }),
  host: fc.boolean(),
  namespaces: fc.array(anyString(['default']), { maxLength: 3 }),
  pods: fc.array(anyString(['p']), { maxLength: 3 }),
  labelSelector: fc.oneof(
    tokens(['app', 'web', 'in', 'x/y', ''], ['=', '!=', ',', ' in (', ')', '!', '>', ' ']),
    anyString(['app=web', 'app in (a,b)', '!app', 'a>1']),
  ),
  podsOnly: fc.boolean(),
});

/** A syscall name no table knows: a TraceloopStart with it is refused before anything loads. */
const unknownSyscall = fc
  .tuple(fc.constantFrom('zz', 'opne', 'read_', 'exit_grup'), nastyString(8))
  .map(([a, b]) => a + b.replace(/,/g, ''))
  .filter(
    (s) => s.trim() !== '' && s.split(',').some((x) => x.trim() !== '' && !syscallByName(x.trim())),
  );

type Call =
  | { m: 'runGadget'; req: pb.RunRequest }
  | { m: 'traceloopShow'; req: pb.TraceloopShowRequest }
  | { m: 'traceloopStart'; req: pb.TraceloopStartRequest }
  | { m: 'traceloopStop' | 'traceloopList'; req: { sessionId: string } }
  | { m: 'traceloopDelete'; req: pb.TraceloopDeleteRequest };

const callArb: fc.Arbitrary<Call> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      m: fc.constant('runGadget' as const),
      req: fc.record({
        gadget: anyString(GADGETS),
        params: fc.dictionary(anyString(PARAMS, 20), anyString(VALUES, 30), { maxKeys: 4 }),
        filter: fc.option(filter, { freq: 3 }),
        timeoutSeconds: fc.oneof(fc.constantFrom(0, 1, 2147483, 2147484, 0xffffffff), fc.nat()),
        kernelFilters: fc.array(anyString(KERNEL_FILTERS, 30), { maxLength: 3 }),
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      m: fc.constant('traceloopShow' as const),
      req: fc.record({
        sessionId: anyString(['']),
        container: anyString(['', 'c1', 'ns/pod/c']),
        instance: fc.oneof(
          fc.constantFrom('0', '1', '18446744073709551615'),
          fc.bigInt(0n, 2n ** 64n - 1n).map(String),
        ),
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      m: fc.constant('traceloopStart' as const),
      req: fc.record({
        filter: fc.option(filter, { freq: 3 }),
        bufferKib: fc.oneof(fc.constant(0), fc.nat()),
        syscalls: fc.array(unknownSyscall, { minLength: 1, maxLength: 3 }),
        maxMemoryMib: fc.oneof(fc.constant(0), fc.nat()),
        syscallsPerContainer: fc.oneof(fc.constant(0), fc.nat()),
        durations: fc.boolean(),
      }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      m: fc.constantFrom('traceloopStop' as const, 'traceloopList' as const),
      req: fc.record({ sessionId: anyString(['', 'x']) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      m: fc.constant('traceloopDelete' as const),
      req: fc.record({
        sessionId: anyString(['x']).filter((s) => s !== ''),
        container: anyString(['c1']),
      }),
    }),
  },
);

/** A call's outcome: undefined (answered, or a run started and was cancelled) or `CODE: details`. */
function doCall(client: grpc.Client, c: Call, ms: number): Promise<string | undefined> {
  const def = S[c.m] as grpc.MethodDefinition<object, pb.RunResponse>;
  const opts = { deadline: Date.now() + ms };
  const outcome = (err: grpc.ServiceError): string | undefined => {
    if (err.code === grpc.status.CANCELLED) return undefined;
    if (!USER_CODES.has(err.code))
      throw new Error(`${c.m} answered ${grpc.status[err.code]}: ${err.details}`);
    const hint = err.metadata?.get(HINT_TRAILER)[0];
    const h = hint === undefined ? '' : ` (hint: ${hint.toString()})`;
    return `${grpc.status[err.code]}: ${err.details}${h}`;
  };
  if (def.responseStream) {
    return new Promise((resolve, reject) => {
      const call = client.makeServerStreamRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        c.req,
        new grpc.Metadata(),
        opts,
      );
      let started = false;
      call.on('data', () => {
        // a run that started: it is not ours to keep
        if (!started) {
          started = true;
          call.cancel();
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        try {
          resolve(outcome(err));
        } catch (e) {
          reject(e as Error);
        }
      });
      call.on('end', () => resolve(undefined));
    });
  }
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      c.req,
      new grpc.Metadata(),
      opts,
      (err) => {
        if (!err) return resolve(undefined);
        try {
          resolve(outcome(err));
        } catch (e) {
          reject(e as Error);
        }
      },
    );
  });
}

export function grpcRequestTarget(d: FuzzDaemon): Target<Call> {
  return {
    name: 'grpc-requests',
    what: 'RunGadget and Traceloop* with random fields to a real daemon over gRPC (convert.ts, resolveParams, label selectors)',
    arbitrary: callArb,
    // an unknown syscall with a newline was quoted as it came (gadgets/traceloop/table.ts)
    examples: [
      {
        m: 'traceloopStart',
        req: {
          bufferKib: 0,
          syscalls: ['zz\n-'],
          maxMemoryMib: 0,
          syscallsPerContainer: 0,
        } as pb.TraceloopStartRequest,
      },
    ],
    hangMs: 15_000,
    run: (c) => doCall(d.client, c, 14_000),
    check: () => d.check(),
    checkEvery: 25,
  };
}

// ---- malformed gRPC messages from a raw HTTP/2 client ---------------------------------------------------

const PATHS = Object.values(S).map((m) => m.path);

interface RawCall {
  path: string;
  headers: Record<string, string>;
  body: Buffer[];
}

const prefix = (flag: number, len: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = flag;
  b.writeUInt32BE(len >>> 0, 1);
  return b;
};

const framing = fc.oneof(
  // valid framing, garbage payload
  bytes(256).map((p) => [prefix(0, p.length), Buffer.from(p)]),
  // the length says more than is sent
  fc
    .tuple(bytes(64), fc.integer({ min: 1, max: 1 << 20 }))
    .map(([p, k]) => [prefix(0, p.length + k), Buffer.from(p)]),
  // the length says less than is sent (the rest is a cut second message)
  fc
    .tuple(bytes(64), fc.integer({ min: 1, max: 8 }))
    .map(([p, k]) => [prefix(0, Math.max(0, p.length - k)), Buffer.from(p)]),
  // compressed flag set: garbage, or a real gzip stream of garbage
  fc.tuple(bytes(64), fc.boolean(), fc.nat(255)).map(([p, gz, f]) => {
    const body = gz ? gzipSync(p) : Buffer.from(p);
    return [prefix(f === 0 ? 1 : f, body.length), body];
  }),
  // oversized: a length past every limit, or a real 5 MiB message
  fc
    .constantFrom(0xffffffff, 0x7fffffff, 4 * 1024 * 1024 + 1)
    .map((n) => [prefix(0, n), Buffer.alloc(16)]),
  fc.constant(null).map(() => [prefix(0, 5 << 20), Buffer.alloc(5 << 20, 0x0a)]),
  // a cut prefix, no body, two messages on a unary call
  fc.nat(4).map((n) => [prefix(0, 3).subarray(0, n)]),
  fc.constant([] as Buffer[]),
  fc
    .tuple(bytes(16), bytes(16))
    .map(([a, b]) => [prefix(0, a.length), Buffer.from(a), prefix(0, b.length), Buffer.from(b)]),
);

const rawCall: fc.Arbitrary<RawCall> = fc.record({
  path: fc.oneof(
    { arbitrary: fc.constantFrom(...PATHS), weight: 8 },
    {
      arbitrary: fc.constantFrom(
        '/gadget.v1.GadgetService/Nope',
        '/',
        '/x/y',
        '/gadget.v1.GadgetService/',
      ),
      weight: 1,
    },
  ),
  headers: fc.record(
    {
      'content-type': fc.constantFrom(
        'application/grpc',
        'application/grpc+proto',
        'application/json',
        'text/plain',
        '',
      ),
      'grpc-encoding': fc.constantFrom('identity', 'gzip', 'deflate', 'zstd', 'x'),
      'grpc-timeout': fc.constantFrom('1S', '100m', '99999999H', '1x', '', '-1S'),
      te: fc.constant('trailers'),
      'x-junk': fc.oneof(
        nastyString(20).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
        fc.constant('v'.repeat(8000)),
      ),
    },
    { requiredKeys: [] },
  ),
  body: framing,
});

/** One raw HTTP/2 request; its outcome as a grpc status, or how the stream ended without one. */
function rawRequest(
  session: http2.ClientHttp2Session,
  c: RawCall,
  ms: number,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': c.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...c.headers,
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request(headers);
    } catch (e) {
      return reject(e as Error);
    }
    let status: string | undefined;
    let message = '';
    let http = 0;
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h[':status'] !== undefined) http = Number(h[':status']);
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    const timer = setTimeout(() => {
      // a started run streams until cancelled: answered, and not ours to keep
      if (http === 200 && status === undefined && gotData) {
        req.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no status in ${ms} ms (HTTP ${http || 'none'})`));
    }, ms);
    let gotData = false;
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => (gotData = true));
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      if (status === undefined) {
        if (http && http !== 200) return resolve(`HTTP ${http}`);
        if (gotData) return resolve(undefined);
        return resolve(
          `stream closed without a status (HTTP ${http || 'none'}, RST code ${req.rstCode})`,
        );
      }
      resolve(status === '0' ? undefined : `${grpc.status[Number(status)] ?? status}: ${message}`);
    });
    for (const b of c.body) req.write(b);
    req.end();
  });
}

export function rawH2Target(d: FuzzDaemon): Target<RawCall> {
  let session: http2.ClientHttp2Session | undefined;
  const open = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    // the client's own session memory (10 MB by default) holds the 5 MiB bodies until sent:
    // past it node refuses new streams itself (ENHANCE_YOUR_CALM) before the daemon sees them
    const s = http2.connect('http://localhost', {
      createConnection: () => connect(d.sock),
      maxSessionMemory: 256,
    });
    s.on('error', () => {});
    s.on('goaway', () => {
      if (session === s) session = undefined;
    });
    session = s;
    return s;
  };
  return {
    name: 'grpc-raw-h2',
    codeOf: (m) => (m.startsWith('HTTP ') ? m : 'stream reset'),
    what: 'malformed gRPC messages from a raw node:http2 client: garbage payloads, bad length prefixes, compressed flag, oversized lengths',
    arbitrary: rawCall,
    hangMs: 10_000,
    run: async (c) => {
      const r = await rawRequest(open(), c, 8000);
      // a session whose streams the client refused is not used again
      if (r?.includes('RST code 11')) {
        session?.destroy();
        session = undefined;
      }
      return r;
    },
    check: async () => {
      session?.close();
      session = undefined;
      await d.check();
    },
    checkEvery: 25,
  };
}

// ---- garbage on the socket ----------------------------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function socketGarbageTarget(d: FuzzDaemon): Target<[boolean, Uint8Array]> {
  let baseFds = 0;
  /** The daemon's fds back to what it had before the target (within 15 s). */
  const noLeak = async (): Promise<void> => {
    const t0 = Date.now();
    for (;;) {
      const n = held(d).fds;
      if (n <= baseFds) return;
      if (Date.now() - t0 > 15_000)
        throw new Error(`15 s after the garbage the daemon holds ${n} fds (${baseFds} before)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return {
    name: 'socket-garbage',
    what: 'random bytes on the daemon socket, with or without the HTTP/2 preface, then EOF',
    arbitrary: fc.tuple(fc.boolean(), bytes(512)),
    hangMs: 5000,
    setup: async () => {
      await d.check();
      baseFds = held(d).fds;
    },
    // the daemon closes at once, or (a frame cut short, a preface cut short) after 10 s: our end
    // is closed after 300 ms, and the checks wait for the daemon's fds to come back down
    run: ([preface, b]) =>
      new Promise<undefined>((resolve) => {
        const s: Socket = connect(d.sock);
        const done = (): void => {
          clearTimeout(t);
          s.destroy();
          resolve(undefined);
        };
        const t = setTimeout(done, 300);
        s.on('error', done);
        s.on('close', done);
        s.resume();
        s.on('connect', () => s.end(preface ? Buffer.concat([PREFACE, b]) : b));
      }),
    check: async () => {
      await d.check();
      await noLeak();
    },
    checkEvery: 1000,
  };
}

// ---- bursts: concurrent streams and rapid resets -------------------------------------------------

/** What one stream of a burst does. */
type Act =
  /** keeps its run until the burst is over (the cap must refuse the ones past MAX_RUNS) */
  | 'hold'
  /** cancels as soon as the header comes */
  | 'cancel-after-header'
  /** cancels right after sending */
  | 'cancel-now'
  /** a deadline of a few ms */
  | 'deadline'
  /** raw HTTP/2: HEADERS, DATA (a valid RunRequest), RST_STREAM, sent together */
  | 'reset';

interface Burst {
  gadget: 'trace_exec' | 'trace_open';
  streams: number;
  acts: Act[];
  deadlineMs: number;
}

const burstArb: fc.Arbitrary<Burst> = fc.record({
  gadget: fc.constantFrom('trace_exec' as const, 'trace_open' as const),
  streams: fc.oneof(
    fc.integer({ min: 1, max: 2 * MAX_RUNS }),
    fc.constant(500),
    fc.integer({ min: 2 * MAX_RUNS, max: 500 }),
  ),
  acts: fc.array(
    fc.constantFrom<Act>('hold', 'cancel-after-header', 'cancel-now', 'deadline', 'reset'),
    { minLength: 1, maxLength: 6 },
  ),
  deadlineMs: fc.integer({ min: 1, max: 50 }),
});

interface BurstStream {
  act: Act;
  header: boolean;
  code?: grpc.status;
  details?: string;
  cancel?: () => void;
}

/** The daemon's BPF objects and open fds. */
function held(d: FuzzDaemon): { ids: BpfIds; fds: number } {
  const pid = d.d.daemon.pid;
  return { ids: heldClosure(pid), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * One burst of concurrent RunGadget streams (on a connection of their own) and rapid resets (on
 * a raw HTTP/2 session), then every run cancelled. Outcome: undefined, or the refusals as
 * "RESOURCE_EXHAUSTED: <details> (xN)". A crash: a status other than OK, CANCELLED,
 * DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED; more runs than the cap; a hold neither streaming nor
 * refused; or, once all is cancelled, a run still active or a BPF object or fd more than before.
 */
async function burst(d: FuzzDaemon, b: Burst, base: { ids: BpfIds; fds: number }) {
  const client = new grpc.Client(`unix://${d.sock}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  const session = http2.connect('http://localhost', { createConnection: () => connect(d.sock) });
  session.on('error', () => {});
  const req: pb.RunRequest = {
    gadget: b.gadget,
    params: {},
    filter: {
      containerNames: [],
      containerIds: [],
      host: true,
      namespaces: [],
      pods: [],
      labelSelector: '',
      podsOnly: false,
    },
    timeoutSeconds: 0,
    kernelFilters: [],
  };
  const body = S.runGadget.requestSerialize(req);
  const framed = Buffer.concat([prefix(0, body.length), body]);
  const streams: BurstStream[] = [];
  const settled: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < b.streams; i++) {
      const s: BurstStream = { act: b.acts[i % b.acts.length]!, header: false };
      streams.push(s);
      if (s.act === 'reset') {
        const r = session.request({
          ':method': 'POST',
          ':path': S.runGadget.path,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        r.on('error', () => {});
        r.write(framed);
        r.close(http2.constants.NGHTTP2_CANCEL);
        s.code = grpc.status.CANCELLED;
        continue;
      }
      const call = client.makeServerStreamRequest(
        S.runGadget.path,
        S.runGadget.requestSerialize,
        S.runGadget.responseDeserialize,
        req,
        new grpc.Metadata(),
        s.act === 'deadline' ? { deadline: Date.now() + b.deadlineMs } : {},
      );
      s.cancel = () => call.cancel();
      settled.push(
        new Promise<void>((resolve) => {
          call.on('data', (m: pb.RunResponse) => {
            if (!m.header || s.header) return;
            s.header = true;
            if (s.act === 'cancel-after-header') call.cancel();
            else resolve();
          });
          call.on('error', () => {});
          call.on('status', (st: grpc.StatusObject) => {
            s.code = st.code;
            s.details = st.details;
            resolve();
          });
        }),
      );
      if (s.act === 'cancel-now') call.cancel();
    }
    // every stream has its header or its status (the hang bound cuts this off)
    await Promise.all(settled);
    const active = streams.filter((s) => s.header && s.code === undefined).length;
    if (active > MAX_RUNS) throw new Error(`${active} runs streaming at once (cap ${MAX_RUNS})`);
    for (const s of streams) {
      if (
        s.code !== undefined &&
        ![
          grpc.status.OK,
          grpc.status.CANCELLED,
          grpc.status.DEADLINE_EXCEEDED,
          grpc.status.RESOURCE_EXHAUSTED,
        ].includes(s.code)
      )
        throw new Error(`a ${s.act} stream ended ${grpc.status[s.code]}: ${s.details}`);
      if (s.act === 'hold' && !s.header && s.code !== grpc.status.RESOURCE_EXHAUSTED)
        throw new Error(`a hold stream ended ${grpc.status[s.code!]} without a run: ${s.details}`);
    }
    const holds = streams.filter((s) => s.act === 'hold');
    const refused = holds.filter((s) => s.code === grpc.status.RESOURCE_EXHAUSTED).length;
    if (holds.length > MAX_RUNS && refused < holds.length - MAX_RUNS)
      throw new Error(`${holds.length} holds, only ${refused} refused (cap ${MAX_RUNS})`);
  } finally {
    for (const s of streams) s.cancel?.();
    client.close();
    session.destroy();
  }
  // nothing leaks: no run, no BPF object and no fd more than before the burst
  const t0 = Date.now();
  for (;;) {
    const st = await d.stats();
    const h = held(d);
    const more = minus(h.ids, base.ids);
    if (Number(st.runsActive) === 0 && count(more) === 0 && h.fds <= base.fds) break;
    if (Date.now() - t0 > 15_000)
      throw new Error(
        `15 s after the burst: ${st.runsActive} runs active, +[${fmt(more)}], ${h.fds} fds (${base.fds} before)`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
  const refusals = streams.filter((s) => s.code === grpc.status.RESOURCE_EXHAUSTED);
  if (refusals.length === 0) return undefined;
  const details = new Set(refusals.map((s) => s.details));
  if (details.size !== 1) throw new Error(`refusals differ: ${[...details].join(' / ')}`);
  return `RESOURCE_EXHAUSTED: ${refusals[0]!.details} (x${refusals.length})`;
}

export function burstTarget(d: FuzzDaemon): Target<Burst> {
  let base: { ids: BpfIds; fds: number } | undefined;
  return {
    name: 'grpc-bursts',
    what: `up to 500 concurrent RunGadget streams (hold, cancel, deadline) and rapid resets (HEADERS, DATA, RST_STREAM) against --max-runs ${MAX_RUNS}; after each burst no run, BPF object or fd is left`,
    arbitrary: burstArb,
    hangMs: 60_000,
    setup: async () => {
      // the daemon idle, its check connection open: what every burst must come back to
      await d.check();
      const t0 = Date.now();
      while (Number((await d.stats()).runsActive) !== 0 && Date.now() - t0 < 15_000)
        await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500));
      base = held(d);
    },
    run: (b) => burst(d, b, base!),
    check: () => d.check(),
    checkEvery: 1,
  };
}

export function daemonTargets(d: FuzzDaemon): Array<Target<unknown>> {
  return [grpcRequestTarget(d), rawH2Target(d), socketGarbageTarget(d), burstTarget(d)] as Array<
    Target<unknown>
  >;
}
