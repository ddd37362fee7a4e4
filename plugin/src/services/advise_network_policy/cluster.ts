// The cluster side of the network-policy tools, through @kubernetes/client-node (loaded lazily):
// - verify --from-cluster: every NetworkPolicy and Namespace
// - monitor --from-cluster: pods, Services, EndpointSlices, nodes and namespaces, refreshed
//   periodically, to name the ends of flows (pod by IP, ClusterIP -> Service -> backends, node IPs)

import type {
  CoreV1Api,
  DiscoveryV1Api,
  V1Node,
  V1Pod,
  V1Service,
  V1EndpointSlice,
} from '@kubernetes/client-node';
import { connect, type Cluster } from '../../runtimes/k8s/client.js';
import type { KubeFlags } from '../../runtimes/k8s/kubeconfig.js';
import type { Endpoint, Protocol, WorkloadRef } from './flow.js';
import {
  workloadOwner,
  type IdentityResolver,
  type PeerAnswer,
  type PeerContext,
  type LocalContext,
} from './identity.js';
import { normalizeIp } from './ip.js';
import { workloadKey } from './flow.js';
import { workloadLabels, type Labels } from './labels.js';
import { addObject, type PolicySet } from './policy.js';

type K8sModule = typeof import('@kubernetes/client-node');
interface AttributeType {
  name: string;
  baseName: string;
  type: string;
}
type Model = { getAttributeTypeMap?: () => AttributeType[] };

/**
 * The API's JSON for an object of the typed client: its models rename some fields (`from` is
 * `_from`), so walk the model's attribute map back to the wire names.
 */
export function toApiJson(k8s: K8sModule, value: unknown, type: string): unknown {
  if (value === null || value === undefined) return value;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return Array.isArray(value) ? value.map((v) => toApiJson(k8s, v, arr[1]!)) : value;
  if (value instanceof Date) return value.toISOString();
  const model = (k8s as unknown as Record<string, Model | undefined>)[type];
  if (typeof value !== 'object' || !model?.getAttributeTypeMap) return value;
  const out: Record<string, unknown> = {};
  for (const a of model.getAttributeTypeMap()) {
    const v = (value as Record<string, unknown>)[a.name];
    if (v !== undefined) out[a.baseName] = toApiJson(k8s, v, a.type);
  }
  return out;
}

function plain(k8s: K8sModule, o: unknown, type: string): Record<string, unknown> {
  return toApiJson(k8s, o, type) as Record<string, unknown>;
}

/** Every NetworkPolicy and Namespace of the cluster. */
export async function policiesFromCluster(flags: KubeFlags): Promise<PolicySet> {
  const cluster = await connect(flags);
  const k8s = cluster.k8s;
  const net = cluster.target.kc.makeApiClient(k8s.NetworkingV1Api);
  const core = cluster.target.kc.makeApiClient(k8s.CoreV1Api);
  const [pols, nss] = await Promise.all([
    cluster.call('list networkpolicies', () => net.listNetworkPolicyForAllNamespaces()),
    cluster.call('list namespaces', () => core.listNamespace()),
  ]);
  const set: PolicySet = { policies: [], namespaces: [] };
  for (const [i, p] of pols.items.entries()) {
    addObject(
      set,
      {
        ...plain(k8s, p, 'V1NetworkPolicy'),
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
      },
      `cluster networkpolicy ${i}`,
    );
  }
  for (const [i, n] of nss.items.entries()) {
    addObject(
      set,
      { ...plain(k8s, n, 'V1Namespace'), apiVersion: 'v1', kind: 'Namespace' },
      `cluster namespace ${i}`,
    );
  }
  return set;
}

/** A pod as report --from-cluster's widening check sees it. */
export interface ClusterPod {
  namespace: string;
  name: string;
  labels: Labels;
}

/** Every pod's namespace, name and labels (not hostNetwork ones: policies never select them). */
export async function podsFromCluster(flags: KubeFlags): Promise<ClusterPod[]> {
  const cluster = await connect(flags);
  const core = cluster.target.kc.makeApiClient(cluster.k8s.CoreV1Api);
  const pods = await cluster.call('list pods', () => core.listPodForAllNamespaces());
  return pods.items
    .filter((p) => p.spec?.hostNetwork !== true)
    .map((p) => ({
      namespace: p.metadata?.namespace ?? 'default',
      name: p.metadata?.name ?? '',
      labels: p.metadata?.labels ?? {},
    }));
}

interface PodInfo {
  pod: V1Pod;
  endpoint: Endpoint;
  ref: WorkloadRef;
}

