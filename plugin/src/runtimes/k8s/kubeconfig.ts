// Kubeconfig loading shared by every command that talks to a cluster: --kubeconfig, $KUBECONFIG
// (several paths, merged like kubectl: the first file that sets a name or the current context
// wins, missing files are skipped), ~/.kube/config, then the in-cluster service account.
// @kubernetes/client-node is imported lazily: it costs about a second of startup.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { clip } from '#gadgets/framework/clip.js';
import { UserError } from '../../errors.js';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

export interface KubeTarget {
  kc: KubeConfig;
  /** the context in use (--context or the current context) */
  context: string;
  /** the API server URL of that context */
  server: string;
  /** the context's namespace, 'default' when it has none: the default of -n */
  namespace: string;
  /** files the configuration came from, in merge order ([] in-cluster) */
  files: string[];
  inCluster: boolean;
}

export interface LoadEnv {
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** prefix of the in-cluster service account path /var/run/secrets/... (tests) */
  rootPrefix?: string;
}

export const NO_KUBECONFIG =
  'no kubeconfig found (checked $KUBECONFIG, ~/.kube/config): set --kubeconfig';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** The kubeconfig files to merge, in order; [] means none (in-cluster, if possible). */
export function kubeconfigFiles(flags: KubeFlags, env: NodeJS.ProcessEnv, home: string): string[] {
  if (flags.kubeconfig !== undefined) {
    const p = flags.kubeconfig.trim();
    if (!p) throw new UserError('--kubeconfig needs a path');
    if (!isFile(p)) throw new UserError(`kubeconfig "${p}" not found (--kubeconfig)`);
    return [p];
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((s) => s.trim() !== '');
  if (fromEnv.length > 0) {
    const found = [...new Set(fromEnv)].filter(isFile);
    if (found.length === 0) {
      throw new UserError(
        `no kubeconfig found: none of the files in $KUBECONFIG exists (${fromEnv.join(delimiter)})`,
        'fix $KUBECONFIG or set --kubeconfig',
      );
    }
    return found;
  }
  const def = join(home, '.kube', 'config');
  return isFile(def) ? [def] : [];
}

/** Loads, merges and checks the configuration; picks the context. */
export async function loadKubeConfig(
  flags: KubeFlags = {},
  opts: LoadEnv = {},
): Promise<KubeTarget> {
  const env = opts.env ?? process.env;
  const files = kubeconfigFiles(flags, env, opts.home ?? env.HOME ?? homedir());
  const { KubeConfig } = await import('@kubernetes/client-node');

  if (files.length === 0) {
    const prefix = opts.rootPrefix ?? '';
    const saDir = prefix + SERVICE_ACCOUNT_DIR;
    if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) {
      if (flags.context) {
        throw new UserError(
          `context "${flags.context}" not found: no kubeconfig, running in-cluster`,
        );
      }
      const kc = new KubeConfig();
      kc.loadFromCluster(prefix);
      // loadFromCluster reads process.env; the server comes from `env` here
      const host = env.KUBERNETES_SERVICE_HOST;
      const server = `https://${isIPv6(host) ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || '443'}`;
      kc.loadFromOptions({
        clusters: kc.clusters.map((c) => ({ ...c, server })),
        users: kc.users,
        contexts: kc.contexts,
        currentContext: kc.currentContext,
      });
      let namespace = 'default';
      try {
        namespace = readFileSync(join(saDir, 'namespace'), 'utf8').trim() || 'default';
      } catch {
        // no namespace file: 'default'
      }
      return {
        kc,
        context: kc.getCurrentContext(),
        server: kc.getCurrentCluster()?.server ?? '',
        namespace,
        files: [],
        inCluster: true,
      };
    }
    throw new UserError(NO_KUBECONFIG, 'or export KUBECONFIG=/path/to/kubeconfig');
  }

  // kubectl's merge: for each name the first definition wins, and so does the first
  // current-context; client-node's own merge throws on duplicates and lets the last one win
  const clusters = new Map<string, KubeConfig['clusters'][number]>();
  const users = new Map<string, KubeConfig['users'][number]>();
  const contexts = new Map<string, KubeConfig['contexts'][number]>();
  let current = '';
  for (const file of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (e) {
      throw new UserError(`invalid kubeconfig ${file}: ${firstLine(e)}`);
    }
    for (const c of one.clusters ?? []) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users ?? []) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.contexts ?? []) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!current && one.currentContext) current = one.currentContext;
  }

  const where = files.join(delimiter);
  const name = flags.context?.trim() || current;
  // names from the file (strings, or whatever the YAML held) are quoted clipped (a 12 KB cluster
  // name made a 12 KB error; found by fuzzing, e2e/fuzz/text.ts)
  const q = (v: unknown): string => clip(String(v), 80);
  const available = clip([...contexts.keys()].sort().map(q).join(', '), 400) || 'none';
  if (!name) {
    throw new UserError(
      `kubeconfig ${where} has no current context`,
      `set --context (available: ${available})`,
    );
  }
  const ctx = contexts.get(name);
  if (!ctx) {
    throw new UserError(
      `context "${q(name)}" not found in kubeconfig ${where}`,
      `available contexts: ${available}`,
    );
  }
  const cluster = clusters.get(ctx.cluster);
  if (!cluster || !cluster.server) {
    throw new UserError(
      `context "${q(name)}" refers to cluster "${q(ctx.cluster)}", which has no server in kubeconfig ${where}`,
    );
  }
  if (ctx.user && !users.has(ctx.user)) {
    throw new UserError(
      `context "${q(name)}" refers to user "${q(ctx.user)}", which is not in kubeconfig ${where}`,
    );
  }

  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext: name,
  });
  return {
    kc,
    context: name,
    server: cluster.server,
    namespace: ctx.namespace || 'default',
    files,
    inCluster: false,
  };
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0] ?? m;
}
