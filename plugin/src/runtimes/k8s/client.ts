// A connection to the cluster for kubectl-gadget's own commands: the kubeconfig target, the
// generic object API of @kubernetes/client-node (loaded here, lazily), a reachability check, and
// calls with a deadline whose errors come back as one-line UserErrors.

import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { UserError } from '../../errors.js';
import { apiStatus, isNotFound, k8sError, unreachable, type ClusterRef } from './errors.js';
import { loadKubeConfig, type KubeFlags, type KubeTarget } from './kubeconfig.js';

export type K8sModule = typeof import('@kubernetes/client-node');

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

export class Cluster {
  readonly ref: ClusterRef;

  constructor(
    readonly target: KubeTarget,
    readonly k8s: K8sModule,
    readonly api: KubernetesObjectApi,
    /** deadline of one API call */
    readonly callTimeoutMs = 30_000,
  ) {
    this.ref = { context: target.context, server: target.server };
  }

  /** Runs one API call with a deadline; errors become UserErrors where the user can act. */
  async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(fn(), this.callTimeoutMs, () => this.noAnswer(doing));
    } catch (e) {
      throw k8sError(e, this.ref, doing);
    }
  }

  private noAnswer(doing: string): UserError {
    return new UserError(
      `${doing}: no answer from cluster "${this.ref.context}" at ${this.ref.server} in ${seconds(this.callTimeoutMs)}s`,
    );
  }

  /** Like call(), but undefined when the API answers 404 Not Found. */
  async callOrMissing<T>(doing: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await withDeadline(fn(), this.callTimeoutMs, () => this.noAnswer(doing));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw k8sError(e, this.ref, doing);
    }
  }

  /** The object, or undefined when it does not exist. */
  async read<T extends KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    return this.callOrMissing(`read ${describe(ref)}`, () =>
      this.api.read<T>(ref as Parameters<KubernetesObjectApi['read']>[0]),
    );
  }
}

/** `daemonset/gadget`, as kubectl prints objects. */
export function describe(ref: {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}): string {
  return `${(ref.kind ?? 'object').toLowerCase()}/${ref.metadata?.name ?? ''}`;
}

const seconds = (ms: number): string =>
  ms < 10_000 ? String(Math.round(ms / 100) / 10) : String(Math.round(ms / 1000));

export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  if (!(ms > 0)) return p;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export interface ConnectOptions {
  /** deadline of the reachability check (default 15 s) */
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
}

/** Loads the kubeconfig and checks that the API server answers (GET /version). */
export async function connect(flags: KubeFlags, opts: ConnectOptions = {}): Promise<Cluster> {
  const target = await loadKubeConfig(flags);
  const k8s = await import('@kubernetes/client-node');
  const cluster = new Cluster(
    target,
    k8s,
    k8s.KubernetesObjectApi.makeApiClient(target.kc),
    opts.callTimeoutMs,
  );
  const connectMs = opts.connectTimeoutMs ?? 15_000;
  try {
    await withDeadline(target.kc.makeApiClient(k8s.VersionApi).getCode(), connectMs, () =>
      Object.assign(new Error(`no answer in ${seconds(connectMs)}s (timed out)`), {
        name: 'TimeoutError',
      }),
    );
  } catch (e) {
    // the server answered: some clusters restrict /version, not a reason to stop here
    const code = apiStatus(e)?.code;
    if (code === 403 || code === 404) return cluster;
    const err = k8sError(e, cluster.ref, 'GET /version');
    // 401 and the like say more than "cannot reach"
    if (err instanceof UserError) throw err;
    throw unreachable(e, cluster.ref);
  }
  return cluster;
}
