// The node daemon: one LocalRuntime behind the gRPC server, until SIGINT/SIGTERM.

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ContainerRegistryOptions } from './containers/registry.js';
import { LocalRuntime, preflight } from './runtime/local.js';
import { RedactingRuntime, redactorFor } from './redact/index.js';
import { daemonSecurity, type SecurityFlags } from './server/security.js';
import { startServer } from './server/server.js';
import { DaemonMetrics } from './metrics/registry.js';
import { parseMetricsListen, startMetricsServer, type MetricsServer } from './metrics/server.js';
import { listAllGadgets } from '../../gadgets/framework/registry.js';

/** listen, TLS, --insecure, the caps on runs and --audit-log: server/security.ts */
export interface DaemonOptions extends SecurityFlags {
  listen: string;
  node?: string;
  /**
   * Kubernetes mode: runs without filters see only pod processes unless --host; a pod watch
   * (in-cluster config, or KGADGET_KUBECONFIG) adds labels and owners; callers are authorized.
   */
  kubernetes?: boolean;
  /** Kubernetes mode: 'kubernetes' (default) checks each caller's rights; 'none' does not */
  authorization?: 'kubernetes' | 'none';
  verbose?: boolean;
  /** --redact / --no-redact (default: on in Kubernetes mode), --redact-pattern: redact/index.ts */
  redact?: boolean;
  redactPatterns?: string[];
  /** --metrics-listen HOST:PORT: Prometheus metrics on GET /metrics (metrics/server.ts); default off */
  metricsListen?: string;
}

export async function startDaemon(opts: DaemonOptions): Promise<void> {
  // handlers first: a SIGTERM during start must still remove the socket and unload everything
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  // flags first: a bad one fails at once, before anything is loaded
  const security = await daemonSecurity(opts);
  const redactor = await redactorFor(opts);
  const metricsListen =
    opts.metricsListen === undefined ? undefined : parseMetricsListen(opts.metricsListen);
  preflight();
  const node = opts.node || hostname();
  const runtime = new LocalRuntime({
    node,
    kubernetes: opts.kubernetes,
    registry: hostRootRegistryOptions(process.env.HOST_ROOT),
    daemon: true,
  });
  // load the container tracker now so a broken kernel fails at start, not at the first run
  await runtime.listContainers();
  // traceloop recordings pinned by a daemon before this one: keep recording into them
  try {
    runtime.traceloop().resume();
  } catch (e) {
    process.stderr.write(`warning: traceloop: cannot resume: ${(e as Error).message}\n`);
  }
  const log = (level: string, message: string): void => {
    if (opts.verbose || level !== 'info') process.stderr.write(`${level}: ${message}\n`);
  };
  let k8s: import('./k8s/index.js').KubernetesMode | undefined;
  if (opts.kubernetes) {
    const { startKubernetesMode } = await import('./k8s/index.js');
    k8s = await startKubernetesMode({
      node,
      registry: await runtime.containerRegistry(),
      authorization: opts.authorization,
      log,
    });
  }
  const served = redactor ? new RedactingRuntime(runtime, redactor) : runtime;
  let metrics: DaemonMetrics | undefined;
  if (metricsListen) {
    const registry = await runtime.containerRegistry();
    const gadgets = new Set((await listAllGadgets()).map((g) => g.name));
    metrics = new DaemonMetrics(gadgets, {
      containers: () => registry.list().length,
      // a recorder that cannot start must not fail the whole scrape
      traceloop: () => {
        try {
          return runtime.traceloop().metrics();
        } catch {
          return undefined;
        }
      },
    });
  }
  const server = await startServer(served, opts.listen, {
    ...security,
    log,
    authorizer: k8s?.authorizer,
    runMetrics: metrics && ((gadget) => metrics.runStarted(gadget)),
  });
  process.stderr.write(`kubectl-gadget daemon listening on ${server.address}\n`);
  let metricsServer: MetricsServer | undefined;
  if (metrics && metricsListen) {
    try {
      metricsServer = await startMetricsServer(metrics, metricsListen, log);
    } catch (e) {
      await server.close();
      await k8s?.close();
      await runtime.close();
      throw e;
    }
    process.stderr.write(`kubectl-gadget daemon metrics on ${metricsServer.url}\n`);
  }

  await stopped;
  await metricsServer?.close();
  await server.close();
  await k8s?.close();
  await runtime.close();
  await security.audit?.close();
}

/**
 * In a pod, the host's runtime state is mounted under HOST_ROOT (e.g. /host/run), because the
 * image's own /run must stay writable for the service-account token.
 */
export function hostRootRegistryOptions(root: string | undefined): ContainerRegistryOptions {
  if (!root || root === '/') return {};
  const at = (p: string): string => join(root, p);
  return {
    procRoot: existsSync(at('/proc/self')) ? at('/proc') : '/proc',
    containerdStateDirs: [at('/run/containerd')],
    containersStorageRoots: [at('/var/lib/containers/storage'), at('/run/containers/storage')],
    runcRoots: [at('/run/runc'), at('/run/containerd/runc/k8s.io')],
    dockerRoot: at('/var/lib/docker'),
  };
}
