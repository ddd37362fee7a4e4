// traceloop start/stop/list/show/delete: the CLI side. The recorder lives in the node daemon
// (daemon/src/traceloop), so these commands talk to a daemon: --remote ADDR, or every gadget
// daemon of the cluster (Kubernetes mode). Records arrive as raw kernel slots and are decoded
// and formatted here (gadgets/traceloop/format.ts).

import { compileFieldFilters, FilterTypeError } from '#gadgets/framework/field-filter.js';
import type { Writable } from 'node:stream';
import { Flags } from '@oclif/core';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import type { ContainerFilter, RunMessage, TraceloopApi } from '#gadgets/framework/runtime.js';
import type { TraceloopEntry, TraceloopSession } from '#gadgets/framework/traceloop.js';
import type { ColumnSpec } from '#gadgets/framework/types.js';
import {
  SLOT_SIZE,
  assemble,
  exitText,
  formatParams,
  parseSlot,
  recordObject,
  recordName,
  retText,
  type Slot,
  type TraceRecord,
} from '#gadgets/traceloop/format.js';
import { parseSyscallFilter, SyscallFilterError } from '#gadgets/traceloop/table.js';
import { errText, UserError } from '../../errors.js';
import { checkTlsNeedsRemote, containerFlags, kubernetesFlags, modeFlags } from '../../flags.js';
import type { CommonFlagValues } from '../../flags.js';
import { formatTable, selectColumns } from '../../output/columns.js';
import { printList } from '../../output/list.js';
import type { OutputSpec } from '../../output/spec.js';
import { formatRfc3339Nano } from '../../output/time.js';
import { drained, writeChunk } from '../../output/write.js';
import { loadYamlStringify } from '../../output/yaml.js';
import { hasContainerSelector, matchesFilter } from '#gadgets/framework/filter.js';
import { parseLabelSelector } from '#gadgets/framework/labels.js';
import { matchesSpec } from '#gadgets/framework/container-spec.js';
import { containerFilter } from '../request.js';
import { runtimeMode } from '../../runtimes/runtime.js';
import { RunStream } from '../../pipeline/stream.js';

type Out = Writable & { isTTY?: boolean; columns?: number };

export const sessionFlag = {
  session: Flags.string({
    description: "Session id (default: the node's current traceloop session).",
    helpGroup: 'TRACELOOP',
  }),
};

/** Which recordings `list` and `delete` act on: nodes, containers (no --host), session. */
export const recordingFlags = {
  ...modeFlags,
  ...kubernetesFlags,
  containername: containerFlags.containername,
  'container-id': containerFlags['container-id'],
  ...sessionFlag,
};

export const TRACELOOP_HELP = `traceloop records the last syscalls of every container in kernel memory, continuously, so
that they can be read after something went wrong, including after the container exited or
crashed. Recording runs in the node daemon (--remote ADDR, or the cluster's gadget daemons) and
survives a restart of the daemon. See docs/traceloop.md.`;

export interface TraceloopFlags extends CommonFlagValues {
  session?: string;
}

interface NodeRecorder {
  node: string;
  api: TraceloopApi;
}

interface Recorders {
  nodes: NodeRecorder[];
  /** Kubernetes mode filter defaults (namespace of the context, pods only) */
  adjust(f: ContainerFilter): ContainerFilter;
  close(): Promise<void>;
}

