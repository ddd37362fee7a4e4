// What the Service map view drew, read back from its SVG by the map tests (map.test.ts with a
// flow file, k8s.test.ts live on the real node): each vertex as namespace/label (the namespace
// box its rectangle lies in) and each edge with its labels, verdict and stroke colour; and what
// the CLI's `verify --show denied` prints, which a red edge's explanation must equal.

import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { runCli } from '../helpers/cli.js';

export interface DrawnEdge {
  /** "ns/label -> ns/label" */
  name: string;
  labels: string[];
  verdict: string;
  stroke: string;
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** namespace/label of each drawn vertex, keyed by its data-key */
export async function drawnVertices(page: Page): Promise<Map<string, string>> {
  const boxes: Array<[string, Box]> = [];
  const groups = page.locator('#map-svg g.group');
  for (let i = 0; i < (await groups.count()); i++) {
    const g = groups.nth(i);
    boxes.push([
      (await g.getAttribute('data-namespace')) ?? '',
      (await g.locator('rect').boundingBox())!,
    ]);
  }
  const out = new Map<string, string>();
  const vs = page.locator('#map-svg g.vertex');
  for (let i = 0; i < (await vs.count()); i++) {
    const v = vs.nth(i);
    const key = (await v.getAttribute('data-key'))!;
    const label = (await v.locator('text').textContent()) ?? '';
    const r = (await v.locator('rect').boundingBox())!;
    // a vertex is in a group when its rectangle is inside the group's box
    const inside = boxes.find(
      ([, b]) =>
        r.x >= b.x &&
        r.y >= b.y &&
        r.x + r.width <= b.x + b.width &&
        r.y + r.height <= b.y + b.height,
    );
    out.set(key, `${inside?.[0] ?? ''}/${label}`);
  }
  return out;
}

/** every drawn edge, named by its ends' namespace/label, sorted by name */
export async function drawnEdges(page: Page, names: Map<string, string>): Promise<DrawnEdge[]> {
  const es = page.locator('#map-svg g.edge');
  const out: DrawnEdge[] = [];
  for (let i = 0; i < (await es.count()); i++) {
    const e = es.nth(i);
    out.push({
      name: `${names.get((await e.getAttribute('data-from'))!)} -> ${names.get((await e.getAttribute('data-to'))!)}`,
      labels: await e.locator('text.edge-label').allTextContents(),
      verdict: (await e.getAttribute('data-verdict'))!,
      stroke: (await e.locator('path').getAttribute('stroke'))!,
    });
  }
  return out.sort((a, c) => (a.name < c.name ? -1 : 1));
}

/** The lines `advise network-policy verify --show denied` prints (header first); it exits 1. */
export async function verifyDeniedLines(flowFile: string, policies: string): Promise<string[]> {
  const cli = await runCli([
    'advise',
    'network-policy',
    'verify',
    '--input',
    flowFile,
    '--policies',
    policies,
    '--show',
    'denied',
  ]);
  assert.equal(cli.code, 1, cli.stderr);
  return cli.stdout.split('\n').filter(Boolean);
}
