// `advise network-policy report --from-cluster` (or --policies): start from the NetworkPolicies
// already there and propose only what the recorded flows still need.
//
// For each workload and direction:
// - not isolated by any existing policy, and seen as a local end: a new policy isolates it,
//   with the rules of the flows (what `report` alone would write for that direction);
// - isolated: only the flows the existing policies deny give rules. They are appended to an
//   existing policy that isolates the workload and selects no other known workload; when every
//   isolating policy also selects other pods ({} or labels shared with another workload), the
//   rules go into a new policy of the workload's own, and each policy that adding them would
//   have widened is named with the reason. An existing rule is never changed or removed.
// A flow an existing rule already allows gives nothing. The result is checked: flows that the
// merged set would still deny are listed in the notes.
//
// Output: a unified diff of the YAML of each changed or new object (live -> merged, like
// `kubectl diff`), and the resulting objects as YAML (for `kubectl apply -f`).

import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { Document } from 'yaml';
import { endpointName, type FlowRecord } from './flow.js';
import { labelsKey, selectorMatches, workloadLabels, type Labels } from './labels.js';
import {
  effectivePolicyTypes,
  policyId,
  type NetworkPolicy,
  type NetworkPolicyEgressRule,
  type NetworkPolicyIngressRule,
  type PolicySet,
  type PolicyType,
} from './policy.js';
import {
  collectRules,
  noteList,
  policyBaseName,
  sortTargets,
  wkey,
  type Policyable,
  type ReportOptions,
  type Workload,
} from './report.js';
import {
  evaluateFlow,
  formatSelector,
  PolicyIndex,
  verifyFlows,
  type FlowVerdict,
} from './verify.js';

export interface PolicyChange {
  /** the object as it is (undefined: a new policy) */
  before?: NetworkPolicy;
  after: NetworkPolicy;
  /** rules added, by direction */
  added: { ingress: number; egress: number };
}

export interface MergeOptions extends ReportOptions {
  /**
   * the cluster's pods (report --from-cluster): a policy that selects pods of another workload
   * than the flows' would be widened by rules appended to it, even when no flow names them
   */
  pods?: ReadonlyArray<{ namespace: string; name: string; labels: Labels }>;
}

export interface MergeResult {
  /** changed and new policies, sorted by namespace/name */
  changes: PolicyChange[];
  /** what was left out, not widened, or still denied; one line each */
  notes: string[];
  /** unified diff of the YAML of each changed or new object ('' when nothing changes) */
  diff: string;
  /** the resulting objects (changed and new), multi-document YAML, notes on top */
  yaml: string;
  /** flows the merged policies would still deny */
  stillDenied: number;
}

const DIRECTIONS = [
  ['ingress', 'Ingress'],
  ['egress', 'Egress'],
] as const;

/** The fields a user writes: server-set metadata and kubectl's last-applied copy left out. */
export function cleanPolicy(p: NetworkPolicy): NetworkPolicy {
  const md: NetworkPolicy['metadata'] = { name: p.metadata.name };
  if (p.metadata.namespace) md.namespace = p.metadata.namespace;
  if (p.metadata.labels && Object.keys(p.metadata.labels).length) md.labels = p.metadata.labels;
  const ann = { ...(p.metadata.annotations ?? {}) };
  delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  if (Object.keys(ann).length) md.annotations = ann;
  const spec: NetworkPolicy['spec'] = { podSelector: p.spec.podSelector };
  if (p.spec.policyTypes) spec.policyTypes = p.spec.policyTypes;
  if (p.spec.ingress) spec.ingress = p.spec.ingress;
  if (p.spec.egress) spec.egress = p.spec.egress;
  return structuredClone({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: md,
    spec,
  });
}

function objectYaml(p: NetworkPolicy): string {
  return new Document(p).toString({ lineWidth: 0 });
}

/** `kubectl diff`'s file name for an object. */
function diffName(p: NetworkPolicy): string {
  return `networking.k8s.io.v1.NetworkPolicy.${p.metadata.namespace ?? 'default'}.${p.metadata.name}`;
}

