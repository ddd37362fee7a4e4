// Kubernetes mode end to end, against the REAL control plane of scripts/k8s/up.sh (started here
// unless KGADGET_KUBECONFIG / KUBECONFIG points at a live one). There is no kubelet on this
// machine: e2e/k8s/harness-fake-kubelet.ts stands in for it (a Node object, podman containers
// with CRI annotations for the pods bound to it, their status, and the gadget daemon as a local
// process with the gadget ServiceAccount's token). Everything else is real: `kubectl gadget
// deploy` and its RBAC, the DaemonSet controller and scheduler placing the gadget pod, the
// Deployment and ReplicaSet controllers, the daemon's pod watch and its TokenReview and
// SubjectAccessReview calls, the CLI finding the gadget pods through the API server.
//
// Covered: deploy --print-only passes server-side validation; trace exec and trace open filtered
// by -n, -A, -p, -c and -l (set-based), with pod-enriched events; -F; labels and owners (ReplicaSet
// resolved to its Deployment); a pod started after tracing began (its entrypoint); per-namespace
// authorization (a user allowed in one namespace only); the API server going away; undeploy
// leaving nothing behind.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { podmanAvailable } from '../fixtures/podman.js';
import { Cli, CLI, marker, sleep, type Ev } from '../helpers/cli.js';
import {
  ApiProxy,
  ensureCluster,
  FakeKubelet,
  KUBECTL,
  ok,
  removeDir,
  run,
  startDaemon,
  tokenKubeconfig,
  writeEndpoints,
  type ClusterHandle,
  type DaemonHandle,
} from './harness-fake-kubelet.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot
  ? 'needs root (eBPF)'
  : !podmanAvailable()
    ? 'needs podman'
    : process.env.KGADGET_SKIP_K8S_E2E
      ? 'KGADGET_SKIP_K8S_E2E is set'
      : false;