function containerPortName(
  pod: V1Pod | undefined,
  port: number,
  protocol: Protocol,
): string | undefined {
  for (const c of pod?.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.containerPort === port && (p.protocol ?? 'TCP') === protocol && p.name) return p.name;
    }
  }
  return undefined;
}

/** A snapshot of what the API server knows, as an IdentityResolver. */
export class ClusterSnapshot implements IdentityResolver {
  private podsByIp = new Map<string, PodInfo>();
  private podsByUid = new Map<string, PodInfo>();
  private podsByName = new Map<string, PodInfo>();
  private services = new Map<string, V1Service>();
  private slices = new Map<string, V1EndpointSlice[]>();
  private nodesByIp = new Map<string, string>();

  /** Builds the indexes from lists (also used by tests with hand-made objects). */
  load(data: {
    pods: V1Pod[];
    services: V1Service[];
    slices: V1EndpointSlice[];
    nodes: V1Node[];
    namespaces: Array<{ name: string; labels: Labels }>;
  }): void {
    const nsLabels = new Map(data.namespaces.map((n) => [n.name, n.labels]));
    const byIp = new Map<string, PodInfo>();
    const byUid = new Map<string, PodInfo>();
    const byName = new Map<string, PodInfo>();
    for (const pod of data.pods) {
      const md = pod.metadata ?? {};
      const ns = md.namespace ?? 'default';
      const name = md.name ?? '';
      const labels = md.labels ?? {};
      const ctl = (md.ownerReferences ?? []).find((o) => o.controller) ?? md.ownerReferences?.[0];
      const owner = workloadOwner(name, labels, ctl?.kind ?? '', ctl?.name ?? '');
      const hostNetwork = pod.spec?.hostNetwork === true;
      const ip = normalizeIp(pod.status?.podIP ?? '');
      const nsl = nsLabels.get(ns);
      const endpoint: Endpoint = {
        kind: 'pod',
        ip,
        namespace: ns,
        workload: owner.name,
        workload_kind: owner.kind,
        labels: workloadLabels(labels),
        ...(nsl ? { namespace_labels: nsl } : {}),
        pods: [name],
        ...(hostNetwork ? { host_network: true } : {}),
      };
      const info: PodInfo = {
        pod,
        endpoint,
        ref: {
          namespace: ns,
          workload: owner.name,
          workload_kind: owner.kind,
          labels: workloadLabels(labels),
          ...(nsl ? { namespace_labels: nsl } : {}),
        },
      };
      if (md.uid) byUid.set(md.uid, info);
      byName.set(`${ns}/${name}`, info);
      const phase = pod.status?.phase;
      if (hostNetwork || phase === 'Succeeded' || phase === 'Failed') continue;
      for (const a of pod.status?.podIPs ?? [{ ip }]) {
        const n = normalizeIp(a.ip ?? '');
        if (n) byIp.set(n, info);
      }
    }
    const services = new Map<string, V1Service>();
    for (const s of data.services) {
      for (const ip of s.spec?.clusterIPs ?? [s.spec?.clusterIP ?? '']) {
        const n = normalizeIp(ip);
        if (n) services.set(n, s);
      }
    }
    const slices = new Map<string, V1EndpointSlice[]>();
    for (const sl of data.slices) {
      const svc = sl.metadata?.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const k = `${sl.metadata?.namespace ?? 'default'}/${svc}`;
      let l = slices.get(k);
      if (!l) slices.set(k, (l = []));
      l.push(sl);
    }
    const nodes = new Map<string, string>();
    for (const n of data.nodes) {
      for (const a of n.status?.addresses ?? []) {
        const ip = normalizeIp(a.address);
        if (ip && (a.type === 'InternalIP' || a.type === 'ExternalIP'))
          nodes.set(ip, n.metadata?.name ?? '');
      }
    }
    this.podsByIp = byIp;
    this.podsByUid = byUid;
    this.podsByName = byName;
    this.services = services;
    this.slices = slices;
    this.nodesByIp = nodes;
  }

  local(ctx: LocalContext): Endpoint | undefined {
    const uid = ctx.container?.k8s?.podUid;
    const p =
      (uid && this.podsByUid.get(uid)) ||
      (ctx.ip ? this.podsByIp.get(normalizeIp(ctx.ip)) : undefined);
    return p ? structuredClone(p.endpoint) : undefined;
  }

  peer(ip: string, ctx: PeerContext): PeerAnswer | undefined {
    const pod = this.podsByIp.get(ip);
    if (pod) {
      const portName =
        ctx.direction === 'egress' ? containerPortName(pod.pod, ctx.port, ctx.protocol) : undefined;
      return {
        endpoint: { ...structuredClone(pod.endpoint), ip },
        ...(portName ? { portName } : {}),
      };
    }
    const svc = this.services.get(ip);
    if (svc) return this.service(svc, ip, ctx);
    const node = this.nodesByIp.get(ip);
    if (node !== undefined) return { endpoint: { kind: 'node', ip, node } };
    return undefined;
  }

