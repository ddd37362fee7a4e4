// The flow record: what `advise network-policy monitor` writes (one NDJSON line per distinct flow)
// and what report, verify and graph read. Documented in docs/network-policy.md; keep both in sync.
//
// A flow's key is (local workload, direction, peer, port and named port, protocol). A connection
// seen at both of its ends gives two records: egress on the client, ingress on the server.

import { clipLine } from '#gadgets/framework/clip.js';
import { normalizeIp, parseIp } from './ip.js';
import { labelsKey, type Labels } from './labels.js';

export const FLOW_SCHEMA = 'netpol.kubectl-gadget.io/flow/v1';

export type Direction = 'ingress' | 'egress';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/**
 * pod        a Kubernetes pod (workload fields set); host_network pods count as node traffic
 * node       a node: the host network namespace (kubelet probes, hostNetwork pods)
 * service    a Service ClusterIP (peer only): backends are the pods behind it
 * external   an address outside the cluster (peer only)
 * container  a container outside Kubernetes (local mode): workload is its name
 * unknown    a local end that could not be identified (no policy can select it)
 */
export type EndpointKind = 'pod' | 'node' | 'service' | 'external' | 'container' | 'unknown';
export const ENDPOINT_KINDS: readonly EndpointKind[] = [
  'pod',
  'node',
  'service',
  'external',
  'container',
  'unknown',
];

/** A group of pods selected by labels: a workload, or the backends of a Service. */
export interface WorkloadRef {
  namespace: string;
  /** owner name (Deployment, StatefulSet, DaemonSet, ...), or the pod name for bare pods */
  workload: string;
  /** Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, Pod, ... ('' if unknown) */
  workload_kind?: string;
  /** pod labels minus the revision and per-pod ones (labels.ts REVISION_LABELS) */
  labels: Labels;
  /** labels of the namespace, when known (kubernetes.io/metadata.name is implied) */
  namespace_labels?: Labels;
}

export interface ServiceRef {
  namespace: string;
  name: string;
  /** the Service port the client connected to (before DNAT) */
  port: number;
}

export interface Endpoint {
  kind: EndpointKind;
  /** the address on the wire: local socket address, or the remote one ('' if not known) */
  ip: string;
  /** pod, container: workload identity */
  namespace?: string;
  workload?: string;
  workload_kind?: string;
  labels?: Labels;
  namespace_labels?: Labels;
  /** pods of the workload seen in this flow (sorted) */
  pods?: string[];
  /** pod: runs in the host network namespace */
  host_network?: boolean;
  /** node: node name, when known */
  node?: string;
  /** service: the Service and the pods behind it */
  service?: ServiceRef;
  backends?: WorkloadRef[];
  /**
   * service: addresses behind it that are not pods (EndpointSlice endpoints without a pod
   * targetRef: a node running CoreDNS as a process, a database outside the cluster), sorted
   */
  backend_ips?: string[];
  /** names this address was returned for in the local workload's own DNS lookups (sorted) */
  dns_names?: string[];
}

export interface FlowRecord {
  schema: typeof FLOW_SCHEMA;
  /** node where the flow was captured */
  node: string;
  direction: Direction;
  protocol: Protocol;
  /** destination port: the peer's for egress, the local one for ingress (after DNAT) */
  port: number;
  /** the destination pod's name for that port (containerPort name), when known */
  port_name?: string;
  local: Endpoint;
  peer: Endpoint;
  /** connections (TCP) or datagrams/connects (UDP) seen */
  count: number;
  /** RFC 3339 timestamps */
  first_seen: string;
  last_seen: string;
  /** DNS flows: names the local workload asked for (sorted) */
  dns_queries?: string[];
}

// ---------------------------------------------------------------------------------------------
// keys

export function workloadKey(w: Pick<Endpoint, 'namespace' | 'workload' | 'labels'>): string {
  return `${w.namespace ?? ''}/${w.workload ?? ''}{${labelsKey(w.labels)}}`;
}

/** Identity of an endpoint for flow keys (pods of one workload are one endpoint). */
export function endpointKey(e: Endpoint): string {
  switch (e.kind) {
    case 'pod':
      return `pod:${workloadKey(e)}${e.host_network ? ':hostnet' : ''}`;
    case 'container':
      return `container:${e.workload ?? ''}`;
    case 'node':
      return `node:${e.node || e.ip}`;
    case 'service':
      return `service:${e.service?.namespace ?? ''}/${e.service?.name ?? ''}:${e.service?.port ?? 0}:${(e.backends ?? []).map(workloadKey).sort().join('|')}|${(e.backend_ips ?? []).join(',')}|${e.ip}`;
    case 'external':
    case 'unknown':
      return `${e.kind}:${e.ip}`;
  }
}

