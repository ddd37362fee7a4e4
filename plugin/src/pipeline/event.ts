// The common fields every event carries (timestamp, Kubernetes/container identity, process
// identity), built from a decoded record, the container it ran in and the node. Two builders are
// generated per record layout: one makes event objects (columns, yaml, live view), the other
// writes the NDJSON line directly (-o json), skipping the object and most of the escaping.

import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { FieldKind, GadgetEvent, RawRecord, RecordLayout } from '#gadgets/framework/types.js';
import { jsonString, jsonValue } from '../output/json.js';

/** Output order of the common fields; gadget fields follow. */
export const COMMON_FIELDS = [
  'timestamp',
  'node',
  'namespace',
  'pod',
  'container',
  'container_id',
  'runtime',
  'mntns_id',
  'pid',
  'tid',
  'uid',
  'gid',
  'comm',
] as const;

export const COMMON_FIELD_SET: ReadonlySet<string> = new Set(COMMON_FIELDS);

/** Common fields copied from the kernel record when its layout has them (same names). */
export const RAW_FIELDS = ['mntns_id', 'pid', 'tid', 'uid', 'gid', 'comm'] as const;

/** Where an event ran: node and container identity, plus the same as a JSON fragment. */
export interface Placement {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  container_id: string;
  runtime: string;
  /** `,"node":"..",...,"runtime":".."` */
  json: string;
  /** the same as UTF-8 bytes, for the -o json fast path */
  bytes: Buffer;
}

export function placement(node: string, c: ContainerInfo | undefined): Placement {
  const p = {
    node,
    namespace: c?.k8s?.namespace ?? '',
    pod: c?.k8s?.pod ?? '',
    container: c ? c.k8s?.container || c.name : '',
    container_id: c?.id ?? '',
    runtime: c?.runtime ?? '',
  };
  const json =
    `,"node":${jsonString(p.node)},"namespace":${jsonString(p.namespace)},"pod":${jsonString(p.pod)}` +
    `,"container":${jsonString(p.container)},"container_id":${jsonString(p.container_id)}` +
    `,"runtime":${jsonString(p.runtime)}`;
  return { ...p, json, bytes: Buffer.from(json, 'utf8') };
}

export type ObjectBuilder = (
  raw: RawRecord,
  timestamp: string,
  where: Placement,
  extra: GadgetEvent,
) => GadgetEvent;

/**
 * Like ObjectBuilder, but returns the event's NDJSON line (ending in "\n"). `tail` serializes the
 * gadget fields (output/json.ts jsonTail, or a makeTail specialised to the transform's shape).
 */
export type LineBuilder = (
  raw: RawRecord,
  timestamp: string,
  where: Placement,
  extra: GadgetEvent,
  tail: (extra: GadgetEvent) => string,
) => string;

export const INT_KINDS: ReadonlySet<FieldKind> = new Set<FieldKind>([
  'u8',
  's8',
  'u16',
  's16',
  'u32',
  's32',
  'u64',
  's64',
  'bool',
]);

export interface EventBuilders {
  object: ObjectBuilder;
  line: LineBuilder;
}

/**
 * Generate both builders for a layout. Only common fields the layout has are emitted, so every
 * event of a run has the same keys in the same order (V8 keeps one shape; JSON output is stable).
 */
export function makeEventBuilders(layout: RecordLayout): EventBuilders {
  const kinds = new Map(layout.fields.map((f) => [f.name, f.kind]));
  const present = RAW_FIELDS.filter((n) => kinds.has(n));
  const acc = (n: string): string => `raw[${JSON.stringify(n)}]`;

  const objProps = [
    'timestamp: ts',
    'node: w.node',
    'namespace: w.namespace',
    'pod: w.pod',
    'container: w.container',
    'container_id: w.container_id',
    'runtime: w.runtime',
    ...present.map((n) => `${n}: ${acc(n)}`),
  ];
  const objectSrc =
    `return function buildEvent(raw, ts, w, extra) {\n` +
    `  const ev = { ${objProps.join(', ')} };\n` +
    `  for (const k in extra) ev[k] = extra[k];\n` +
    `  return ev;\n};`;

  // numbers and booleans concatenate to their JSON text; strings need escaping; others generic
  const lineParts = present.map((n) => {
    const kind = kinds.get(n)!;
    const key = JSON.stringify(',' + JSON.stringify(n) + ':');
    if (INT_KINDS.has(kind)) return `${key} + ${acc(n)}`;
    if (kind === 'cstring') return `${key} + s(${acc(n)})`;
    return `${key} + (v(${acc(n)}) ?? 'null')`;
  });
  const lineSrc =
    `return function buildLine(raw, ts, w, extra, t) {\n` +
    `  return '{"timestamp":"' + ts + '"' + w.json` +
    lineParts.map((p) => `\n    + ${p}`).join('') +
    `\n    + t(extra) + '\\n';\n};`;

  const object = new Function(objectSrc)() as ObjectBuilder;
  const line = new Function('s', 'v', lineSrc)(jsonString, jsonValue) as LineBuilder;
  return { object, line };
}
