// The Helm chart (image/chart/kubectl-gadget) for its tests: the helm binary (built from the Go
// module proxy by scripts/helm-build.sh, cached), `helm template`, and the comparison of its
// objects with `kubectl gadget deploy --print-only`.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../../helpers/cli.js';

export const CHART = join(ROOT, 'image', 'chart', 'kubectl-gadget');

/** Labels the chart adds to deploy's (Helm conventions); the comparison leaves them out. */
export const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance'] as const;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

/** The helm binary: $KGADGET_HELM, else scripts/helm-build.sh's (built now when missing). */
export function helmBin(): string {
  if (process.env.KGADGET_HELM) return process.env.KGADGET_HELM;
  const script = join(ROOT, 'scripts', 'helm-build.sh');
  const dir = spawnSync('bash', [script, '--print-bin'], { encoding: 'utf8' }).stdout.trim();
  const bin = join(dir, 'helm');
  // cached: returns at once; otherwise waits for CI's background build (its lock) or builds
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 15 * 60_000 });
  if (r.status !== 0 || !existsSync(bin)) {
    throw new Error(`scripts/helm-build.sh failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  }
  return bin;
}

/** The objects of a multi-document YAML stream (empty documents left out). */
export function parseObjects(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`bad YAML: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o) out.push(o);
  }
  return out;
}

export const isHook = (o: K8sObject): boolean => !!o.metadata.annotations?.['helm.sh/hook'];

/** kind/namespace/name, the key objects are compared by. */
export const key = (o: K8sObject): string =>
  `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * An object without what Helm adds: its labels (HELM_LABELS) and any meta.helm.sh/ or helm.sh/
 * annotation, and an annotations map left empty by that.
 */
export function withoutHelm(o: K8sObject): K8sObject {
  const strip = (m: { labels?: Record<string, string>; annotations?: Record<string, string> }) => {
    if (m.labels) {
      for (const l of HELM_LABELS) delete m.labels[l];
    }
    if (m.annotations) {
      for (const a of Object.keys(m.annotations)) {
        if (a.startsWith('helm.sh/') || a.startsWith('meta.helm.sh/')) delete m.annotations[a];
      }
      if (Object.keys(m.annotations).length === 0) delete m.annotations;
    }
  };
  const c = structuredClone(o);
  strip(c.metadata);
  const tmpl = (c as { spec?: { template?: { metadata?: Record<string, never> } } }).spec?.template
    ?.metadata;
  if (tmpl) strip(tmpl);
  return c;
}
