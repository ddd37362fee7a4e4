// `kubectl gadget ui --local` in a real headless chromium: the Service map view loads a flow file
// of the multi-tier demo (frontend -> backend Service -> backend -> postgres, DNS, the Internet,
// kubelet probes), draws exactly its workloads in their namespace boxes and its edges with
// protocol, port and count; under the policies `report` wrote for it every pod edge is green;
// under a set with postgres's ingress rule cut, backend -> postgres turns red and, clicked, shows
// the lines `advise network-policy verify --show denied` prints for it. KG_UI_SCREENSHOTS=1
// saves docs/ui/map.png.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseAllDocuments } from 'yaml';
import {
  demoFlows,
  writeFlowFile,
} from '../../plugin/src/services/advise_network_policy/fixtures.js';
import { ROOT } from '../helpers/cli.js';
import { browserMissing, maybeScreenshot, openBrowser, startUi } from './browser.js';
import type { UiBrowser, UiProcess } from './browser.js';
import { drawnEdges, drawnVertices, verifyDeniedLines } from './map-page.js';
import type { DrawnEdge } from './map-page.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (--local)' : browserMissing();

const POLICIES = join(
  ROOT,
  'plugin/src/services/advise_network_policy/testdata/demo-policies.yaml',
);

/** The demo's map as `advise network-policy graph` draws it: namespace/label per node. */
const NODES = [
  'db/postgres',
  'demo/backend',
  'demo/frontend',
  'kube-system/coredns',
  '/node/node-1',
  '/203.0.113.7',
  '/2001:db8::7',
].sort();

/** from -> to: the edge labels (protocol/port, the Service it went through, the count). */
const EDGES: Record<string, string[]> = {
  'demo/frontend -> demo/backend': ['TCP/8080 (http) via svc/backend ×40'],
  'demo/frontend -> kube-system/coredns': ['UDP/53 ×5'],
  'demo/backend -> db/postgres': ['TCP/5432 ×12', 'UDP/5433 ×7'],
  'demo/backend -> kube-system/coredns': ['UDP/53 ×3'],
  'demo/backend -> /203.0.113.7': ['TCP/443 ×2'],
  'demo/backend -> /2001:db8::7': ['TCP/443 ×1'],
  '/node/node-1 -> demo/backend': ['TCP/8080 ×30'],
};

