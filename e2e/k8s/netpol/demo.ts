// The demo app of the network-policy node tests (k8s-node/netpol, k8s/netpol-enforced): Deployment
// frontend -> Service -> Deployment backend -> Service -> StatefulSet postgres (another
// namespace), cluster DNS, and an "outside world" in a
// network namespace on the node's test-only external range (10.242.0.0/24): an HTTPS-port web
// server and a UDP syslog sink on 10.242.0.2 (contacted by the app), the same web server on
// 10.242.0.3 and 10.242.0.6 (never contacted by the app), and on ports 8400 and 8501 (never used).
// Pods also have listeners the app never uses, so a blocked connection is never a closed port.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/cli.js';
import {
  endpointName,
  type FlowRecord,
} from '../../../plugin/src/services/advise_network_policy/flow.js';
import {
  BUSYBOX_IMAGE,
  NODE_NAME,
  deleteNamespace,
  kubectl,
  kubectlOk,
  ok,
  run,
  type Cluster,
} from '../../k8s-node/cluster.js';

/** the enforced test's namespaces (the other test names its own: its golden file has them) */
export const NS = 'kgtest-enf';
export const DB_NS = 'kgtest-enf-db';
// one outside world at a time: the tests share the node's external range and take the cluster lock
// the node netpol test's names: `report`'s policies for them are the golden file below
export const NODE_DEMO_NS = 'kgtest-shop';
export const NODE_DEMO_DB_NS = 'kgtest-shop-db';
export const NODE_DEMO_GOLDEN = join(
  ROOT,
  'gadgets',
  'advise_network_policy',
  'testdata',
  'node-demo-policies.yaml',
);
export const EXT_NETNS = 'kgtest-ext';
export const EXT_HOST_IF = 'kgtext0';
export const EXT_GW = '10.242.0.1';
/** contacted by the app */
export const EXT_IP = '10.242.0.2';
/** never contacted by the app */
export const EXT_IP_UNUSED = '10.242.0.6';
/** never contacted either; outside the stricter set's ipBlock.except */
export const EXT_IP_OTHER = '10.242.0.3';
export const EXT_HTTP_PORT = 8443;
/** web servers on ports the app never used: inside and just outside the stricter set's endPort range */
export const EXT_PORT_IN_RANGE = 8400;
export const EXT_PORT_PAST_RANGE = 8501;
export const EXT_SYSLOG_PORT = 5514;
export const DNS_SERVICE_IP = '10.96.0.10';
/** CoreDNS runs on the node (scripts/k8s/lib.sh NODE_IP) */
export const DNS_NODE_IP = '10.243.0.1';

const sh = (script: string): string[] => ['/bin/sh', '-c', script];
// busybox-static's wget cannot resolve names (static glibc): nslookup (busybox's own resolver,
// the pod's DNS traffic), then connect to the address
const lookup = (name: string): string => `$(nslookup ${name} | sed -n 's/^Address: //p' | tail -1)`;

function container(name: string, script: string, extra: Record<string, unknown> = {}): unknown {
  return { name, image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: sh(script), ...extra };
}

function podSpec(containers: unknown[]): Record<string, unknown> {
  return {
    nodeName: NODE_NAME,
    terminationGracePeriodSeconds: 1,
    enableServiceLinks: false,
    containers,
  };
}

