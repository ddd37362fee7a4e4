// list-containers, list-gadgets and version: ask the runtime (or the local registry), print.

import type { Writable } from 'node:stream';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { GadgetInfo } from '#gadgets/framework/runtime.js';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import type { CommonFlagValues } from '../flags.js';
import { printList } from '../output/list.js';
import type { OutputSpec } from '../output/spec.js';
import { toPrettyJson } from '../output/json.js';
import { loadYamlStringify } from '../output/yaml.js';
import { writeChunk, drained } from '../output/write.js';
import { runtimeMode, withRuntime } from '../runtimes/runtime.js';

type Out = Writable & { isTTY?: boolean; columns?: number };

// ---- list-containers

export const CONTAINER_COLUMNS: ColumnSpec[] = [
  { name: 'runtime' },
  { name: 'id', width: 12 },
  { name: 'name' },
  { name: 'pid', align: 'right' },
  { name: 'mntns', align: 'right' },
  { name: 'state' },
  { name: 'namespace' },
  { name: 'pod' },
  { name: 'container' },
  { name: 'image', hidden: true },
  { name: 'generation', hidden: true, align: 'right' },
  { name: 'started', hidden: true },
];

const K8S_CONTAINER_COLUMNS = new Set(['namespace', 'pod', 'container']);

export function matchesFilter(c: ContainerInfo, flags: CommonFlagValues): boolean {
  const names = flags.containername ?? [];
  if (names.length > 0 && !names.includes(c.name) && !names.includes(c.k8s?.container ?? ''))
    return false;
  const ids = flags['container-id'] ?? [];
  if (ids.length > 0 && !ids.some((id) => c.id.startsWith(id))) return false;
  if (!flags['all-namespaces'] && flags.namespace) {
    const nss = flags.namespace.split(',').map((s) => s.trim());
    if (!nss.includes(c.k8s?.namespace ?? '')) return false;
  }
  if (flags.podname && c.k8s?.pod !== flags.podname) return false;
  return true;
}

export function containerRow(c: ContainerInfo, shortId: boolean): Record<string, unknown> {
  return {
    runtime: c.runtime,
    id: shortId ? c.id.slice(0, 12) : c.id,
    name: c.name,
    pid: c.pid,
    mntns: c.mntnsId,
    state: c.state,
    namespace: c.k8s?.namespace ?? '',
    pod: c.k8s?.pod ?? '',
    container: c.k8s?.container ?? '',
    image: c.image,
    generation: c.generation,
    started: c.startedAt ? new Date(c.startedAt).toISOString() : '',
  };
}

/** Columns shown by default: the Kubernetes ones only when some container has them. */
export function containerColumns(list: readonly ContainerInfo[]): ColumnSpec[] {
  const k8s = list.some((c) => c.k8s);
  return CONTAINER_COLUMNS.map((c) =>
    K8S_CONTAINER_COLUMNS.has(c.name) && !k8s ? { ...c, hidden: true } : c,
  );
}

export function sortContainers(list: ContainerInfo[]): ContainerInfo[] {
  return list.sort(
    (a, b) =>
      a.runtime.localeCompare(b.runtime) ||
      a.name.localeCompare(b.name) ||
      a.id.localeCompare(b.id),
  );
}

export async function listContainers(flags: CommonFlagValues, stdout?: Out): Promise<void> {
  const list = await withRuntime(flags, (rt) => rt.listContainers());
  const shown = sortContainers(list.filter((c) => matchesFilter(c, flags)));
  const output: OutputSpec = flags.output ?? { format: 'columns' };
  const shortId = output.format === 'columns' && !output.columns?.includes('id');
  await printList(
    containerColumns(shown),
    shown.map((c) => containerRow(c, shortId)),
    { output, stdout, ...(flags.sort ? { sort: flags.sort } : {}) },
    shown,
  );
}

// ---- list-gadgets

