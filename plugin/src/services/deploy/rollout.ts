// Rollout state of the gadget DaemonSet, per node, from the DaemonSet and its pods (pure: the
// polling loop is in deploy.ts).

import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';

export type NodeState = 'ready' | 'starting' | 'pending' | 'failing' | 'old' | 'terminating';

export interface NodeStatus {
  node: string;
  pod: string;
  state: NodeState;
  /** why, when not ready: ContainerCreating, ImagePullBackOff: <message>, ... */
  detail: string;
}

export interface RolloutState {
  /** the DaemonSet controller has seen the current spec */
  observed: boolean;
  desired: number;
  updated: number;
  /** nodes whose current pod is ready */
  ready: number;
  nodes: NodeStatus[];
  done: boolean;
}

/** Is this pod of the DaemonSet's current template? */
function isCurrent(pod: V1Pod, ds: V1DaemonSet): boolean {
  const gen = pod.metadata?.labels?.['pod-template-generation'];
  if (gen !== undefined && ds.metadata?.generation !== undefined) {
    return gen === String(ds.metadata.generation);
  }
  // no generation label: compare the images
  const want = ds.spec?.template.spec?.containers.map((c) => c.image).join(',');
  return pod.spec?.containers.map((c) => c.image).join(',') === want;
}

function podReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function short(s: string | undefined, max = 160): string {
  if (!s) return '';
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/** The node a DaemonSet pod is for: spec.nodeName, or before scheduling its node affinity. */
export function podNode(pod: V1Pod): string {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) {
        return f.values[0]!;
      }
    }
  }
  return '';
}

export function podStatus(pod: V1Pod, ds: V1DaemonSet): NodeStatus {
  const node = pod.spec?.nodeName ?? '';
  const base = { node: podNode(pod) || '(unscheduled)', pod: pod.metadata?.name ?? '' };
  if (pod.metadata?.deletionTimestamp)
    return { ...base, state: 'terminating', detail: 'terminating' };
  if (!isCurrent(pod, ds))
    return { ...base, state: 'old', detail: 'old version, waiting to be replaced' };
  if (podReady(pod)) return { ...base, state: 'ready', detail: '' };

  const phase = pod.status?.phase ?? 'Pending';
  const cs = pod.status?.containerStatuses?.[0];
  const waiting = cs?.state?.waiting;
  const term = cs?.state?.terminated ?? cs?.lastState?.terminated;
  if (waiting?.reason) {
    const failing = /BackOff|Err|Invalid|Error/.test(waiting.reason);
    let detail = waiting.reason;
    if (waiting.message) detail += `: ${short(waiting.message)}`;
    else if (failing && term) {
      detail += `: last exit code ${term.exitCode}${term.reason ? ` (${term.reason})` : ''}`;
    }
    return { ...base, state: failing ? 'failing' : 'pending', detail };
  }
  if (phase === 'Failed') {
    return {
      ...base,
      state: 'failing',
      detail: short(pod.status?.message) || pod.status?.reason || 'Failed',
    };
  }
  if (cs?.state?.running) return { ...base, state: 'starting', detail: 'running, not ready yet' };
  if (!node) {
    const sched = pod.status?.conditions?.find(
      (c) => c.type === 'PodScheduled' && c.status === 'False',
    );
    return { ...base, state: 'pending', detail: short(sched?.message) || 'not scheduled yet' };
  }
  return {
    ...base,
    state: 'pending',
    detail: phase === 'Pending' ? 'scheduled, not started by the kubelet yet' : phase,
  };
}

const STATE_ORDER: Record<NodeState, number> = {
  ready: 0,
  starting: 1,
  pending: 2,
  failing: 3,
  old: 4,
  terminating: 5,
};

export function rolloutState(ds: V1DaemonSet, pods: readonly V1Pod[]): RolloutState {
  const generation = ds.metadata?.generation ?? 0;
  const status = ds.status;
  const observed = (status?.observedGeneration ?? 0) >= generation && status !== undefined;
  const desired = status?.desiredNumberScheduled ?? 0;
  const updated = status?.updatedNumberScheduled ?? 0;

  // one line per node: the pod that says most about the node (the current one over old ones)
  const byNode = new Map<string, NodeStatus>();
  for (const pod of pods) {
    const s = podStatus(pod, ds);
    const prev = byNode.get(s.node);
    const rank = (x: NodeStatus): number =>
      x.state === 'old' || x.state === 'terminating' ? 1 : 0;
    if (
      !prev ||
      rank(s) < rank(prev) ||
      (rank(s) === rank(prev) && STATE_ORDER[s.state] < STATE_ORDER[prev.state])
    ) {
      byNode.set(s.node, s);
    }
  }
  const nodes = [...byNode.values()].sort((a, b) => a.node.localeCompare(b.node));
  const ready = nodes.filter((n) => n.state === 'ready').length;
  const stale = nodes.some((n) => n.state === 'old' || n.state === 'terminating');
  const done = observed && updated >= desired && ready >= desired && !stale;
  return { observed, desired, updated, ready, nodes, done };
}

/** `  node-a  pending: ContainerCreating` */
export function nodeLine(n: NodeStatus, width: number): string {
  const state =
    n.state === 'ready'
      ? 'ready'
      : `${n.state}${n.detail && n.detail !== n.state ? `: ${n.detail}` : ''}`;
  return `  ${n.node.padEnd(width)}  ${state}`;
}
