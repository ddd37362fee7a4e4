// Who is at each end of a captured flow. Resolvers are asked in order; the first answer wins.
// Identities are resolved when the flow is captured (pod IPs are reused later).
//
// - KubernetesResolver (cluster.ts): pods, Services + EndpointSlices, nodes, namespaces
// - ContainerResolver: the local end from the container the event came from (its k8s identity
//   from the pod informer, or a plain container in local mode), the host netns as the node
// - the fallback: loopback is dropped, this host's addresses are the node, the rest external

import { networkInterfaces } from 'node:os';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { Direction, Endpoint, Protocol } from './flow.js';
import { normalizeIp, parseCidr, cidrContains, parseIp } from './ip.js';
import { workloadLabels } from './labels.js';

export interface LocalContext {
  node: string;
  netns: number;
  mntns: number;
  pid: number;
  comm: string;
  /** the socket's local address ('' or 0.0.0.0 when unbound) */
  ip: string;
  /** the container of the event's mount namespace, if known */
  container?: ContainerInfo;
}

export interface PeerContext {
  node: string;
  direction: Direction;
  protocol: Protocol;
  /** the destination port as captured */
  port: number;
  local: Endpoint;
}

/** A Service hit through its ClusterIP: the destination port after DNAT and its name. */
export interface PeerAnswer {
  endpoint: Endpoint;
  /** destination port after DNAT (Service targetPort), when it differs from the captured one */
  port?: number;
  /** the destination pod's name for the port */
  portName?: string;
}

export interface IdentityResolver {
  /** The local end, or undefined to let the next resolver answer. */
  local?(ctx: LocalContext): Endpoint | undefined;
  /** The remote end, or undefined to let the next resolver answer. */
  peer?(ip: string, ctx: PeerContext): PeerAnswer | undefined;
  /** The local pod's name for one of its ports (ingress named ports). */
  localPortName?(local: Endpoint, port: number, protocol: Protocol): string | undefined;
}

const LOOPBACK = [parseCidr('127.0.0.0/8'), parseCidr('::1/128')];

export function isLoopback(ip: string): boolean {
  const p = parseIp(ip);
  return !!p && LOOPBACK.some((c) => cidrContains(c, p));
}

/** Owner name of a pod: a ReplicaSet's Deployment (name minus pod-template-hash), or the owner. */
export function workloadOwner(
  podName: string,
  labels: Record<string, string>,
  ownerKind: string,
  ownerName: string,
): { kind: string; name: string } {
  if (!ownerKind || !ownerName) return { kind: 'Pod', name: podName };
  const hash = labels['pod-template-hash'];
  if (ownerKind === 'ReplicaSet' && hash && ownerName.endsWith(`-${hash}`)) {
    return { kind: 'Deployment', name: ownerName.slice(0, -hash.length - 1) };
  }
  if (ownerKind === 'Job' && labels['batch.kubernetes.io/cronjob-name']) {
    return { kind: 'CronJob', name: labels['batch.kubernetes.io/cronjob-name']! };
  }
  return { kind: ownerKind, name: ownerName };
}

/** The local end from the event's container (Kubernetes identity when the daemon has one). */
export class ContainerResolver implements IdentityResolver {
  constructor(private readonly hostNetns: number = readHostNetns()) {}

  local(ctx: LocalContext): Endpoint | undefined {
    const c = ctx.container;
    const k = c?.k8s;
    if (k && k.namespace && k.pod) {
      const owner = workloadOwner(k.pod, k.labels, k.ownerKind, k.ownerName);
      return {
        kind: 'pod',
        ip: normalizeIp(k.podIp) || usable(ctx.ip),
        namespace: k.namespace,
        workload: owner.name,
        workload_kind: owner.kind,
        labels: workloadLabels(k.labels),
        pods: [k.pod],
        ...(k.hostNetwork ? { host_network: true } : {}),
      };
    }
    if (ctx.netns === this.hostNetns) {
      return { kind: 'node', ip: usable(ctx.ip), node: ctx.node };
    }
    if (c) return { kind: 'container', ip: usable(ctx.ip), workload: c.name };
    return undefined;
  }
}

function usable(ip: string): string {
  const n = normalizeIp(ip);
  return n === '0.0.0.0' || n === '::' ? '' : n;
}

/** The initial network namespace's inode (PROC_NET_INIT_INO): the node's own netns. */
export const INIT_NETNS = 0xeffffff9;

function readHostNetns(): number {
  const env = Number(process.env.KGADGET_HOST_NETNS);
  return Number.isInteger(env) && env > 0 ? env : INIT_NETNS;
}

/** This host's own addresses (the node, in local mode). */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = normalizeIp(a.address);
      if (ip && !isLoopback(ip)) out.add(ip);
    }
  }
  return out;
}

/** Last resort: the node's own addresses are the node, anything else is external. */
export class FallbackResolver implements IdentityResolver {
  constructor(private readonly nodeIps: Set<string> = hostAddresses()) {}

  local(ctx: LocalContext): Endpoint {
    return { kind: 'unknown', ip: usable(ctx.ip) };
  }

  peer(ip: string, ctx: PeerContext): PeerAnswer {
    if (this.nodeIps.has(ip)) return { endpoint: { kind: 'node', ip, node: ctx.node } };
    return { endpoint: { kind: 'external', ip } };
  }
}

/** Resolvers in order, plus the fallback. */
export class ResolverChain {
  private readonly all: IdentityResolver[];

  constructor(resolvers: IdentityResolver[], fallback: IdentityResolver = new FallbackResolver()) {
    this.all = [...resolvers, fallback];
  }

  local(ctx: LocalContext): Endpoint {
    for (const r of this.all) {
      const e = r.local?.(ctx);
      if (e) return e;
    }
    return { kind: 'unknown', ip: usable(ctx.ip) };
  }

  peer(ip: string, ctx: PeerContext): PeerAnswer {
    for (const r of this.all) {
      const e = r.peer?.(ip, ctx);
      if (e) return e;
    }
    return { endpoint: { kind: 'external', ip } };
  }

  localPortName(local: Endpoint, port: number, protocol: Protocol): string | undefined {
    for (const r of this.all) {
      const n = r.localPortName?.(local, port, protocol);
      if (n) return n;
    }
    return undefined;
  }
}
