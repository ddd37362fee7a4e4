// The daemon's connection to the API server in Kubernetes mode (`daemon --kubernetes`).
//
// In a gadget pod: the in-cluster configuration (service account token, CA and
// KUBERNETES_SERVICE_HOST/PORT), exactly as @kubernetes/client-node loads it.
//
// Override for tests and for running the daemon outside a pod: KGADGET_KUBECONFIG=<file>, a
// kubeconfig whose current context is used as is. The e2e harness (e2e/k8s/harness-fake-kubelet.ts)
// writes one holding the gadget ServiceAccount's own token, so the daemon's RBAC is exercised with
// the ServiceAccount's permissions, not an admin's.
//
// @kubernetes/client-node is imported lazily: the daemon without --kubernetes never loads it.

import { existsSync, readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { clipLine, RunError } from '../../../gadgets/framework/errors.js';

export const KUBECONFIG_ENV = 'KGADGET_KUBECONFIG';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type K8sModule = typeof import('@kubernetes/client-node');

export interface DaemonKubeConfig {
  k8s: K8sModule;
  kc: KubeConfig;
  /** where the configuration came from, for logs: 'in-cluster' or the kubeconfig path */
  source: string;
  /** API server URL */
  server: string;
  /** PEM of the CA that signed the API server's certificate ('' if unknown) */
  clusterCaPem: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** prefix of the service account directory (tests) */
  rootPrefix?: string;
}

export async function loadDaemonKubeConfig(opts: LoadOptions = {}): Promise<DaemonKubeConfig> {
  const env = opts.env ?? process.env;
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const override = env[KUBECONFIG_ENV]?.trim();
  let source: string;
  if (override) {
    if (!existsSync(override)) {
      throw new RunError(
        'FAILED_PRECONDITION',
        `${KUBECONFIG_ENV}=${clipLine(override)}: no such file`,
      );
    }
    try {
      kc.loadFromFile(override);
    } catch (e) {
      // client-node's own errors (YAML syntax, a context without a name, ...): a bad file, one
      // line (found by fuzzing, e2e/fuzz/text.ts)
      const first = ((e as Error).message ?? String(e)).split('\n')[0] ?? '';
      throw new RunError(
        'FAILED_PRECONDITION',
        `${KUBECONFIG_ENV}=${clipLine(override)}: invalid kubeconfig: ${clipLine(first)}`,
      );
    }
    source = override;
  } else {
    const prefix = opts.rootPrefix ?? '';
    if (!env.KUBERNETES_SERVICE_HOST || !existsSync(`${prefix}${SERVICE_ACCOUNT_DIR}/token`)) {
      throw new RunError(
        'FAILED_PRECONDITION',
        '--kubernetes needs the in-cluster service account (KUBERNETES_SERVICE_HOST and ' +
          `${SERVICE_ACCOUNT_DIR}/token), or ${KUBECONFIG_ENV}=<kubeconfig>`,
      );
    }
    kc.loadFromCluster(prefix);
    source = 'in-cluster';
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new RunError('FAILED_PRECONDITION', `${clipLine(source)}: no current cluster`);
  let clusterCaPem = '';
  try {
    if (cluster.caData) clusterCaPem = Buffer.from(cluster.caData, 'base64').toString('utf8');
    else if (cluster.caFile) clusterCaPem = readFileSync(cluster.caFile, 'utf8');
  } catch {
    // no CA readable: x509 caller identities can only be checked against the ConfigMap CA
  }
  return { k8s, kc, source, server: cluster.server, clusterCaPem };
}

/** A promise that rejects after `ms` (API calls of client-node have no deadline of their own). */
export function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer from the API server in ${ms / 1000}s`)),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** The HTTP status of a client-node ApiException (or a Watch error), undefined otherwise. */
export function httpStatus(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = httpStatus(err);
  const body = (err as { body?: unknown }).body;
  let msg = '';
  if (typeof body === 'string') {
    try {
      const b = JSON.parse(body) as { message?: unknown };
      if (typeof b.message === 'string') msg = b.message;
    } catch {
      msg = body.slice(0, 200);
    }
  } else if (
    body &&
    typeof body === 'object' &&
    typeof (body as { message?: unknown }).message === 'string'
  ) {
    msg = (body as { message: string }).message;
  }
  const first = (msg || err.message).split('\n')[0] ?? '';
  return status !== undefined && !first.includes(String(status))
    ? `HTTP ${status}: ${first}`
    : first;
}
