// Chooses where a gadget runs: in this process (--local), on a daemon (--remote ADDR) or, by
// default, on the cluster's nodes (Kubernetes mode, k8s/runtime.ts). Implementations are
// imported only when chosen: startup stays light.

import type { GadgetRuntime } from '#gadgets/framework/runtime.js';
import { UserError } from '../errors.js';
import { checkTlsNeedsRemote, type CommonFlagValues, type RemoteTlsFlagValues } from '../flags.js';

/** For commands that have no Kubernetes mode yet. */
export const KUBERNETES_NOT_AVAILABLE =
  'Kubernetes mode is not available yet: use --local or --remote ADDR';

export type RuntimeFlags = Pick<
  CommonFlagValues,
  'local' | 'remote' | 'node' | 'kubeconfig' | 'context' | 'namespace' | 'all-namespaces' | 'host'
> &
  RemoteTlsFlagValues;

export function runtimeMode(flags: RuntimeFlags): 'local' | 'remote' | 'kubernetes' {
  if (flags.local) return 'local';
  if (flags.remote !== undefined) return 'remote';
  return 'kubernetes';
}

export async function openRuntime(flags: RuntimeFlags): Promise<GadgetRuntime> {
  checkTlsNeedsRemote(flags);
  switch (runtimeMode(flags)) {
    case 'local': {
      if (typeof process.getuid === 'function' && process.getuid() !== 0) {
        throw new UserError('--local needs root (eBPF): run with sudo');
      }
      const { LocalRuntime } = await import('../../../daemon/src/runtime/local.js');
      return new LocalRuntime({ node: flags.node });
    }
    case 'remote': {
      const address = flags.remote!.trim();
      if (!address)
        throw new UserError('--remote needs an address: unix:///path/to.sock or tcp://host:port');
      const { RemoteRuntime, remoteTlsFromFlags } = await import('./remote-runtime.js');
      return new RemoteRuntime(address, { tls: await remoteTlsFromFlags(address, flags) });
    }
    case 'kubernetes': {
      const { KubernetesRuntime } = await import('./k8s/runtime.js');
      return KubernetesRuntime.open(flags);
    }
  }
}

/**
 * The exit code of a Kubernetes-mode run that lost a node for good (it failed, or did not answer
 * within the retry window, while other nodes streamed): the output misses that node's events.
 */
export const PARTIAL_EXIT_CODE = 3;

/** Open a runtime, use it, always close it. A partial run (see above) sets the exit code. */
export async function withRuntime<T>(
  flags: RuntimeFlags,
  fn: (rt: GadgetRuntime) => Promise<T>,
): Promise<T> {
  const rt = await openRuntime(flags);
  try {
    const r = await fn(rt);
    const lost = (rt as { partialNodes?: () => string[] }).partialNodes?.() ?? [];
    if (lost.length > 0) {
      process.stderr.write(
        `warning: partial result: ${lost.length === 1 ? 'node' : 'nodes'} ${lost.join(', ')} not traced to the end (exit code ${PARTIAL_EXIT_CODE})\n`,
      );
      process.exitCode = PARTIAL_EXIT_CODE;
    }
    return r;
  } finally {
    await rt.close().catch(() => undefined);
  }
}