const NODE = 'kgtest-node-1';
const SHOP = 'kgtest-shop';
const OTHER = 'kgtest-other';
const DEV = 'kgtest-dev';
const t0 = Date.now();
const log = (m: string): void => {
  process.stderr.write(`[k8s e2e +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
};

/** A busybox loop: each round execs `cat /etc/hostname`, `echo <tag>` and `sleep`. */
const loop = (tag: string): string[] => [
  '/bin/sh',
  '-c',
  `while :; do /bin/cat /etc/hostname >/dev/null; /bin/echo ${tag}; /bin/sleep 0.4; done`,
];

function podYaml(
  ns: string,
  name: string,
  labels: Record<string, string>,
  containers: Array<[string, string[]]>,
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: podSpec(containers),
  });
}

function podSpec(containers: Array<[string, string[]]>): Record<string, unknown> {
  return {
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 1,
    nodeSelector: { 'kgtest/fake-kubelet': 'true' },
    tolerations: [{ operator: 'Exists' }],
    containers: containers.map(([name, command]) => ({
      name,
      image: 'localhost/kgtest-busybox:rootfs',
      imagePullPolicy: 'Never',
      command,
    })),
  };
}

describe(
  'Kubernetes mode against a real API server (fake-kubelet harness)',
  { skip, concurrency: 1 },
  () => {
    let cluster: ClusterHandle | undefined;
    let kubelet: FakeKubelet | undefined;
    let daemon: DaemonHandle | undefined;
    let proxy: ApiProxy | undefined;
    let deployed = false;
    const running: Cli[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'kgtest-k8s-'));
    let admin = '';
    let devConfig = '';
    let env: Record<string, string> = {};

    const kubectl = async (args: string[], input?: string): Promise<string> =>
      ok(
        await run(KUBECTL, ['--kubeconfig', admin, ...args], { input }),
        `kubectl ${args.join(' ')}`,
      );
    const kubectlStatus = async (args: string[]): Promise<number | null> =>
      (await run(KUBECTL, ['--kubeconfig', admin, ...args])).status;
    const cliEnv = (): NodeJS.ProcessEnv => {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete e.KUBECONFIG;
      return e;
    };
    const gadget = (args: string[], timeoutMs = 60_000) =>
      run(process.execPath, [CLI, ...args], { env: cliEnv(), timeoutMs });

    /**
     * Runs a trace for `seconds` and returns its events (exit 0 asserted, and nothing on stderr
     * but what `stderr` matches).
     */
    async function trace(
      args: string[],
      seconds = 4,
      kubeconfig = admin,
      stderr = /^$/,
    ): Promise<Ev[]> {
      const r = await gadget([
        ...args,
        '--kubeconfig',
        kubeconfig,
        '-o',
        'json',
        '--timeout',
        String(seconds),
      ]);
      assert.equal(r.status, 0, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, stderr, `stderr of ${args.join(' ')}`);
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Ev);
    }

    const pods = (evs: Ev[]): string[] =>
      [...new Set(evs.map((e) => `${e.namespace as string}/${e.pod as string}`))].sort();
    const podsAndContainers = (evs: Ev[]): string[] =>
      [
        ...new Set(
          evs.map((e) => `${e.namespace as string}/${e.pod as string}/${e.container as string}`),
        ),
      ].sort();
    let webPod = '';

    before(async () => {
      cluster = ensureCluster(log);
      admin = cluster.kubeconfig;
      // leftovers of a crashed run (the stand-in kubelet finalises their pods)
      await kubectlStatus([
        'delete',
        'node',
        '-l',
        'kgtest/fake-kubelet=true',
        '--ignore-not-found',
      ]);
      await kubectlStatus(['delete', 'node', 'kgtest-node-empty', '--ignore-not-found']);
      kubelet = new FakeKubelet({ kubeconfig: admin, node: NODE, log });
      await kubelet.start();
      await kubectlStatus([
        'delete',
        'namespace',
        SHOP,
        OTHER,
        '--ignore-not-found',
        '--timeout=60s',
      ]);
      await kubectlStatus(['delete', 'serviceaccount', DEV, '-n', 'default', '--ignore-not-found']);

      // the product's own deploy, for real (namespace, ServiceAccount, RBAC, DaemonSet)
      ok(await gadget(['deploy', '--kubeconfig', admin]), 'kubectl gadget deploy');
      deployed = true;

      // the daemon: a local process with the gadget ServiceAccount's own token, talking to the API
      // server through a proxy the outage test can cut
      const token = (
        await kubectl(['create', 'token', 'gadget', '-n', 'gadget', '--duration', '1h'])
      ).trim();
      const url = new URL(cluster.server);
      proxy = new ApiProxy(url.hostname, Number(url.port || 443));
      await proxy.start();
      const saConfig = tokenKubeconfig(
        join(dir, 'gadget-sa.kubeconfig'),
        `https://127.0.0.1:${proxy.port}`,
        cluster.caFile,
        'gadget',
        token,
        'gadget',
      );
      daemon = await startDaemon({ node: NODE, kubeconfig: saConfig, dir });
      env = {
        KGADGET_FAKE_KUBELET_ENDPOINTS: writeEndpoints(dir, { [NODE]: `unix://${daemon.socket}` }),
      };

      // a user who may exec into (so trace) kgtest-shop only, and use the gadget pods
      await kubectl(['create', 'namespace', SHOP]);
      await kubectl(['create', 'namespace', OTHER]);
      await kubectl(['create', 'serviceaccount', DEV, '-n', 'default']);
      await kubectl([
        'create',
        'rolebinding',
        'kgtest-dev-edit',
        '-n',
        SHOP,
        '--clusterrole=edit',
        `--serviceaccount=default:${DEV}`,
      ]);
      await kubectl([
        'create',
        'role',
        'kgtest-gadget-user',
        '-n',
        'gadget',
        '--verb=get,list',
        '--resource=pods',
      ]);
      await kubectl([
        'create',
        'rolebinding',
        'kgtest-gadget-user',
        '-n',
        'gadget',
        '--role=kgtest-gadget-user',
        `--serviceaccount=default:${DEV}`,
      ]);
      const devToken = (
        await kubectl(['create', 'token', DEV, '-n', 'default', '--duration', '1h'])
      ).trim();
      devConfig = tokenKubeconfig(
        join(dir, 'dev.kubeconfig'),
        cluster.server,
        cluster.caFile,
        DEV,
        devToken,
        SHOP,
      );

      // pods need their namespace's default ServiceAccount
      for (const ns of [SHOP, OTHER]) {
        for (
          let i = 0;
          i < 100 && (await kubectlStatus(['get', 'sa', 'default', '-n', ns])) !== 0;
          i++
        )
          await sleep(100);
      }
      const web = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: SHOP },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web', tier: 'web' } },
            spec: podSpec([['nginx', loop('tick-web')]]),
          },
        },
      };
      await kubectl(['apply', '-f', '-'], JSON.stringify(web));
      await kubectl(
        ['apply', '-f', '-'],
        podYaml(SHOP, 'api-0', { app: 'api', tier: 'api' }, [
          ['app', loop('tick-api')],
          ['sidecar', loop('tick-sidecar')],
        ]),
      );
      await kubectl(
        ['apply', '-f', '-'],
        // a secret on its command line: Kubernetes mode redacts it in the daemon
        podYaml(SHOP, 'db-0', { app: 'db', tier: 'db' }, [
          ['postgres', loop('tick-db --password=hunter2')],
        ]),
      );
      await kubectl(
        ['apply', '-f', '-'],
        podYaml(OTHER, 'web-0', { app: 'web', tier: 'web' }, [['nginx', loop('tick-other')]]),
      );
      // every pod Running (the stand-in kubelet started its containers), the gadget pod too
      const deadline = Date.now() + 90_000;
      for (;;) {
        const out = await kubectl([
          'get',
          'pods',
          '-A',
          '--field-selector',
          `spec.nodeName=${NODE}`,
          '-o',
          'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.status.phase}{"\\n"}{end}',
        ]);
        const lines = out.split('\n').filter(Boolean);
        if (lines.length >= 5 && lines.every((l) => l.endsWith('=Running'))) {
          webPod = lines
            .find((l) => l.startsWith(`${SHOP}/web-`))!
            .split('=')[0]!
            .split('/')[1]!;
          break;
        }
        if (Date.now() > deadline) throw new Error(`pods not running: ${out}`);
        await sleep(200);
      }
      log(`setup done: gadget pod and 4 workload pods running on ${NODE}`);
    });

    after(async () => {
      for (const c of running) if (c.running) await c.stop('SIGKILL');
      await daemon?.stop();
      if (admin && process.env.KGTEST_EVENTS_LOG) {
        const ev = await run(KUBECTL, [
          '--kubeconfig',
          admin,
          'get',
          'events',
          '-A',
          '--sort-by=.lastTimestamp',
        ]);
        writeFileSync(process.env.KGTEST_EVENTS_LOG, ev.stdout + ev.stderr);
      }
      if (daemon && process.env.KGTEST_DAEMON_LOG)
        writeFileSync(process.env.KGTEST_DAEMON_LOG, daemon.output());
      if (deployed)
        await gadget(['undeploy', '--wait', '--timeout', '60', '--kubeconfig', admin], 90_000);
      if (admin) {
        await kubectlStatus([
          'delete',
          'namespace',
          SHOP,
          OTHER,
          '--ignore-not-found',
          '--timeout=60s',
        ]);
        await kubectlStatus([
          'delete',
          'serviceaccount',
          DEV,
          '-n',
          'default',
          '--ignore-not-found',
        ]);
      }
      await kubelet?.close();
      await proxy?.close();
      cluster?.close();
      removeDir(dir);
      log('teardown done');
    });

    test('deploy --print-only | kubectl apply --dry-run=server -f - passes the real validation', async () => {
      const yaml = ok(await gadget(['deploy', '--print-only']), 'deploy --print-only');
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
      assert.match(out, /daemonset\.apps\/gadget .*\(server dry run\)/);
      assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/gadget .*\(server dry run\)/);
    });

    test('trace exec -n: events of every pod of the namespace, enriched, and nothing else', async () => {
      const evs = await trace(['trace', 'exec', '-n', SHOP]);
      assert.deepEqual(podsAndContainers(evs), [
        `${SHOP}/api-0/app`,
        `${SHOP}/api-0/sidecar`,
        `${SHOP}/db-0/postgres`,
        `${SHOP}/${webPod}/nginx`,
      ]);
      const e = evs.find(
        (x) => x.pod === 'db-0' && Array.isArray(x.args) && x.args[0] === '/bin/echo',
      )!;
      assert.ok(e, 'an echo of db-0');
      assert.equal(e.node, NODE);
      assert.equal(e.runtime, 'podman');
      assert.deepEqual(e.args, ['/bin/echo', 'tick-db', '--password=***']);
      assert.ok(!JSON.stringify(evs).includes('hunter2'), 'the secret left the node');
      assert.match(String(e.container_id), /^[0-9a-f]{64}$/);
      assert.equal(e.comm, 'echo');
    });

    test('-F in Kubernetes mode: comm (also in the node kernel) and a regex on the pod name', async () => {
      const evs = await trace([
        'trace',
        'exec',
        '-n',
        SHOP,
        '-F',
        'comm:echo',
        '-F',
        'k8s.podname:~^db-',
      ]);
      assert.deepEqual(podsAndContainers(evs), [`${SHOP}/db-0/postgres`]);
      for (const e of evs) assert.equal(e.comm, 'echo', JSON.stringify(e));
    });

    test('-l with a set-based selector, -A, -p and -c', async () => {
      // independent runs, at the same time (each is its own CLI process and daemon run)
      const [inSet, allWeb, sidecar, noTier, notIn] = await Promise.all([
        trace(['trace', 'exec', '-n', SHOP, '-l', 'tier in (web,api)']),
        trace(['trace', 'exec', '-A', '-l', 'tier=web,app!=api']),
        trace(['trace', 'exec', '-n', SHOP, '-p', 'api-0', '-c', 'sidecar']),
        // the context's namespace (kgtest-shop for this user) is the default of -n
        // matches nothing: the warning says so (once the run is up, so maybe not within 4 s)
        trace(
          ['trace', 'exec', '-l', '!tier,app notin (x)'],
          4,
          devConfig,
          /^(warning: no pod matches -l '!tier,app notin \(x\)' \(yet\); still watching\n)?$/,
        ),
        trace(['trace', 'exec', '-l', 'tier notin (web,api)'], 4, devConfig),
      ]);
      assert.deepEqual(pods(inSet), [`${SHOP}/api-0`, `${SHOP}/${webPod}`]);
      assert.deepEqual(pods(allWeb), [`${OTHER}/web-0`, `${SHOP}/${webPod}`]);
      assert.deepEqual(podsAndContainers(sidecar), [`${SHOP}/api-0/sidecar`]);
      assert.deepEqual(pods(noTier), []);
      assert.deepEqual(pods(notIn), [`${SHOP}/db-0`]);
    });

    test('version: the client and each node daemon', async () => {
      const r = await gadget(['version', '--kubeconfig', admin]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Client version: v\d+\.\d+\.\d+\S*\n/);
      assert.match(
        r.stdout,
        new RegExp(`\nServer version: v\\d+\\.\\d+\\.\\d+\\S* \\(node ${NODE}, kernel \\S+\\)\n`),
      );
    });

    test('trace open -l: the opens of the selected pod, enriched', async () => {
      const evs = await trace(['trace', 'open', '-n', SHOP, '-l', 'app=web']);
      assert.deepEqual(podsAndContainers(evs), [`${SHOP}/${webPod}/nginx`]);
      const e = evs.find((x) => x.path === '/etc/hostname');
      assert.ok(e, `an open of /etc/hostname: ${JSON.stringify(evs.slice(0, 3))}`);
      assert.equal(e.node, NODE);
      assert.equal(e.comm, 'cat');
    });

    test('list-containers: pod labels and owners from the pod watch (ReplicaSet -> Deployment)', async () => {
      const r = await gadget(['list-containers', '-n', SHOP, '--kubeconfig', admin, '-o', 'json']);
      assert.equal(r.status, 0, r.stderr);
      const list = JSON.parse(r.stdout) as Array<{
        name: string;
        state: string;
        k8s?: {
          pod: string;
          labels: Record<string, string>;
          ownerKind: string;
          ownerName: string;
          podIp: string;
        };
      }>;
      const web = list.find((c) => c.k8s?.pod === webPod && c.state === 'running');
      assert.ok(web, r.stdout);
      assert.equal(web.k8s!.ownerKind, 'Deployment');
      assert.equal(web.k8s!.ownerName, 'web');
      assert.equal(web.k8s!.labels.tier, 'web');
      assert.match(web.k8s!.podIp, /^10\.244\.7\.\d+$/);
      const api = list.find((c) => c.k8s?.pod === 'api-0' && c.name === 'sidecar');
      assert.equal(api?.k8s?.ownerKind, '');
      assert.ok(!list.some((c) => c.k8s?.pod === 'web-0'), 'only kgtest-shop');
    });

    test('a pod started after tracing began: its entrypoint exec, with its pod name', async () => {
      const m = marker('late');
      const cli = new Cli(
        [
          'trace',
          'exec',
          '-n',
          SHOP,
          '-l',
          'app in (late,db)',
          '-o',
          'json',
          '--kubeconfig',
          admin,
        ],
        { env: env as Record<string, string> },
      );
      running.push(cli);
      await cli.waitForEvent((e) => e.pod === 'db-0', 30_000, 'events of db-0');
      const script = `/bin/echo ${m}; exec /bin/sleep 1000`;
      await kubectl(
        ['apply', '-f', '-'],
        podYaml(SHOP, 'late', { app: 'late' }, [['main', ['/bin/sh', '-c', script]]]),
      );
      const entry = await cli.waitForEvent(
        (e) =>
          e.pod === 'late' && JSON.stringify(e.args) === JSON.stringify(['/bin/sh', '-c', script]),
        30_000,
        'the entrypoint of pod late',
      );
      assert.equal(entry.namespace, SHOP);
      assert.equal(entry.container, 'main');
      assert.equal(entry.node, NODE);
      await cli.waitForEvent(
        (e) => e.pod === 'late' && Array.isArray(e.args) && e.args[1] === m,
        15_000,
        'the echo of pod late',
      );
      const first = cli.events.find((e) => e.pod === 'late');
      assert.deepEqual(first, entry, 'the entrypoint is the first event of the pod');
      const x = await cli.stop('SIGINT');
      assert.equal(x.code, 0, cli.describeExit());
      assert.deepEqual(pods(cli.events), [`${SHOP}/db-0`, `${SHOP}/late`]);
    });

    test('authorization: a user allowed in one namespace traces it, and is denied the others', async () => {
      const dev = (...args: string[]) =>
        gadget(['trace', 'exec', ...args, '--kubeconfig', devConfig, '--timeout', '3']);
      const [allowed, denied, all, both] = await Promise.all([
        trace(['trace', 'exec', '-n', SHOP, '-p', 'db-0'], 3, devConfig),
        dev('-n', OTHER),
        dev('-A'),
        // several namespaces: every one is checked
        dev('-n', `${SHOP},${OTHER}`),
      ]);
      assert.deepEqual(pods(allowed), [`${SHOP}/db-0`]);
      assert.equal(denied.status, 1, denied.stderr);
      assert.equal(denied.stdout, '');
      assert.match(
        denied.stderr,
        new RegExp(
          `^Error: permission denied: user "system:serviceaccount:default:${DEV}" cannot create pods/exec in namespace "${OTHER}"`,
        ),
      );
      assert.match(
        denied.stderr,
        /Hint: .*kubectl auth can-i create pods --subresource=exec -n kgtest-other/,
      );
      assert.equal(all.status, 1, all.stderr);
      assert.match(all.stderr, /cannot create pods\/exec in all namespaces/);
      assert.equal(both.status, 1, both.stderr);
      assert.match(both.stderr, new RegExp(`in namespace "${OTHER}"`));
    });

    test('the real port-forward path, up to the kubelet this machine does not have', async () => {
      // without the fake-kubelet seam the CLI opens pods/portforward through the API server:
      // RBAC is checked for real, and then the API server cannot reach a kubelet on the node
      const realTransport = (kubeconfig: string) => {
        const e: NodeJS.ProcessEnv = { ...process.env };
        delete e.KUBECONFIG;
        delete e.KGADGET_FAKE_KUBELET_ENDPOINTS;
        return run(
          process.execPath,
          [CLI, 'trace', 'exec', '-n', SHOP, '--kubeconfig', kubeconfig, '--timeout', '5'],
          { env: e, timeoutMs: 60_000 },
        );
      };
      const [noRights, adminRun] = await Promise.all([
        realTransport(devConfig),
        realTransport(admin),
      ]);
      assert.equal(noRights.status, 1, noRights.stderr);
      assert.match(
        noRights.stderr,
        /^Error: permission denied: you cannot get and create pods\/portforward in namespace "gadget" \(needed to reach the gadget pods; check with: kubectl auth can-i get pods --subresource=portforward -n gadget\)\n$/,
      );
      assert.equal(adminRun.status, 1, adminRun.stderr);
      assert.match(
        adminRun.stderr,
        new RegExp(
          `^Error: cannot reach daemon at node "${NODE}" \\(pod gadget/gadget-[a-z0-9]+\\): `,
        ),
      );
    });

    test('errors: --node without a gadget pod, a node that does not exist', async () => {
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: 'kgtest-node-empty',
            labels: { 'kgtest/empty-node': 'true', 'kubernetes.io/os': 'windows' },
          },
        }),
      );
      try {
        const r = await gadget([
          'trace',
          'exec',
          '--kubeconfig',
          admin,
          '--node',
          'kgtest-node-empty',
          '--timeout',
          '2',
        ]);
        assert.equal(r.status, 1);
        assert.match(
          r.stderr,
          /^Error: no gadget pod on node "kgtest-node-empty"\nHint: nodes with a gadget pod: kgtest-node-1/,
        );
      } finally {
        await kubectlStatus(['delete', 'node', 'kgtest-node-empty']);
      }
      const r = await gadget([
        'trace',
        'exec',
        '--kubeconfig',
        admin,
        '--node',
        'kgtest-nope',
        '--timeout',
        '2',
      ]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^Error: node "kgtest-nope" not found in cluster/);
      // --node naming the node that has one works
      assert.deepEqual(
        pods(await trace(['trace', 'exec', '-n', SHOP, '-p', 'db-0', '--node', NODE], 3)),
        [`${SHOP}/db-0`],
      );
    });

    test('the API server goes away: tracing goes on, and the pod watch resyncs when it is back', async () => {
      const cli = new Cli(
        [
          'trace',
          'exec',
          '-n',
          SHOP,
          '-l',
          'app in (db,outage)',
          '-o',
          'json',
          '--kubeconfig',
          admin,
        ],
        { env: env as Record<string, string> },
      );
      running.push(cli);
      await cli.waitForEvent((e) => e.pod === 'db-0', 30_000, 'events of db-0');
      proxy!.cut();
      const cutAt = Date.now();
      // a pod created while the daemon cannot see the API server: its labels are unknown to it
      await kubectl(
        ['apply', '-f', '-'],
        podYaml(SHOP, 'outage', { app: 'outage' }, [['main', loop('tick-outage')]]),
      );
      await sleep(2500);
      const during = cli.events.filter(
        (e) => e.pod === 'db-0' && Date.parse(String(e.timestamp)) > cutAt + 500,
      );
      assert.ok(during.length > 0, 'events kept flowing while the API server was away');
      proxy!.restore();
      await cli.waitForEvent(
        (e) => e.pod === 'outage',
        45_000,
        'events of the pod created during the outage',
      );
      const x = await cli.stop('SIGINT');
      assert.equal(x.code, 0, cli.describeExit());
      assert.match(daemon!.output(), /pod watch: .*retrying in/);
    });

    test('undeploy --wait removes everything deploy created', async () => {
      await daemon?.stop();
      const r = await gadget(
        ['undeploy', '--wait', '--timeout', '60', '--kubeconfig', admin],
        90_000,
      );
      assert.equal(r.status, 0, r.stderr);
      deployed = false;
      const left = await kubectl([
        'get',
        'namespaces,serviceaccounts,clusterroles,clusterrolebindings,roles,rolebindings,daemonsets,pods,configmaps,secrets',
        '-A',
        '-l',
        'app.kubernetes.io/managed-by=kubectl-gadget',
        '-o',
        'name',
      ]);
      assert.equal(left.trim(), '');
      assert.equal(await kubectlStatus(['get', 'namespace', 'gadget']), 1);
      assert.equal(await kubectlStatus(['get', 'clusterrole', 'gadget']), 1);
      assert.equal(await kubectlStatus(['get', 'clusterrolebinding', 'gadget']), 1);
      const notDeployed = await gadget(['trace', 'exec', '--kubeconfig', admin, '--timeout', '2']);
      assert.equal(notDeployed.status, 1);
      assert.match(
        notDeployed.stderr,
        /^Error: kubectl-gadget is not deployed in cluster ".*" \(no DaemonSet gadget\/gadget\)\nHint: run `kubectl gadget deploy` first/,
      );
    });
  },
);
