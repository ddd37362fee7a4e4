// Mapping between the runtime's objects (gadgets/framework/runtime.ts) and the gadget.v1 wire
// messages (proto/gen/gadget/v1/gadget.ts). Used by the server and by the CLI's RemoteRuntime,
// so both ends agree on every conversion.
//
// 64-bit integers arrive as decimal strings. Ids, counters and unix-ms times become numbers and
// are checked to fit in 53 bits; boot_to_wall_ns stays a bigint.

import type * as pb from '../gen/gadget/v1/gadget.js';
import { clipLine } from '../../gadgets/framework/clip.js';
import type {
  ColumnSpec,
  FieldKind,
  FieldLayout,
  GadgetDescriptor,
  ParamSpec,
  ParamType,
  RecordLayout,
} from '../../gadgets/framework/types.js';
import type { ContainerInfo, K8sIdentity } from '../../gadgets/framework/containers.js';
import type {
  ContainerFilter,
  GadgetInfo,
  NodeInfo,
  RunMessage,
  RunRequest,
} from '../../gadgets/framework/runtime.js';

/** Trailer carrying RunError.hint (binary so any UTF-8 survives). */
export const HINT_TRAILER = 'gadget-hint-bin';

/** Status message of calls a daemon ends because it stops (a run it ended did not complete). */
export const SHUTTING_DOWN = 'the daemon is shutting down';

/** Bumped when fields are added to gadget.v1 (GetInfoResponse.api_revision). */
export const API_REVISION = 2;

/** A decoding problem: the peer speaks something this side does not understand. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// ---- 64-bit helpers ---------------------------------------------------------------------------

export function u64ToNumber(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ProtocolError(`${what} ${s} does not fit in a JS number`);
  }
  return n;
}

export function i64ToNumber(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new ProtocolError(`${what} ${s} does not fit in a JS number`);
  return n;
}

export function numberToU64(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
  }
  return String(n);
}

export function numberToI64(n: number, what: string): string {
  if (!Number.isFinite(n)) throw new RangeError(`${what} must be finite, got ${n}`);
  return String(Math.trunc(n));
}

// ---- containers -------------------------------------------------------------------------------

const RUNTIMES: ReadonlySet<ContainerInfo['runtime']> = new Set([
  'podman',
  'containerd',
  'cri-o',
  'docker',
  'unknown',
]);

export function containerToPb(c: ContainerInfo): pb.Container {
  return {
    runtime: c.runtime,
    id: c.id,
    name: c.name,
    pid: c.pid,
    mntnsId: numberToU64(c.mntnsId, 'mntns id'),
    mntnsUid: numberToU64(c.mntnsUid ?? 0, 'mntns uid'),
    generation: numberToU64(c.generation, 'generation'),
    state: c.state === 'running' ? 'CONTAINER_STATE_RUNNING' : 'CONTAINER_STATE_EXITED',
    startedAtMs: numberToI64(c.startedAt, 'startedAt'),
    exitedAtMs: c.exitedAt === undefined ? '0' : numberToI64(c.exitedAt, 'exitedAt'),
    image: c.image,
    annotations: { ...c.annotations },
    k8s: c.k8s ? k8sToPb(c.k8s) : null,
  };
}

function k8sToPb(k: K8sIdentity): pb.K8sIdentity {
  return {
    namespace: k.namespace,
    pod: k.pod,
    container: k.container,
    podUid: k.podUid,
    labels: { ...k.labels },
    ownerKind: k.ownerKind,
    ownerName: k.ownerName,
    podIp: k.podIp,
    hostNetwork: k.hostNetwork,
  };
}

export function containerFromPb(c: pb.Container): ContainerInfo {
  const runtime = RUNTIMES.has(c.runtime as ContainerInfo['runtime'])
    ? (c.runtime as ContainerInfo['runtime'])
    : 'unknown';
  const out: ContainerInfo = {
    runtime,
    id: c.id,
    name: c.name,
    pid: c.pid,
    mntnsId: u64ToNumber(c.mntnsId, 'mntns id'),
    generation: u64ToNumber(c.generation, 'generation'),
    state: c.state === 'CONTAINER_STATE_EXITED' ? 'exited' : 'running',
    startedAt: i64ToNumber(c.startedAtMs, 'started_at_ms'),
    image: c.image,
    annotations: { ...c.annotations },
  };
  if (c.mntnsUid !== '0') out.mntnsUid = u64ToNumber(c.mntnsUid, 'mntns uid');
  if (c.exitedAtMs !== '0') out.exitedAt = i64ToNumber(c.exitedAtMs, 'exited_at_ms');
  if (c.k8s) {
    out.k8s = {
      namespace: c.k8s.namespace,
      pod: c.k8s.pod,
      container: c.k8s.container,
      podUid: c.k8s.podUid,
      labels: { ...c.k8s.labels },
      ownerKind: c.k8s.ownerKind,
      ownerName: c.k8s.ownerName,
      podIp: c.k8s.podIp,
      hostNetwork: c.k8s.hostNetwork,
    };
  }
  return out;
}

// ---- run request ------------------------------------------------------------------------------

export function runRequestToPb(r: RunRequest): pb.RunRequest {
  return {
    gadget: r.gadget,
    params: { ...r.params },
    filter: filterToPb(r.filter),
    timeoutSeconds: r.timeoutSeconds,
    kernelFilters: [...(r.kernelFilters ?? [])],
  };
}

export function filterToPb(f: ContainerFilter): pb.ContainerFilter {
  return {
    containerNames: [...f.containerNames],
    containerIds: [...f.containerIds],
    host: f.host,
    namespaces: [...f.namespaces],
    pods: [...f.pods],
    labelSelector: f.labelSelector,
    podsOnly: f.podsOnly,
  };
}

export function runRequestFromPb(r: pb.RunRequest): RunRequest {
  return {
    gadget: r.gadget,
    params: { ...r.params },
    filter: filterFromPb(r.filter),
    timeoutSeconds: r.timeoutSeconds,
    ...(r.kernelFilters.length > 0 ? { kernelFilters: [...r.kernelFilters] } : {}),
  };
}

export function filterFromPb(f: pb.ContainerFilter | null): ContainerFilter {
  return {
    containerNames: f ? [...f.containerNames] : [],
    containerIds: f ? [...f.containerIds] : [],
    host: f?.host ?? false,
    namespaces: f ? [...f.namespaces] : [],
    pods: f ? [...f.pods] : [],
    labelSelector: f?.labelSelector ?? '',
    podsOnly: f?.podsOnly ?? false,
  };
}

// ---- layout -----------------------------------------------------------------------------------

/** The field kinds a layout from the wire may name (the fuzzer draws from them too). */
export const FIELD_KINDS: ReadonlySet<string> = new Set<FieldKind>([
  'u8',
  's8',
  'u16',
  's16',
  'u32',
  's32',
  'u64',
  's64',
  'bool',
  'cstring',
  'bytes',
  'array',
]);

