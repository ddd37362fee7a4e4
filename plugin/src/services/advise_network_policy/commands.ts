// What the `advise network-policy` commands do once their flags are parsed: read flow files and
// policies, run report / verify / graph / monitor, print, and pick the exit code.

import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { descriptor } from '#gadgets/advise_network_policy/gadget.js';
import { UserError } from '../../errors.js';
import { escapeControl } from '../../output/escape.js';
import type { CommonFlagValues } from '../../flags.js';
import { formatTable, selectColumns } from '../../output/columns.js';
import { parseOutputSpec, type OutputSpec } from '../../output/spec.js';
import { writeChunk } from '../../output/write.js';
import { buildRunRequest } from '../request.js';
import { runtimeMode, withRuntime } from '../../runtimes/runtime.js';
import { StderrReporter } from '../../pipeline/run.js';
import type { LiveTable } from '../../ui/live-table.js';
import {
  endpointName,
  FlowMerger,
  FlowParseError,
  parseFlowLine,
  type FlowRecord,
} from './flow.js';
import { GraphvizMissingError, renderGraph, type GraphFormat } from './graph.js';
import { ContainerResolver, ResolverChain, type IdentityResolver } from './identity.js';
import { FLOW_COLUMNS, flowRow, runMonitor } from './monitor.js';
import { parsePolicies, PolicyError, type PolicySet } from './policy.js';
import { buildReport, type ReportOptions } from './report.js';
import { flowDenials, verdictText, verifyFlows } from './verify.js';

export interface IoStreams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  /** what `-` reads (default: process.stdin) */
  stdin?: Readable;
}

const defaultIo = (): IoStreams => ({ stdout: process.stdout, stderr: process.stderr });

function inputStream(path: string, what: string, io: IoStreams): Readable {
  if (path === '-') return io.stdin ?? process.stdin;
  if (!existsSync(path)) throw new UserError(`${what} "${escapeControl(path)}" not found`);
  return createReadStream(path);
}

/** A read failure (EISDIR, EACCES, ...) of an input file as a user error naming it. */
function readError(e: unknown, path: string, what: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !code.startsWith('E')) return e;
  return new UserError(`reading ${what} "${escapeControl(path)}": ${(e as Error).message}`);
}

async function readText(path: string, what: string, io: IoStreams): Promise<string> {
  try {
    return await text(inputStream(path, what, io));
  } catch (e) {
    throw readError(e, path, what);
  }
}

export interface FlowInput {
  /** one per flow key, sorted */
  flows: FlowRecord[];
  /** records read (before merging) */
  records: number;
}

/**
 * Reads and merges flow files (NDJSON, `-` for stdin) a line at a time: what is held is the
 * distinct flows, not the files' text nor their duplicate records.
 */
export async function readFlowFiles(
  paths: readonly string[],
  io: IoStreams = defaultIo(),
): Promise<FlowInput> {
  if (paths.length === 0)
    throw new UserError('no flows: give --input FILE (NDJSON written by monitor), or - for stdin');
  const merger = new FlowMerger();
  for (const p of paths) {
    const source = p === '-' ? 'stdin' : p;
    const input = inputStream(p, 'flow file', io);
    const lines = createInterface({ input, crlfDelay: Infinity });
    let n = 0;
    try {
      for await (const line of lines) {
        const f = parseFlowLine(line, source, ++n);
        if (f) merger.add(f, true);
      }
    } catch (e) {
      if (e instanceof FlowParseError)
        throw new UserError(
          escapeControl(e.message),
          'flow files are NDJSON, one record per line (docs/network-policy.md)',
        );
      throw readError(e, p, 'flow file');
    } finally {
      lines.close();
      if (p !== '-') input.destroy();
    }
  }
  return { flows: merger.flows(), records: merger.records };
}

/** Writes one text per item, a chunk at a time: a million flows do not fit one string. */
async function writeLines<T>(
  out: Writable,
  items: Iterable<T>,
  text: (item: T) => string,
): Promise<void> {
  let chunk = '';
  for (const it of items) {
    chunk += text(it);
    if (chunk.length >= 1 << 20) {
      await writeChunk(out, chunk);
      chunk = '';
    }
  }
  await writeChunk(out, chunk);
}