export function demoObjects(ns = NS, dbNs = DB_NS): unknown[] {
  const service = (inNs: string, name: string, port: number, target: string): unknown => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: inNs },
    spec: { selector: { app: name }, ports: [{ name: target, port, targetPort: target }] },
  });
  const deployment = (name: string, labels: Record<string, string>, c: unknown): unknown => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, ...labels } }, spec: podSpec([c]) },
    },
  });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: dbNs } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'postgres', namespace: dbNs },
      spec: {
        serviceName: 'postgres',
        replicas: 1,
        selector: { matchLabels: { app: 'postgres' } },
        template: {
          metadata: { labels: { app: 'postgres' } },
          spec: podSpec([
            container('db', 'echo row > /tmp/index.html; exec httpd -f -p 5432 -h /tmp', {
              ports: [{ name: 'postgres', containerPort: 5432 }],
            }),
          ]),
        },
      },
    },
    service(dbNs, 'postgres', 5432, 'postgres'),
    deployment(
      'backend',
      { tier: 'api' },
      container(
        'api',
        'echo api > /tmp/index.html; httpd -p 8080 -h /tmp; ' +
          `syslogd -n -R ${EXT_IP}:${EXT_SYSLOG_PORT} & ` +
          `while :; do wget -q -O- http://${lookup(`postgres.${dbNs}.svc.cluster.local`)}:5432/ >/dev/null; ` +
          'logger backend-tick; sleep 1; done',
        {
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 2 },
        },
      ),
    ),
    service(ns, 'backend', 80, 'http'),
    deployment(
      'frontend',
      {},
      container(
        'web',
        // a listener nobody uses while the app runs (probes only)
        'echo web > /tmp/index.html; httpd -p 8080 -h /tmp; ' +
          `while :; do wget -q -O- http://${lookup(`backend.${ns}.svc.cluster.local`)}/ >/dev/null; ` +
          `wget -q -O- http://${EXT_IP}:${EXT_HTTP_PORT}/ >/dev/null; sleep 1; done`,
        { ports: [{ name: 'web', containerPort: 8080 }] },
      ),
    ),
  ];
}

/**
 * A pod without the app's labels, made after the monitor ran: a client, and a listener (`name`
 * stranger); `visitor` is a second one, a client that no policy isolates in either set.
 */
