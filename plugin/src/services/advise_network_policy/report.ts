// `advise network-policy report`: recorded flows -> one networking.k8s.io/v1 NetworkPolicy per
// workload, covering Ingress and Egress, allowing exactly the traffic that was seen.
//
// - A workload is a pod group seen as the local end of a flow, selected by its labels minus
//   the revision and per-pod labels (pod-template-hash, controller-revision-hash, the StatefulSet
//   pod name and index, ...: labels.ts REVISION_LABELS).
// - Every record gives rules to both ends when both are workloads: an egress record A -> B is
//   an egress rule of A and an ingress rule of B (so one node's view still gives both sides).
// - Pod peers: podSelector + namespaceSelector (kubernetes.io/metadata.name). Services: the pods
//   behind them (policies apply after DNAT). Other addresses: ipBlock /32 or /128.
// - DNS lookups (port 53) allow UDP and TCP 53 to the DNS pods, or to kube-dns when the server
//   could not be identified.
// - Node traffic (the node, hostNetwork pods) is reported in the header and left out by default:
//   ingress from a pod's node is always allowed.
// - Peers with the same ports share a rule; ports of one peer share a rule. Output is sorted.

import { Document } from 'yaml';
import { escapeControl } from '../../output/escape.js';
import {
  endpointName,
  isNodeEndpoint,
  workloadKey,
  type Endpoint,
  type FlowRecord,
  type Protocol,
  type WorkloadRef,
} from './flow.js';
import { hostCidr } from './ip.js';
import { labelsKey, NAMESPACE_NAME_LABEL, workloadLabels, type Labels } from './labels.js';
import type {
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from './policy.js';

export interface ReportOptions {
  /** allow node traffic explicitly (ipBlock of the node address) instead of leaving it out */
  includeNode?: boolean;
  /** use the destination's port name when the flow recorded one */
  namedPorts?: boolean;
  /** the cluster DNS pods, for lookups whose server could not be identified */
  dnsNamespace?: string;
  dnsLabels?: Labels;
}

export const DEFAULT_DNS_NAMESPACE = 'kube-system';
export const DEFAULT_DNS_LABELS: Labels = { 'k8s-app': 'kube-dns' };
export const DNS_PORT = 53;

export interface Report {
  policies: NetworkPolicy[];
  /** what was left out or could not be expressed, one line each (also in the YAML header) */
  notes: string[];
  yaml: string;
}

export interface Workload {
  namespace: string;
  name: string;
  kind: string;
  labels: Labels;
}

/** A peer in rule form, with its sort key. */
interface PeerSpec {
  key: string;
  peer: NetworkPolicyPeer;
}

interface PortSpec {
  protocol: Protocol;
  port: number | string;
}

function portKey(p: PortSpec): string {
  return `${p.protocol}/${typeof p.port === 'number' ? String(p.port).padStart(5, '0') : `~${p.port}`}`;
}

function podPeer(w: { namespace: string; labels: Labels }): PeerSpec {
  const labels = workloadLabels(w.labels);
  return {
    key: `0|${w.namespace}|${labelsKey(labels)}`,
    peer: {
      podSelector: { matchLabels: labels },
      namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: w.namespace } },
    },
  };
}

function ipPeer(ip: string): PeerSpec {
  const cidr = hostCidr(ip);
  return { key: `1|${cidr.includes(':') ? 6 : 4}|${ip}`, peer: { ipBlock: { cidr } } };
}

function dnsName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return n || 'workload';
}

export function workloadOf(e: Endpoint | WorkloadRef): Workload {
  return {
    namespace: e.namespace ?? '',
    name: e.workload ?? '',
    kind: e.workload_kind ?? '',
    labels: workloadLabels(e.labels),
  };
}

export function wkey(w: Workload): string {
  return workloadKey({ namespace: w.namespace, workload: w.name, labels: w.labels });
}

export class RuleSet {
  /** peer key -> peer and its ports */
  readonly peers = new Map<string, { spec: PeerSpec; ports: Map<string, PortSpec> }>();

  add(spec: PeerSpec, ports: PortSpec[]): void {
    let e = this.peers.get(spec.key);
    if (!e) this.peers.set(spec.key, (e = { spec, ports: new Map() }));
    for (const p of ports) e.ports.set(portKey(p), p);
  }