/** One object's diff: `diff -u -N live/NAME merged/NAME` and its unified hunks. */
export function objectDiff(c: PolicyChange, afterYaml = objectYaml(c.after)): string {
  const name = diffName(c.after);
  const patch = createTwoFilesPatch(
    `live/${name}`,
    `merged/${name}`,
    c.before ? objectYaml(c.before) : '',
    afterYaml,
    undefined,
    undefined,
    { context: 3, headerOptions: FILE_HEADERS_ONLY },
  );
  return `diff -u -N live/${name} merged/${name}\n${patch}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Merges the flows' needs into an existing policy set. */
export function mergeReport(
  flows: readonly FlowRecord[],
  existing: PolicySet,
  opts: MergeOptions = {},
): MergeResult {
  const notes: string[] = [];
  const note = noteList(notes);
  const index = new PolicyIndex(existing);
  const verdicts = new Map<FlowRecord, FlowVerdict>();
  const verdict = (f: FlowRecord): FlowVerdict => {
    let v = verdicts.get(f);
    if (!v) verdicts.set(f, (v = evaluateFlow(index, f)));
    return v;
  };
  const isolating = (w: Workload, type: PolicyType): NetworkPolicy[] =>
    index
      .policiesFor(w.namespace)
      .filter(
        (p) =>
          selectorMatches(p.spec.podSelector, w.labels) && effectivePolicyTypes(p).includes(type),
      );

  const targets = collectRules(flows, opts, note, {
    peers: true,
    keep(f, t, direction) {
      const type = direction === 'ingress' ? 'Ingress' : 'Egress';
      // not isolated: a new policy for a workload seen as a local end, nothing for a peer
      if (isolating(t.workload, type).length === 0) return t.local;
      const name = `${t.workload.namespace}/${t.workload.name}`;
      return verdict(f).connections.some((c) =>
        c.verdict.sides.some(
          (s) =>
            s.direction === direction && !s.allowed && (direction === 'egress' || s.pod === name),
        ),
      );
    },
  });

  // the other workloads an existing policy selects: those the flows name, then the cluster's
  // pods of none of them (a pod whose labels are a known workload's is that workload's)
  const known = [...targets.values()];
  const knownLabels = new Set(
    known.map((o) => `${o.workload.namespace}|${labelsKey(o.workload.labels)}`),
  );
  const othersSelected = (p: NetworkPolicy, t: Policyable): string[] => {
    const ns = t.workload.namespace;
    const workloads = known
      .filter(
        (o) =>
          o !== t &&
          o.workload.namespace === ns &&
          wkey(o.workload) !== wkey(t.workload) &&
          selectorMatches(p.spec.podSelector, o.workload.labels),
      )
      .map((o) => `${ns}/${o.workload.name}`)
      .sort();
    const pods = (opts.pods ?? [])
      .filter(
        (x) =>
          x.namespace === ns &&
          !knownLabels.has(`${ns}|${labelsKey(workloadLabels(x.labels))}`) &&
          selectorMatches(p.spec.podSelector, x.labels),
      )
      .map((x) => `pod ${ns}/${x.name}`)
      .sort();
    const more = pods.length > 3 ? [`${pods.length - 3} more pods`] : [];
    return [...workloads, ...pods.slice(0, 3), ...more];
  };

  const changed = new Map<string, PolicyChange>();
  const change = (p: NetworkPolicy): PolicyChange => {
    const id = policyId(p);
    let c = changed.get(id);
    if (!c) {
      const before = cleanPolicy(p);
      changed.set(
        id,
        (c = { before, after: structuredClone(before), added: { ingress: 0, egress: 0 } }),
      );
    }
    return c;
  };
  const usedNames = new Set(existing.policies.map(policyId));
  /** what each extended policy gains, in words: an existing policy is never loosened silently */
  const gains = new Map<string, string[]>();
  const created: PolicyChange[] = [];

  for (const t of sortTargets(targets.values())) {
    const w = t.workload;
    const who = `${w.namespace}/${w.name}`;
    const fresh: {
      types: PolicyType[];
      ingress: NetworkPolicyIngressRule[];
      egress: NetworkPolicyEgressRule[];
    } = { types: [], ingress: [], egress: [] };
    const notWidened: string[] = [];
    for (const [dir, type] of DIRECTIONS) {
      const rules = t[dir].rules();
      const asRules = (): Array<NetworkPolicyIngressRule | NetworkPolicyEgressRule> =>
        rules.map((r) =>
          dir === 'ingress' ? { from: r.peers, ports: r.ports } : { to: r.peers, ports: r.ports },
        );
      const iso = isolating(w, type);
      if (iso.length === 0) {
        if (t.local) {
          fresh.types.push(type);
          (fresh[dir] as unknown[]).push(...asRules());
        }
        continue;
      }
      if (rules.length === 0) continue;
      const reasons = new Map<NetworkPolicy, string>();
      for (const p of iso) {
        const sel = formatSelector(p.spec.podSelector);
        if (sel === '{}') {
          reasons.set(p, `its podSelector {} selects every pod of namespace ${w.namespace}`);
          continue;
        }
        const others = othersSelected(p, t);
        if (others.length)
          reasons.set(p, `its podSelector ${sel} also selects ${others.join(', ')}`);
      }
      const exact = iso
        .filter((p) => !reasons.has(p))
        .sort((a, b) => (policyId(a) < policyId(b) ? -1 : 1))[0];
      if (exact) {
        const c = change(exact);
        const list = (c.after.spec[dir] ??= []) as unknown[];
        list.push(...asRules());
        c.added[dir] += rules.length;
        const g = gains.get(policyId(exact)) ?? [];
        gains.set(policyId(exact), g);
        g.push(`${plural(rules.length, `${dir} rule`)} for flows of ${who} it denied`);
        continue;
      }
      fresh.types.push(type);
      (fresh[dir] as unknown[]).push(...asRules());
      for (const p of iso)
        notWidened.push(
          `${policyId(p)} isolates ${who} for ${type} but ${reasons.get(p) ?? ''}: adding ${who}'s ${plural(rules.length, `${dir} rule`)} to it would widen it for them`,
        );
    }
    if (fresh.types.length === 0) continue;
    if (Object.keys(w.labels).length === 0) continue; // collectRules keeps labelled workloads only
    const base = policyBaseName(w);
    let name = `${base}-network`;
    for (let i = 2; usedNames.has(`${w.namespace}/${name}`); i++) name = `${base}-network-${i}`;
    usedNames.add(`${w.namespace}/${name}`);
    const spec: NetworkPolicy['spec'] = {
      podSelector: { matchLabels: w.labels },
      policyTypes: fresh.types,
    };
    if (fresh.types.includes('Ingress')) spec.ingress = fresh.ingress;
    if (fresh.types.includes('Egress')) spec.egress = fresh.egress;
    const after: NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: w.namespace },
      spec,
    };
    created.push({
      after,
      added: { ingress: fresh.ingress.length, egress: fresh.egress.length },
    });
    for (const n of notWidened) note(`${n}; they are in the new policy ${w.namespace}/${name}`);
  }

  const changes = [...changed.values(), ...created].sort((a, b) => {
    const ka = policyId(a.after);
    const kb = policyId(b.after);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });

  for (const id of [...gains.keys()].sort())
    note(`${id} gains ${(gains.get(id) ?? []).join(', ')}; its old rules are kept`);

  // the proof: every flow against the merged set
  const merged: PolicySet = {
    namespaces: existing.namespaces,
    policies: [
      ...existing.policies.map((p) => changed.get(policyId(p))?.after ?? p),
      ...created.map((c) => c.after),
    ],
  };
  const check = verifyFlows(merged, flows);
  for (const r of check.results) {
    if (r.allowed) continue;
    const f = r.flow;
    note(
      `still denied after the merge: ${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${f.protocol}/${f.port}`,
    );
  }

  // each object's YAML is made once, for the diff and for the objects file
  const afterYaml = changes.map((c) => objectYaml(c.after));
  const diff = changes.map((c, i) => objectDiff(c, afterYaml[i])).join('');
  const header = [
    ` Generated by kubectl-gadget advise network-policy report from ${plural(flows.length, 'flow record')}, merged with ${plural(existing.policies.length, 'existing policy', 'existing policies')}:`,
    ` ${plural(changed.size, 'changed policy', 'changed policies')} (rules appended, none removed), ${plural(created.length, 'new policy', 'new policies')}.`,
    ...notes.map((n) => ` ${n}`),
  ].join('\n');
  const yaml =
    changes.length === 0
      ? `#${header.replace(/\n/g, '\n#')}\n# (no change)\n`
      : `#${header.replace(/\n/g, '\n#')}\n\n${afterYaml.join('---\n')}`;
  return { changes, notes, diff, yaml, stillDenied: check.denied };
}
