// The service-map view's data: the graph `advise network-policy graph` draws, each edge with the
// verdict `verify` gives its flows. Nothing here judges a flow itself: flows are read by
// readFlowFiles, policies and verdicts come from verifyCommand run on the same files (its -o json
// objects and its --show denied table), live flows from runMonitor's NDJSON file.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { asInput, TextSink } from './capture.js';
import { descriptor } from '#gadgets/advise_network_policy/gadget.js';
import { buildRunRequest } from '../request.js';
import { runMonitor } from '../advise_network_policy/monitor.js';
import {
  monitorResolver,
  readFlowFiles,
  verifyCommand,
  type IoStreams,
} from '../advise_network_policy/commands.js';
import type { FlowRecord } from '../advise_network_policy/flow.js';
import { buildGraph } from '../advise_network_policy/graph.js';
import type { Denial } from '../advise_network_policy/verify.js';
import type { MapEdge, ServiceMap } from './view-types.js';
import { UiInputError, type UiContext, type UiRoute } from './types.js';

function captureIo(stdin?: string): IoStreams & { stdout: TextSink; stderr: TextSink } {
  return {
    stdout: new TextSink(),
    stderr: new TextSink(),
    ...(stdin !== undefined ? { stdin: Readable.from([stdin]) } : {}),
  };
}

/** The edges (from, to) one flow is drawn as: buildGraph's own mapping, for that flow alone. */
function edgesOf(f: FlowRecord): string[] {
  return buildGraph([f]).edges.map((e) => `${e.from}\u0000${e.to}`);
}

interface VerifyJson {
  allowed: boolean;
  why: string;
  denials?: Denial[];
  flow: FlowRecord;
}

export interface PolicyInput {
  /** uploaded files: name (for messages) and YAML text */
  files: Array<{ name: string; text: string }>;
  /** also the cluster's NetworkPolicies (Kubernetes mode) */
  fromCluster: boolean;
}

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

/**
 * The map of the flows in `flowFile` (NDJSON as monitor writes it), with verify's verdicts when
 * policies are given. Files stay on disk only for the call.
 */
