// The Traceloop RPCs of gadget.v1.GadgetService over a runtime's traceloop recorder, and the
// conversions both sides (this server, the CLI's RemoteRuntime) use.
//
// Kubernetes mode: start is authorized like a run with the session's filter; list and show only
// reveal containers the caller may see; stop and delete need the rights of a node-wide run.

import * as grpc from '@grpc/grpc-js';
import type * as pb from '../../../proto/gen/gadget/v1/gadget.js';
import { clip, RunError } from '../errors.js';
import type { Authorizer } from '../k8s/authz.js';
import type { ContainerFilter, GadgetRuntime, RunRequest } from '../runtime/types.js';
import type {
  TraceloopApi,
  TraceloopEntry,
  TraceloopSession,
  TraceloopStartOptions,
  TraceloopStatus,
} from '../traceloop/types.js';
import {
  containerFromPb,
  containerToPb,
  filterFromPb,
  filterToPb,
  runMessageToPb,
  u64ToNumber,
} from './convert.js';

type Handlers = Pick<
  pb.GadgetServiceHandlers,
  'traceloopStart' | 'traceloopStop' | 'traceloopList' | 'traceloopShow' | 'traceloopDelete'
>;

interface Md {
  get(key: string): string | undefined;
}

function md(m: grpc.Metadata): Md {
  return {
    get: (key) => {
      const v = m.get(key)[0];
      return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
    },
  };
}

const ALL: ContainerFilter = {
  containerNames: [],
  containerIds: [],
  host: false,
  namespaces: [],
  pods: [],
  labelSelector: '',
  podsOnly: false,
};

function asRun(filter: ContainerFilter): RunRequest {
  return { gadget: 'traceloop', params: {}, filter, timeoutSeconds: 0 };
}

export function startOptionsFromPb(r: pb.TraceloopStartRequest): TraceloopStartOptions {
  const perContainer =
    r.syscallsPerContainer ||
    (r.bufferKib ? Math.max(1, Math.floor((r.bufferKib * 1024) / 392)) : 0);
  return {
    filter: filterFromPb(r.filter),
    syscalls: r.syscalls,
    ...(perContainer ? { syscallsPerContainer: perContainer } : {}),
    ...(r.maxMemoryMib ? { maxMemoryMib: r.maxMemoryMib } : {}),
  };
}

export function startOptionsToPb(o: TraceloopStartOptions): pb.TraceloopStartRequest {
  return {
    filter: filterToPb(o.filter),
    bufferKib: 0,
    syscalls: o.syscalls,
    maxMemoryMib: o.maxMemoryMib ?? 0,
    syscallsPerContainer: o.syscallsPerContainer ?? 0,
  };
}

export function sessionToPb(s: TraceloopSession): pb.TraceloopStartResponse {
  return {
    sessionId: s.sessionId,
    node: s.node,
    syscallsPerContainer: s.syscallsPerContainer,
    buffers: s.buffers,
    memoryBytes: String(s.memoryBytes),
    resumed: s.resumed ?? false,
    filter: s.filter ? filterToPb(s.filter) : null,
    syscalls: s.syscalls ?? [],
    maxMemoryMib: s.maxMemoryMib ?? 0,
    startedAtMs: String(s.startedAt),
  };
}

export function sessionFromPb(r: pb.TraceloopStartResponse, node: string): TraceloopSession {
  return {
    sessionId: r.sessionId,
    node: r.node || node,
    state: 'recording',
    syscallsPerContainer: r.syscallsPerContainer,
    buffers: r.buffers,
    memoryBytes: u64ToNumber(r.memoryBytes, 'memory bytes'),
    // an older daemon does not say
    startedAt: u64ToNumber(r.startedAtMs || '0', 'start time') || Date.now(),
    ...(r.resumed ? { resumed: true } : {}),
    ...(r.filter ? { filter: filterFromPb(r.filter) } : {}),
    syscalls: r.syscalls,
    ...(r.maxMemoryMib ? { maxMemoryMib: r.maxMemoryMib } : {}),
  };
}

