// `kubectl gadget ui --kubeconfig ...` (Kubernetes mode) in a real headless chromium against the
// real node (scripts/k8s/up.sh --node, the gadget deployed): the page drives the gadget pod's
// daemon through the API server, as the commands do.
//   Events: a `trace exec -n NS` run started from the page; an exec the test makes in a pod
//     (kubectl exec) shows in the table within 1 s of the exec, with its node, namespace, pod
//     and container names, and nothing of another namespace.
//   Service map: a live monitor started from the page on the node's demo app (e2e/k8s/netpol/
//     demo.ts, the netpol test's workload) draws its workloads and edges; its flows are the
//     demo's flows; under report's policies (the netpol test's golden file) nothing is red; with
//     postgres's ingress rule cut, exactly backend -> postgres is red and explains itself as
//     `verify --show denied` does; the same set applied to the cluster and loaded as "the
//     cluster's policies" gives the same.
//   traceloop: a pod that crashes (SIGSEGV, restartPolicy Never) recorded by a session started
//     from the CLI: the page lists its recording and shows exactly `traceloop show`'s lines.
//
//   flock -s /tmp/kg-bench.lock flock /tmp/kg-cluster.lock \
//     node scripts/run-tests.mjs integration ui/k8s
//
// Starts its own cluster in /tmp/kgadget-e2e-node (and removes it), unless
// KGADGET_NODE_KUBECONFIG names a running one (see e2e/k8s-node/cluster.ts).
// KG_UI_SCREENSHOTS=1 saves docs/ui/k8s-{events,map,traceloop}.png.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseFlows } from '../../plugin/src/services/advise_network_policy/flow.js';
import { marker } from '../helpers/cli.js';
import {
  NODE_NAME,
  applyPods,
  clusterUp,
  createNamespace,
  deployGadget,
  gadgetRun,
  kubectl,
  kubectlOk,
  ok,
  podYaml,
  skipReason,
  teardown,
  waitFor,
  waitPodsReady,
  type Cluster,
} from '../k8s-node/cluster.js';
import {
  EXT_IP,
  demoFlowSummaries,
  externalDown,
  flowSummary,
  isDemoFlow,
  NODE_DEMO_DB_NS,
  NODE_DEMO_GOLDEN,
  NODE_DEMO_NS,
  startDemo,
} from '../k8s/netpol/demo.js';
import { browserMissing, maybeScreenshot, openBrowser, startUi } from './browser.js';
import type { UiBrowser, UiProcess } from './browser.js';
import { drawnEdges, drawnVertices, verifyDeniedLines } from './map-page.js';

const skip = skipReason() || browserMissing();
const NS = `kgui-${randomBytes(3).toString('hex')}`;
const OTHER_NS = `${NS}-other`;
// the netpol test's names: report's policies for them are its golden file
const SHOP = NODE_DEMO_NS;
const SHOP_DB = NODE_DEMO_DB_NS;
const GOLDEN = NODE_DEMO_GOLDEN;
const SLEEP = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'];

/** The demo's map as the page draws it: from -> to, labels with the count as ×N. */
const DEMO_EDGES: Record<string, string[]> = {
  [`${SHOP}/backend -> ${SHOP_DB}/postgres`]: ['TCP/5432 (postgres) via svc/postgres ×N'],
  [`${SHOP}/backend -> /${EXT_IP}`]: ['UDP/5514 ×N'],
  [`${SHOP}/backend -> kube-system/svc kube-dns`]: ['UDP/53 ×N'],
  [`${SHOP}/frontend -> ${SHOP}/backend`]: ['TCP/8080 (http) via svc/backend ×N'],
  [`${SHOP}/frontend -> /${EXT_IP}`]: ['TCP/8443 ×N'],
  [`${SHOP}/frontend -> kube-system/svc kube-dns`]: ['UDP/53 ×N'],
  [`/node/${NODE_NAME} -> ${SHOP}/backend`]: ['TCP/8080 (http) ×N'],
};

