// The Traceloop RPCs of gadget.v1.GadgetService over a runtime's traceloop recorder (the
// conversions both sides use are in proto/ts/traceloop.ts).
//
// Kubernetes mode: start is authorized like a run with the session's filter; list and show only
// reveal containers the caller may see; stop and delete need the rights of a node-wide run.

import * as grpc from '@grpc/grpc-js';
import type * as pb from '../../../proto/gen/gadget/v1/gadget.js';
import { clip, RunError } from '../../../gadgets/framework/errors.js';
import type { Authorizer } from '../k8s/authz.js';
import type {
  ContainerFilter,
  GadgetRuntime,
  RunRequest,
  TraceloopApi,
} from '../../../gadgets/framework/runtime.js';
import type { TraceloopEntry } from '../../../gadgets/framework/traceloop.js';
import { runMessageToPb } from '../../../proto/ts/convert.js';
import { entryToPb, sessionToPb, startOptionsFromPb } from '../../../proto/ts/traceloop.js';
import { emptyFilter } from '../../../gadgets/framework/filter.js';

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

const ALL: ContainerFilter = emptyFilter();

function asRun(filter: ContainerFilter): RunRequest {
  return { gadget: 'traceloop', params: {}, filter, timeoutSeconds: 0 };
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