export function flowKey(f: FlowRecord): string {
  return [
    endpointKey(f.local),
    f.direction,
    endpointKey(f.peer),
    f.port,
    f.port_name ?? '',
    f.protocol,
  ].join('\u0000');
}

// ---------------------------------------------------------------------------------------------
// merging and ordering

function union(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (!a?.length && !b?.length) return undefined;
  return [...new Set([...(a ?? []), ...(b ?? [])])].sort();
}

/** Folds `b` into `a` (same key): counts add up, seen times widen, name lists merge. */
export function mergeInto(a: FlowRecord, b: FlowRecord): void {
  a.count += b.count;
  if (b.first_seen < a.first_seen) a.first_seen = b.first_seen;
  if (b.last_seen > a.last_seen) a.last_seen = b.last_seen;
  const pods = union(a.local.pods, b.local.pods);
  if (pods) a.local.pods = pods;
  const peerPods = union(a.peer.pods, b.peer.pods);
  if (peerPods) a.peer.pods = peerPods;
  const names = union(a.peer.dns_names, b.peer.dns_names);
  if (names) a.peer.dns_names = names;
  const queries = union(a.dns_queries, b.dns_queries);
  if (queries) a.dns_queries = queries;
}

/** Folds records into one per key as they come (a stream holds only the distinct flows). */
export class FlowMerger {
  private readonly byKey = new Map<string, FlowRecord>();
  /** records added */
  records = 0;

