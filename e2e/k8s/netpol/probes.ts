// Probes: connections made from inside pods (kubectl exec), what kube-router lets through, and
// the same connections as flow records for `verify`, so that both can be compared one by one.

import { readFileSync } from 'node:fs';
import {
  FLOW_SCHEMA,
  type Endpoint,
  type FlowRecord,
  type Protocol,
} from '../../../plugin/src/services/advise_network_policy/flow.js';
import { workloadLabels } from '../../../plugin/src/services/advise_network_policy/labels.js';
import { NODE_NAME, kubectl, kubectlOk, type Cluster } from '../../k8s-node/cluster.js';
import { DB_NS, DNS_NODE_IP, DNS_SERVICE_IP, NS } from './demo.js';

/** A pod as a probe source or destination. */
export interface PodEnd {
  kind: 'pod';
  /** short name in tables: frontend, backend, postgres, stranger */
  short: string;
  namespace: string;
  pod: string;
  ip: string;
  workload: string;
  workloadKind: string;
  labels: Record<string, string>;
  /** containerPort number -> name */
  portNames: Map<number, string>;
}

export type Target =
  | { kind: 'pod'; end: PodEnd; port: number }
  | { kind: 'external'; ip: string; port: number }
  /** UDP DNS through the kube-dns Service (served by CoreDNS on the node) */
  | { kind: 'dns' }
  /** UDP to the syslog sink, sent by the source's syslogd (`logger`) */
  | { kind: 'syslog'; ip: string; port: number };

export interface Probe {
  id: string;
  src: PodEnd;
  dst: Target;
  /** through a Service ClusterIP:port (DNAT to the pod) instead of the pod address */
  via?: { ip: string; port: number; namespace: string; name: string };
}

export function protocolOf(p: Probe): Protocol {
  return p.dst.kind === 'dns' || p.dst.kind === 'syslog' ? 'UDP' : 'TCP';
}

export function portOf(p: Probe): number {
  return p.dst.kind === 'dns' ? 53 : p.dst.port;
}

export function describe(p: Probe): string {
  const d = p.dst;
  const dst =
    d.kind === 'pod'
      ? `${d.end.short}:${d.port}${d.end.portNames.has(d.port) ? `(${d.end.portNames.get(d.port)})` : ''}`
      : d.kind === 'dns'
        ? 'kube-dns UDP/53'
        : d.kind === 'syslog'
          ? `${d.ip} UDP/${d.port}`
          : `${d.ip}:${d.port}`;
  return `${p.src.short} -> ${dst}${p.via ? ` via svc/${p.via.name}` : ''}`;
}

interface PodJson {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
  spec: { containers: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> };
  status: { podIP?: string };
}

/** The running pod of a workload (by label app=NAME), with what verify needs to know of it. */
export function podEnd(c: Cluster, namespace: string, app: string): PodEnd {
  const list = JSON.parse(
    kubectlOk(c, ['-n', namespace, 'get', 'pods', '-l', `app=${app}`, '-o', 'json']),
  ) as { items: PodJson[] };
  const running = list.items.filter((p) => p.status.podIP);
  if (running.length !== 1) throw new Error(`${namespace}: ${running.length} pods app=${app}`);
  const p = running[0]!;
  const owner = p.metadata.ownerReferences?.[0];
  // a ReplicaSet's Deployment: the ReplicaSet name minus its hash
  const workload =
    owner?.kind === 'ReplicaSet'
      ? owner.name.replace(/-[a-z0-9]+$/, '')
      : (owner?.name ?? p.metadata.name);
  const workloadKind = owner ? (owner.kind === 'ReplicaSet' ? 'Deployment' : owner.kind) : 'Pod';
  const portNames = new Map<number, string>();
  for (const ct of p.spec.containers)
    for (const port of ct.ports ?? []) if (port.name) portNames.set(port.containerPort, port.name);
  return {
    kind: 'pod',
    short: app,
    namespace,
    pod: p.metadata.name,
    ip: p.status.podIP!,
    workload,
    workloadKind,
    labels: workloadLabels(p.metadata.labels),
    portNames,
  };
}

function shellOf(p: Probe, token: string): string {
  const d = p.dst;
  switch (d.kind) {
    case 'pod':
    case 'external': {
      const [ip, port] = p.via
        ? [p.via.ip, p.via.port]
        : [d.kind === 'pod' ? d.end.ip : d.ip, d.port];
      return `timeout 6 wget -q -O- http://${ip}:${port}/ >/dev/null 2>&1`;
    }
    case 'dns':
      // a name the server answers from its own data: the probe needs no upstream
      return `timeout 6 nslookup kubernetes.default.svc.cluster.local ${DNS_SERVICE_IP} >/dev/null 2>&1`;
    case 'syslog':
      return `logger -t kgprobe ${token}`;
  }
}

export interface ProbeResult {
  probe: Probe;
  /** the connection went through (HTTP answer, DNS answer, datagram at the sink) */
  ok: boolean;
}

/**
 * Runs the probes, one `kubectl exec` per source pod (each probe a line of its shell script),
 * UDP syslog probes checked at the sink file. `tag` makes the datagrams of this round unique.
 */