/** The daemons to talk to. Locally there is no long-lived process: a daemon is needed. */
async function openRecorders(flags: CommonFlagValues): Promise<Recorders> {
  checkTlsNeedsRemote(flags);
  switch (runtimeMode(flags)) {
    case 'local':
      throw new UserError(
        'traceloop records in the node daemon, so that recordings outlive this command: use --remote ADDR',
        'start one with `sudo kubectl-gadget daemon`, then e.g. --remote unix:///run/kubectl-gadget/gadget.sock',
      );
    case 'remote': {
      const address = flags.remote!.trim();
      if (!address)
        throw new UserError('--remote needs an address: unix:///path/to.sock or tcp://host:port');
      const { RemoteRuntime, remoteTlsFromFlags } =
        await import('../../runtimes/remote-runtime.js');
      const rt = new RemoteRuntime(address, { tls: await remoteTlsFromFlags(address, flags) });
      // the node's name, for the NODE column (the daemon's errors come from the traceloop call)
      const node = await rt.info().then(
        (i) => i.node,
        () => '',
      );
      return {
        nodes: [{ node, api: rt.traceloop() }],
        adjust: (f) => f,
        close: () => rt.close(),
      };
    }
    case 'kubernetes': {
      const { KubernetesRuntime } = await import('../../runtimes/k8s/runtime.js');
      const rt = await KubernetesRuntime.open(flags);
      const nodes: NodeRecorder[] = [];
      for (const n of rt.nodes) {
        if (!n.runtime.traceloop) continue;
        nodes.push({ node: n.node, api: n.runtime.traceloop() });
      }
      return {
        nodes,
        adjust: (f) =>
          rt.request({ gadget: 'traceloop', params: {}, filter: f, timeoutSeconds: 0 }).filter,
        close: () => rt.close(),
      };
    }
  }
}

async function withRecorders<T>(
  flags: CommonFlagValues,
  fn: (r: Recorders) => Promise<T>,
): Promise<T> {
  const r = await openRecorders(flags);
  try {
    return await fn(r);
  } finally {
    await r.close().catch(() => undefined);
  }
}

/** Runs fn on every node; a node that fails is a warning unless every node fails. */
async function eachNode<T>(
  r: Recorders,
  fn: (n: NodeRecorder) => Promise<T>,
  warn: (m: string) => void,
): Promise<Array<{ node: string; value: T }>> {
  const results = await Promise.allSettled(r.nodes.map(fn));
  const ok: Array<{ node: string; value: T }> = [];
  const failed: Array<{ node: string; error: unknown }> = [];
  results.forEach((res, i) => {
    const node = r.nodes[i]!.node;
    if (res.status === 'fulfilled') ok.push({ node, value: res.value });
    else failed.push({ node, error: res.reason });
  });
  if (failed.length && failed.length === r.nodes.length) {
    const first = failed[0]!.error;
    if (failed.length === 1) throw first;
    const text = failed.map((f) => `node ${f.node}: ${(f.error as Error).message}`).join('; ');
    throw new UserError(text);
  }
  for (const f of failed) warn(`node ${f.node}: ${(f.error as Error).message}`);
  return ok;
}

const warnStderr = (m: string): void => void process.stderr.write(`warning: ${m}\n`);

// ---- start / stop / delete ----------------------------------------------------------------------

export interface StartFlags extends TraceloopFlags {
  'syscall-filter'?: string[];
  syscalls?: number;
  'max-memory'?: number;
  durations?: boolean;
}

