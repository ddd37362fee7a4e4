// Kubernetes label selectors (matchLabels + matchExpressions) and the label set that identifies a
// workload (pod labels minus the ones controllers stamp per revision).

export type Labels = Record<string, string>;

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

/**
 * Labels a controller sets per revision, per pod or per run: two pods of one workload differ in
 * them, so a policy selecting by them would miss the workload's other (or next) pods.
 */
export const REVISION_LABELS: readonly string[] = [
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  // StatefulSet: per pod
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  // Job: per completion index, and per Job object (a CronJob's next run has another uid)
  'batch.kubernetes.io/job-completion-index',
  'controller-uid',
  'batch.kubernetes.io/controller-uid',
];

/** The workload's identifying labels: pod labels minus REVISION_LABELS, keys sorted. */
export function workloadLabels(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels ?? {}).sort()) {
    if (!REVISION_LABELS.includes(k)) out[k] = labels![k]!;
  }
  return out;
}

/** Stable text of a label set ("a=1,b=2"), for keys and sorting. */
export function labelsKey(labels: Labels | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${labels![k]}`)
    .join(',');
}

/**
 * Does `selector` select `labels`? An empty selector ({}) selects everything; requirements are
 * ANDed (Kubernetes metav1.LabelSelector semantics).
 */
export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const value = labels[r.key];
    switch (r.operator) {
      case 'In':
        if (!has || !(r.values ?? []).includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && (r.values ?? []).includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(
          `unknown label selector operator "${String((r as { operator: unknown }).operator)}"`,
        );
    }
  }
  return true;
}

/** Validates a selector read from YAML; returns an error message or undefined. */
export function selectorProblem(sel: unknown, where: string): string | undefined {
  if (sel === null || sel === undefined) return undefined;
  if (typeof sel !== 'object' || Array.isArray(sel))
    return `${where}: must be a label selector object`;
  const s = sel as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') return `${where}: unknown field "${k}"`;
  }
  if (s.matchLabels !== undefined && s.matchLabels !== null) {
    if (typeof s.matchLabels !== 'object' || Array.isArray(s.matchLabels))
      return `${where}.matchLabels: must be a map`;
    for (const [k, v] of Object.entries(s.matchLabels as object)) {
      if (typeof v !== 'string') return `${where}.matchLabels.${k}: must be a string`;
    }
  }
  if (s.matchExpressions !== undefined && s.matchExpressions !== null) {
    if (!Array.isArray(s.matchExpressions)) return `${where}.matchExpressions: must be a list`;
    for (const [i, e] of (s.matchExpressions as unknown[]).entries()) {
      const w = `${where}.matchExpressions[${i}]`;
      if (!e || typeof e !== 'object') return `${w}: must be an object`;
      const r = e as Record<string, unknown>;
      if (typeof r.key !== 'string' || !r.key) return `${w}.key: required`;
      const op = r.operator;
      if (op !== 'In' && op !== 'NotIn' && op !== 'Exists' && op !== 'DoesNotExist')
        return `${w}.operator: must be In, NotIn, Exists or DoesNotExist`;
      const values = r.values;
      if (values !== undefined && values !== null) {
        if (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
          return `${w}.values: must be a list of strings`;
      }
      const n = Array.isArray(values) ? values.length : 0;
      if ((op === 'In' || op === 'NotIn') && n === 0)
        return `${w}.values: must be non-empty for ${op}`;
      if ((op === 'Exists' || op === 'DoesNotExist') && n > 0)
        return `${w}.values: must be empty for ${op}`;
    }
  }
  return undefined;
}

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** A namespace's labels, with the automatic kubernetes.io/metadata.name always present. */
export function namespaceLabels(name: string, labels?: Labels): Labels {
  return { ...(labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
}