function fieldKind(s: string, where: string): FieldKind {
  if (!FIELD_KINDS.has(s)) {
    throw new ProtocolError(
      `the daemon sent field kind "${clipLine(s, 40)}" for ${where}, which this CLI does not know (version mismatch? upgrade kubectl-gadget)`,
    );
  }
  return s as FieldKind;
}

/** Bytes of the integer kinds; a field of one of them has exactly that size. */
const KIND_BYTES: Partial<Record<FieldKind, number>> = {
  u8: 1,
  s8: 1,
  bool: 1,
  u16: 2,
  s16: 2,
  u32: 4,
  s32: 4,
  u64: 8,
  s64: 8,
};

/** The largest record a layout may describe, and the most elements of an array field. */
const MAX_LAYOUT_BYTES = 1 << 20;
const MAX_ARRAY_COUNT = 4096;
/** Field names are C identifiers: they become property names of decoded records. */
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * A layout the decoder generator can use safely: the CLI generates code from it (decode.ts,
 * fast-json.ts) and reads records at its offsets, so a daemon's layout must not make it read
 * past a record's fixed part, allocate per a huge count, or name a field `__proto__` (found by
 * fuzzing, e2e/fuzz/records.ts).
 */
function checkField(f: FieldLayout, struct: string): void {
  const bad = (why: string): ProtocolError =>
    new ProtocolError(
      `the daemon sent a record layout this CLI cannot read (${struct}.${clipLine(f.name, 40)}: ${why}; version mismatch? use matching versions)`,
    );
  if (!FIELD_NAME.test(f.name) || f.name === '__proto__') throw bad('not a field name');
  if (f.offset + f.size > MAX_LAYOUT_BYTES) throw bad(`ends past ${MAX_LAYOUT_BYTES} bytes`);
  const width = KIND_BYTES[f.kind];
  if (width !== undefined && f.size !== width) throw bad(`${f.kind} of ${f.size} bytes`);
  if (f.kind === 'array') {
    const ew = f.elem === undefined ? undefined : KIND_BYTES[f.elem];
    const n = f.count ?? 0;
    if (ew === undefined || n < 1 || n > MAX_ARRAY_COUNT || f.size !== n * ew)
      throw bad(`array of ${n} ${f.elem ?? '?'} in ${f.size} bytes`);
  }
}