export async function traceloopStart(
  flags: StartFlags,
  stdout: Out = process.stdout,
): Promise<void> {
  const syscalls = flags['syscall-filter'] ?? [];
  try {
    parseSyscallFilter(syscalls); // fail before contacting anything
  } catch (e) {
    if (e instanceof SyscallFilterError) throw new UserError(e.message);
    throw e;
  }
  const base = containerFilter(flags);
  if (base.host) throw new UserError('traceloop records containers only: --host is not supported');
  const sessions = await withRecorders(flags, (r) =>
    eachNode(
      r,
      (n) =>
        n.api.start({
          filter: r.adjust(base),
          syscalls,
          ...(flags.syscalls ? { syscallsPerContainer: flags.syscalls } : {}),
          ...(flags['max-memory'] ? { maxMemoryMib: flags['max-memory'] } : {}),
          ...(flags.durations ? { durations: true } : {}),
        }),
      warnStderr,
    ),
  );
  for (const { value: s } of sessions) {
    const skipped = s.resumed ? notApplied(flags, s) : [];
    if (skipped.length) {
      warnStderr(
        `node ${s.node}: not applied, the running session keeps its settings: ${skipped.join(', ')}; ` +
          'to change them, `traceloop delete` (drops the recordings), then `traceloop start`',
      );
    }
  }
  const rows = sessions.map(({ value: s }) => sessionRow(s));
  const output = flags.output ?? { format: 'columns' };
  if (output.format !== 'columns') {
    await printList(
      SESSION_COLUMNS,
      rows,
      { output, stdout },
      sessions.map((s) => s.value),
    );
    return;
  }
  let text = '';
  for (const { value: s } of sessions) {
    const sizes =
      `the last ${s.syscallsPerContainer} syscalls of up to ${s.buffers} containers, ` +
      `${(s.memoryBytes / 1048576).toFixed(1)} MiB of kernel memory`;
    text += s.resumed
      ? `traceloop: already recording on node ${s.node} (session ${s.sessionId}, started ` +
        `${new Date(s.startedAt).toISOString()}), resumed with its settings: ${sizes}; ` +
        `containers: ${s.filter && hasContainerSelector(s.filter) ? describeFilter(s.filter) : 'all'}; ` +
        `syscalls: ${s.syscalls?.length ? s.syscalls.join(',') : 'all'}\n`
      : `traceloop: recording on node ${s.node} (session ${s.sessionId}): ${sizes}\n`;
  }
  await writeChunk(stdout, text);
  await drained(stdout);
}

/** The flags given to `start` that a session already recording does not have. */
export function notApplied(flags: StartFlags, s: TraceloopSession): string[] {
  const out: string[] = [];
  const given = containerFilter(flags);
  const inForce = s.filter;
  const same = (a: string[], b: string[] | undefined): boolean =>
    [...a].sort().join('\0') === [...(b ?? [])].sort().join('\0');
  if (given.namespaces.length && !same(given.namespaces, inForce?.namespaces))
    out.push(`-n ${given.namespaces.join(',')}`);
  if (flags['all-namespaces'] && inForce?.namespaces.length) out.push('-A');
  if (given.pods.length && !same(given.pods, inForce?.pods)) out.push(`-p ${given.pods.join(',')}`);
  if (given.containerNames.length && !same(given.containerNames, inForce?.containerNames))
    out.push(given.containerNames.map((c) => `-c ${c}`).join(' '));
  if (given.containerIds.length && !same(given.containerIds, inForce?.containerIds))
    out.push(given.containerIds.map((c) => `--container-id ${c}`).join(' '));
  if (given.labelSelector.trim() && given.labelSelector.trim() !== inForce?.labelSelector.trim())
    out.push(`-l ${given.labelSelector.trim()}`);
  const filterList = (flags['syscall-filter'] ?? [])
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter(Boolean);
  if (filterList.length && !same(filterList, s.syscalls))
    out.push(`--syscall-filter ${filterList.join(',')}`);
  // the daemon rounds up to a power of two, at least 64
  const want = flags.syscalls;
  if (want && Math.max(64, 2 ** Math.ceil(Math.log2(want))) !== s.syscallsPerContainer)
    out.push(`--syscalls ${want}`);
  if (flags['max-memory'] && flags['max-memory'] !== s.maxMemoryMib)
    out.push(`--max-memory ${flags['max-memory']}`);
  if (flags.durations && !s.durations) out.push('--durations');
  return out;
}

export const SESSION_COLUMNS: ColumnSpec[] = [
  { name: 'node' },
  { name: 'session' },
  { name: 'syscalls_per_container', header: 'SYSCALLS', align: 'right' },
  { name: 'buffers', align: 'right' },
  { name: 'memory_bytes', header: 'MEMORY', align: 'right' },
];

