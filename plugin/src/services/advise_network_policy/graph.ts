// `advise network-policy graph`: the service dependency map. Workloads (and nodes, external
// addresses) are vertices, grouped by namespace; an edge goes from client to server and lists
// port/protocol and how often it was seen. A connection recorded at both ends counts once.
// Formats: Mermaid (flowchart), Graphviz DOT, and SVG rendered by `dot -Tsvg`.

import { spawnSync } from 'node:child_process';
import {
  endpointKey,
  endpointName,
  isNodeEndpoint,
  type Endpoint,
  type FlowRecord,
} from './flow.js';
import { escapeControl } from '../../output/escape.js';
import { compareIps } from './ip.js';

export type GraphFormat = 'mermaid' | 'dot' | 'svg';

interface Vertex {
  key: string;
  label: string;
  /** namespace box it is drawn in ('' = none) */
  group: string;
  shape: 'workload' | 'node' | 'external' | 'service';
  sort: string;
}

interface EdgePort {
  protocol: string;
  port: number;
  portName: string;
  /** Services the client went through */
  via: Set<string>;
  /** counts summed over the records of each end; the edge count is the larger */
  egress: number;
  ingress: number;
}

interface Edge {
  from: string;
  to: string;
  ports: Map<string, EdgePort>;
}

export interface ServiceGraph {
  vertices: Vertex[];
  edges: Array<{ from: string; to: string; labels: string[] }>;
}

function vertexOf(e: Endpoint): Vertex {
  const key = endpointKey(e);
  if (isNodeEndpoint(e)) {
    const label = endpointName(e);
    return { key, label, group: '', shape: 'node', sort: `2|${label}` };
  }
  switch (e.kind) {
    case 'pod':
    case 'container':
      return {
        key,
        label: e.workload || e.pods?.[0] || e.ip,
        group: e.kind === 'pod' ? (e.namespace ?? '') : '',
        shape: 'workload',
        sort: `0|${e.namespace ?? ''}|${e.workload ?? ''}|${key}`,
      };
    case 'service':
      return {
        key,
        label: `svc ${e.service?.name ?? e.ip}`,
        group: e.service?.namespace ?? '',
        shape: 'service',
        sort: `1|${e.service?.namespace ?? ''}|${e.service?.name ?? ''}`,
      };
    default:
      return {
        key,
        label: e.ip || endpointName(e),
        group: '',
        shape: 'external',
        sort: `3|${e.ip}`,
      };
  }
}