export async function serviceMap(
  flowFile: string,
  source: string,
  policies: PolicyInput | undefined,
  kube: KubeFlags = {},
): Promise<ServiceMap> {
  const { flows, records } = await readFlowFiles([flowFile], captureIo());
  const g = buildGraph(flows);
  const edges = new Map<string, MapEdge>(
    g.edges.map((e) => [`${e.from}\u0000${e.to}`, { ...e, denied: [] }]),
  );
  const map: ServiceMap = {
    vertices: g.vertices.map((v) => ({
      key: v.key,
      label: v.label,
      group: v.group,
      shape: v.shape,
    })),
    edges: [...edges.values()],
    flows: flows.length,
    records,
    source,
  };
  if (!policies || (policies.files.length === 0 && !policies.fromCluster)) return map;
  const dir = mkdtempSync(join(tmpdir(), 'kg-ui-policies-'));
  try {
    const paths = policies.files.map((f, i) => {
      const p = join(dir, `${i}-${f.name.replace(/[^\w.-]/g, '_')}`);
      writeFileSync(p, f.text);
      return p;
    });
    const flags = {
      input: [flowFile],
      policies: paths,
      'from-cluster': policies.fromCluster,
      ...kube,
    };
    const json = captureIo();
    await verifyCommand({ ...flags, output: { format: 'json' } }, json);
    const table = captureIo();
    await verifyCommand({ ...flags, show: 'denied' }, table);
    const lines = table.stdout.text.split('\n').filter(Boolean);
    map.deniedHeader = lines[0] ?? '';
    map.verdict = json.stderr.text.trim().replaceAll(dir + '/', '');
    // the table lists the denied flows in the order -o json lists them
    let row = 1;
    for (const l of json.stdout.text.split('\n')) {
      if (!l) continue;
      const v = JSON.parse(l) as VerifyJson;
      for (const k of edgesOf(v.flow)) {
        const e = edges.get(k);
        if (!e) continue;
        if (v.allowed) e.verdict ??= 'allowed';
        else {
          e.verdict = 'denied';
          e.denied.push({ line: lines[row] ?? '', why: v.why, denials: v.denials ?? [] });
        }
      }
      if (!v.allowed) row++;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return map;
}

function fileBody(v: unknown, what: string): { name: string; text: string } {
  const o = (v ?? {}) as { name?: unknown; text?: unknown };
  if (typeof o.text !== 'string')
    throw new UiInputError(`${what}: no file text`, 'POST {"name": "...", "text": "..."}');
  return { name: typeof o.name === 'string' && o.name ? o.name : 'upload', text: o.text };
}

/** What the map view holds between requests: the flow file and the loaded policies. */
class MapState {
  readonly dir = mkdtempSync(join(tmpdir(), 'kg-ui-map-'));
  flowFile?: string;
  source = '';
  policies: PolicyInput = { files: [], fromCluster: false };
  monitor?: LiveMonitor;

  async stopMonitor(): Promise<void> {
    const m = this.monitor;
    if (!m) return;
    m.ac.abort();
    await m.done;
  }

  close(): void {
    void this.stopMonitor().finally(() => rmSync(this.dir, { recursive: true, force: true }));
  }
}

/** A monitor run the page started: its flows go to a file, rewritten every second. */
interface LiveMonitor {
  ac: AbortController;
  done: Promise<void>;
  running: boolean;
  reports: number;
  lost: number;
  /** how it ended (monitor's reason, or its error) */
  end?: string;
}

function monitorSource(m: LiveMonitor): string {
  const counts = `${m.reports} report(s), ${m.lost} lost in the kernel`;
  return m.running ? `monitor running (${counts})` : `monitor ${m.end ?? 'ended'} (${counts})`;
}

export function mapRoutes(ctx: UiContext): UiRoute[] {
  const st = new MapState();
  ctx.signal.addEventListener('abort', () => st.close(), { once: true });
  const kube: KubeFlags = {
    ...(ctx.flags.kubeconfig ? { kubeconfig: ctx.flags.kubeconfig } : {}),
    ...(ctx.flags.context ? { context: ctx.flags.context } : {}),
  };
  const current = (): Promise<ServiceMap> => {
    if (!st.flowFile)
      throw new UiInputError(
        'no flows loaded',
        'load a flow file (NDJSON written by advise network-policy monitor -o FILE)',
      );
    const source = st.monitor && st.source === 'monitor' ? monitorSource(st.monitor) : st.source;
    return asInput(serviceMap(st.flowFile, source, st.policies, kube));
  };
  const startMonitor = async (keepLoopback: boolean): Promise<void> => {
    await st.stopMonitor();
    const flags = { ...ctx.flags, ...(keepLoopback ? { 'keep-loopback': true } : {}) };
    const { request, params } = buildRunRequest(descriptor, { ...flags, output: undefined });
    const { resolver, stop } = await asInput(monitorResolver(flags, (w) => ctx.log.warn(w)));
    const file = join(st.dir, 'monitor.ndjson');
    writeFileSync(file, '');
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, ctx.signal]);
    const m: LiveMonitor = { ac, done: Promise.resolve(), running: true, reports: 0, lost: 0 };
    m.done = runMonitor(ctx.runtime, {
      request,
      params,
      resolver,
      outputFile: file,
      flushMs: 1000,
      keepLoopback,
      signal,
      reporter: {
        warn: (w) => ctx.log.warn(w),
        log: (level, msg) => (level === 'info' ? ctx.log.info(msg) : ctx.log.warn(msg)),
        totals: (t) => {
          m.reports = t.events;
          m.lost = t.lost;
        },
      },
    }).then(
      (r) => {
        m.reports = r.events;
        m.lost = r.lost;
        m.end = r.reason;
        m.running = false;
      },
      (e: unknown) => {
        m.end = `failed: ${(e as Error).message}`;
        m.running = false;
      },
    );
    void m.done.finally(stop);
    st.monitor = m;
    st.flowFile = file;
    st.source = 'monitor';
  };
  return [
    {
      method: 'POST',
      path: '/api/map/flows',
      handle: async (req) => {
        const f = fileBody(req.body, 'flow file');
        // parsed first: a bad file is a one-line error and the previous flows stay
        await asInput(readFlowFiles(['-'], captureIo(f.text)));
        await st.stopMonitor();
        st.flowFile = join(st.dir, 'flows.ndjson');
        writeFileSync(st.flowFile, f.text);
        st.source = `file ${f.name}`;
        return current();
      },
    },
    {
      method: 'POST',
      path: '/api/map/policies',
      handle: (req) => {
        const body = (req.body ?? {}) as { files?: unknown; fromCluster?: unknown };
        const files = Array.isArray(body.files)
          ? body.files.map((f) => fileBody(f, 'policy file'))
          : [];
        if (body.fromCluster === true && ctx.mode !== 'kubernetes')
          throw new UiInputError(
            "the cluster's policies need Kubernetes mode",
            'start ui without --local/--remote, or load policy files',
          );
        st.policies = { files, fromCluster: body.fromCluster === true };
        return st.flowFile ? current() : { policies: files.length };
      },
    },
    { method: 'GET', path: '/api/map', handle: () => current() },
    {
      method: 'POST',
      path: '/api/map/monitor/start',
      handle: async (req) => {
        const body = (req.body ?? {}) as { keepLoopback?: unknown };
        await startMonitor(body.keepLoopback === true);
        return current();
      },
    },
    {
      method: 'POST',
      path: '/api/map/monitor/stop',
      handle: async () => {
        if (!st.monitor) throw new UiInputError('no monitor run', 'start one with Start monitor');
        await st.stopMonitor();
        return current();
      },
    },
    {
      method: 'GET',
      path: '/api/map/live',
      // the map again every second while a monitor runs (counts update in place), then its last
      handle: async function* (req) {
        while (!req.signal.aborted) {
          const m = st.monitor;
          yield await current();
          if (!m?.running) return;
          await Promise.race([new Promise((r) => setTimeout(r, 1000)), m.done]);
        }
      },
    },
  ];
}