function sessionRow(s: TraceloopSession): Record<string, unknown> {
  return {
    node: s.node,
    session: s.sessionId,
    syscalls_per_container: s.syscallsPerContainer,
    buffers: s.buffers,
    memory_bytes: s.memoryBytes,
  };
}

export async function traceloopStop(
  flags: TraceloopFlags,
  stdout: Out = process.stdout,
): Promise<void> {
  const done = await withRecorders(flags, (r) =>
    eachNode(r, (n) => n.api.stop(flags.session ?? ''), warnStderr),
  );
  await writeChunk(
    stdout,
    `traceloop: stopped on ${done.length} node(s); recordings stay readable until \`traceloop delete\`\n`,
  );
  await drained(stdout);
}

export async function traceloopDelete(
  flags: TraceloopFlags,
  container: string | undefined,
  stdout: Out = process.stdout,
): Promise<void> {
  const filter = recordingFilter(flags);
  const results = await withRecorders(flags, async (r) => {
    if (filter) return deleteSelected(r, flags.session ?? '', filter, container);
    if (!container) return eachNode(r, (n) => n.api.delete(flags.session ?? '', ''), warnStderr);
    // a container lives on one node: delete where it is found
    const found = await eachNode(
      r,
      (n) => n.api.delete(flags.session ?? '', container).catch(notFoundAsZero),
      warnStderr,
    );
    if (!found.some((f) => f.value > 0)) {
      // say why, with the close matches of the node(s)
      await r.nodes[0]?.api.delete(flags.session ?? '', container);
    }
    return found;
  });
  const n = results.reduce((s, x) => s + x.value, 0);
  await writeChunk(
    stdout,
    filter
      ? `traceloop: deleted ${n} recording(s)${container ? ` of ${container}` : ''} matching ${describeFilter(filter)}; recording goes on\n`
      : container
        ? `traceloop: deleted ${n} recording(s) of ${container}\n`
        : `traceloop: deleted every recording (${n}) and stopped recording\n`,
  );
  await drained(stdout);
}

/**
 * undeploy: every node's recordings and pins, removed before the daemons go (pinned maps would
 * otherwise hold kernel memory, and pinned links keep the programs recording, on the node until
 * it reboots). A node without a session has nothing to remove; a node that cannot be reached is
 * reported, not fatal.
 */
export async function removeAllRecordings(
  flags: CommonFlagValues,
  warn: (m: string) => void,
): Promise<Array<{ node: string; removed: number }>> {
  let r: Recorders;
  try {
    r = await openRecorders(flags);
  } catch (e) {
    warn(`cannot reach the gadget daemons to remove traceloop recordings: ${errText(e)}`);
    return [];
  }
  try {
    const res = await Promise.allSettled(r.nodes.map((n) => n.api.delete('', '')));
    const out: Array<{ node: string; removed: number }> = [];
    res.forEach((x, i) => {
      const node = r.nodes[i]!.node;
      if (x.status === 'fulfilled') out.push({ node, removed: x.value });
      else if ((x.reason as { code?: string }).code !== 'FAILED_PRECONDITION') {
        warn(
          `node ${node}: traceloop recordings not removed (${errText(x.reason)}); they stay ` +
            `pinned in /sys/fs/bpf/kubectl-gadget/traceloop on that node, and its programs ` +
            'attached and recording, until `traceloop delete` or a reboot',
        );
      }
    });
    return out;
  } finally {
    await r.close().catch(() => undefined);
  }
}

/**
 * The selection -n/-p/-c/--container-id/-l make for `list` and `delete`: only what was given,
 * so without -n every namespace is listed (a recording outlives its pod and the namespace
 * default of the context). Undefined: nothing given (or only -A).
 */
export function recordingFilter(flags: CommonFlagValues): ContainerFilter | undefined {
  const f = containerFilter(flags);
  if (flags.host) throw new UserError('traceloop records containers only: --host is not supported');
  if (f.labelSelector.trim()) {
    try {
      parseLabelSelector(f.labelSelector);
    } catch (e) {
      throw new UserError((e as Error).message, "e.g. -l app=web, -l 'tier in (web,api)'");
    }
  }
  return hasContainerSelector(f) ? f : undefined;
}