export function strangerPod(name = 'stranger'): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: podSpec([
      container('sh', `echo ${name} > /tmp/index.html; exec httpd -f -p 8080 -h /tmp`, {
        ports: [{ name: 'web', containerPort: 8080 }],
      }),
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// the outside world

const servers: ChildProcess[] = [];

export function externalDown(): void {
  for (const s of servers.splice(0)) s.kill('SIGKILL');
  run('ip', ['link', 'del', EXT_HOST_IF]);
  run('ip', ['netns', 'del', EXT_NETNS]);
}

/** The namespace on a veth: web servers on both addresses, the syslog sink writing to `sinkFile`. */
export function externalUp(dir: string, sinkFile: string): void {
  externalDown();
  const ip = (args: string[]): void => void ok(run('ip', args), `ip ${args.join(' ')}`);
  ip(['netns', 'add', EXT_NETNS]);
  ip(['link', 'add', EXT_HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', EXT_NETNS]);
  // /29: 10.242.0.0-7 routed to the veth, more specific than the machine's /24 blackhole
  ip(['addr', 'add', `${EXT_GW}/29`, 'dev', EXT_HOST_IF]);
  ip(['link', 'set', EXT_HOST_IF, 'up']);
  for (const a of [EXT_IP, EXT_IP_OTHER, EXT_IP_UNUSED])
    ip(['-n', EXT_NETNS, 'addr', 'add', `${a}/29`, 'dev', 'eth0']);
  ip(['-n', EXT_NETNS, 'link', 'set', 'eth0', 'up']);
  ip(['-n', EXT_NETNS, 'link', 'set', 'lo', 'up']);
  ip(['-n', EXT_NETNS, 'route', 'add', '10.244.0.0/16', 'via', EXT_GW]);
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'external\n');
  writeFileSync(sinkFile, '');
  const opts = { stdio: 'ignore' as const };
  const httpd = (port: number): ChildProcess =>
    spawn(
      'ip',
      ['netns', 'exec', EXT_NETNS, 'busybox', 'httpd', '-f', '-p', String(port), '-h', www],
      opts,
    );
  servers.push(
    httpd(EXT_HTTP_PORT),
    httpd(EXT_PORT_IN_RANGE),
    httpd(EXT_PORT_PAST_RANGE),
    spawn(
      'ip',
      [
        'netns',
        'exec',
        EXT_NETNS,
        process.execPath,
        '-e',
        `const fs = require('fs');
         require('dgram').createSocket('udp4')
           .on('message', (m) => fs.appendFileSync(${JSON.stringify(sinkFile)}, m.toString() + '\\n'))
           .bind(${EXT_SYSLOG_PORT}, '${EXT_IP}')`,
      ],
      opts,
    ),
  );
  // both listening before anyone connects
  for (let i = 0; i < 100; i++) {
    const ss = run('ip', ['netns', 'exec', EXT_NETNS, 'ss', '-Hlntu']).stdout;
    const ports = [EXT_HTTP_PORT, EXT_PORT_IN_RANGE, EXT_PORT_PAST_RANGE].map((p) => `:${p} `);
    if (ports.every((p) => ss.includes(p)) && ss.includes(`${EXT_IP}:${EXT_SYSLOG_PORT}`)) return;
    spawnSync('sleep', ['0.1']);
  }
  throw new Error('the external servers did not start listening');
}

/**
 * The outside world up, the app's namespaces made afresh, the app applied and rolled out.
 * The external servers and the namespaces are the caller's to remove (externalDown, teardown).
 */
export function startDemo(c: Cluster, dir: string, sinkFile: string, ns = NS, dbNs = DB_NS): void {
  deleteNamespace(c, ns);
  deleteNamespace(c, dbNs);
  externalUp(dir, sinkFile);
  kubectlOk(
    c,
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: demoObjects(ns, dbNs) }),
  );
  for (const [inNs, what] of [
    [dbNs, 'statefulset/postgres'],
    [ns, 'deployment/backend'],
    [ns, 'deployment/frontend'],
  ] as const) {
    ok(
      kubectl(c, ['-n', inNs, 'rollout', 'status', what, '--timeout=120s'], undefined, 130_000),
      `rollout of ${inNs}/${what}`,
    );
  }
}

/** A flow as the tests state it: local, direction, peer, protocol/port(name), peer kind. */
export function flowSummary(f: FlowRecord): string {
  const port = `${f.protocol}/${f.port}${f.port_name ? `(${f.port_name})` : ''}`;
  return `${endpointName(f.local)} ${f.direction} ${endpointName(f.peer)} ${port} ${f.peer.kind}`;
}

/** Whether a flow is the app's: one of its pods at either end. */
export function isDemoFlow(f: FlowRecord, ns = NS, dbNs = DB_NS): boolean {
  return (
    [ns, dbNs].includes(f.local.namespace ?? '') ||
    (f.peer.kind === 'pod' && [ns, dbNs].includes(f.peer.namespace ?? ''))
  );
}

/** Every distinct flow the app makes, as flowSummary writes them, sorted. */
export function demoFlowSummaries(ns = NS, dbNs = DB_NS): string[] {
  return [
    `${dbNs}/postgres ingress ${ns}/backend TCP/5432(postgres) pod`,
    `${ns}/backend egress ${EXT_IP} UDP/${EXT_SYSLOG_PORT} external`,
    `${ns}/backend egress svc/${dbNs}/postgres TCP/5432(postgres) service`,
    `${ns}/backend egress svc/kube-system/kube-dns UDP/53 service`,
    `${ns}/backend ingress ${ns}/frontend TCP/8080(http) pod`,
    `${ns}/backend ingress node/${NODE_NAME} TCP/8080(http) node`,
    `${ns}/frontend egress ${EXT_IP} TCP/${EXT_HTTP_PORT} external`,
    `${ns}/frontend egress svc/${ns}/backend TCP/8080(http) service`,
    `${ns}/frontend egress svc/kube-system/kube-dns UDP/53 service`,
  ];
}