export function layoutToPb(l: RecordLayout): pb.RecordLayout {
  return {
    structName: l.struct,
    size: l.size,
    fields: l.fields.map((f) => ({
      name: f.name,
      kind: f.kind,
      offset: f.offset,
      size: f.size,
      elem: f.elem ?? '',
      count: f.count ?? 0,
    })),
  };
}

export function layoutFromPb(l: pb.RecordLayout | null): RecordLayout {
  if (!l) throw new ProtocolError('the daemon sent a run header without a record layout');
  const struct = clipLine(l.structName, 40);
  return {
    struct: l.structName,
    size: l.size,
    fields: l.fields.map((f) => {
      const where = `${struct}.${clipLine(f.name, 40)}`;
      const out: FieldLayout = {
        name: f.name,
        kind: fieldKind(f.kind, where),
        offset: f.offset,
        size: f.size,
      };
      if (f.elem !== '') out.elem = fieldKind(f.elem, `${where}[]`);
      if (f.kind === 'array' || f.count !== 0) out.count = f.count;
      checkField(out, struct);
      return out;
    }),
  };
}

// ---- run messages -----------------------------------------------------------------------------

const LEVEL_TO_PB = {
  info: 'LOG_LEVEL_INFO',
  warn: 'LOG_LEVEL_WARN',
  error: 'LOG_LEVEL_ERROR',
} as const satisfies Record<string, pb.LogLevel>;

/**
 * A RunMessage as a RunResponse. `seq` is the batch sequence number (batches only) and
 * `droppedRecords` the records dropped since the previous delivered batch.
 */
export function runMessageToPb(m: RunMessage, seq = 0, droppedRecords = 0): pb.RunResponse {
  switch (m.kind) {
    case 'header':
      return {
        header: {
          gadget: m.header.gadget,
          node: m.header.node,
          layout: layoutToPb(m.header.layout),
          bootToWallNs: m.header.bootToWallNs.toString(),
        },
      };
    case 'containers':
      return { containers: { containers: m.containers.map(containerToPb) } };
    case 'batch':
      return {
        batch: {
          records: m.records,
          count: m.count,
          seq: String(seq),
          droppedRecords: String(droppedRecords),
        },
      };
    case 'stats':
      return {
        stats: {
          events: numberToU64(m.stats.events, 'events'),
          lost: numberToU64(m.stats.lost, 'lost'),
        },
      };
    case 'log':
      return { log: { level: LEVEL_TO_PB[m.level], message: m.message } };
    case 'done':
      return { done: { reason: m.reason, droppedBatches: '0', droppedRecords: '0' } };
  }
}