/** "namespace shop, pod web-1, container app", for messages */
function describeFilter(f: ContainerFilter): string {
  const parts: string[] = [];
  if (f.namespaces.length) parts.push(`namespace ${f.namespaces.join(',')}`);
  if (f.pods.length) parts.push(`pod ${f.pods.join(',')}`);
  if (f.containerNames.length) parts.push(`container ${f.containerNames.join(',')}`);
  if (f.containerIds.length) parts.push(`container id ${f.containerIds.join(',')}`);
  if (f.labelSelector.trim()) parts.push(`labels ${f.labelSelector.trim()}`);
  return parts.join(', ');
}

/** Deletes, on each node, the recordings the filter (and the container reference) select. */
async function deleteSelected(
  r: Recorders,
  sessionId: string,
  filter: ContainerFilter,
  container: string | undefined,
): Promise<Array<{ node: string; value: number }>> {
  const done = await eachNode(
    r,
    async (n) => {
      const keys = new Set<string>();
      for (const e of await n.api.list(sessionId)) {
        if (e.status === 'evicted' || !matchesFilter(filter, e.container)) continue;
        if (container && !matchesSpec(container.trim(), e.container)) continue;
        keys.add(e.container.id || e.container.name);
      }
      let deleted = 0;
      for (const k of keys) deleted += await n.api.delete(sessionId, k).catch(notFoundAsZero);
      return deleted;
    },
    warnStderr,
  );
  if (!done.some((d) => d.value > 0)) {
    throw new UserError(
      `no recording${container ? ` of ${container}` : ''} matches ${describeFilter(filter)}`,
      'list recordings with `kubectl gadget traceloop list`',
    );
  }
  return done;
}

function notFoundAsZero(e: unknown): number {
  if (e instanceof Error && (e as { code?: string }).code === 'NOT_FOUND') return 0;
  throw e;
}

// ---- list ---------------------------------------------------------------------------------------

export const LIST_COLUMNS: ColumnSpec[] = [
  { name: 'node' },
  { name: 'namespace' },
  { name: 'pod' },
  { name: 'container' },
  { name: 'container_id', header: 'CONTAINERID', width: 12 },
  { name: 'instance', align: 'right' },
  { name: 'state' },
  { name: 'records', align: 'right' },
  { name: 'lost', align: 'right', hidden: true },
  { name: 'status', hidden: true },
  { name: 'session', hidden: true },
];

export function entryRow(
  node: string,
  e: TraceloopEntry,
  shortId: boolean,
): Record<string, unknown> {
  const c = e.container;
  let state: string = c.state;
  if (e.status === 'evicted') state = 'evicted';
  else if (c.state === 'exited') {
    state = `exited ${c.exitedAt ? new Date(c.exitedAt).toISOString() : ''}`.trim();
    if (e.exitStatus !== undefined) state += ` (${exitText(e.exitStatus)})`;
  }
  return {
    node,
    namespace: c.k8s?.namespace ?? '',
    pod: c.k8s?.pod ?? '',
    // a container no runtime named (gone before it could be read): its runtime and id
    container: c.k8s?.container || c.name || `${c.runtime}:${c.id.slice(0, 12)}`,
    container_id: shortId ? c.id.slice(0, 12) : c.id,
    instance: e.instance,
    state,
    records: e.records,
    lost: e.lost,
    status: e.status,
    session: e.sessionId,
  };
}

