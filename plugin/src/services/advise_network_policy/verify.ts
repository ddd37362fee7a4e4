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
import { namespaceLabels, selectorMatches, type Labels } from './labels.js';
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

function judgeSide(
  index: PolicyIndex,
  pod: Extract<ConnEnd, { kind: 'pod' }>,
  other: ConnEnd,
  c: Connection,
  type: PolicyType,
): SideVerdict {
  const direction = type === 'Ingress' ? 'ingress' : 'egress';
  const isolatedBy: string[] = [];
  const allowedBy: RuleRef[] = [];
  for (const p of index.policiesFor(pod.namespace)) {
    if (!selectorMatches(p.spec.podSelector, pod.labels)) continue;
    if (!effectivePolicyTypes(p).includes(type)) continue;
    const id = policyId(p);
    isolatedBy.push(id);
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
        parts.push(`${s.direction}: ${s.reason}`);
      }
    }
  }
  return [...new Set(parts)].join('; ') || 'no policy applies (node or external ends only)';
}
