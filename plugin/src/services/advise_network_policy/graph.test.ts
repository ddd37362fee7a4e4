import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { demoFlows } from './fixtures.js';
import {
  buildGraph,
  renderGraph,
  toDot,
  toMermaid,
  dotToSvg,
  GraphvizMissingError,
} from './graph.js';

test('graph: a connection seen at both ends is one edge; services draw to their backends', () => {
  const g = buildGraph(demoFlows());
  const label = (from: string, to: string) => {
    const id = (l: string) => g.vertices.find((v) => v.label === l)!.key;
    return g.edges.find((e) => e.from === id(from) && e.to === id(to))?.labels;
  };
  assert.deepEqual(label('frontend', 'backend'), ['TCP/8080 (http) via svc/backend ×40']);
  assert.deepEqual(label('backend', 'postgres'), ['TCP/5432 ×12', 'UDP/5433 ×7']);
  assert.deepEqual(label('node/node-1', 'backend'), ['TCP/8080 ×30']);
  assert.equal(g.edges.length, 7);
});

test('graph: Mermaid and DOT text', () => {
  const m = toMermaid(buildGraph(demoFlows()));
  assert.match(m, /^flowchart LR\n/);
  assert.match(
    m,
    /subgraph ns_kube_system\["namespace kube-system"\]\n {4}n3\["coredns"\]\n {2}end/,
  );
  assert.match(m, / {2}n1 -->\|"TCP\/5432 ×12<br\/>UDP\/5433 ×7"\| n0\n/);
  assert.match(m, /n4\{\{"node\/node-1"\}\}/);
  assert.match(m, /n5\(\("2001:db8::7"\)\)/);
  const d = toDot(buildGraph(demoFlows()));
  assert.match(d, /^digraph services \{\n/);
  assert.match(d, /subgraph cluster_1 \{\n {4}label="namespace demo";/);
  assert.match(d, / {2}n1 -> n0 \[label="TCP\/5432 ×12\\nUDP\/5433 ×7"\];/);
  assert.equal(renderGraph(demoFlows(), 'dot'), d);
  assert.equal(toDot(buildGraph([...demoFlows()].reverse())), d, 'deterministic');
});

test('graph: SVG through Graphviz when installed', (t) => {
  if (spawnSync('dot', ['-V']).error) {
    assert.throws(() => dotToSvg('digraph{}'), GraphvizMissingError);
    t.skip('graphviz not installed');
    return;
  }
  const svg = renderGraph(demoFlows(), 'svg');
  assert.match(svg, /<svg/);
  assert.match(svg, />coredns</);
  assert.match(svg, /TCP\/5432 ×12/);
  assert.throws(() => dotToSvg('digraph{}', '/nonexistent/dot'), GraphvizMissingError);
});