export async function traceloopList(
  flags: TraceloopFlags,
  stdout: Out = process.stdout,
): Promise<void> {
  const filter = recordingFilter(flags);
  const lists = await withRecorders(flags, (r) =>
    eachNode(
      r,
      async (n) =>
        (await n.api.list(flags.session ?? '')).filter(
          (e) => !filter || matchesFilter(filter, e.container),
        ),
      warnStderr,
    ),
  );
  const output: OutputSpec = flags.output ?? { format: 'columns' };
  const shortId = output.format === 'columns' && !output.columns?.includes('container_id');
  const all = lists.flatMap(({ node, value }) => value.map((e) => ({ node: node || '', e })));
  all.sort(
    (a, b) =>
      a.node.localeCompare(b.node) ||
      (a.e.container.k8s?.namespace ?? '').localeCompare(b.e.container.k8s?.namespace ?? '') ||
      (a.e.container.k8s?.pod ?? a.e.container.name).localeCompare(
        b.e.container.k8s?.pod ?? b.e.container.name,
      ) ||
      a.e.instance - b.e.instance,
  );
  const k8s = all.some((x) => x.e.container.k8s);
  const columns = LIST_COLUMNS.map((c) =>
    !k8s && (c.name === 'namespace' || c.name === 'pod') ? { ...c, hidden: true } : c,
  );
  await printList(
    columns,
    all.map(({ node, e }) => entryRow(node, e, shortId)),
    { output, stdout, ...(flags.sort ? { sort: flags.sort } : {}) },
    all.map(({ node, e }) => ({ node, ...e })),
  );
}

// ---- show ---------------------------------------------------------------------------------------

export const SHOW_COLUMNS: ColumnSpec[] = [
  { name: 'time', width: 15 },
  { name: 'cpu', align: 'right' },
  { name: 'pid', align: 'right' },
  { name: 'comm', width: 16 },
  { name: 'syscall' },
  { name: 'params', flex: true },
  { name: 'ret', align: 'right' },
  { name: 'tid', align: 'right', hidden: true },
  { name: 'error', hidden: true },
];

export interface ShowFlags extends TraceloopFlags {
  instance?: number;
  last?: number;
}

export interface ShowResult {
  records: TraceRecord[];
  container?: ContainerInfo;
  bootToWallNs: bigint;
  logs: string[];
  node: string;
}