describe(
  'kubectl gadget ui --local: Service map view in chromium',
  { skip, concurrency: 1 },
  () => {
    let ui: UiProcess;
    let b: UiBrowser;
    const dir = mkdtempSync(join(tmpdir(), 'kg-ui-map-test-'));
    const flows = join(dir, 'demo-flows.ndjson');
    const cut = join(dir, 'cut-policies.yaml');

    /** answers >= 400 the page got (the console only says "404", not what) */
    const failed: string[] = [];

    before(async () => {
      writeFlowFile(flows, demoFlows());
      // the report's policies minus postgres's ingress rule: backend -> postgres is cut
      const docs = parseAllDocuments(readFileSync(POLICIES, 'utf8'));
      let cuts = 0;
      for (const d of docs) {
        if (d.getIn(['metadata', 'name']) !== 'postgres-network') continue;
        d.setIn(['spec', 'ingress'], d.createNode([]));
        cuts++;
      }
      assert.equal(cuts, 1, 'the demo policies have postgres-network');
      writeFileSync(cut, docs.map((d) => d.toString()).join('---\n'));
      ui = await startUi(['--local']);
      b = await openBrowser();
      b.page.on('response', (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
      });
    });

    after(async () => {
      await b?.close();
      await ui?.cli.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** no script or CSP error; chromium's own favicon probe is the only 404 allowed */
    function assertNoErrors(errors: string[]): void {
      assert.deepEqual(
        failed.filter((f) => f !== '404 /favicon.ico'),
        [],
        'no failed request',
      );
      const left = errors.filter((e) => !/^Failed to load resource: .* 404/.test(e));
      assert.deepEqual(left, [], 'no console error (CSP, script)');
    }

    const vertices = (): Promise<Map<string, string>> => drawnVertices(b.page);
    const edges = (names: Map<string, string>): Promise<DrawnEdge[]> => drawnEdges(b.page, names);

    test('a flow file: namespaces are boxes, workloads nodes, edges carry protocol, port and count', async () => {
      const { page, errors } = b;
      await page.goto(ui.url);
      await page.click('#tab-map');
      await page.setInputFiles('#map-flows', flows);
      await page.waitForSelector('#map-svg g.edge');
      assert.equal(
        await page.locator('#map-summary').textContent(),
        '13 flow(s) from 13 record(s), file demo-flows.ndjson',
      );
      const names = await vertices();
      assert.deepEqual([...names.values()].sort(), NODES);
      const drawn = await edges(names);
      assert.deepEqual(
        Object.fromEntries(drawn.map((e) => [e.name, e.labels])),
        EDGES,
        'every edge, with its labels',
      );
      assert.ok(
        drawn.every((e) => e.verdict === 'none'),
        'no verdict without policies',
      );
      assertNoErrors(errors);
    });

    test('under report’s policies the pod edges are green; cut postgres ingress: backend -> postgres is red and says why', async () => {
      const { page, errors } = b;
      await page.setInputFiles('#map-policies', POLICIES);
      await page.click('#map-verify');
      await page.waitForSelector('#map-svg g.edge[data-verdict="allowed"]');
      let drawn = await edges(await vertices());
      const verdicts = Object.fromEntries(drawn.map((e) => [e.name, e.verdict]));
      assert.equal(verdicts['demo/backend -> db/postgres'], 'allowed');
      assert.equal(verdicts['demo/frontend -> demo/backend'], 'allowed');
      assert.ok(!drawn.some((e) => e.verdict === 'denied'), JSON.stringify(verdicts));

      await page.setInputFiles('#map-policies', cut);
      await page.click('#map-verify');
      await page.waitForSelector('#map-svg g.edge[data-verdict="denied"]');
      drawn = await edges(await vertices());
      const denied = drawn.filter((e) => e.verdict === 'denied');
      assert.deepEqual(
        denied.map((e) => [e.name, e.stroke]),
        [['demo/backend -> db/postgres', '#d32f2f']],
        'exactly the cut edge is red',
      );
      assert.ok(
        drawn.filter((e) => e.verdict === 'allowed').every((e) => e.stroke === '#2e7d32'),
        'the others stay green',
      );

      // the explanation: what `verify --show denied` prints for this flow set
      const expected = await verifyDeniedLines(flows, cut);
      assert.ok(expected.length >= 3, expected.join('\n'));
      await page.locator('#map-svg g.edge[data-verdict="denied"]').dispatchEvent('click');
      const shown = ((await page.locator('#map-denied').textContent()) ?? '').split('\n');
      assert.deepEqual(shown, expected);
      assert.match(
        (await page.locator('#map-summary').textContent()) ?? '',
        /; 4 of 13 flows would be denied \(9 allowed\) by 4 policies; 1 edge\(s\) denied/,
      );
      await maybeScreenshot(page, 'map');
      assertNoErrors(errors);
    });

    test('a bad flow file is a one-line error with a hint, the map stays', async () => {
      const { page } = b;
      const bad = join(dir, 'bad.ndjson');
      writeFileSync(bad, '{"schema":"nope"}\n');
      await page.setInputFiles('#map-flows', bad);
      const err = page.locator('#map-error');
      await err.waitFor();
      const text = (await err.textContent()) ?? '';
      assert.ok(!text.includes('\n'), text);
      assert.match(text, /bad\.ndjson|stdin|line 1/);
      assert.match(text, /NDJSON/);
      assert.equal(await page.locator('#map-svg g.edge[data-verdict="denied"]').count(), 1);
    });

    test('live: monitor --keep-loopback draws the connections the test makes, counts update in place', async () => {
      const { page } = b;
      // a warm-up server tells when the programs are in; the counted one gets no connection before
      const servers = [createServer((c) => c.end()), createServer((c) => c.end())];
      for (const srv of servers) await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const [warm, counted] = servers.map((srv) => (srv.address() as AddressInfo).port) as [
        number,
        number,
      ];
      const dial = async (port: number, n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          await new Promise<void>((resolve, reject) => {
            const c = connect(port, '127.0.0.1', () => c.end());
            c.on('close', () => resolve());
            c.on('error', reject);
          });
        }
      };
      const labels = async (): Promise<string[]> =>
        page.locator('#map-svg text.edge-label').allTextContents();
      // (string predicates would be eval'd in the page, which its CSP refuses: locators poll)
      const waitLabel = (port: number, count: string): Promise<void> =>
        page
          .locator('#map-svg text.edge-label', { hasText: new RegExp(`^TCP/${port} ×${count}$`) })
          .first()
          .waitFor({ timeout: 20_000 })
          .catch(async (e: Error) => {
            throw new Error(`${e.message}; edge labels: ${(await labels()).join(' | ')}`);
          });
      try {
        await page.check('#map-keep-loopback');
        await page.click('#map-monitor-start');
        await page.locator('#map-summary', { hasText: 'monitor running' }).waitFor();
        const by = Date.now() + 30_000;
        while (!(await labels()).some((t) => t.startsWith(`TCP/${warm} `))) {
          assert.ok(Date.now() < by, 'no loopback connection drawn within 30 s');
          await dial(warm, 1);
          await new Promise((r) => setTimeout(r, 500));
        }
        // the kernel reports a flow when first seen, then with its new count on a connection
        // at least --report-interval (1 s) later, and the rest when the run ends (drain)
        await dial(counted, 5);
        await waitLabel(counted, '[1-5]');
        await new Promise((r) => setTimeout(r, 1500));
        await dial(counted, 3);
        // a count past the first five: the page was updated by the live stream alone
        await waitLabel(counted, '[6-8]');
        await page.click('#map-monitor-stop');
        await page
          .locator('#map-summary', {
            hasText: /monitor cancelled \(\d+ report\(s\), \d+ lost in the kernel\)/,
          })
          .waitFor()
          .catch(async (e: Error) => {
            const summary = await page.locator('#map-summary').textContent();
            const err = await page.locator('#map-error').allTextContents();
            throw new Error(`${e.message}; summary: ${summary}; error: ${err.join(' ')}`);
          });
        assert.match(
          (await page.locator('#map-summary').textContent()) ?? '',
          /, 0 lost in the kernel\)/,
        );
        // after the drain: exactly the test's 8 connections
        await waitLabel(counted, '8');
      } finally {
        for (const srv of servers) srv.close();
      }
    });
  },
);