function parseLabels(s: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UserError(`invalid ${flag} "${s}": expected key=value[,key=value]`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export interface ReportFlags {
  input?: string[];
  output?: string;
  'include-node'?: boolean;
  'named-ports'?: boolean;
  'dns-namespace'?: string;
  'dns-selector'?: string;
  /** merge with existing policies: from files, from the cluster */
  policies?: string[];
  'from-cluster'?: boolean;
  kubeconfig?: string;
  context?: string;
}

export async function reportCommand(
  flags: ReportFlags,
  io: IoStreams = defaultIo(),
): Promise<void> {
  const { flows, records } = await readFlowFiles(flags.input ?? [], io);
  const opts: ReportOptions = {
    includeNode: flags['include-node'] ?? false,
    namedPorts: flags['named-ports'] ?? false,
    ...(flags['dns-namespace'] ? { dnsNamespace: flags['dns-namespace'] } : {}),
    ...(flags['dns-selector']
      ? { dnsLabels: parseLabels(flags['dns-selector'], '--dns-selector') }
      : {}),
  };
  const toFile = flags.output && flags.output !== '-' ? flags.output : undefined;
  const merged = flags['from-cluster'] || (flags.policies?.length ?? 0) > 0;
  if (merged) {
    const existing = await readPolicySet(flags, io);
    const { mergeReport } = await import('./merge.js');
    let pods: Awaited<ReturnType<typeof import('./cluster.js').podsFromCluster>> | undefined;
    if (flags['from-cluster']) {
      const { podsFromCluster } = await import('./cluster.js');
      pods = await podsFromCluster(kubeFlags(flags));
    }
    const m = mergeReport(flows, existing, { ...opts, ...(pods ? { pods } : {}) });
    // the diff is for review; the objects are for kubectl apply (to a file, or to stdout with -o -)
    if (toFile) writeFileSync(toFile, m.yaml);
    if (flags.output === '-') io.stdout.write(m.yaml);
    else io.stdout.write(m.diff);
    const changed = m.changes.filter((c) => c.before).length;
    const created = m.changes.length - changed;
    const added = m.changes
      .filter((c) => c.before)
      .reduce((n, c) => n + c.added.ingress + c.added.egress, 0);
    for (const n of m.notes) io.stderr.write(`note: ${n}\n`);
    io.stderr.write(
      (m.changes.length === 0
        ? `no change: the ${existing.policies.length} existing ${existing.policies.length === 1 ? 'policy allows' : 'policies allow'} what the ${flows.length} flow record(s) need`
        : `${changed} changed ${changed === 1 ? 'policy' : 'policies'} (${added} rule(s) appended, none removed), ${created} new ${created === 1 ? 'policy' : 'policies'} for ${flows.length} flow record(s)`) +
        (records > flows.length ? ` (merged from ${records})` : '') +
        (toFile ? `; objects written to ${toFile}` : '') +
        '\n',
    );
    if (m.stillDenied > 0)
      io.stderr.write(`${m.stillDenied} flow(s) would still be denied (see the notes)\n`);
    return;
  }
  const r = buildReport(flows, opts);
  if (toFile) writeFileSync(toFile, r.yaml);
  else io.stdout.write(r.yaml);
  io.stderr.write(
    `${r.policies.length} ${r.policies.length === 1 ? 'policy' : 'policies'} for ${flows.length} flow record(s)` +
      (records > flows.length ? ` (merged from ${records})` : '') +
      (r.notes.length ? `; ${r.notes.length} note(s) in the header` : '') +
      (toFile ? ` written to ${toFile}` : '') +
      '\n',
  );
}

function kubeFlags(flags: { kubeconfig?: string; context?: string }): {
  kubeconfig?: string;
  context?: string;
} {
  return {
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
  };
}

/** The policies of --policies files and, with --from-cluster, of the cluster. */
async function readPolicySet(
  flags: {
    policies?: string[];
    'from-cluster'?: boolean;
    kubeconfig?: string;
    context?: string;
  },
  io: IoStreams,
): Promise<PolicySet> {
  const set: PolicySet = { policies: [], namespaces: [] };
  for (const f of flags.policies ?? []) {
    try {
      const s = parsePolicies(await readText(f, 'policy file', io), f === '-' ? 'stdin' : f);
      set.policies.push(...s.policies);
      set.namespaces.push(...s.namespaces);
    } catch (e) {
      if (e instanceof PolicyError) throw new UserError(escapeControl(e.message));
      throw e;
    }
  }
  if (flags['from-cluster']) {
    const { policiesFromCluster } = await import('./cluster.js');
    const s = await policiesFromCluster(kubeFlags(flags));
    set.policies.push(...s.policies);
    set.namespaces.push(...s.namespaces);
  }
  return set;
}

// ---------------------------------------------------------------------------------------------

export interface VerifyFlags {
  input?: string[];
  policies?: string[];
  'from-cluster'?: boolean;
  kubeconfig?: string;
  context?: string;
  output?: OutputSpec;
  show?: 'all' | 'denied' | 'allowed';
}

const VERIFY_COLUMNS = [
  { name: 'verdict', width: 7 },
  { name: 'local', width: 16 },
  { name: 'direction', header: 'DIR', width: 7 },
  { name: 'peer', width: 16 },
  { name: 'protocol', header: 'PROTO', width: 5 },
  { name: 'port', width: 5, align: 'right' as const },
  { name: 'count', width: 5, align: 'right' as const },
  { name: 'why', width: 20, flex: true },
];

/** Returns the exit code: 0 when every flow is allowed, 1 otherwise. */
export async function verifyCommand(
  flags: VerifyFlags,
  io: IoStreams = defaultIo(),
): Promise<number> {
  const { flows } = await readFlowFiles(flags.input ?? [], io);
  const files = flags.policies ?? [];
  if (files.length === 0 && !flags['from-cluster']) {
    throw new UserError(
      'no policies: give --policies FILE (multi-document YAML) or --from-cluster',
    );
  }
  const set = await readPolicySet(flags, io);
  const report = verifyFlows(set, flows);
  const show = flags.show ?? 'all';
  const picked = report.results.filter((r) => show === 'all' || (show === 'denied') === !r.allowed);
  const format = flags.output?.format ?? 'columns';
  if (format === 'json' || format === 'yaml') {
    const obj = (r: (typeof picked)[number]): object => {
      const denials = r.allowed ? [] : flowDenials(r);
      return {
        allowed: r.allowed,
        why: verdictText(r),
        ...(denials.length ? { denials } : {}),
        flow: r.flow,
        connections: r.connections,
      };
    };
    if (format === 'json')
      await writeLines(io.stdout, picked, (r) => JSON.stringify(obj(r)) + '\n');
    else {
      const { stringify } = await import('yaml');
      await writeLines(io.stdout, picked, (r) => '---\n' + stringify(obj(r), { lineWidth: 0 }));
    }
  } else {
    const cols = selectColumns(VERIFY_COLUMNS, flags.output?.columns);
    // names come from recorded data and policies: escaped, the table may go to a terminal
    const rows = picked.map((r) => ({
      verdict: r.allowed ? 'allow' : 'DENY',
      local: escapeControl(endpointName(r.flow.local)),
      direction: r.flow.direction,
      peer: escapeControl(endpointName(r.flow.peer)),
      protocol: r.flow.protocol,
      port: r.flow.port_name ? escapeControl(`${r.flow.port}(${r.flow.port_name})`) : r.flow.port,
      count: r.flow.count,
      why: escapeControl(verdictText(r)),
    }));
    if (rows.length) io.stdout.write(formatTable(cols, rows));
  }
  const total = report.results.length;
  io.stderr.write(
    report.denied === 0
      ? `${total} of ${total} flows allowed by ${set.policies.length} ${set.policies.length === 1 ? 'policy' : 'policies'}\n`
      : `${report.denied} of ${total} flows would be denied (${report.allowed} allowed) by ${set.policies.length} ${set.policies.length === 1 ? 'policy' : 'policies'}\n`,
  );
  return report.denied > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------

export interface GraphFlags {
  input?: string[];
  format?: GraphFormat;
  output?: string;
}

export function graphFormatFor(flags: GraphFlags): GraphFormat {
  if (flags.format) return flags.format;
  const out = flags.output ?? '';
  if (/\.svg$/i.test(out)) return 'svg';
  if (/\.(dot|gv)$/i.test(out)) return 'dot';
  return 'mermaid';
}

export async function graphCommand(flags: GraphFlags, io: IoStreams = defaultIo()): Promise<void> {
  const { flows } = await readFlowFiles(flags.input ?? [], io);
  const format = graphFormatFor(flags);
  let text: string;
  try {
    text = renderGraph(flows, format);
  } catch (e) {
    if (e instanceof GraphvizMissingError) {
      throw new UserError(
        e.message,
        'install Graphviz (Debian: apt-get install graphviz), or use --format dot / mermaid',
      );
    }
    throw e;
  }
  if (flags.output && flags.output !== '-') writeFileSync(flags.output, text);
  else io.stdout.write(text);
}

// ---------------------------------------------------------------------------------------------

export type MonitorFlags = CommonFlagValues &
  Record<string, unknown> & {
    /** -o/--output, each a format (columns, columns=..., json) or a file */
    out?: string[];
    'from-cluster'?: boolean;
    'keep-loopback'?: boolean;
  };

/** Splits the repeatable -o/--output values into the live format and the NDJSON file. */
export function splitMonitorOutput(values: readonly string[]): { spec: OutputSpec; file?: string } {
  let spec: OutputSpec | undefined;
  let file: string | undefined;
  for (const v of values) {
    const t = v.trim();
    if (t === 'columns' || t === 'json' || t.startsWith('columns=')) {
      if (spec) throw new UserError(`--output: two formats given ("${v}")`);
      spec = parseOutputSpec(t, FLOW_COLUMNS);
    } else if (t === 'yaml') {
      throw new UserError(
        '--output yaml: monitor prints columns or json; write the flows to a file with --output FILE',
      );
    } else {
      if (file) throw new UserError(`--output: two files given ("${file}", "${v}")`);
      if (!t) throw new UserError('--output needs a format or a file');
      file = t;
    }
  }
  return { spec: spec ?? { format: 'columns' }, ...(file ? { file } : {}) };
}

/**
 * Who the peers of monitor's flows are: the API server's pods and Services (with --from-cluster,
 * and always in Kubernetes mode, where it is at hand), then the node's containers. `stop` ends
 * the cluster watch.
 */
export async function monitorResolver(
  flags: MonitorFlags,
  warn: (message: string) => void,
): Promise<{ resolver: ResolverChain; stop: () => void }> {
  const resolvers: IdentityResolver[] = [];
  let stop = (): void => undefined;
  if (flags['from-cluster'] || runtimeMode(flags) === 'kubernetes') {
    const { ClusterIdentity } = await import('./cluster.js');
    const c = await ClusterIdentity.start(
      {
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.context ? { context: flags.context } : {}),
      },
      10_000,
      (e) => warn(`refreshing cluster identities: ${(e as Error).message}`),
    );
    resolvers.push(c);
    stop = () => c.stop();
  }
  resolvers.push(new ContainerResolver());
  return { resolver: new ResolverChain(resolvers), stop };
}

export async function monitorCommand(
  flags: MonitorFlags,
  io: IoStreams = defaultIo(),
): Promise<void> {
  const { spec, file } = splitMonitorOutput(flags.out ?? []);
  const { request, params } = buildRunRequest(descriptor, { ...flags, output: undefined });
  const reporter = new StderrReporter(io.stderr, flags.debug ?? false);
  const { resolver, stop: stopCluster } = await monitorResolver(flags, (m) => reporter.warn(m));
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // a terminal gets the live table, one row per flow updated in place; a pipe or file gets the
  // final table at the end, the same flows and counts as the --output file (docs/network-policy.md)
  const columns = spec.format === 'columns' ? selectColumns(FLOW_COLUMNS, spec.columns) : undefined;
  let live: LiveTable | undefined;
  if (columns && io.stdout.isTTY) {
    const { renderLiveTable } = await import('../../ui/live-table.js');
    live = await renderLiveTable({
      title: 'advise network-policy monitor',
      columns,
      stdout: io.stdout as NodeJS.WriteStream,
      rowKey: (e) => String(e.key),
    });
  }
  try {
    const result = await withRuntime(flags, (runtime) =>
      runMonitor(runtime, {
        request,
        params,
        resolver,
        ...(file ? { outputFile: file } : {}),
        ...(live ? { live } : {}),
        ...(spec.format === 'json' ? { jsonOut: io.stdout } : {}),
        reporter: live ?? reporter,
        signal: ac.signal,
        keepLoopback: flags['keep-loopback'] === true,
      }),
    );
    if (columns && !live && result.flows.length)
      io.stdout.write(formatTable(columns, result.flows.map(flowRow)));
    io.stderr.write(
      `${result.flows.length} distinct flow(s) from ${result.events} report(s)${file ? `, written to ${file}` : ''} (${result.reason})\n`,
    );
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'EOPNOTSUPP' && /attach netpol_(connect|sendmsg|recvmsg)/.test(err.message)) {
      throw new UserError(
        `${err.message}: cannot attach the UDP hooks at the cgroup v2 root`,
        'a daemon older than this CLI, or no cgroup2 mount: set KGADGET_CGROUP2_ROOT to it',
      );
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopCluster();
  }
}