/** Reads one recording (decoded, in time order). */
export async function readRecording(
  api: TraceloopApi,
  sessionId: string,
  container: string,
  instance: number,
  warn: (message: string) => void = warnStderr,
): Promise<ShowResult> {
  const slots: Slot[] = [];
  const logs: string[] = [];
  // one node; the records are raw kernel slots, parsed by parseSlot rather than a decoder
  const stream = new RunStream<undefined>({ init: () => undefined, warn });
  const ac = new AbortController();
  for await (const m of api.show(
    { sessionId, container, instance },
    ac.signal,
  ) as AsyncIterable<RunMessage>) {
    switch (m.kind) {
      case 'header':
        if (m.header.layout.size !== SLOT_SIZE) {
          // the header struct; data bytes follow each record
          throw new UserError(
            `the daemon's traceloop records have ${m.header.layout.size} bytes, this CLI knows ${SLOT_SIZE}: use matching versions`,
          );
        }
        stream.header(m.header);
        break;
      case 'containers':
        stream.containers(m);
        break;
      case 'log':
        logs.push(m.message);
        break;
      case 'batch': {
        const c = stream.records(stream.nodeOf(m), m.records);
        while (c.next()) {
          const s = parseSlot(c.batch, c.offset, c.length);
          if (s) slots.push(s);
        }
        break;
      }
      default:
        break;
    }
  }
  const node = stream.last;
  // the recorded container: the show stream names exactly one
  const c = node?.containers.values().next().value;
  return {
    records: assemble(slots),
    ...(c ? { container: c } : {}),
    bootToWallNs: node?.bootToWallNs ?? 0n,
    logs,
    node: node?.name ?? '',
  };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** "15:04:05.123456" (UTC) */
function timeOfDay(wallNs: bigint): string {
  const ms = Number(wallNs / 1_000_000n);
  const d = new Date(ms);
  const us = Number((wallNs / 1000n) % 1_000_000n);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${String(us).padStart(6, '0')}`;
}

export function showRow(r: TraceRecord, bootToWallNs: bigint): Record<string, unknown> {
  return {
    time: timeOfDay(r.ts + bootToWallNs),
    cpu: r.cpu,
    pid: r.pid,
    tid: r.tid,
    comm: r.comm,
    syscall: recordName(r),
    params: formatParams(r),
    ret: retText(r),
    error: '',
  };
}

/** What -F sees of a record: the row as printed, with ret and error as -o json has them. */
function showFilterRow(r: TraceRecord, bootToWallNs: bigint): Record<string, unknown> {
  const o = recordObject(r, bootToWallNs);
  return { ...showRow(r, bootToWallNs), ret: o.ret, error: o.error };
}

/** The -o json line of one record. */
export function showJson(r: TraceRecord, bootToWallNs: bigint): string {
  const o = recordObject(r, bootToWallNs);
  o.timestamp = formatRfc3339Nano(o.timestamp as bigint);
  return JSON.stringify(o);
}

export async function traceloopShow(
  flags: ShowFlags,
  container: string,
  stdout: Out = process.stdout,
  stderr: Writable = process.stderr,
): Promise<void> {
  const output: OutputSpec = flags.output ?? { format: 'columns' };
  const warn = (m: string): void => void stderr.write(`warning: ${m}\n`);
  const result = await withRecorders(flags, async (r) => {
    if (r.nodes.length === 1) {
      return readRecording(
        r.nodes[0]!.api,
        flags.session ?? '',
        container,
        flags.instance ?? 0,
        warn,
      );
    }
    // find the node that holds it
    const errors: unknown[] = [];
    for (const n of r.nodes) {
      try {
        return await readRecording(
          n.api,
          flags.session ?? '',
          container,
          flags.instance ?? 0,
          warn,
        );
      } catch (e) {
        errors.push(e);
      }
    }
    const notFound = errors.find((e) => (e as { code?: string }).code !== 'NOT_FOUND');
    throw notFound ?? errors[0] ?? new UserError(`no recording for ${container}`);
  });
  for (const l of result.logs) stderr.write(`info: ${l}\n`);
  let records = result.records;
  const filter = compileFieldFilters(flags.filter ?? []);
  if (filter) {
    // -F before --last: "the last 5 failed opens"
    try {
      records = records.filter((rec) => filter(showFilterRow(rec, result.bootToWallNs)));
    } catch (e) {
      if (e instanceof FilterTypeError) throw new UserError(e.message);
      throw e;
    }
  }
  if (flags.last && records.length > flags.last) records = records.slice(-flags.last);
  switch (output.format) {
    case 'json': {
      let text = '';
      for (const rec of records) text += showJson(rec, result.bootToWallNs) + '\n';
      await writeChunk(stdout, text);
      break;
    }
    case 'jsonpretty': {
      let text = '';
      for (const rec of records)
        text += JSON.stringify(JSON.parse(showJson(rec, result.bootToWallNs)), null, 2) + '\n';
      await writeChunk(stdout, text);
      break;
    }
    case 'yaml': {
      const stringify = await loadYamlStringify();
      const data = records.map((rec) => {
        const o = recordObject(rec, result.bootToWallNs);
        o.timestamp = formatRfc3339Nano(o.timestamp as bigint);
        return o;
      });
      await writeChunk(stdout, stringify(data, { lineWidth: 0 }));
      break;
    }
    case 'columns': {
      const cols = selectColumns(SHOW_COLUMNS, output.columns);
      const rows = records.map((rec) => {
        const row = showRow(rec, result.bootToWallNs);
        row.error = recordObject(rec, result.bootToWallNs).error;
        return row;
      });
      await writeChunk(stdout, formatTable(cols, rows, stdout.isTTY ? stdout.columns : undefined));
      break;
    }
  }
  await drained(stdout);
}
