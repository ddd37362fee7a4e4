// Kubernetes mode of the node daemon: the pod watch that completes the container registry's pod
// identities (pods.ts) and the per-namespace authorization of callers (authz.ts), both over the
// daemon's own API credentials (config.ts).

import type { PodInfoSink } from './pods.js';
import { clientPodApi, PodWatcher } from './pods.js';
import { clientReviewApi, KubernetesAuthorizer, type Authorizer } from './authz.js';
import { loadDaemonKubeConfig, type LoadOptions } from './config.js';

export { KUBECONFIG_ENV } from './config.js';
export type { Authorizer, CallMetadata } from './authz.js';

export interface KubernetesModeOptions extends LoadOptions {
  node: string;
  registry: PodInfoSink;
  /** 'kubernetes' (default): TokenReview/x509 + SubjectAccessReview per namespace; 'none': none */
  authorization?: 'kubernetes' | 'none';
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** how long start() waits for the first pod list before going on without it (ms) */
  syncTimeoutMs?: number;
}

export interface KubernetesMode {
  /** undefined with authorization 'none' */
  authorizer: Authorizer | undefined;
  watcher: PodWatcher;
  /** 'in-cluster' or the kubeconfig path */
  source: string;
  close(): Promise<void>;
}

export async function startKubernetesMode(opts: KubernetesModeOptions): Promise<KubernetesMode> {
  const log = opts.log ?? (() => {});
  const cfg = await loadDaemonKubeConfig(opts);
  log('info', `kubernetes: API server ${cfg.server} (${cfg.source}), node "${opts.node}"`);
  const watcher = new PodWatcher(clientPodApi(cfg, opts.node), opts.registry, { log });
  watcher.start();
  // labels of the pods already running should be there for the first run; an API server that
  // does not answer must not keep the daemon from tracing, though
  const timeout = opts.syncTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const synced = await Promise.race([
    watcher.synced.then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeout))),
  ]);
  clearTimeout(timer);
  if (!synced)
    log(
      'warn',
      `kubernetes: no pod list from ${cfg.server} within ${timeout / 1000}s; continuing, labels will follow`,
    );
  const authorizer =
    (opts.authorization ?? 'kubernetes') === 'kubernetes'
      ? new KubernetesAuthorizer(clientReviewApi(cfg), {
          node: opts.node,
          fallbackCaPem: cfg.clusterCaPem,
          log,
        })
      : undefined;
  if (!authorizer)
    log(
      'warn',
      'kubernetes: --authorization none: every caller that reaches the daemon sees every namespace',
    );
  return {
    authorizer,
    watcher,
    source: cfg.source,
    close: () => watcher.stop(),
  };
}
