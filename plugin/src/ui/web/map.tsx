/** @jsxImportSource preact */
// The service-map view: load a flow file (NDJSON from `advise network-policy monitor -o FILE`) or
// run monitor live (the server sends the map again every second), optionally policies (files, or the cluster's), and see the graph `advise network-policy graph`
// draws: namespaces as boxes, workloads as nodes, edges with protocol/port/count, each edge
// coloured by `verify`'s verdict. ELK (elkjs, bundled) lays it out; the page draws SVG with text
// nodes only. A denied edge, clicked, shows its lines of `verify --show denied`.

import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk.bundled.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api, ApiError } from './api.js';
// types only: the page is a bundle of its own, the server's code is not in it
import type { MapEdge, ServiceMap } from '../../services/ui/view-types.js';

const CHAR_W = 7;
const NODE_H = 28;
const LINE_H = 14;

export const VERDICT_COLOR = { allowed: '#2e7d32', denied: '#d32f2f', none: '#607d8b' };

interface Drawn {
  width: number;
  height: number;
  groups: Array<{ name: string; x: number; y: number; w: number; h: number }>;
  vertices: Array<{ key: string; label: string; shape: string; x: number; y: number; w: number }>;
  edges: Array<{ edge: MapEdge; path: string; lx: number; ly: number }>;
}

const textWidth = (s: string): number => s.length * CHAR_W + 16;

/** ELK's layered layout of the map: namespaces as compound nodes, every coordinate absolute. */
async function layout(map: ServiceMap): Promise<Drawn> {
  const ids = new Map(map.vertices.map((v, i) => [v.key, `v${i}`]));
  const groups = new Map<string, ElkNode>();
  const root: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
      'elk.layered.spacing.nodeNodeBetweenLayers': '150',
      'elk.spacing.nodeNode': '36',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.inline': 'false',
    },
    children: [],
    edges: [],
  };
  for (const v of map.vertices) {
    const node: ElkNode = { id: ids.get(v.key)!, width: textWidth(v.label), height: NODE_H };
    if (!v.group) {
      root.children!.push(node);
      continue;
    }
    let g = groups.get(v.group);
    if (!g) {
      g = {
        id: `g${groups.size}`,
        labels: [{ text: v.group, width: textWidth(v.group), height: LINE_H }],
        layoutOptions: { 'elk.padding': '[top=26,left=12,bottom=12,right=12]' },
        children: [],
      };
      groups.set(v.group, g);
      root.children!.push(g);
    }
    g.children!.push(node);
  }
  map.edges.forEach((e, i) => {
    const width = Math.max(...e.labels.map((l) => textWidth(l)));
    const edge: ElkExtendedEdge = {
      id: `e${i}`,
      sources: [ids.get(e.from)!],
      targets: [ids.get(e.to)!],
      labels: [{ text: '', width, height: e.labels.length * LINE_H }],
    };
    root.edges!.push(edge);
  });
  const out = await new ELK().layout(root);
  const byId = new Map<string, ElkNode>();
  const walk = (n: ElkNode): void => {
    byId.set(n.id, n);
    for (const c of n.children ?? []) walk(c);
  };
  walk(out);
  const drawn: Drawn = {
    width: (out.width ?? 0) + 4,
    height: (out.height ?? 0) + 4,
    groups: [...groups.entries()].map(([name, g]) => {
      const n = byId.get(g.id)!;
      return { name, x: n.x ?? 0, y: n.y ?? 0, w: n.width ?? 0, h: n.height ?? 0 };
    }),
    vertices: map.vertices.map((v) => {
      const n = byId.get(ids.get(v.key)!)!;
      return {
        key: v.key,
        label: v.label,
        shape: v.shape,
        x: n.x ?? 0,
        y: n.y ?? 0,
        w: n.width ?? 0,
      };
    }),
    edges: [],
  };
  (out.edges ?? []).forEach((le, i) => {
    const e = map.edges[i]!;
    const s = (le as ElkExtendedEdge).sections?.[0];
    const pts = s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : [];
    const l = (le as ElkExtendedEdge).labels?.[0];
    // ELK leaves the labels of edges that cross a namespace box at 0,0: those go above the
    // middle of the edge's longest segment
    let at = l && (l.x || l.y) ? { x: l.x ?? 0, y: l.y ?? 0 } : undefined;
    if (!at) {
      let best = -1;
      for (let j = 1; j < pts.length; j++) {
        const a = pts[j - 1]!;
        const c = pts[j]!;
        const len = Math.abs(c.x - a.x) + Math.abs(c.y - a.y);
        if (len > best) {
          best = len;
          at = {
            x: Math.min(a.x, c.x) + Math.abs(c.x - a.x) / 2 - 20,
            y: (a.y + c.y) / 2 - e.labels.length * LINE_H - 2,
          };
        }
      }
    }
    drawn.edges.push({
      edge: e,
      path: pts.map((p, j) => `${j ? 'L' : 'M'}${p.x},${p.y}`).join(' '),
      lx: at?.x ?? 0,
      ly: at?.y ?? 0,
    });
  });
  return drawn;
}