export const GADGET_COLUMNS: ColumnSpec[] = [
  { name: 'command' },
  { name: 'name', hidden: true },
  { name: 'description', flex: true },
];

export async function listGadgetInfos(flags: CommonFlagValues): Promise<GadgetInfo[]> {
  if (runtimeMode(flags) === 'remote') return (await withRuntime(flags, (rt) => rt.info())).gadgets;
  const { listAllGadgets } = await import('#gadgets/framework/registry.js');
  return (await listAllGadgets()).map((g) => ({
    name: g.name,
    command: g.command,
    description: g.description,
  }));
}

export async function listGadgetsCommand(flags: CommonFlagValues, stdout?: Out): Promise<void> {
  const gadgets = (await listGadgetInfos(flags)).sort((a, b) => a.name.localeCompare(b.name));
  const rows = gadgets.map((g) => ({
    command: g.command.join(' '),
    name: g.name,
    description: g.description,
  }));
  await printList(
    GADGET_COLUMNS,
    rows,
    { output: flags.output ?? { format: 'columns' }, stdout },
    gadgets,
  );
}

// ---- version

export interface VersionInfo {
  clientVersion: string;
  /** --remote: the daemon's */
  server?: { version: string; node: string; kernel: string; address: string };
  /** Kubernetes mode: every node's daemon (or why it did not answer) */
  nodes?: Array<{ node: string; pod: string; version?: string; kernel?: string; error?: string }>;
  /** Kubernetes mode: why no daemon could be asked (no kubeconfig, not deployed, ...) */
  serverError?: string;
}

export async function versionInfo(
  clientVersion: string,
  flags: CommonFlagValues,
): Promise<VersionInfo> {
  const v: VersionInfo = { clientVersion };
  if (runtimeMode(flags) === 'remote') {
    const info = await withRuntime(flags, (rt) => rt.info());
    v.server = {
      version: info.version,
      node: info.node,
      kernel: info.kernel,
      address: flags.remote!,
    };
  } else if (runtimeMode(flags) === 'kubernetes') {
    const { KubernetesRuntime } = await import('../runtimes/k8s/runtime.js');
    let rt: InstanceType<typeof KubernetesRuntime> | undefined;
    try {
      rt = await KubernetesRuntime.open(flags);
      v.nodes = (await rt.nodeVersions()).map((n) => ({
        node: n.node,
        pod: n.pod,
        ...(n.info ? { version: n.info.version, kernel: n.info.kernel } : {}),
        ...(n.error ? { error: n.error } : {}),
      }));
    } catch (e) {
      const err = e as Error & { reason?: string };
      v.serverError = err.reason ?? err.message;
    } finally {
      await rt?.close().catch(() => undefined);
    }
  }
  return v;
}

export function versionText(v: VersionInfo): string {
  let s = `Client version: v${v.clientVersion}\n`;
  if (v.server)
    s += `Server version: v${v.server.version} (node ${v.server.node}, kernel ${v.server.kernel})\n`;
  for (const n of v.nodes ?? []) {
    s += n.error
      ? `Server version: node ${n.node}: ${n.error}\n`
      : `Server version: v${n.version} (node ${n.node}, kernel ${n.kernel})\n`;
  }
  if (v.serverError !== undefined) s += `Server version: unknown (${v.serverError})\n`;
  return s;
}

export async function showVersion(
  clientVersion: string,
  flags: CommonFlagValues,
  stdout: Out = process.stdout,
): Promise<void> {
  const v = await versionInfo(clientVersion, flags);
  const format = flags.output?.format ?? 'columns';
  let text: string;
  if (format === 'json' || format === 'jsonpretty') text = toPrettyJson(v) + '\n';
  else if (format === 'yaml') text = (await loadYamlStringify())(v, { lineWidth: 0 });
  else text = versionText(v);
  await writeChunk(stdout, text);
  await drained(stdout);
}