/** Builds the graph from flow records (pure, deterministic). */
export function buildGraph(flows: readonly FlowRecord[]): ServiceGraph {
  const vertices = new Map<string, Vertex>();
  const edges = new Map<string, Edge>();
  const vertex = (e: Endpoint): string => {
    const v = vertexOf(e);
    if (!vertices.has(v.key)) vertices.set(v.key, v);
    return v.key;
  };
  for (const f of flows) {
    const [src, dst] = f.direction === 'egress' ? [f.local, f.peer] : [f.peer, f.local];
    const from = vertex(src);
    // a Service with known backends: draw the edge to the pods behind it
    const targets: Array<{ key: string; via: string }> =
      dst.kind === 'service' && dst.backends && dst.backends.length > 0
        ? dst.backends.map((b) => ({
            key: vertex({
              kind: 'pod',
              ip: '',
              namespace: b.namespace,
              workload: b.workload,
              labels: b.labels,
            }),
            via: `svc/${dst.service?.name ?? ''}`,
          }))
        : [{ key: vertex(dst), via: '' }];
    for (const t of targets) {
      const ek = `${from}\u0000${t.key}`;
      let e = edges.get(ek);
      if (!e) edges.set(ek, (e = { from, to: t.key, ports: new Map() }));
      const pk = `${f.protocol}/${f.port}/${f.port_name ?? ''}`;
      let p = e.ports.get(pk);
      if (!p) {
        e.ports.set(
          pk,
          (p = {
            protocol: f.protocol,
            port: f.port,
            portName: f.port_name ?? '',
            via: new Set(),
            egress: 0,
            ingress: 0,
          }),
        );
      }
      if (t.via) p.via.add(t.via);
      if (f.direction === 'egress') p.egress += f.count;
      else p.ingress += f.count;
    }
  }
  const vs = [...vertices.values()].sort((a, b) => {
    if (a.sort !== b.sort) return a.sort < b.sort ? -1 : 1;
    if (a.shape === 'external' && b.shape === 'external') return compareIps(a.label, b.label);
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  const order = new Map(vs.map((v, i) => [v.key, i]));
  const es = [...edges.values()]
    .sort((a, b) => order.get(a.from)! - order.get(b.from)! || order.get(a.to)! - order.get(b.to)!)
    .map((e) => ({
      from: e.from,
      to: e.to,
      labels: [...e.ports.values()]
        .sort((a, b) =>
          a.protocol !== b.protocol ? (a.protocol < b.protocol ? -1 : 1) : a.port - b.port,
        )
        .map((p) => {
          const name = p.portName ? ` (${p.portName})` : '';
          const via = p.via.size ? ` via ${[...p.via].sort().join(', ')}` : '';
          return `${p.protocol}/${p.port}${name}${via} ×${Math.max(p.egress, p.ingress)}`;
        }),
    }));
  return { vertices: vs, edges: es };
}

function ids(g: ServiceGraph): Map<string, string> {
  return new Map(g.vertices.map((v, i) => [v.key, `n${i}`]));
}

function groups(g: ServiceGraph): Array<[string, Vertex[]]> {
  const m = new Map<string, Vertex[]>();
  for (const v of g.vertices) {
    let l = m.get(v.group);
    if (!l) m.set(v.group, (l = []));
    l.push(v);
  }
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// labels come from recorded data: control characters are escaped, the graph may be printed
function mermaidText(s: string): string {
  return escapeControl(s)
    .replace(/"/g, '#quot;')
    .replace(/[<>]/g, (c) => (c === '<' ? '#lt;' : '#gt;'));
}

export function toMermaid(g: ServiceGraph): string {
  const id = ids(g);
  const lines = ['flowchart LR'];
  const shape = (v: Vertex): string => {
    const t = `"${mermaidText(v.label)}"`;
    switch (v.shape) {
      case 'workload':
        return `${id.get(v.key)}[${t}]`;
      case 'service':
        return `${id.get(v.key)}([${t}])`;
      case 'node':
        return `${id.get(v.key)}{{${t}}}`;
      case 'external':
        return `${id.get(v.key)}((${t}))`;
    }
  };
  for (const [group, vs] of groups(g)) {
    if (group) {
      lines.push(
        `  subgraph ns_${group.replace(/[^A-Za-z0-9_]/g, '_')}["namespace ${mermaidText(group)}"]`,
      );
      for (const v of vs) lines.push(`    ${shape(v)}`);
      lines.push('  end');
    } else {
      for (const v of vs) lines.push(`  ${shape(v)}`);
    }
  }
  for (const e of g.edges) {
    lines.push(
      `  ${id.get(e.from)} -->|"${e.labels.map(mermaidText).join('<br/>')}"| ${id.get(e.to)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** A DOT string of lines joined by \n (each line's control characters escaped). */
function dotString(s: string): string {
  return `"${s
    .split('\n')
    .map((l) => escapeControl(l).replace(/\\/g, '\\\\').replace(/"/g, '\\"'))
    .join('\\n')}"`;
}

export function toDot(g: ServiceGraph): string {
  const id = ids(g);
  const lines = [
    'digraph services {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const attrs = (v: Vertex): string => {
    switch (v.shape) {
      case 'workload':
        return `shape=box, style="rounded"`;
      case 'service':
        return `shape=box, style="rounded,dashed"`;
      case 'node':
        return `shape=hexagon, style=filled, fillcolor="#eeeeee"`;
      case 'external':
        return `shape=ellipse, style=dashed`;
    }
  };
  let cluster = 0;
  for (const [group, vs] of groups(g)) {
    const indent = group ? '    ' : '  ';
    if (group) {
      lines.push(`  subgraph cluster_${cluster++} {`);
      lines.push(`    label=${dotString(`namespace ${group}`)};`);
      lines.push('    style=rounded; color="#999999";');
    }
    for (const v of vs)
      lines.push(`${indent}${id.get(v.key)} [label=${dotString(v.label)}, ${attrs(v)}];`);
    if (group) lines.push('  }');
  }
  for (const e of g.edges) {
    lines.push(`  ${id.get(e.from)} -> ${id.get(e.to)} [label=${dotString(e.labels.join('\n'))}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export class GraphvizMissingError extends Error {
  constructor() {
    super('SVG output needs Graphviz: `dot` was not found on PATH');
    this.name = 'GraphvizMissingError';
  }
}

/** Renders DOT to SVG with `dot -Tsvg` (Debian package graphviz). */
export function dotToSvg(dot: string, dotBinary = 'dot'): string {
  const r = spawnSync(dotBinary, ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new GraphvizMissingError();
    throw r.error;
  }
  if (r.status !== 0) throw new Error(`dot -Tsvg failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function renderGraph(flows: readonly FlowRecord[], format: GraphFormat): string {
  const g = buildGraph(flows);
  switch (format) {
    case 'mermaid':
      return toMermaid(g);
    case 'dot':
      return toDot(g);
    case 'svg':
      return dotToSvg(toDot(g));
  }
}