  /** Rules: peers with identical port sets share one rule; sorted by first peer. */
  rules(): Array<{ peers: NetworkPolicyPeer[]; ports: NetworkPolicyPort[] }> {
    const byPorts = new Map<string, { peers: PeerSpec[]; ports: PortSpec[] }>();
    for (const { spec, ports } of this.peers.values()) {
      const list = [...ports.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const k = list.map(([pk]) => pk).join(',');
      let g = byPorts.get(k);
      if (!g) byPorts.set(k, (g = { peers: [], ports: list.map(([, p]) => p) }));
      g.peers.push(spec);
    }
    const groups = [...byPorts.values()];
    for (const g of groups) g.peers.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    groups.sort((a, b) => (a.peers[0]!.key < b.peers[0]!.key ? -1 : 1));
    return groups.map((g) => ({
      peers: g.peers.map((p) => p.peer),
      ports: g.ports.map((p) => ({ protocol: p.protocol, port: p.port })),
    }));
  }
}

export interface Policyable {
  workload: Workload;
  /** seen as the local end of a flow (not only as a peer) */
  local: boolean;
  ingress: RuleSet;
  egress: RuleSet;
}

/** Notes deduplicated, control characters escaped (they quote recorded data and become comments). */
export function noteList(notes: string[]): (text: string) => void {
  const noted = new Set<string>();
  return (text: string): void => {
    const s = escapeControl(text);
    if (!noted.has(s)) {
      noted.add(s);
      notes.push(s);
    }
  };
}

/** Targets in a stable order: namespace, workload name, labels. */
export function sortTargets(targets: Iterable<Policyable>): Policyable[] {
  const key = (t: Policyable): string =>
    `${t.workload.namespace}\u0000${t.workload.name}\u0000${labelsKey(t.workload.labels)}`;
  return [...targets].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function isDnsFlow(f: FlowRecord): boolean {
  return f.port === DNS_PORT && (f.protocol === 'UDP' || f.protocol === 'TCP');
}

/** Collects rule contributions; hooks let `report --from-cluster` (merge.ts) pick which are kept. */
export interface CollectHooks {
  /** also give rules to pod workloads seen only as peers (not as local ends) */
  peers?: boolean;
  /** whether the rules a flow gives to one workload in one direction are kept (default: all) */
  keep?(f: FlowRecord, t: Policyable, direction: 'ingress' | 'egress'): boolean;
}

/** The pod workloads that may get rules, by workload key, with the rules the flows give them. */
export function collectRules(
  flows: readonly FlowRecord[],
  opts: ReportOptions,
  note: (text: string) => void,
  hooks: CollectHooks = {},
): Map<string, Policyable> {
  const dnsPeer = podPeer({
    namespace: opts.dnsNamespace ?? DEFAULT_DNS_NAMESPACE,
    labels: opts.dnsLabels ?? DEFAULT_DNS_LABELS,
  });
  const keep = hooks.keep ?? (() => true);

  // 1. the workloads that get a policy: pods seen as a local end (and peers, when asked)
  const targets = new Map<string, Policyable>();
  const addTarget = (e: Endpoint | WorkloadRef, local: boolean): void => {
    const w = workloadOf(e);
    if (Object.keys(w.labels).length === 0) {
      if (local && 'kind' in e)
        note(`no policy for ${endpointName(e)}: its pods have no labels to select them by`);
      return;
    }
    const k = wkey(w);
    const have = targets.get(k);
    if (have) have.local ||= local;
    else targets.set(k, { workload: w, local, ingress: new RuleSet(), egress: new RuleSet() });
  };
  for (const f of flows) {
    const l = f.local;
    if (l.kind === 'pod' && !l.host_network) addTarget(l, true);
  }
  if (hooks.peers) {
    for (const f of flows) {
      const p = f.peer;
      if (p.kind === 'pod' && !p.host_network) addTarget(p, false);
      if (p.kind === 'service') for (const b of p.backends ?? []) addTarget(b, false);
    }
  }
  const target = (e: Endpoint | WorkloadRef): Policyable | undefined => {
    if ('kind' in e && (e.kind !== 'pod' || e.host_network)) return undefined;
    return targets.get(wkey(workloadOf(e)));
  };

  // 2. every record gives rules to the workloads at its ends
  for (const f of flows) {
    const dns = isDnsFlow(f);
    const port: number | string = opts.namedPorts && f.port_name ? f.port_name : f.port;
    const ports: PortSpec[] = dns
      ? [
          { protocol: 'TCP', port: DNS_PORT },
          { protocol: 'UDP', port: DNS_PORT },
        ]
      : [{ protocol: f.protocol, port }];
    const what = `${f.protocol}/${f.port}`;
    const [src, dst] = f.direction === 'egress' ? [f.local, f.peer] : [f.peer, f.local];

    if (isNodeEndpoint(src) || isNodeEndpoint(dst)) {
      const line = `node traffic ${opts.includeNode ? 'allowed by ipBlock' : 'left out'}: ${endpointName(src)} -> ${endpointName(dst)} ${what}`;
      note(line);
      if (!opts.includeNode) continue;
    }

    // the destination as seen by the source's egress rules (a Service: its backends)
    const dstPeers: Array<{ spec: PeerSpec; pod?: WorkloadRef | Endpoint }> = [];
    if (dst.kind === 'service') {
      const backends = dst.backends ?? [];
      const ips = dst.backend_ips ?? [];
      if (backends.length === 0) {
        if (dns) dstPeers.push({ spec: dnsPeer });
        else if (ips.length === 0)
          note(
            `no rule for ${endpointName(src)} -> ${endpointName(dst)} ${what}: the Service has no known backends`,
          );
      }
      for (const b of backends) dstPeers.push({ spec: podPeer(workloadOf(b)), pod: b });
      // after DNAT the packets go to these addresses: pod selectors cannot match them
      for (const ip of ips) dstPeers.push({ spec: ipPeer(ip) });
      if (ips.length) {
        note(`${endpointName(dst)} is served by ${ips.join(', ')} (not pods): allowed by ipBlock`);
      }
    } else if (dst.kind === 'pod' && !dst.host_network) {
      dstPeers.push({ spec: podPeer(workloadOf(dst)), pod: dst });
    } else if (dst.ip) {
      dstPeers.push({ spec: ipPeer(dst.ip) });
    } else {
      note(`no rule for ${endpointName(src)} -> ${endpointName(dst)} ${what}: no address`);
    }

    // the source as seen by the destination's ingress rules
    let srcPeer: PeerSpec | undefined;
    if (src.kind === 'pod' && !src.host_network) srcPeer = podPeer(workloadOf(src));
    else if (src.ip) srcPeer = ipPeer(src.ip);

    const srcTarget = target(src);
    if (srcTarget && keep(f, srcTarget, 'egress'))
      for (const d of dstPeers) srcTarget.egress.add(d.spec, ports);
    if (srcPeer) {
      for (const d of dstPeers) {
        const t = d.pod ? target(d.pod) : undefined;
        if (t && keep(f, t, 'ingress')) t.ingress.add(srcPeer, ports);
      }
    }
  }
  return targets;
}

/** A policy name from a workload name: DNS label characters only. */
export function policyBaseName(w: Workload): string {
  return dnsName(w.name || Object.values(w.labels)[0] || 'workload').slice(0, 245);
}

/** Builds the policies for the workloads seen as local ends. */
export function buildReport(flows: readonly FlowRecord[], opts: ReportOptions = {}): Report {
  const notes: string[] = [];
  const note = noteList(notes);
  const targets = collectRules(flows, opts, note);

  // 3. policies, named after their workload, unique per namespace
  const list = sortTargets(targets.values());
  const used = new Set<string>();
  const policies: NetworkPolicy[] = [];
  for (const t of list) {
    const w = t.workload;
    const base = policyBaseName(w);
    let name = `${base}-network`;
    for (let i = 2; used.has(`${w.namespace}/${name}`); i++) name = `${base}-network-${i}`;
    used.add(`${w.namespace}/${name}`);
    const ingress: NetworkPolicyIngressRule[] = t.ingress
      .rules()
      .map((r) => ({ from: r.peers, ports: r.ports }));
    const egress: NetworkPolicyEgressRule[] = t.egress
      .rules()
      .map((r) => ({ to: r.peers, ports: r.ports }));
    policies.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: w.namespace },
      spec: {
        podSelector: { matchLabels: w.labels },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress,
      },
    });
  }
  return { policies, notes, yaml: policiesYaml(policies, notes, flows.length) };
}

/** Multi-document YAML, the notes as a comment on top. Deterministic (no timestamps). */
export function policiesYaml(
  policies: readonly NetworkPolicy[],
  notes: readonly string[],
  flowCount?: number,
): string {
  const header = [
    ` Generated by kubectl-gadget advise network-policy report${flowCount !== undefined ? ` from ${flowCount} flow record(s)` : ''}.`,
    ...notes.map((n) => ` ${n}`),
  ].join('\n');
  if (policies.length === 0) return `#${header.replace(/\n/g, '\n#')}\n# (no policies)\n`;
  return policies
    .map((p, i) => {
      const doc = new Document(p);
      if (i === 0) doc.commentBefore = header;
      return doc.toString({ lineWidth: 0 });
    })
    .join('---\n');
}
