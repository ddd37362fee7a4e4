import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { ClusterSnapshot, toApiJson } from './cluster.js';
import type { Endpoint } from './flow.js';

function pod(
  ns: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
  extra: Partial<V1Pod['spec']> = {},
  owner?: { kind: string; name: string },
): V1Pod {
  return {
    metadata: {
      namespace: ns,
      name,
      uid: `uid-${name}`,
      labels,
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: owner.kind,
                name: owner.name,
                uid: 'x',
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      containers: [{ name: 'c', ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }] }],
      ...extra,
    },
    status: { podIP: ip, podIPs: [{ ip }], phase: 'Running' },
  } as V1Pod;
}

const PODS: V1Pod[] = [
  pod(
    'shop',
    'api-7f-a',
    '10.244.0.7',
    { app: 'api', 'pod-template-hash': '7f' },
    {},
    { kind: 'ReplicaSet', name: 'api-7f' },
  ),
  pod(
    'shop',
    'api-7f-b',
    '10.244.0.8',
    { app: 'api', 'pod-template-hash': '7f' },
    {},
    { kind: 'ReplicaSet', name: 'api-7f' },
  ),
  pod(
    'kube-system',
    'node-exporter-x',
    '192.168.0.10',
    { app: 'ne' },
    { hostNetwork: true },
    { kind: 'DaemonSet', name: 'node-exporter' },
  ),
];
const SERVICES: V1Service[] = [
  {
    metadata: { namespace: 'shop', name: 'api' },
    spec: {
      clusterIP: '10.96.0.50',
      clusterIPs: ['10.96.0.50'],
      ports: [{ name: 'web', port: 80, protocol: 'TCP', targetPort: 'http' as unknown as never }],
    },
  } as V1Service,
];
const SLICES: V1EndpointSlice[] = [
  {
    metadata: {
      namespace: 'shop',
      name: 'api-abc',
      labels: { 'kubernetes.io/service-name': 'api' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: ['10.244.0.7'],
        targetRef: { kind: 'Pod', namespace: 'shop', name: 'api-7f-a' },
      },
      {
        addresses: ['10.244.0.8'],
        targetRef: { kind: 'Pod', namespace: 'shop', name: 'api-7f-b' },
      },
    ],
  } as V1EndpointSlice,
];
const NODES: V1Node[] = [
  {
    metadata: { name: 'node-a' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] },
  } as V1Node,
];

function snapshot(): ClusterSnapshot {
  const s = new ClusterSnapshot();
  s.load({
    pods: PODS,
    services: SERVICES,
    slices: SLICES,
    nodes: NODES,
    namespaces: [{ name: 'shop', labels: { team: 'a' } }],
  });
  return s;
}

const ctx = (port: number, direction: 'egress' | 'ingress' = 'egress') => ({
  node: 'node-a',
  direction,
  protocol: 'TCP' as const,
  port,
  local: { kind: 'unknown', ip: '' } as Endpoint,
});

test('cluster identities: pods by IP, Services to backends and target ports, nodes, hostNetwork', () => {
  const s = snapshot();
  const p = s.peer('10.244.0.8', ctx(8080))!;
  assert.deepEqual(p, {
    endpoint: {
      kind: 'pod',
      ip: '10.244.0.8',
      namespace: 'shop',
      workload: 'api',
      workload_kind: 'Deployment',
      labels: { app: 'api' },
      namespace_labels: { team: 'a' },
      pods: ['api-7f-b'],
    },
    portName: 'http',
  });
  const svc = s.peer('10.96.0.50', ctx(80))!;
  assert.equal(svc.port, 8080, 'targetPort through the EndpointSlice');
  assert.equal(svc.portName, 'http');
  assert.deepEqual(svc.endpoint.service, { namespace: 'shop', name: 'api', port: 80 });
  assert.deepEqual(svc.endpoint.backends, [
    {
      namespace: 'shop',
      workload: 'api',
      workload_kind: 'Deployment',
      labels: { app: 'api' },
      namespace_labels: { team: 'a' },
    },
  ]);
  assert.deepEqual(
    s.peer('192.168.0.10', ctx(9100))!.endpoint,
    { kind: 'node', ip: '192.168.0.10', node: 'node-a' },
    'a hostNetwork pod IP is the node',
  );
  assert.equal(s.peer('8.8.8.8', ctx(53)), undefined);
  const local = s.local({
    node: 'node-a',
    netns: 1,
    mntns: 2,
    pid: 3,
    comm: 'x',
    ip: '10.244.0.7',
  })!;
  assert.equal(local.workload, 'api');
  assert.equal(s.localPortName(local, 8080, 'TCP'), 'http');
  assert.equal(s.localPortName(local, 8080, 'UDP'), undefined);
  const byUid = s.local({
    node: 'n',
    netns: 1,
    mntns: 2,
    pid: 3,
    comm: 'x',
    ip: '',
    container: { k8s: { podUid: 'uid-node-exporter-x' } } as never,
  })!;
  assert.equal(byUid.host_network, true);
  assert.equal(byUid.workload, 'node-exporter');
});

test('toApiJson: the typed client renames fields; the wire names come back', async () => {
  const k8s = await import('@kubernetes/client-node');
  const typed = {
    spec: {
      podSelector: {},
      ingress: [
        {
          _from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ port: 'http' }],
        },
      ],
    },
    metadata: { name: 'x', creationTimestamp: new Date(0) },
  };
  assert.deepEqual(toApiJson(k8s, typed, 'V1NetworkPolicy'), {
    metadata: { name: 'x', creationTimestamp: '1970-01-01T00:00:00.000Z' },
    spec: {
      podSelector: {},
      ingress: [
        {
          from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ port: 'http' }],
        },
      ],
    },
  });
});