  /** `owned`: the caller hands `f` over (freshly parsed), so it is kept without a copy. */
  add(f: FlowRecord, owned = false): void {
    this.records++;
    const k = flowKey(f);
    const have = this.byKey.get(k);
    if (have) mergeInto(have, f);
    else this.byKey.set(k, owned ? f : structuredClone(f));
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The merged flows, sorted. */
  flows(): FlowRecord[] {
    return sortFlows(Array.from(this.byKey.values()));
  }
}

/** One record per key (records of several files or nodes folded together), sorted. */
export function mergeFlows(flows: Iterable<FlowRecord>): FlowRecord[] {
  const m = new FlowMerger();
  for (const f of flows) m.add(f);
  return m.flows();
}

function endpointSortKey(e: Endpoint): string {
  return `${ENDPOINT_KINDS.indexOf(e.kind)}|${e.namespace ?? e.service?.namespace ?? ''}|${e.workload ?? e.service?.name ?? e.node ?? ''}|${labelsKey(e.labels)}`;
}

function ipSortKey(ip: string): string {
  const p = parseIp(ip);
  return p ? `${p.family}${p.value.toString(16).padStart(32, '0')}` : `9${ip}`;
}

/**
 * The sort key of a flow: local end, direction (egress first), peer, protocol, port, port name;
 * components joined by NUL so comparing keys compares component by component.
 */
export function flowSortKey(f: FlowRecord): string {
  return [
    endpointSortKey(f.local),
    ipSortKey(f.local.ip),
    f.direction === 'egress' ? '0' : '1',
    endpointSortKey(f.peer),
    ipSortKey(f.peer.ip),
    f.protocol,
    String(f.port).padStart(5, '0'),
    f.port_name ?? '',
    flowKey(f),
  ].join('\u0000');
}

export function compareFlows(a: FlowRecord, b: FlowRecord): number {
  const ka = flowSortKey(a);
  const kb = flowSortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Sorts in place (keys computed once per flow). */
export function sortFlows(flows: FlowRecord[]): FlowRecord[] {
  const keyed = flows.map((f) => ({ f, k: flowSortKey(f) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  for (let i = 0; i < keyed.length; i++) flows[i] = keyed[i]!.f;
  return flows;
}

// ---------------------------------------------------------------------------------------------
// NDJSON

function sortedLabels(l: Labels | undefined): Labels | undefined {
  if (!l) return undefined;
  const out: Labels = {};
  for (const k of Object.keys(l).sort()) out[k] = l[k]!;
  return out;
}

function canonicalWorkload(w: WorkloadRef): WorkloadRef {
  const out: WorkloadRef = { namespace: w.namespace, workload: w.workload, labels: {} };
  if (w.workload_kind) out.workload_kind = w.workload_kind;
  out.labels = sortedLabels(w.labels) ?? {};
  if (w.namespace_labels) out.namespace_labels = sortedLabels(w.namespace_labels)!;
  return out;
}

/** Fields in documented order, empty optional ones left out: stable NDJSON text. */
function canonicalEndpoint(e: Endpoint): Endpoint {
  const out: Endpoint = { kind: e.kind, ip: e.ip };
  if (e.namespace !== undefined) out.namespace = e.namespace;
  if (e.workload !== undefined) out.workload = e.workload;
  if (e.workload_kind) out.workload_kind = e.workload_kind;
  if (e.labels) out.labels = sortedLabels(e.labels)!;
  if (e.namespace_labels) out.namespace_labels = sortedLabels(e.namespace_labels)!;
  if (e.pods?.length) out.pods = [...e.pods].sort();
  if (e.host_network) out.host_network = true;
  if (e.node) out.node = e.node;
  if (e.service)
    out.service = { namespace: e.service.namespace, name: e.service.name, port: e.service.port };
  if (e.backends)
    out.backends = e.backends
      .map(canonicalWorkload)
      .sort((a, b) => (workloadKey(a) < workloadKey(b) ? -1 : 1));
  if (e.backend_ips?.length) out.backend_ips = [...e.backend_ips].sort();
  if (e.dns_names?.length) out.dns_names = [...e.dns_names].sort();
  return out;
}

export function canonicalFlow(f: FlowRecord): FlowRecord {
  const out: FlowRecord = {
    schema: FLOW_SCHEMA,
    node: f.node,
    direction: f.direction,
    protocol: f.protocol,
    port: f.port,
    ...(f.port_name ? { port_name: f.port_name } : {}),
    local: canonicalEndpoint(f.local),
    peer: canonicalEndpoint(f.peer),
    count: f.count,
    first_seen: f.first_seen,
    last_seen: f.last_seen,
  };
  if (f.dns_queries?.length) out.dns_queries = [...f.dns_queries].sort();
  return out;
}

export function formatFlowLine(f: FlowRecord): string {
  return JSON.stringify(canonicalFlow(f)) + '\n';
}

export function formatFlows(flows: readonly FlowRecord[]): string {
  return sortFlows(flows.map(canonicalFlow))
    .map((f) => JSON.stringify(f) + '\n')
    .join('');
}

export class FlowParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'FlowParseError';
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkLabels(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) return `${where}: must be an object`;
  for (const [k, x] of Object.entries(v))
    if (typeof x !== 'string') return `${where}.${clipLine(k, 60)}: must be a string`;
  return undefined;
}

function checkStrings(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    return `${where}: must be a list of strings`;
  return undefined;
}

function checkWorkload(v: unknown, where: string): string | undefined {
  if (!isObj(v)) return `${where}: must be an object`;
  if (typeof v.namespace !== 'string') return `${where}.namespace: must be a string`;
  if (typeof v.workload !== 'string') return `${where}.workload: must be a string`;
  if (v.workload_kind !== undefined && typeof v.workload_kind !== 'string')
    return `${where}.workload_kind: must be a string`;
  return (
    checkLabels(v.labels ?? {}, `${where}.labels`) ??
    checkLabels(v.namespace_labels, `${where}.namespace_labels`)
  );
}

function checkEndpoint(v: unknown, where: string): string | undefined {
  if (!isObj(v)) return `${where}: must be an object`;
  if (!ENDPOINT_KINDS.includes(v.kind as EndpointKind))
    return `${where}.kind: must be one of ${ENDPOINT_KINDS.join(', ')}`;
  if (typeof v.ip !== 'string') return `${where}.ip: must be a string`;
  if (v.ip !== '' && !normalizeIp(v.ip))
    return `${where}.ip: "${clipLine(v.ip, 60)}" is not an IP address`;
  for (const k of ['namespace', 'workload', 'workload_kind', 'node'] as const) {
    if (v[k] !== undefined && typeof v[k] !== 'string') return `${where}.${k}: must be a string`;
  }
  if (v.kind === 'pod' && (typeof v.namespace !== 'string' || !v.namespace))
    return `${where}.namespace: required for a pod`;
  if (v.host_network !== undefined && typeof v.host_network !== 'boolean')
    return `${where}.host_network: must be a boolean`;
  const p =
    checkLabels(v.labels, `${where}.labels`) ??
    checkLabels(v.namespace_labels, `${where}.namespace_labels`) ??
    checkStrings(v.pods, `${where}.pods`) ??
    checkStrings(v.dns_names, `${where}.dns_names`);
  if (p) return p;
  if (v.kind === 'service') {
    const s = v.service;
    if (
      !isObj(s) ||
      typeof s.namespace !== 'string' ||
      typeof s.name !== 'string' ||
      typeof s.port !== 'number'
    )
      return `${where}.service: needs namespace, name and port`;
  }
  if (v.backends !== undefined) {
    if (!Array.isArray(v.backends)) return `${where}.backends: must be a list`;
    for (const [i, b] of v.backends.entries()) {
      const e = checkWorkload(b, `${where}.backends[${i}]`);
      if (e) return e;
    }
  }
  if (v.backend_ips !== undefined) {
    if (
      !Array.isArray(v.backend_ips) ||
      v.backend_ips.some((x) => typeof x !== 'string' || !parseIp(x))
    )
      return `${where}.backend_ips: must be a list of IP addresses`;
  }
  return undefined;
}

function validPort(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;
}

/** Validates one parsed record; returns the problem or undefined. */
export function flowProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not a JSON object';
  if (v.schema !== FLOW_SCHEMA)
    return `schema: expected "${FLOW_SCHEMA}", got ${clipLine(JSON.stringify(v.schema) ?? String(v.schema), 80)}`;
  if (typeof v.node !== 'string') return 'node: must be a string';
  if (v.direction !== 'ingress' && v.direction !== 'egress')
    return 'direction: must be ingress or egress';
  if (!PROTOCOLS.includes(v.protocol as Protocol))
    return `protocol: must be one of ${PROTOCOLS.join(', ')}`;
  if (!validPort(v.port)) return 'port: must be an integer 0-65535';
  if (v.port_name !== undefined && typeof v.port_name !== 'string')
    return 'port_name: must be a string';
  const e = checkEndpoint(v.local, 'local') ?? checkEndpoint(v.peer, 'peer');
  if (e) return e;
  if ((v.local as Endpoint).kind === 'service' || (v.local as Endpoint).kind === 'external')
    return `local.kind: a local end cannot be ${(v.local as Endpoint).kind}`;
  if (typeof v.count !== 'number' || !Number.isInteger(v.count) || v.count < 0)
    return 'count: must be a non-negative integer';
  for (const k of ['first_seen', 'last_seen'] as const) {
    if (typeof v[k] !== 'string' || Number.isNaN(Date.parse(v[k] as string)))
      return `${k}: must be an RFC 3339 timestamp`;
  }
  return checkStrings(v.dns_queries, 'dns_queries');
}

/**
 * Parses one NDJSON line (number `lineNo` of `source`); undefined for a blank line or a '#'
 * comment.
 */
export function parseFlowLine(
  text: string,
  source: string,
  lineNo: number,
): FlowRecord | undefined {
  const line = text.trim();
  if (!line || line.startsWith('#')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new FlowParseError(`${source}:${lineNo}: invalid JSON: ${(e as Error).message}`, lineNo);
  }
  const problem = flowProblem(v);
  if (problem) throw new FlowParseError(`${source}:${lineNo}: ${problem}`, lineNo);
  const f = v as FlowRecord;
  f.local.ip = f.local.ip && normalizeIp(f.local.ip);
  f.peer.ip = f.peer.ip && normalizeIp(f.peer.ip);
  return f;
}

/** Parses NDJSON flow records; blank lines and lines starting with '#' are skipped. */
export function parseFlows(text: string, source = 'input'): FlowRecord[] {
  const out: FlowRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const f = parseFlowLine(lines[i]!, source, i + 1);
    if (f) out.push(f);
  }
  return out;
}

/** Human-readable name of an endpoint: ns/workload, node/x, svc ns/name, or the address. */
export function endpointName(e: Endpoint): string {
  switch (e.kind) {
    case 'pod':
      return `${e.namespace}/${e.workload || e.pods?.[0] || e.ip}${e.host_network ? ' (hostNetwork)' : ''}`;
    case 'container':
      return `container/${e.workload || e.ip}`;
    case 'node':
      return `node/${e.node || e.ip}`;
    case 'service':
      return `svc/${e.service?.namespace}/${e.service?.name}`;
    case 'external':
      return e.ip;
    case 'unknown':
      return `unknown/${e.ip || '?'}`;
  }
}

/** True for node traffic: the node itself, or a hostNetwork pod. */
export function isNodeEndpoint(e: Endpoint): boolean {
  return e.kind === 'node' || (e.kind === 'pod' && e.host_network === true);
}