/** ms since the epoch of an RFC 3339 timestamp with any number of fraction digits */
function epochMs(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  assert.ok(m, `an RFC 3339 timestamp: ${ts}`);
  return Date.parse(`${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}${m[3]}`);
}

describe(
  'kubectl gadget ui in Kubernetes mode on the real node',
  { skip, timeout: 30 * 60_000 },
  () => {
    let cluster: Cluster | undefined;
    let ui: UiProcess | undefined;
    let b: UiBrowser | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'kg-ui-k8s-test-'));
    // the ui process's TMPDIR: the live monitor's flow file is found there
    const uiTmp = join(dir, 'ui-tmp');
    const c = (): Cluster => {
      assert.ok(cluster, 'cluster');
      return cluster;
    };
    const page = (): UiBrowser['page'] => {
      assert.ok(b, 'browser');
      return b.page;
    };
    /** answers >= 400 the page got */
    const failed: string[] = [];

    before(
      async () => {
        cluster = clusterUp();
        deployGadget(c());
        // a stale session (an earlier run on a reused cluster) would keep its filter
        gadgetRun(c(), ['traceloop', 'delete']);
        createNamespace(c(), NS);
        createNamespace(c(), OTHER_NS);
        const shell = { containers: [{ name: 'sh', command: SLEEP }] };
        applyPods(c(), NS, [{ name: 'shell', ...shell }]);
        applyPods(c(), OTHER_NS, [{ name: 'shell', ...shell }]);
        startDemo(c(), dir, join(dir, 'syslog.txt'), SHOP, SHOP_DB);
        waitPodsReady(c(), NS, ['shell']);
        waitPodsReady(c(), OTHER_NS, ['shell']);
        mkdirSync(uiTmp);
        ui = await startUi(['--kubeconfig', c().kubeconfig], {
          env: { KUBECONFIG: c().kubeconfig, TMPDIR: uiTmp },
        });
        b = await openBrowser();
        b.page.on('response', (r) => {
          if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
        });
      },
      { timeout: 25 * 60_000 },
    );

    after(
      async () => {
        await b?.close();
        await ui?.cli.stop();
        externalDown();
        teardown(cluster, [NS, OTHER_NS, SHOP, SHOP_DB]);
        rmSync(dir, { recursive: true, force: true });
      },
      { timeout: 5 * 60_000 },
    );

    function assertNoErrors(): void {
      assert.deepEqual(
        failed.filter((f) => f !== '404 /favicon.ico'),
        [],
        'no failed request',
      );
      assert.deepEqual(
        b!.errors.filter((e) => !/^Failed to load resource: .* 404/.test(e)),
        [],
        'no console error (CSP, script)',
      );
    }

    /** `kubectl exec` of argv in NS's shell pod, not waited for */
    function execInShell(ns: string, argv: string[]): Promise<number | null> {
      return new Promise((resolve, reject) => {
        const p = spawn(
          c().kubectl,
          ['--kubeconfig', c().kubeconfig, '-n', ns, 'exec', 'shell', '-c', 'sh', '--', ...argv],
          { stdio: 'ignore', env: c().env },
        );
        p.on('error', reject);
        p.on('close', (code) => resolve(code));
      });
    }

    test('Events: trace exec -n NS from the page; a kubectl exec in a pod shows within 1 s, named', async () => {
      const p = page();
      await p.goto(ui!.url);
      await p.selectOption('#gadget', 'trace_exec');
      await p.fill('#namespace', NS);
      await p.click('#start');
      await p.locator('#status', { hasText: /^running$/ }).waitFor({ timeout: 10_000 });
      const row = (m: string): ReturnType<typeof p.locator> =>
        p.locator('#events-table tbody tr', { hasText: m });
      // ready: the node's program is attached once a marker exec shows
      const ready = marker('ui-k8s-ready');
      const readyBy = Date.now() + 60_000;
      for (;;) {
        assert.equal(await execInShell(NS, ['/bin/echo', ready]), 0, 'kubectl exec');
        try {
          await row(ready).first().waitFor({ timeout: 2000 });
          break;
        } catch (e) {
          if (Date.now() > readyBy) throw e;
        }
      }
      // an exec in the other namespace first: -n NS must keep it out
      const other = marker('ui-k8s-other');
      assert.equal(await execInShell(OTHER_NS, ['/bin/echo', other]), 0);
      const m = marker('ui-k8s-exec');
      const t0 = Date.now();
      const done = execInShell(NS, ['/bin/echo', m]);
      await row(m).waitFor({ timeout: 10_000 });
      const seen = Date.now();
      assert.equal(await done, 0, 'kubectl exec');
      const headers = await p.locator('#events-table thead th').allTextContents();
      const cells = await row(m).locator('td').allTextContents();
      const cell = Object.fromEntries(headers.map((h, i) => [h, cells[i]]));
      assert.deepEqual(
        [cell['K8S.NODE'], cell['K8S.NAMESPACE'], cell['K8S.PODNAME'], cell['K8S.CONTAINER']],
        [NODE_NAME, NS, 'shell', 'sh'],
      );
      assert.equal(cell.COMM, 'echo');
      assert.equal(cell.ARGS, `/bin/echo ${m}`);
      // every row is of NS (the ready markers and this one)
      const col = headers.indexOf('K8S.NAMESPACE') + 1;
      const namespaces = await p
        .locator(`#events-table tbody tr td:nth-child(${col})`)
        .allTextContents();
      assert.deepEqual([...new Set(namespaces)], [NS]);
      assert.equal(await row(other).count(), 0, 'the exec in the other namespace is not shown');

      await row(m).click();
      const details = Object.fromEntries(
        await p.$$eval('#details tr', (trs) =>
          trs.map((tr) => [
            tr.querySelector('th')?.textContent,
            tr.querySelector('td')?.textContent,
          ]),
        ),
      );
      assert.equal(details.namespace, NS);
      assert.equal(details.pod, 'shell');
      assert.equal(details.container, 'sh');
      assert.equal(details.args, `/bin/echo ${m}`);
      // latency from the exec itself (the node's clock is this machine's) to the row in the page
      const lag = seen - epochMs(String(details.timestamp));
      console.log(
        `# ui k8s: exec -> row in the table: ${lag} ms (kubectl exec started -> row: ${seen - t0} ms)`,
      );
      assert.ok(lag >= 0 && lag < 1000, `the exec showed ${lag} ms after it ran (bound: 1 s)`);
      await maybeScreenshot(p, 'k8s-events');
      await p.click('#stop');
      await p.locator('#status', { hasText: /^stopped$/ }).waitFor();
      assert.equal(await p.textContent('#n-lost'), '0');
      assert.equal(await p.textContent('#n-dropped'), '0');
      assertNoErrors();
    });

    test('Service map: a live monitor draws the demo app; a cut policy turns its edge red, explained', async () => {
      const p = page();
      await p.click('#tab-map');
      await p.click('#map-monitor-start');
      await p.locator('#map-summary', { hasText: 'monitor running' }).waitFor({ timeout: 30_000 });
      const demoEdges = async (): Promise<Record<string, string[]>> => {
        const drawn = await drawnEdges(p, await drawnVertices(p));
        return Object.fromEntries(
          drawn
            .filter((e) => e.name.includes(`${SHOP}/`) || e.name.includes(`${SHOP_DB}/`))
            .map((e) => [e.name, e.labels.map((l) => l.replace(/×\d+$/, '×N'))]),
        );
      };
      // the app loops once a second: every edge is drawn within seconds, by the live stream
      let last: Record<string, string[]> = {};
      const by = Date.now() + 60_000;
      while (!isDeepStrictEqual(last, DEMO_EDGES)) {
        assert.ok(
          Date.now() < by,
          `the demo's edges within 60 s: ${JSON.stringify(last, null, 1)}; summary: ${await p.textContent('#map-summary')}`,
        );
        await new Promise((r) => setTimeout(r, 1000));
        last = await demoEdges();
      }
      await p.click('#map-monitor-stop');
      await p
        .locator('#map-summary', {
          hasText: /monitor cancelled \(\d+ report\(s\), \d+ lost in the kernel\)/,
        })
        .waitFor({ timeout: 30_000 });
      const summary = (await p.textContent('#map-summary')) ?? '';
      console.log(`# ui k8s map: ${summary}`);
      assert.match(summary, /, 0 lost in the kernel\)/);
      assert.deepEqual(await demoEdges(), DEMO_EDGES, 'the final map');

      // the page's flows (the monitor's file in the ui's TMPDIR) are the demo's flows
      const [mapDir] = readdirSync(uiTmp).filter((d) => d.startsWith('kg-ui-map-'));
      assert.ok(mapDir, `the map's directory in ${uiTmp}`);
      const flowFile = join(dir, 'page-flows.ndjson');
      writeFileSync(flowFile, readFileSync(join(uiTmp, mapDir, 'monitor.ndjson')));
      const flows = parseFlows(readFileSync(flowFile, 'utf8'), flowFile).filter((f) =>
        isDemoFlow(f, SHOP, SHOP_DB),
      );
      assert.deepEqual(flows.map(flowSummary).sort(), demoFlowSummaries(SHOP, SHOP_DB));

      // report's policies: nothing is red
      const golden = readFileSync(GOLDEN, 'utf8');
      await p.setInputFiles('#map-policies', GOLDEN);
      await p.click('#map-verify');
      await p.locator('#map-svg g.edge[data-verdict="allowed"]').first().waitFor();
      let drawn = await drawnEdges(p, await drawnVertices(p));
      assert.deepEqual(
        drawn.filter((e) => e.verdict !== 'allowed').map((e) => e.name),
        [],
        'every edge allowed',
      );

      // postgres's ingress rule cut: backend -> postgres turns red, explained as verify says
      const docs = parseAllDocuments(golden);
      const pg = docs.find((d) => d.getIn(['metadata', 'name']) === 'postgres-network');
      assert.ok(pg, 'the golden policies have postgres-network');
      pg.setIn(['spec', 'ingress'], pg.createNode([]));
      const cut = join(dir, 'cut-policies.yaml');
      writeFileSync(cut, docs.map((d) => d.toString()).join('---\n'));
      const expectCut = async (): Promise<void> => {
        await p.locator('#map-svg g.edge[data-verdict="denied"]').first().waitFor();
        drawn = await drawnEdges(p, await drawnVertices(p));
        assert.deepEqual(
          drawn.filter((e) => e.verdict !== 'allowed').map((e) => [e.name, e.verdict, e.stroke]),
          [[`${SHOP}/backend -> ${SHOP_DB}/postgres`, 'denied', '#d32f2f']],
          'exactly the cut edge is red',
        );
        await p.locator('#map-svg g.edge[data-verdict="denied"]').dispatchEvent('click');
        const shown = ((await p.locator('#map-denied').textContent()) ?? '').split('\n');
        assert.deepEqual(shown, expected);
      };
      const expected = await verifyDeniedLines(flowFile, cut);
      // backend -> postgres only: its ingress at postgres, and backend's egress to the Service
      // (judged against the backends' ingress too)
      assert.ok(expected.length >= 2, expected.join('\n'));
      for (const l of expected.slice(1)) {
        assert.match(l, new RegExp(`^DENY +${SHOP}(-db)?/(backend|postgres) `), l);
        assert.match(l, /postgres/, l);
      }
      await p.setInputFiles('#map-policies', cut);
      await p.click('#map-verify');
      await expectCut();
      await maybeScreenshot(p, 'k8s-map');

      // the same set applied to the cluster: "the cluster's policies" alone gives the same
      kubectlOk(c(), ['apply', '-f', cut]);
      await p.setInputFiles('#map-policies', []);
      await p.click('#map-verify');
      // no policies, no verdict: the file's red edge is gone before the cluster's set comes
      await p.locator('#map-svg g.edge[data-verdict="denied"]').waitFor({ state: 'detached' });
      assert.equal(await p.locator('#map-svg g.edge[data-verdict="allowed"]').count(), 0);
      await p.check('#map-from-cluster');
      await p.click('#map-verify');
      await p.locator('#map-summary', { hasText: 'by 3 policies' }).waitFor();
      await expectCut();
      assertNoErrors();
    });

    test('traceloop: a crashed pod recorded from the CLI; the page shows traceloop show’s lines', async () => {
      const p = page();
      const tl = (args: string[]): string =>
        ok(gadgetRun(c(), ['traceloop', ...args]), `traceloop ${args.join(' ')}`);
      tl(['start', '-n', NS]);
      const missing = `/nonexistent-${marker('ui')}`;
      const pod = JSON.parse(
        podYaml(NS, {
          name: 'crash',
          restartPolicy: 'Never',
          containers: [
            {
              name: 'app',
              // pid 1 ignores a signal it has no handler for: a child crashes, the container exits
              // 139 ($$$$: the kubelet makes $$ of it)
              command: ['/bin/sh', '-c', `cat ${missing}; sh -c 'kill -SEGV $$$$'; exit $?`],
            },
          ],
        }),
      ) as unknown;
      kubectlOk(c(), ['apply', '-f', '-'], JSON.stringify(pod));
      await waitFor(
        () =>
          kubectl(c(), ['-n', NS, 'get', 'pod', 'crash', '-o', 'jsonpath={.status.phase}'])
            .stdout === 'Failed',
        90_000,
        'pod crash failed',
        500,
      );
      await waitFor(
        () => {
          const l = JSON.parse(tl(['list', '-n', NS, '-o', 'json'])) as Array<{
            container: { state: string; k8s?: { pod: string } };
          }>;
          return l.some((e) => e.container.k8s?.pod === 'crash' && e.container.state === 'exited');
        },
        30_000,
        'the recording of crash, exited',
        1000,
      );
      const expected = tl(['show', '-n', NS, 'crash']).split('\n').filter(Boolean);

      await p.click('#tab-traceloop');
      await p.click('#tl-refresh');
      const rec = p.locator('#tl-recordings tbody tr', { hasText: 'crash' });
      await rec.waitFor();
      const recText = (await rec.textContent()) ?? '';
      assert.ok(recText.includes(NS) && recText.includes('app'), recText);
      assert.match(recText, /exited /);
      await rec.locator('button.tl-open').click();
      await p.locator('#tl-show .tl-line').first().waitFor();
      const shown = [
        (await p.locator('#tl-show .tl-header').textContent()) ?? '',
        ...(await p.locator('#tl-show .tl-line').allTextContents()),
      ];
      assert.deepEqual(shown, expected, 'the page shows the lines traceloop show prints');
      // its last syscalls: the failed open of the missing file, then the crash
      const open = shown.findIndex((l) => l.includes(missing) && l.includes('ENOENT'));
      assert.ok(open > 0, `the failed open: ${shown.slice(-10).join('\n')}`);
      assert.ok(
        shown.slice(open).some((l) => /SIGSEGV/.test(l)),
        `the crash after it: ${shown.slice(open).join('\n')}`,
      );
      await p.fill('#tl-last', '16');
      await p.click('#tl-apply');
      const tail = tl(['show', '-n', NS, 'crash', '--last', '16']).split('\n').filter(Boolean);
      await p.waitForFunction(`document.querySelectorAll('#tl-show .tl-line').length === 16`);
      assert.deepEqual(
        [
          (await p.locator('#tl-show .tl-header').textContent()) ?? '',
          ...(await p.locator('#tl-show .tl-line').allTextContents()),
        ],
        tail,
      );
      await maybeScreenshot(p, 'k8s-traceloop');
      tl(['delete']);
      assertNoErrors();
    });

    test('Ctrl-C ends the ui process', async () => {
      const x = await ui!.cli.stop('SIGINT');
      assert.equal(x.code, 0, x.stderr);
    });
  },
);
