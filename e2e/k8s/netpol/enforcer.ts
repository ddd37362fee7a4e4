// The local node with a real NetworkPolicy enforcer (scripts/k8s/up.sh --node --netpol: kube-router
// v2.1.0's network policy controller, a test oracle that is never shipped), and the checks that it
// left nothing behind.

import { join } from 'node:path';
import {
  SCRIPTS,
  clusterDown,
  kubectlOk,
  ok,
  run,
  testClusterEnv,
  type Cluster,
} from '../../k8s-node/cluster.js';

/** Starts the node cluster with kube-router enforcing (or adds kube-router to a given one). */
export function enforcedClusterUp(): Cluster {
  const given = process.env.KGADGET_NODE_KUBECONFIG;
  if (given) {
    const dir = join(given, '..');
    const env = { ...process.env, KGADGET_CLUSTER_DIR: dir, KUBECONFIG: given };
    ok(run(join(SCRIPTS, 'netpol-up.sh'), [], { env, timeoutMs: 15 * 60_000 }), 'netpol-up.sh');
    const kubectl = /^export KUBECTL=(.*)$/m.exec(run('cat', [join(dir, 'env')]).stdout)?.[1];
    return { dir, kubeconfig: given, kubectl: kubectl ?? 'kubectl', env, owned: false, upMs: 0 };
  }
  const dir = process.env.KGADGET_NODE_E2E_DIR ?? '/tmp/kgadget-e2e-node';
  const env = testClusterEnv(dir);
  // cold: builds the Kubernetes binaries, CoreDNS and kube-router first
  const r = run(join(SCRIPTS, 'up.sh'), ['--node', '--netpol'], { env, timeoutMs: 25 * 60_000 });
  ok(r, 'scripts/k8s/up.sh --node --netpol');
  const kubeconfig = join(dir, 'admin.kubeconfig');
  env.KUBECONFIG = kubeconfig;
  const kubectl = /^export KUBECTL=(.*)$/m.exec(run('cat', [join(dir, 'env')]).stdout)?.[1];
  return { dir, kubeconfig, kubectl: kubectl ?? 'kubectl', env, owned: true, upMs: r.ms };
}

/** down.sh for an owned cluster; netpol-down.sh (kube-router only) for a given one. */
export function enforcedClusterDown(c: Cluster): void {
  if (c.owned) {
    const d = clusterDown(c);
    if (d && d.status !== 0) throw new Error(`down.sh: exit ${d.status}: ${d.stderr.slice(-3000)}`);
  } else {
    ok(run(join(SCRIPTS, 'netpol-down.sh'), [], { env: c.env }), 'netpol-down.sh');
  }
}

const CHAIN_RE = /^-N (KUBE-ROUTER-|KUBE-NWPLCY-|KUBE-POD-FW-)\S*/gm;
const SET_RE = /^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-)\S*$/gm;

/** kube-router's chains (IPv4 and IPv6 filter tables), ipsets and processes still there. */
export function enforcerLeftovers(): string[] {
  const out: string[] = [];
  for (const ipt of ['iptables', 'ip6tables']) {
    const r = run(ipt, ['-w', '5', '-t', 'filter', '-S']);
    for (const m of r.stdout.match(CHAIN_RE) ?? []) out.push(`${ipt} chain ${m.slice(3)}`);
  }
  const sets = run('ipset', ['list', '-n']);
  for (const m of sets.stdout.match(SET_RE) ?? []) out.push(`ipset ${m}`);
  const ps = run('sh', ['-c', 'for p in /proc/[0-9]*; do readlink $p/exe; done 2>/dev/null']);
  for (const exe of ps.stdout.split('\n'))
    if (exe.endsWith('/kube-router')) out.push(`process ${exe}`);
  return out;
}

/**
 * The names of the NetworkPolicies kube-router has installed: one "run through nw policy NAME"
 * jump per pod it selects, in the pods' firewall chains.
 */
export function enforcedPolicyNames(): Set<string> {
  const r = run('iptables-save', ['-t', 'filter']);
  const names = new Set<string>();
  for (const m of r.stdout.matchAll(/--comment "run through nw policy ([^"]+)"/g)) names.add(m[1]!);
  return names;
}

/** Counters of kube-router's REJECT rules (packets it refused), summed. */
export function rejectedPackets(): number {
  const r = run('iptables', ['-w', '5', '-t', 'filter', '-L', '-v', '-n', '-x']);
  let chain = '';
  let sum = 0;
  for (const line of r.stdout.split('\n')) {
    const c = /^Chain (\S+)/.exec(line);
    if (c) {
      chain = c[1]!;
      continue;
    }
    if (!chain.startsWith('KUBE-POD-FW-')) continue;
    const f = line.trim().split(/\s+/);
    if (f[2] === 'REJECT') sum += Number(f[0]);
  }
  return sum;
}

/** kubectl apply of objects given as JSON. */
export function applyObjects(c: Cluster, objs: unknown[]): string {
  return kubectlOk(
    c,
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }),
  );
}