function verdictOf(e: MapEdge): keyof typeof VERDICT_COLOR {
  return e.verdict ?? 'none';
}

async function readFiles(input: HTMLInputElement): Promise<Array<{ name: string; text: string }>> {
  return Promise.all(
    [...(input.files ?? [])].map(async (f) => ({ name: f.name, text: await f.text() })),
  );
}

export function MapView({ api }: { api: Api }): JSX.Element {
  const [map, setMap] = useState<ServiceMap | undefined>();
  const [drawn, setDrawn] = useState<Drawn | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const [pickedKey, setPickedKey] = useState<string | undefined>();
  const edgeKey = (e: MapEdge): string => `${e.from}\u0000${e.to}`;
  const picked = map?.edges.find((e) => edgeKey(e) === pickedKey);
  const setPicked = (e: MapEdge | undefined): void => setPickedKey(e && edgeKey(e));
  const [keepLoopback, setKeepLoopback] = useState(false);
  const [live, setLive] = useState(false);
  const closeLive = useRef<(() => void) | undefined>();
  useEffect(() => () => closeLive.current?.(), []);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let stale = false;
    if (!map) return;
    void layout(map).then(
      (d) => !stale && setDrawn(d),
      (e: Error) => !stale && setError({ name: 'Error', message: `layout: ${e.message}` }),
    );
    return () => {
      stale = true;
    };
  }, [map]);

  const run = async (what: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const m = (await what()) as ServiceMap | { policies: number };
      if ('vertices' in m) setMap(m);
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };

  const onFlows = (ev: JSX.TargetedEvent<HTMLInputElement>): void => {
    const input = ev.currentTarget;
    void run(async () => {
      stopLive();
      setPickedKey(undefined);
      const [f] = await readFiles(input);
      if (!f) return {};
      return api.post<ServiceMap>('/api/map/flows', f);
    });
  };
  const [fromCluster, setFromCluster] = useState(false);
  const [policyFiles, setPolicyFiles] = useState<Array<{ name: string; text: string }>>([]);
  const onPolicies = (ev: JSX.TargetedEvent<HTMLInputElement>): void => {
    const input = ev.currentTarget;
    void readFiles(input).then(setPolicyFiles);
  };
  const applyPolicies = (): void =>
    void run(() => api.post('/api/map/policies', { files: policyFiles, fromCluster }));

  const stopLive = (): void => {
    closeLive.current?.();
    closeLive.current = undefined;
    setLive(false);
  };
  const startMonitor = (): void =>
    void run(async () => {
      stopLive();
      setPickedKey(undefined);
      const first = await api.post<ServiceMap>('/api/map/monitor/start', { keepLoopback });
      setLive(true);
      closeLive.current = api.stream<ServiceMap>(
        '/api/map/live',
        {},
        {
          message: setMap,
          end: () => setLive(false),
          fail: (e) => {
            setLive(false);
            setError(e);
          },
        },
      );
      return first;
    });
  const stopMonitor = (): void =>
    void run(async () => {
      stopLive();
      return api.post<ServiceMap>('/api/map/monitor/stop', {});
    });

  const denied = map?.edges.filter((e) => e.verdict === 'denied').length ?? 0;
  return (
    <div class="map-view">
      <div class="controls">
        <label>
          Flow file (NDJSON from monitor -o FILE)
          <input id="map-flows" type="file" accept=".ndjson,.json,.jsonl" onChange={onFlows} />
        </label>
        <label>
          Policies (YAML)
          <input id="map-policies" type="file" multiple accept=".yaml,.yml" onChange={onPolicies} />
        </label>
        <Checkbox
          id="map-from-cluster"
          checked={fromCluster}
          set={setFromCluster}
          label="the cluster's policies"
        />
        <button id="map-verify" disabled={busy} onClick={applyPolicies}>
          Verify
        </button>
        {policyFiles.length > 0 && <span>{policyFiles.length} policy file(s) picked</span>}
        <span class="monitor">
          <Checkbox
            id="map-keep-loopback"
            checked={keepLoopback}
            set={setKeepLoopback}
            label="keep loopback"
          />
          <button id="map-monitor-start" disabled={busy || live} onClick={startMonitor}>
            Start monitor
          </button>
          <button id="map-monitor-stop" disabled={busy || !live} onClick={stopMonitor}>
            Stop
          </button>
        </span>
      </div>
      {error && (
        <p class="error" id="map-error">
          {error.message}
          {error.hint ? ` (${error.hint})` : ''}
        </p>
      )}
      {map && (
        <p id="map-summary">
          {map.flows} flow(s) from {map.records} record(s), {map.source}
          {map.verdict ? `; ${map.verdict}` : ''}
          {denied ? `; ${denied} edge(s) denied: click one to see why` : ''}
        </p>
      )}
      {drawn && (
        <svg
          id="map-svg"
          width={drawn.width}
          height={drawn.height}
          viewBox={`0 0 ${drawn.width} ${drawn.height}`}
          font-family="system-ui, sans-serif"
          font-size="12"
        >
          <defs>
            {Object.entries(VERDICT_COLOR).map(([k, c]) => (
              <marker
                id={`arrow-${k}`}
                viewBox="0 0 10 10"
                refX="10"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path d="M0,0 L10,5 L0,10 z" fill={c} />
              </marker>
            ))}
          </defs>
          {drawn.groups.map((g) => (
            <g class="group" data-namespace={g.name}>
              <rect
                x={g.x}
                y={g.y}
                width={g.w}
                height={g.h}
                rx="6"
                fill="#eef3f8"
                stroke="#9fb3c8"
              />
              <text x={g.x + 8} y={g.y + 17} font-weight="600" fill="#1f3b57">
                {g.name}
              </text>
            </g>
          ))}
          {drawn.vertices.map((v) => (
            <g class="vertex" data-key={v.key} data-shape={v.shape}>
              <rect
                x={v.x}
                y={v.y}
                width={v.w}
                height={NODE_H}
                rx={v.shape === 'workload' ? 4 : 14}
                fill={v.shape === 'workload' ? '#fff' : '#f5f5f5'}
                stroke="#455a64"
              />
              <text x={v.x + 8} y={v.y + 18}>
                {v.label}
              </text>
            </g>
          ))}
          {drawn.edges.map(({ edge, path, lx, ly }) => {
            const verdict = verdictOf(edge);
            const color = VERDICT_COLOR[verdict];
            return (
              <g
                class={`edge ${verdict}`}
                data-from={edge.from}
                data-to={edge.to}
                data-verdict={verdict}
                onClick={() => setPicked(edge)}
              >
                <path
                  d={path}
                  fill="none"
                  stroke={color}
                  stroke-width={picked === edge ? 3 : 1.5}
                  marker-end={`url(#arrow-${verdict})`}
                />
                {edge.labels.map((l, j) => (
                  <text class="edge-label" x={lx} y={ly + (j + 1) * LINE_H - 3} fill={color}>
                    {l}
                  </text>
                ))}
              </g>
            );
          })}
        </svg>
      )}
      {picked && (
        <div id="map-edge" class="details">
          <h3>
            {map?.vertices.find((v) => v.key === picked.from)?.label} →{' '}
            {map?.vertices.find((v) => v.key === picked.to)?.label}: {verdictOf(picked)}
          </h3>
          <ul>
            {picked.labels.map((l) => (
              <li>{l}</li>
            ))}
          </ul>
          {picked.denied.length > 0 && (
            <>
              <p>verify --show denied:</p>
              <pre id="map-denied">
                {[map?.deniedHeader ?? '', ...picked.denied.map((d) => d.line)].join('\n')}
              </pre>
              {[...new Set(picked.denied.map((d) => d.why))].map((why) => (
                <p class="why">{why}</p>
              ))}
            </>
          )}
        </div>
      )}
    </div>
  );
}

/** A labelled checkbox bound to one boolean of the view's state. */
function Checkbox(props: {
  id: string;
  checked: boolean;
  set: (v: boolean) => void;
  label: string;
}) {
  return (
    <label>
      <span>
        <input
          id={props.id}
          type="checkbox"
          checked={props.checked}
          onChange={(e) => props.set(e.currentTarget.checked)}
        />{' '}
        {props.label}
      </span>
    </label>
  );
}