export function entryToPb(e: TraceloopEntry): pb.TraceloopEntry {
  return {
    sessionId: e.sessionId,
    container: containerToPb(e.container),
    status: e.status,
    records: String(e.records),
    lost: String(e.lost),
    instance: String(e.instance),
    exitStatus: e.exitStatus ?? 0,
    hasExitStatus: e.exitStatus !== undefined,
  };
}

export function entryFromPb(e: pb.TraceloopEntry): TraceloopEntry {
  const container = containerFromPb(e.container!);
  return {
    sessionId: e.sessionId,
    container,
    status: e.status as TraceloopStatus,
    records: u64ToNumber(e.records, 'records'),
    lost: u64ToNumber(e.lost, 'lost'),
    instance: u64ToNumber(e.instance, 'instance') || container.generation,
    ...(e.hasExitStatus ? { exitStatus: e.exitStatus } : {}),
  };
}

/** TraceloopShowRequest.instance: a uint64 on the wire, a safe integer here. */
function instanceFromPb(s: string): number {
  const n = Number(s || '0');
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RunError(
      'INVALID_ARGUMENT',
      `invalid instance ${clip(s)}: at most ${Number.MAX_SAFE_INTEGER} (see traceloop list)`,
    );
  }
  return n;
}

function recorder(runtime: GadgetRuntime): TraceloopApi {
  if (!runtime.traceloop) {
    throw new RunError('FAILED_PRECONDITION', 'this daemon has no traceloop recorder');
  }
  return runtime.traceloop();
}

export function traceloopHandlers(
  runtime: GadgetRuntime,
  authorizer: Authorizer | undefined,
  toStatus: (e: unknown) => Partial<grpc.StatusObject> & { code: grpc.status },
): Handlers {
  const unary =
    <Req, Res>(fn: (req: Req, m: Md) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      fn(call.request, md(call.metadata)).then(
        (res) => callback(null, res),
        (e: unknown) => callback(toStatus(e)),
      );
    };
  const visible = async (m: Md, entries: TraceloopEntry[]): Promise<TraceloopEntry[]> => {
    if (!authorizer) return entries;
    const ok = new Set(
      (
        await authorizer.visibleContainers(
          m,
          entries.map((e) => e.container),
        )
      ).map((c) => c),
    );
    return entries.filter((e) => ok.has(e.container));
  };
  return {
    traceloopStart: unary(async (req: pb.TraceloopStartRequest, m) => {
      const o = startOptionsFromPb(req);
      await authorizer?.authorizeRun(m, asRun(o.filter));
      return sessionToPb(await recorder(runtime).start(o));
    }),
    traceloopStop: unary(async (req: pb.TraceloopStopRequest, m) => {
      await authorizer?.authorizeRun(m, asRun(ALL));
      await recorder(runtime).stop(req.sessionId);
      return {};
    }),
    traceloopList: unary(async (req: pb.TraceloopListRequest, m) => {
      const entries = await visible(m, await recorder(runtime).list(req.sessionId));
      return { entries: entries.map(entryToPb) };
    }),
    traceloopDelete: unary(async (req: pb.TraceloopDeleteRequest, m) => {
      await authorizer?.authorizeRun(m, asRun(ALL));
      return { deleted: await recorder(runtime).delete(req.sessionId, req.container) };
    }),
    traceloopShow: (call) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      void (async () => {
        const req = call.request;
        const rec = recorder(runtime);
        const m = md(call.metadata);
        const show = {
          sessionId: req.sessionId,
          container: req.container,
          instance: instanceFromPb(req.instance),
        };
        if (authorizer) {
          // only a container the caller may see can be shown
          const entries = await visible(m, await rec.list(req.sessionId));
          const { matchesSpec, noRecordingError } = await import('../traceloop/recorder.js');
          const spec = req.container.trim();
          if (!entries.some((e) => matchesSpec(spec, e.container))) {
            throw noRecordingError(
              spec,
              entries.map((e) => e.container),
            );
          }
        }
        for await (const msg of rec.show(show, ac.signal)) {
          if (ac.signal.aborted) return;
          if (!call.write(runMessageToPb(msg))) {
            await new Promise<void>((resolve) => call.once('drain', resolve));
          }
        }
      })().then(
        () => call.end(),
        (e: unknown) => call.emit('error', toStatus(e)),
      );
    },
  };
}
