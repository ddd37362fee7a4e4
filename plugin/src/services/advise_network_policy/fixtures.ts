// Flow records for tests and the benchmark: builders and a multi-tier demo (frontend -> backend
// -> db, DNS, an external address, a Service, node traffic).

import { closeSync, openSync, writeSync } from 'node:fs';
import {
  FLOW_SCHEMA,
  formatFlowLine,
  type Endpoint,
  type FlowRecord,
  type Protocol,
  type WorkloadRef,
} from './flow.js';
import type { Labels } from './labels.js';

export function pod(
  namespace: string,
  workload: string,
  labels: Labels,
  ip: string,
  extra: Partial<Endpoint> = {},
): Endpoint {
  return { kind: 'pod', ip, namespace, workload, workload_kind: 'Deployment', labels, ...extra };
}

export function external(ip: string): Endpoint {
  return { kind: 'external', ip };
}

export function node(name: string, ip: string): Endpoint {
  return { kind: 'node', ip, node: name };
}

export function service(
  namespace: string,
  name: string,
  ip: string,
  port: number,
  backends: WorkloadRef[],
): Endpoint {
  return { kind: 'service', ip, service: { namespace, name, port }, backends };
}

export function flow(
  direction: 'ingress' | 'egress',
  local: Endpoint,
  peer: Endpoint,
  protocol: Protocol,
  port: number,
  extra: Partial<FlowRecord> = {},
): FlowRecord {
  return {
    schema: FLOW_SCHEMA,
    node: 'node-1',
    direction,
    protocol,
    port,
    local,
    peer,
    count: 1,
    first_seen: '2025-01-01T00:00:00.000Z',
    last_seen: '2025-01-01T00:00:00.000Z',
    ...extra,
  };
}

export const DEMO = {
  frontend: pod(
    'demo',
    'frontend',
    { app: 'frontend', 'pod-template-hash': '5d8f7c' },
    '10.244.0.10',
  ),
  backend: pod('demo', 'backend', { app: 'backend', tier: 'api' }, '10.244.0.20'),
  db: pod('db', 'postgres', { app: 'postgres', 'controller-revision-hash': 'abc' }, '10.244.0.30', {
    workload_kind: 'StatefulSet',
  }),
  dns: pod(
    'kube-system',
    'coredns',
    { 'k8s-app': 'kube-dns', 'pod-template-hash': '99' },
    '10.244.0.53',
  ),
  node: node('node-1', '192.168.1.10'),
  internet: external('203.0.113.7'),
  internet6: external('2001:db8::7'),
};

/** The multi-tier demo as monitor would record it (both ends of each connection on one node). */
export function demoFlows(): FlowRecord[] {
  const { frontend, backend, db, dns, node: n, internet, internet6 } = DEMO;
  const backendSvc = service('demo', 'backend', '10.96.0.20', 80, [
    {
      namespace: 'demo',
      workload: 'backend',
      workload_kind: 'Deployment',
      labels: { app: 'backend', tier: 'api' },
    },
  ]);
  return [
    // frontend -> backend through its Service (port 80 -> targetPort 8080 named http)
    flow('egress', frontend, backendSvc, 'TCP', 8080, { port_name: 'http', count: 40 }),
    flow('ingress', backend, frontend, 'TCP', 8080, { port_name: 'http', count: 40 }),
    // backend -> db, TCP 5432 and UDP 5433 (merged into one rule with two ports)
    flow('egress', backend, db, 'TCP', 5432, { count: 12 }),
    flow('ingress', db, backend, 'TCP', 5432, { count: 12 }),
    flow('egress', backend, db, 'UDP', 5433, { count: 7 }),
    flow('ingress', db, backend, 'UDP', 5433, { count: 7 }),
    // DNS lookups from frontend and backend
    flow('egress', frontend, dns, 'UDP', 53, {
      count: 5,
      dns_queries: ['backend.demo.svc.cluster.local'],
    }),
    flow('ingress', dns, frontend, 'UDP', 53, { count: 5 }),
    flow('egress', backend, dns, 'UDP', 53, { count: 3 }),
    flow('ingress', dns, backend, 'UDP', 53, { count: 3 }),
    // backend -> an address outside the cluster, v4 and v6
    flow('egress', backend, internet, 'TCP', 443, { count: 2 }),
    flow('egress', backend, internet6, 'TCP', 443, { count: 1 }),
    // kubelet probes: node traffic, left out of the policies
    flow('ingress', backend, n, 'TCP', 8080, { count: 30 }),
  ];
}

/**
 * `n` distinct flows (up to 10^6): 1000 workloads in 50 namespaces, each talking to peers on many ports;
 * `node` names where they were captured (a flow's key leaves the node out, so the same flows
 * under another node merge with these).
 */
export function* syntheticFlows(n: number, node?: string): Generator<FlowRecord> {
  const t = '2025-01-01T00:00:00.000Z';
  for (let i = 0; i < n; i++) {
    const w = i % 1000;
    const p = (i * 7919) % 1000;
    yield {
      schema: FLOW_SCHEMA,
      node: node ?? `node${w % 10}`,
      direction: i % 2 ? 'ingress' : 'egress',
      protocol: i % 3 ? 'TCP' : 'UDP',
      port: 1000 + (Math.floor(i / 1000) % 1000),
      local: pod(`ns${w % 50}`, `app${w}`, { app: `app${w}`, 'pod-template-hash': 'abc' }, ip(w)),
      peer:
        i % 5 === 0
          ? external(`203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
          : pod(`ns${p % 50}`, `app${p}`, { app: `app${p}` }, ip(p)),
      count: 1 + (i % 17),
      first_seen: t,
      last_seen: t,
    };
  }
}

function ip(w: number): string {
  return `10.${(w >> 8) & 255}.${w & 255}.1`;
}

/** Writes flows as NDJSON a chunk at a time (a million records do not fit one string). */
export function writeFlowFile(path: string, ...sources: Iterable<FlowRecord>[]): number {
  const fd = openSync(path, 'w');
  let n = 0;
  try {
    let chunk = '';
    for (const src of sources) {
      for (const f of src) {
        chunk += formatFlowLine(f);
        n++;
        if (chunk.length > 1 << 20) {
          writeSync(fd, chunk);
          chunk = '';
        }
      }
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return n;
}
