// The JSON the service-map and traceloop routes answer with, shared by the server side
// (map-api.ts, traceloop-api.ts) and the page (map.tsx, traceloop.tsx). No imports: the page's
// bundle and type-check must not pull in the server's code.

export type Verdict = 'allowed' | 'denied';

export interface MapVertex {
  key: string;
  label: string;
  /** namespace box ('' = outside any) */
  group: string;
  shape: 'workload' | 'node' | 'external' | 'service';
}

export interface DeniedFlow {
  /** the flow's line of `verify --show denied` (header in ServiceMap.deniedHeader) */
  line: string;
  why: string;
  /** verify -o json's `denials` of the flow */
  denials: unknown[];
}

export interface MapEdge {
  from: string;
  to: string;
  /** "TCP/8080 (http) via svc/backend ×40", one per protocol/port, as graph prints them */
  labels: string[];
  /** absent without policies; denied when any of the edge's flows is */
  verdict?: Verdict;
  denied: DeniedFlow[];
}

export interface ServiceMap {
  vertices: MapVertex[];
  edges: MapEdge[];
  /** distinct flows and the records they merge */
  flows: number;
  records: number;
  /** verify's summary line, when policies are loaded */
  verdict?: string;
  deniedHeader?: string;
  /** where the flows come from: 'file NAME', 'monitor (running)', ... */
  source: string;
}

/** One recording: its `traceloop list` row and what `show` needs to open it. */
export interface Recording {
  /** node, namespace, pod, container, container_id, instance, state, records, lost, ... */
  row: Record<string, unknown>;
  /** the full container id, the argument of `traceloop show` */
  container: string;
  instance: number;
  session: string;
}

export interface RecordingText {
  /** the header line and the record lines, as `traceloop show` prints them */
  header: string;
  lines: string[];
  /** `info:` and `warning:` lines show printed on stderr */
  notes: string[];
}
