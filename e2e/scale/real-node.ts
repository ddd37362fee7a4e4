// The REAL node next to the simulated ones: the scale harness runs in the cluster of
// `scripts/k8s/up.sh --node` (e2e/k8s-node/cluster.ts), whose node kgnode runs the real gadget
// pod (deploy's DaemonSet, BPF in this kernel). A busybox pod on it is the workload: each
// execMarker() is a `kubectl exec` into it, so one real exec event per call, from real eBPF,
// arrives in the same CLI run as the replayed records of the simulated nodes.

import { join } from 'node:path';
import { marker } from '../helpers/cli.js';
import {
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  NODE_NAME,
  skipReason,
  teardown,
  waitPodsReady,
  type Cluster,
} from '../k8s-node/cluster.js';
import { run } from '../k8s/harness-fake-kubelet.js';

export const REAL_NODE = NODE_NAME;
const NS = 'kgscale-real';
const POD = 'box';

export interface ExecEvent {
  node?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  args?: unknown;
  path?: string;
}

export class RealNode {
  readonly node = REAL_NODE;
  readonly namespace = NS;
  readonly pod = POD;
  private constructor(readonly cluster: Cluster) {}

  /** Why the node cluster cannot run here (no root, no containerd, ...), or undefined. */
  static skipReason(): string | undefined {
    return skipReason();
  }

  /** Brings up (or attaches to) the node cluster, deploys the gadget and the workload pod. */
  static start(log: (m: string) => void): RealNode {
    const t0 = Date.now();
    const c = clusterUp();
    const n = new RealNode(c);
    try {
      deployGadget(c);
      createNamespace(c, NS);
      applyPods(c, NS, [{ name: POD, containers: [{ name: POD, command: ['sleep', '3600'] }] }]);
      waitPodsReady(c, NS, [POD]);
    } catch (e) {
      n.close();
      throw e;
    }
    log(
      `real node ${REAL_NODE}: cluster, gadget pod and ${NS}/${POD} ready in ${Date.now() - t0} ms`,
    );
    return n;
  }

  get kubeconfig(): string {
    return this.cluster.kubeconfig;
  }

  /** The cluster CA (the stand-in kubelets require the API server's client certificate). */
  get caFile(): string {
    return join(this.cluster.dir, 'pki', 'ca.crt');
  }

  /**
   * Runs `/bin/echo MARKER` in the pod through the API server (one exec event), or for
   * trace_open `/bin/touch /tmp/MARKER` (an open of that path); resolves with the marker.
   */
  async execMarker(
    what = 'real',
    gadget: 'trace_exec' | 'trace_open' = 'trace_exec',
  ): Promise<string> {
    const m = marker(what);
    const cmd = gadget === 'trace_exec' ? ['/bin/echo', m] : ['/bin/touch', `/tmp/${m}`];
    const r = await run(this.cluster.kubectl, [
      '--kubeconfig',
      this.cluster.kubeconfig,
      '-n',
      NS,
      'exec',
      POD,
      '-c',
      POD,
      '--',
      ...cmd,
    ]);
    if (r.status !== 0) throw new Error(`kubectl exec ${NS}/${POD}: ${r.stderr.trim()}`);
    return m;
  }

  /** The events of execMarker's command among the CLI's lines of the node. */
  static markerEvents(
    lines: readonly string[],
    m: string,
    gadget: 'trace_exec' | 'trace_open' = 'trace_exec',
  ): ExecEvent[] {
    return lines
      .filter((l) => l.includes(m))
      .map((l) => JSON.parse(l) as ExecEvent)
      .filter((e) =>
        gadget === 'trace_exec'
          ? Array.isArray(e.args) && e.args.includes(m)
          : e.path === `/tmp/${m}`,
      );
  }

  /** Undeploys and removes the namespace, or stops the cluster the tests started. */
  close(): void {
    teardown(this.cluster, [NS]);
  }
}