export async function runProbes(
  c: Cluster,
  probes: readonly Probe[],
  sinkFile: string,
  tag: string,
): Promise<ProbeResult[]> {
  const bySrc = new Map<string, Probe[]>();
  for (const p of probes) {
    const k = `${p.src.namespace}/${p.src.pod}`;
    bySrc.set(k, [...(bySrc.get(k) ?? []), p]);
  }
  const results = new Map<string, boolean>();
  const tokens = new Map<string, string>();
  for (const list of bySrc.values()) {
    const src = list[0]!.src;
    const lines = list.map((p) => {
      const token = `kgprobe-${tag}-${p.id}`;
      tokens.set(p.id, token);
      return `if ${shellOf(p, token)}; then echo "${p.id} ok"; else echo "${p.id} fail"; fi`;
    });
    const r = kubectl(
      c,
      ['-n', src.namespace, 'exec', src.pod, '--', '/bin/sh', '-c', lines.join('\n')],
      undefined,
      180_000,
    );
    if (r.status !== 0) throw new Error(`probes from ${src.pod}: exit ${r.status}: ${r.stderr}`);
    for (const m of r.stdout.matchAll(/^(\S+) (ok|fail)$/gm)) results.set(m[1]!, m[2] === 'ok');
  }
  // datagrams: at the sink within 3 s, or not at all
  const syslog = probes.filter((p) => p.dst.kind === 'syslog');
  if (syslog.length) {
    const deadline = Date.now() + 3000;
    for (;;) {
      const got = readFileSync(sinkFile, 'utf8');
      const all = syslog.every((p) => got.includes(tokens.get(p.id)!));
      if (all || Date.now() > deadline) {
        for (const p of syslog) results.set(p.id, got.includes(tokens.get(p.id)!));
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  return probes.map((probe) => {
    const ok = results.get(probe.id);
    if (ok === undefined) throw new Error(`probe ${probe.id} (${describe(probe)}) gave no result`);
    return { probe, ok };
  });
}

function podEndpoint(e: PodEnd): Endpoint {
  return {
    kind: 'pod',
    ip: e.ip,
    namespace: e.namespace,
    workload: e.workload,
    workload_kind: e.workloadKind,
    labels: e.labels,
    pods: [e.pod],
  };
}

/** The probe as the monitor would record it at its source: an egress flow. */
export function probeRecord(p: Probe): FlowRecord {
  const d = p.dst;
  let peer: Endpoint;
  let portName: string | undefined;
  switch (d.kind) {
    case 'pod':
      peer = podEndpoint(d.end);
      portName = d.end.portNames.get(d.port);
      break;
    case 'external':
    case 'syslog':
      peer = { kind: 'external', ip: d.ip };
      break;
    case 'dns':
      peer = {
        kind: 'service',
        ip: DNS_SERVICE_IP,
        service: { namespace: 'kube-system', name: 'kube-dns', port: 53 },
        backends: [],
        backend_ips: [DNS_NODE_IP],
      };
      break;
  }
  const now = new Date().toISOString();
  return {
    schema: FLOW_SCHEMA,
    node: NODE_NAME,
    direction: 'egress',
    protocol: protocolOf(p),
    port: portOf(p),
    ...(portName ? { port_name: portName } : {}),
    local: podEndpoint(p.src),
    peer,
    count: 1,
    first_seen: now,
    last_seen: now,
  };
}

/** The key that finds a probe's verdict in verify's output (one probe per key). */
export function recordKey(f: FlowRecord): string {
  return `${f.local.namespace}/${f.local.workload} ${f.peer.ip} ${f.protocol}/${f.port}`;
}

/**
 * The hand-written stricter set: named ports, endPort ranges and ipBlock.except, a default deny
 * of ingress in the app's namespace (which the generated set does not have), and DNS over UDP only.
 */
export function strictPolicies(): unknown[] {
  const np = (name: string, namespace: string, spec: Record<string, unknown>): unknown => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  });
  const dns = {
    to: [{ ipBlock: { cidr: `${DNS_NODE_IP}/32` } }],
    ports: [{ protocol: 'UDP', port: 53 }],
  };
  return [
    np('strict-default-deny-ingress', NS, {
      podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['visitor'] }] },
      policyTypes: ['Ingress'],
    }),
    np('strict-frontend', NS, {
      podSelector: { matchLabels: { app: 'frontend' } },
      policyTypes: ['Ingress', 'Egress'],
      egress: [
        // the named port of the backend pods
        { to: [{ podSelector: { matchLabels: { app: 'backend' } } }], ports: [{ port: 'http' }] },
        // the outside /29 but the address never contacted, a port range around 8443
        {
          to: [{ ipBlock: { cidr: '10.242.0.0/29', except: ['10.242.0.6/32'] } }],
          ports: [{ protocol: 'TCP', port: 8400, endPort: 8500 }],
        },
        dns,
      ],
    }),
    np('strict-backend', NS, {
      podSelector: { matchLabels: { app: 'backend', tier: 'api' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: 'frontend' } } }],
          ports: [{ port: 'http' }],
        },
      ],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': DB_NS } },
              podSelector: { matchLabels: { app: 'postgres' } },
            },
          ],
          ports: [{ port: 'postgres' }],
        },
        {
          to: [{ ipBlock: { cidr: '10.242.0.0/24', except: ['10.242.0.4/30'] } }],
          ports: [{ protocol: 'UDP', port: 5500, endPort: 5520 }],
        },
        dns,
      ],
    }),
    np('strict-postgres', DB_NS, {
      podSelector: { matchLabels: { app: 'postgres' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchExpressions: [
                  { key: 'kubernetes.io/metadata.name', operator: 'In', values: [NS] },
                ],
              },
              podSelector: { matchLabels: { tier: 'api' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 5400, endPort: 5440 }],
        },
      ],
    }),
  ];
}
