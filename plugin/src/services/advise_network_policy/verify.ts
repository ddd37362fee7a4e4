// Replays recorded flows against a set of NetworkPolicies under Kubernetes semantics:
//
// - A pod is isolated for a direction when at least one policy in its namespace selects it
//   (spec.podSelector) and lists that direction in its policy types (default: Ingress, plus
//   Egress when the policy has egress rules). A non-isolated pod allows everything.
// - An isolated pod allows what the union of the matching rules of those policies allows.
// - A rule matches when one of its peers matches (no peers: every peer) and one of its ports
//   matches (no ports: every port).
// - Peers: podSelector (pods in the policy's namespace), namespaceSelector (pods in the selected
//   namespaces), both in one element (AND), or ipBlock (cidr minus except, by address).
// - Ports: protocol (default TCP), a number, a number range (port..endPort) or a named port
//   (the destination pod's containerPort name, recorded with the flow).
// - A connection is allowed when the source allows it for egress and the destination for ingress.
//   Connections from a node to its pods are always allowed (kubelet probes); hostNetwork pods
//   and nodes are never selected by policies.
// - A Service ClusterIP is judged by the pods behind it (policies apply after DNAT).

import {
  endpointName,
  isNodeEndpoint,
  type Endpoint,
  type FlowRecord,
  type Protocol,
  type WorkloadRef,
} from './flow.js';
import { cidrContains, parseCidr, parseIp, type Cidr, type ParsedIp } from './ip.js';
import { namespaceLabels, selectorMatches, type LabelSelector, type Labels } from './labels.js';
import {
  effectivePolicyTypes,
  policyId,
  type NetworkPolicy,
  type NetworkPolicyEgressRule,
  type NetworkPolicyIngressRule,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type PolicySet,
  type PolicyType,
} from './policy.js';

/** One end of a connection as the evaluator sees it. */
export type ConnEnd =
  | {
      kind: 'pod';
      namespace: string;
      labels: Labels;
      namespaceLabels: Labels;
      ip: string;
      name: string;
    }
  /** a node or a hostNetwork pod: never selected by a policy, judged by its IP */
  | { kind: 'node'; ip: string; name: string }
  /** outside the cluster, or not identified: judged by its IP */
  | { kind: 'ip'; ip: string; name: string };

export interface Connection {
  src: ConnEnd;
  dst: ConnEnd;
  protocol: Protocol;
  port: number;
  /** the destination pod's name for the port, if any */
  portName?: string;
}

export interface RuleRef {
  policy: string;
  direction: 'ingress' | 'egress';
  rule: number;
}

/**
 * Why a rule of an isolating policy does not match a denied connection:
 * - selector: the peer's podSelector does not select the other end (or the other end is not a
 *   pod: a node or an outside address, which only an ipBlock can match)
 * - namespace: the other end is in a namespace the peer does not select
 * - ipBlock: the other end's address is outside the block (or in its except list)
 * - port: a port of the rule's protocol, but not this one
 * - protocol: no port of the rule is of the connection's protocol
 */
export type MismatchReason = 'selector' | 'namespace' | 'ipBlock' | 'port' | 'protocol';

export interface Mismatch {
  reason: MismatchReason;
  /** the peer (its index in from/to) that does not match; absent for port and protocol */
  peer?: number;
  detail: string;
}

export interface RuleExplanation {
  rule: number;
  /** one per peer when no peer matches, then one for the ports when no port matches */
  mismatches: Mismatch[];
}

/** A policy isolating the pod on a denied side, and why none of its rules match. */
export interface PolicyExplanation {
  policy: string;
  /** its rules for the side's direction; [] when it has none (it only isolates) */
  rules: RuleExplanation[];
}

