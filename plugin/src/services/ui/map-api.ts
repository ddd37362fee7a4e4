// The service-map view's data: the graph `advise network-policy graph` draws, each edge with the
// verdict `verify` gives its flows. Nothing here judges a flow itself: flows are read by
// readFlowFiles, policies and verdicts come from verifyCommand run on the same files (its -o json
// objects and its --show denied table), live flows from runMonitor's NDJSON file.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { isUserError } from '../../errors.js';
import { readFlowFiles, verifyCommand, type IoStreams } from '../advise_network_policy/commands.js';
import type { FlowRecord } from '../advise_network_policy/flow.js';
import { buildGraph } from '../advise_network_policy/graph.js';
import type { Denial } from '../advise_network_policy/verify.js';
import type { MapEdge, ServiceMap } from './view-types.js';
import { UiInputError, type UiContext, type UiRoute } from './types.js';

/** A Writable that keeps what is written, for reading a command's output back. */
class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

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

/** A user error of the services (a bad flow file, a bad policy) as the server's 400. */
async function asInput<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isUserError(e)) throw new UiInputError(e.reason, e.hint);
    throw e;
  }
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

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
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
    return asInput(serviceMap(st.flowFile, st.source, st.policies, kube));
  };
  return [
    {
      method: 'POST',
      path: '/api/map/flows',
      handle: async (req) => {
        const f = fileBody(req.body, 'flow file');
        // parsed first: a bad file is a one-line error and the previous flows stay
        await asInput(readFlowFiles(['-'], captureIo(f.text)));
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
  ];
}