export function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * A RunResponse as a RunMessage, plus the wire-only batch bookkeeping. Returns undefined for a
 * response with no known member set (a newer server's message kind: skip it).
 */
export function runMessageFromPb(
  r: pb.RunResponse,
): { message: RunMessage; seq?: bigint; droppedRecords?: number; done?: pb.RunDone } | undefined {
  if (r.header) {
    return {
      message: {
        kind: 'header',
        header: {
          gadget: r.header.gadget,
          node: r.header.node,
          layout: layoutFromPb(r.header.layout),
          bootToWallNs: BigInt(r.header.bootToWallNs),
        },
      },
    };
  }
  if (r.containers) {
    return {
      message: { kind: 'containers', containers: r.containers.containers.map(containerFromPb) },
    };
  }
  if (r.batch) {
    return {
      message: { kind: 'batch', records: toBuffer(r.batch.records), count: r.batch.count },
      seq: BigInt(r.batch.seq),
      droppedRecords: u64ToNumber(r.batch.droppedRecords, 'dropped_records'),
    };
  }
  if (r.stats) {
    return {
      message: {
        kind: 'stats',
        stats: {
          events: u64ToNumber(r.stats.events, 'events'),
          lost: u64ToNumber(r.stats.lost, 'lost'),
        },
      },
    };
  }
  if (r.log) {
    const level =
      r.log.level === 'LOG_LEVEL_ERROR'
        ? 'error'
        : r.log.level === 'LOG_LEVEL_WARN'
          ? 'warn'
          : 'info';
    return { message: { kind: 'log', level, message: r.log.message } };
  }
  if (r.done) {
    return { message: { kind: 'done', reason: r.done.reason }, done: r.done };
  }
  return undefined;
}

// ---- info and descriptors ---------------------------------------------------------------------

export function infoToPb(i: NodeInfo): pb.GetInfoResponse {
  return {
    node: i.node,
    kernel: i.kernel,
    version: i.version,
    gadgets: i.gadgets.map((g) => ({
      name: g.name,
      command: [...g.command],
      description: g.description,
    })),
    apiRevision: API_REVISION,
  };
}

export function infoFromPb(i: pb.GetInfoResponse): NodeInfo {
  return {
    node: i.node,
    kernel: i.kernel,
    version: i.version,
    gadgets: i.gadgets.map((g): GadgetInfo => ({
      name: g.name,
      command: [...g.command],
      description: g.description,
    })),
  };
}

/** What ListGadgets carries of a GadgetDescriptor: the data, not the functions. */
export interface GadgetSummary {
  name: string;
  command: string[];
  description: string;
  docs?: string;
  params: Array<Pick<ParamSpec, 'name' | 'type' | 'description' | 'default' | 'char'>>;
  columns: ColumnSpec[];
}

const PARAM_TYPE_TO_PB = {
  bool: 'PARAM_TYPE_BOOL',
  int: 'PARAM_TYPE_INT',
  string: 'PARAM_TYPE_STRING',
  'string[]': 'PARAM_TYPE_STRING_LIST',
} as const satisfies Record<ParamType, pb.ParamType>;

export function descriptorToPb(
  g: Pick<GadgetDescriptor, 'name' | 'command' | 'description' | 'docs' | 'columns'> & {
    params: GadgetSummary['params'];
  },
): pb.GadgetDescriptor {
  return {
    name: g.name,
    command: [...g.command],
    description: g.description,
    docs: g.docs ?? '',
    params: g.params.map((p) => ({
      name: p.name,
      type: PARAM_TYPE_TO_PB[p.type],
      description: p.description,
      defaultValue: p.default ?? '',
      hasDefault: p.default !== undefined,
      shortFlag: p.char ?? '',
    })),
    columns: g.columns.map((c) => ({
      name: c.name,
      header: c.header ?? '',
      width: c.width ?? 0,
      hidden: c.hidden ?? false,
      flex: c.flex ?? false,
      align:
        c.align === 'left'
          ? 'COLUMN_ALIGN_LEFT'
          : c.align === 'right'
            ? 'COLUMN_ALIGN_RIGHT'
            : 'COLUMN_ALIGN_UNSPECIFIED',
    })),
  };
}

export function descriptorFromPb(g: pb.GadgetDescriptor): GadgetSummary {
  const out: GadgetSummary = {
    name: g.name,
    command: [...g.command],
    description: g.description,
    params: g.params.map((p) => {
      const type: ParamType =
        p.type === 'PARAM_TYPE_BOOL'
          ? 'bool'
          : p.type === 'PARAM_TYPE_INT'
            ? 'int'
            : p.type === 'PARAM_TYPE_STRING_LIST'
              ? 'string[]'
              : 'string';
      const q: GadgetSummary['params'][number] = { name: p.name, type, description: p.description };
      if (p.hasDefault) q.default = p.defaultValue;
      if (p.shortFlag !== '') q.char = p.shortFlag;
      return q;
    }),
    columns: g.columns.map((c) => {
      const col: ColumnSpec = { name: c.name };
      if (c.header !== '') col.header = c.header;
      if (c.width !== 0) col.width = c.width;
      if (c.hidden) col.hidden = true;
      if (c.flex) col.flex = true;
      if (c.align === 'COLUMN_ALIGN_LEFT') col.align = 'left';
      if (c.align === 'COLUMN_ALIGN_RIGHT') col.align = 'right';
      return col;
    }),
  };
  if (g.docs !== '') out.docs = g.docs;
  return out;
}