export interface SideVerdict {
  /** which end's policies: 'egress' is judged at the source, 'ingress' at the destination */
  direction: 'egress' | 'ingress';
  /** the pod whose policies were consulted */
  pod: string;
  allowed: boolean;
  /** policies selecting the pod for this direction ([] = not isolated) */
  isolatedBy: string[];
  /** rules that allow the connection */
  allowedBy: RuleRef[];
  /** why, in words */
  reason: string;
  /** denied sides: each isolating policy and why none of its rules match */
  explain?: PolicyExplanation[];
}

export interface ConnectionVerdict {
  allowed: boolean;
  sides: SideVerdict[];
}

export function formatRuleRef(r: RuleRef): string {
  return `${r.policy} ${r.direction}[${r.rule}]`;
}

/** The index of a policy set: policies by namespace, namespace labels. */
export class PolicyIndex {
  private readonly byNamespace = new Map<string, NetworkPolicy[]>();
  private readonly nsLabels = new Map<string, Labels>();

  constructor(readonly set: PolicySet) {
    for (const p of set.policies) {
      const ns = p.metadata.namespace ?? 'default';
      let list = this.byNamespace.get(ns);
      if (!list) this.byNamespace.set(ns, (list = []));
      list.push(p);
    }
    for (const n of set.namespaces) this.nsLabels.set(n.name, namespaceLabels(n.name, n.labels));
  }

  /** Labels of a namespace: from the policy set, else from the flow, else only its name label. */
  namespaceLabels(ns: string, fromFlow?: Labels): Labels {
    return this.nsLabels.get(ns) ?? namespaceLabels(ns, fromFlow);
  }

  policiesFor(ns: string): NetworkPolicy[] {
    return this.byNamespace.get(ns) ?? [];
  }
}

/** Parsed CIDRs of an ipBlock, computed once per policy object. */
const blocks = new WeakMap<object, { cidr: Cidr; except: Cidr[] }>();
function parsedBlock(b: NonNullable<NetworkPolicyPeer['ipBlock']>): { cidr: Cidr; except: Cidr[] } {
  let p = blocks.get(b);
  if (!p) blocks.set(b, (p = { cidr: parseCidr(b.cidr), except: (b.except ?? []).map(parseCidr) }));
  return p;
}

/** Parsed addresses of connection ends, computed once per end. */
const endIps = new WeakMap<object, ParsedIp | null>();
function endIp(end: ConnEnd): ParsedIp | null {
  let p = endIps.get(end);
  if (p === undefined) endIps.set(end, (p = parseIp(end.ip) ?? null));
  return p;
}

function peerMatches(peer: NetworkPolicyPeer, policyNs: string, end: ConnEnd): boolean {
  if (peer.ipBlock) {
    const ip = endIp(end);
    if (!ip) return false;
    const b = parsedBlock(peer.ipBlock);
    if (!cidrContains(b.cidr, ip)) return false;
    return !b.except.some((x) => cidrContains(x, ip));
  }
  // selectors only ever select pods (not nodes, not hostNetwork pods, not external addresses)
  if (end.kind !== 'pod') return false;
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, end.namespaceLabels)) return false;
  } else if (end.namespace !== policyNs) {
    return false;
  }
  if (peer.podSelector) return selectorMatches(peer.podSelector, end.labels);
  return true;
}

function portMatches(p: NetworkPolicyPort, c: Connection): boolean {
  if ((p.protocol ?? 'TCP') !== c.protocol) return false;
  if (p.port === undefined || p.port === null) return true;
  if (typeof p.port === 'string') return c.portName !== undefined && c.portName === p.port;
  if (p.endPort !== undefined && p.endPort !== null) return c.port >= p.port && c.port <= p.endPort;
  return c.port === p.port;
}