  private service(svc: V1Service, ip: string, ctx: PeerContext): PeerAnswer {
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    const sp = (svc.spec?.ports ?? []).find(
      (p) => p.port === ctx.port && (p.protocol ?? 'TCP') === ctx.protocol,
    );
    const backends = new Map<string, WorkloadRef>();
    const backendIps = new Set<string>();
    let targetPort: number | undefined =
      typeof sp?.targetPort === 'number' ? sp.targetPort : undefined;
    let portName: string | undefined =
      typeof sp?.targetPort === 'string' ? sp.targetPort : undefined;
    let backendPod: V1Pod | undefined;
    for (const sl of this.slices.get(`${ns}/${name}`) ?? []) {
      const epPort = (sl.ports ?? []).find(
        (p) => (p.name ?? '') === (sp?.name ?? '') && (p.protocol ?? 'TCP') === ctx.protocol,
      );
      if (epPort?.port !== undefined) targetPort = epPort.port;
      for (const ep of sl.endpoints ?? []) {
        const ref = ep.targetRef;
        const p =
          ref?.kind === 'Pod'
            ? this.podsByName.get(`${ref.namespace ?? ns}/${ref.name}`)
            : undefined;
        if (p && !p.pod.spec?.hostNetwork) {
          backendPod ??= p.pod;
          backends.set(workloadKey(p.ref), p.ref);
        } else if (!ref || ref.kind !== 'Pod' || p) {
          // not a pod network address (a node, a host-network pod, outside the cluster): only an
          // ipBlock can allow it; a pod we do not know (yet) is left out
          for (const a of ep.addresses ?? []) {
            const n = normalizeIp(a);
            if (n) backendIps.add(n);
          }
        }
      }
    }
    if (svc.spec?.type === 'ExternalName' || !sp) targetPort = undefined;
    if (targetPort !== undefined && !portName)
      portName = containerPortName(backendPod, targetPort, ctx.protocol);
    return {
      endpoint: {
        kind: 'service',
        ip,
        service: { namespace: ns, name, port: ctx.port },
        backends: [...backends.values()],
        ...(backendIps.size ? { backend_ips: [...backendIps].sort() } : {}),
      },
      ...(targetPort !== undefined ? { port: targetPort } : {}),
      ...(portName ? { portName } : {}),
    };
  }

  localPortName(local: Endpoint, port: number, protocol: Protocol): string | undefined {
    const name = local.pods?.[0];
    if (!name || !local.namespace) return undefined;
    return containerPortName(
      this.podsByName.get(`${local.namespace}/${name}`)?.pod,
      port,
      protocol,
    );
  }
}

/** A ClusterSnapshot kept current by listing every refreshMs (until stop()). */
export class ClusterIdentity extends ClusterSnapshot {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly cluster: Cluster,
    private readonly core: CoreV1Api,
    private readonly discovery: DiscoveryV1Api,
  ) {
    super();
  }

  static async start(
    flags: KubeFlags,
    refreshMs = 10_000,
    onError?: (e: unknown) => void,
  ): Promise<ClusterIdentity> {
    const cluster = await connect(flags);
    const kc = cluster.target.kc;
    const c = new ClusterIdentity(
      cluster,
      kc.makeApiClient(cluster.k8s.CoreV1Api),
      kc.makeApiClient(cluster.k8s.DiscoveryV1Api),
    );
    await c.refresh();
    c.timer = setInterval(() => void c.refresh().catch((e: unknown) => onError?.(e)), refreshMs);
    c.timer.unref();
    return c;
  }

  async refresh(): Promise<void> {
    const cl = this.cluster;
    const [pods, services, slices, nodes, namespaces] = await Promise.all([
      cl.call('list pods', () => this.core.listPodForAllNamespaces()),
      cl.call('list services', () => this.core.listServiceForAllNamespaces()),
      cl.call('list endpointslices', () => this.discovery.listEndpointSliceForAllNamespaces()),
      cl.call('list nodes', () => this.core.listNode()),
      cl.call('list namespaces', () => this.core.listNamespace()),
    ]);
    this.load({
      pods: pods.items,
      services: services.items,
      slices: slices.items,
      nodes: nodes.items,
      namespaces: namespaces.items.map((n) => ({
        name: n.metadata?.name ?? '',
        labels: n.metadata?.labels ?? {},
      })),
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