/** A selector in kubectl's words: `app=web,tier in (a,b)`, `{}` for every pod. */
export function formatSelector(s: LabelSelector | undefined): string {
  const parts = Object.entries(s?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s?.matchExpressions ?? []) {
    const vals = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${vals}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${vals}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : '{}';
}

function formatLabels(l: Labels): string {
  const s = Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return s ? `labels ${s}` : 'no labels';
}

/** Why one peer of a rule does not match the other end (undefined: it matches). */
function peerMismatch(
  peer: NetworkPolicyPeer,
  j: number,
  policyNs: string,
  end: ConnEnd,
): Mismatch | undefined {
  if (peerMatches(peer, policyNs, end)) return undefined;
  if (peer.ipBlock) {
    const b = peer.ipBlock;
    const ip = endIp(end);
    if (!ip) return { reason: 'ipBlock', peer: j, detail: `${end.name} has no known address` };
    const inner = parsedBlock(b).except.findIndex((x) => cidrContains(x, ip));
    return {
      reason: 'ipBlock',
      peer: j,
      detail:
        inner >= 0
          ? `${end.ip} is in ipBlock ${b.cidr} but also in its except ${b.except?.[inner] ?? ''}`
          : `${end.ip} is not in ipBlock ${b.cidr}`,
    };
  }
  if (end.kind !== 'pod')
    return {
      reason: 'selector',
      peer: j,
      detail: `${end.name} is not a pod: selectors match pods only, an ipBlock is needed`,
    };
  if (peer.namespaceSelector) {
    if (!selectorMatches(peer.namespaceSelector, end.namespaceLabels))
      return {
        reason: 'namespace',
        peer: j,
        detail: `namespaceSelector ${formatSelector(peer.namespaceSelector)} does not select namespace ${end.namespace}`,
      };
  } else if (end.namespace !== policyNs) {
    return {
      reason: 'namespace',
      peer: j,
      detail: `podSelector without namespaceSelector selects pods of ${policyNs} only, ${end.name} is in ${end.namespace}`,
    };
  }
  return {
    reason: 'selector',
    peer: j,
    detail: `podSelector ${formatSelector(peer.podSelector)} does not select ${end.name} (${formatLabels(end.labels)})`,
  };
}

function formatPort(p: NetworkPolicyPort): string {
  const proto = p.protocol ?? 'TCP';
  if (p.port === undefined || p.port === null) return `${proto}/any`;
  if (p.endPort !== undefined && p.endPort !== null) return `${proto}/${p.port}-${p.endPort}`;
  return `${proto}/${p.port}`;
}

/** Why no port of a rule matches (the rule has ports and none matches). */
function portsMismatch(ports: NetworkPolicyPort[], c: Connection): Mismatch {
  const conn = `${c.protocol}/${c.port}${c.portName ? ` (named ${c.portName})` : ''}`;
  const sameProto = ports.filter((p) => (p.protocol ?? 'TCP') === c.protocol);
  const unnamed = !c.portName && sameProto.some((p) => typeof p.port === 'string');
  return {
    reason: sameProto.length === 0 ? 'protocol' : 'port',
    detail:
      `the rule allows ${ports.map(formatPort).join(', ')}, not ${conn}` +
      (unnamed ? ' (the destination port has no recorded name)' : ''),
  };
}

/** Why none of an isolating policy's rules for one direction match the connection. */
function explainPolicy(
  p: NetworkPolicy,
  type: PolicyType,
  other: ConnEnd,
  c: Connection,
): PolicyExplanation {
  const ns = p.metadata.namespace ?? 'default';
  const rules = (type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? [];
  return {
    policy: policyId(p),
    rules: rules.map((r, i) => {
      const peers =
        type === 'Ingress'
          ? (r as NetworkPolicyIngressRule).from
          : (r as NetworkPolicyEgressRule).to;
      const mismatches: Mismatch[] = [];
      if (peers && peers.length > 0) {
        const m = peers.map((x, j) => peerMismatch(x, j, ns, other));
        if (m.every((x) => x !== undefined)) mismatches.push(...(m as Mismatch[]));
      }
      if (r.ports && r.ports.length > 0 && !r.ports.some((x) => portMatches(x, c)))
        mismatches.push(portsMismatch(r.ports, c));
      return { rule: i, mismatches };
    }),
  };
}

/** One line per isolating policy: its rules and their reasons (for the table). */
export function explainText(
  e: readonly PolicyExplanation[],
  direction: 'ingress' | 'egress',
): string {
  return e
    .map((p) =>
      p.rules.length === 0
        ? `${p.policy} has no ${direction} rules`
        : `${p.policy}: ${p.rules.map((r) => `[${r.rule}] ${[...new Set(r.mismatches.map((m) => m.reason))].join('+')}`).join(', ')}`,
    )
    .join('; ');
}

function judgeSide(
  index: PolicyIndex,
  pod: Extract<ConnEnd, { kind: 'pod' }>,
  other: ConnEnd,
  c: Connection,
  type: PolicyType,
): SideVerdict {
  const direction = type === 'Ingress' ? 'ingress' : 'egress';
  const isolatedBy: string[] = [];
  const isolating: NetworkPolicy[] = [];
  const allowedBy: RuleRef[] = [];
  for (const p of index.policiesFor(pod.namespace)) {
    if (!selectorMatches(p.spec.podSelector, pod.labels)) continue;
    if (!effectivePolicyTypes(p).includes(type)) continue;
    const id = policyId(p);
    isolatedBy.push(id);
    isolating.push(p);
    const ns = p.metadata.namespace ?? 'default';
    const rules = (type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? [];
    rules.forEach((r, i) => {
      const peers =
        type === 'Ingress'
          ? (r as NetworkPolicyIngressRule).from
          : (r as NetworkPolicyEgressRule).to;
      const peerOk = !peers || peers.length === 0 || peers.some((x) => peerMatches(x, ns, other));
      if (!peerOk) return;
      const portOk = !r.ports || r.ports.length === 0 || r.ports.some((x) => portMatches(x, c));
      if (portOk) allowedBy.push({ policy: id, direction, rule: i });
    });
  }
  let reason: string;
  let allowed: boolean;
  if (isolatedBy.length === 0) {
    allowed = true;
    reason = `${pod.name} is not isolated for ${type}`;
  } else if (allowedBy.length > 0) {
    allowed = true;
    reason = `allowed by ${allowedBy.map(formatRuleRef).join(', ')}`;
  } else {
    allowed = false;
    reason = `${pod.name} is isolated for ${type} by ${isolatedBy.join(', ')} and no rule allows ${other.name} on ${c.protocol}/${c.port}${c.portName ? ` (${c.portName})` : ''}`;
    // computed for denied sides only: an allowed flow does not pay for it
    const explain = isolating.map((p) => explainPolicy(p, type, other, c));
    return { direction, pod: pod.name, allowed, isolatedBy, allowedBy, reason, explain };
  }
  return { direction, pod: pod.name, allowed, isolatedBy, allowedBy, reason };
}

/** Judges one connection: egress at the source, ingress at the destination. */
export function evaluateConnection(index: PolicyIndex, c: Connection): ConnectionVerdict {
  const sides: SideVerdict[] = [];
  if (c.src.kind === 'pod') sides.push(judgeSide(index, c.src, c.dst, c, 'Egress'));
  if (c.dst.kind === 'pod') {
    if (c.src.kind === 'node') {
      sides.push({
        direction: 'ingress',
        pod: c.dst.name,
        allowed: true,
        isolatedBy: [],
        allowedBy: [],
        reason: `connections from a node to its pods are always allowed`,
      });
    } else {
      sides.push(judgeSide(index, c.dst, c.src, c, 'Ingress'));
    }
  }
  return { allowed: sides.every((s) => s.allowed), sides };
}

// ---------------------------------------------------------------------------------------------
// flows -> connections

function podEnd(index: PolicyIndex, e: Endpoint | WorkloadRef, ip: string): ConnEnd {
  const ns = e.namespace ?? '';
  return {
    kind: 'pod',
    namespace: ns,
    labels: e.labels ?? {},
    namespaceLabels: index.namespaceLabels(ns, e.namespace_labels),
    ip,
    name: `${ns}/${e.workload ?? ip}`,
  };
}

/** The ends a flow endpoint stands for (a Service stands for each of its backends). */
function ends(index: PolicyIndex, e: Endpoint): ConnEnd[] {
  if (isNodeEndpoint(e)) return [{ kind: 'node', ip: e.ip, name: endpointName(e) }];
  switch (e.kind) {
    case 'pod':
      return [podEnd(index, e, e.ip)];
    case 'service': {
      const backends = e.backends ?? [];
      const ips = e.backend_ips ?? [];
      // after DNAT the peer is a backend pod or address; without known backends nothing selects it
      if (backends.length === 0 && ips.length === 0)
        return [{ kind: 'ip', ip: '', name: `${endpointName(e)} (no known backends)` }];
      return [
        ...backends.map((b) => podEnd(index, b, '')),
        ...ips.map((ip): ConnEnd => ({ kind: 'ip', ip, name: `${endpointName(e)} via ${ip}` })),
      ];
    }
    default:
      return [{ kind: 'ip', ip: e.ip, name: endpointName(e) }];
  }
}

export interface FlowVerdict {
  flow: FlowRecord;
  allowed: boolean;
  /** one verdict per connection the flow stands for (several for a Service with several backends) */
  connections: Array<{ src: string; dst: string; verdict: ConnectionVerdict }>;
}

export function evaluateFlow(index: PolicyIndex, f: FlowRecord): FlowVerdict {
  const locals = ends(index, f.local);
  const peers = ends(index, f.peer);
  const connections: FlowVerdict['connections'] = [];
  for (const l of locals) {
    for (const p of peers) {
      const [src, dst] = f.direction === 'egress' ? [l, p] : [p, l];
      const verdict = evaluateConnection(index, {
        src,
        dst,
        protocol: f.protocol,
        port: f.port,
        ...(f.port_name ? { portName: f.port_name } : {}),
      });
      connections.push({ src: src.name, dst: dst.name, verdict });
    }
  }
  return { flow: f, allowed: connections.every((c) => c.verdict.allowed), connections };
}

export interface VerifyReport {
  results: FlowVerdict[];
  allowed: number;
  denied: number;
}

export function verifyFlows(set: PolicySet, flows: readonly FlowRecord[]): VerifyReport {
  const index = new PolicyIndex(set);
  const results = flows.map((f) => evaluateFlow(index, f));
  const denied = results.filter((r) => !r.allowed).length;
  return { results, allowed: results.length - denied, denied };
}

/** Short text of why a flow was allowed or denied (for the table). */
export function verdictText(v: FlowVerdict): string {
  const parts: string[] = [];
  for (const c of v.connections) {
    for (const s of c.verdict.sides) {
      if (!v.allowed && s.allowed) continue;
      if (v.allowed) {
        parts.push(
          s.allowedBy.length
            ? `${s.direction}: ${s.allowedBy.map(formatRuleRef).join(', ')}`
            : `${s.direction}: ${s.reason}`,
        );
      } else {
        const why = s.explain ? ` (${explainText(s.explain, s.direction)})` : '';
        parts.push(`${s.direction}: ${s.reason}${why}`);
      }
    }
  }
  return [...new Set(parts)].join('; ') || 'no policy applies (node or external ends only)';
}

/** A denied side of a connection: the pod, the policies isolating it, why none of their rules match. */
export interface Denial {
  direction: 'ingress' | 'egress';
  /** the pod whose policies deny it */
  pod: string;
  src: string;
  dst: string;
  policies: PolicyExplanation[];
}

/** The denied sides of a flow (verify -o json `denials`). */
export function flowDenials(v: FlowVerdict): Denial[] {
  const out: Denial[] = [];
  for (const c of v.connections) {
    for (const s of c.verdict.sides) {
      if (s.allowed) continue;
      out.push({
        direction: s.direction,
        pod: s.pod,
        src: c.src,
        dst: c.dst,
        policies: s.explain ?? [],
      });
    }
  }
  return out;
}
