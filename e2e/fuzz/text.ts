// Fuzz targets of text a user or another program hands in: label selectors, daemon addresses,
// durations (--timeout), -o values, gadget params, flow NDJSON, NetworkPolicy YAML,
// kubeconfigs, and the DNS answers the network-policy gadget captures.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { status as grpcStatus } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import {
  formatLabelSelector,
  LabelSelectorError,
  labelSelectorMatches,
  parseLabelSelector,
} from '../../gadgets/framework/labels.js';
import { isRunError, RunError } from '../../gadgets/framework/errors.js';
import { gadgetConfig } from '../../gadgets/framework/params.js';
import { MAX_TIMEOUT_SECONDS, resolveParams } from '../../gadgets/framework/resolve.js';
import { descriptor as traceExec } from '../../gadgets/trace_exec/gadget.js';
import { descriptor as traceOpen } from '../../gadgets/trace_open/gadget.js';
import { descriptor as netpol } from '../../gadgets/advise_network_policy/gadget.js';
import { buildDns, parseDns } from '../../gadgets/advise_network_policy/dns.js';
import { AddressError, formatAddress, parseAddress } from '../../proto/ts/address.js';
import { HINT_TRAILER } from '../../proto/ts/convert.js';
import { toStatus } from '../../daemon/src/server/server.js';
import { KUBECONFIG_ENV, loadDaemonKubeConfig } from '../../daemon/src/k8s/config.js';
import { formatError, isUserError, UserError } from '../../plugin/src/errors.js';
import { parseTimeout } from '../../plugin/src/flags.js';
import { escapeControl } from '../../plugin/src/output/escape.js';
import { parseOutputSpec } from '../../plugin/src/output/spec.js';
import { loadKubeConfig } from '../../plugin/src/runtimes/k8s/kubeconfig.js';
import { readFlowFiles } from '../../plugin/src/services/advise_network_policy/commands.js';
import {
  FLOW_SCHEMA,
  formatFlows,
  mergeFlows,
  type Endpoint,
  type FlowRecord,
} from '../../plugin/src/services/advise_network_policy/flow.js';
import { demoFlows } from '../../plugin/src/services/advise_network_policy/fixtures.js';
import {
  parsePolicies,
  PolicyError,
} from '../../plugin/src/services/advise_network_policy/policy.js';
import { buildReport } from '../../plugin/src/services/advise_network_policy/report.js';
import { verifyFlows } from '../../plugin/src/services/advise_network_policy/verify.js';
import { anyString, mutated, mutatedObject, nastyString, tokens } from './arbitraries.js';
import type { Target } from './runner.js';

/** A user error as the CLI prints it (formatError: the message line, then the hint line). */
function cliMessage(e: unknown): string {
  return formatError(e, false).lines.join(' | ');
}

/** A daemon error as its gRPC status carries it (toStatus: CODE: the details, then the hint). */
function statusMessage(e: unknown): string {
  const s = toStatus(e);
  const hint = s.metadata?.get(HINT_TRAILER)[0];
  const code = s.code === undefined ? 'UNKNOWN' : grpcStatus[s.code];
  return `${code}: ${s.details ?? ''}${hint === undefined ? '' : ` | ${hint.toString()}`}`;
}

// ---- label selectors ---------------------------------------------------------------------------------

const SELECTOR_WORDS = [
  'app',
  'tier',
  'k8s.io/name',
  'a.b/c-d_e',
  'web',
  'db',
  '1',
  '-2',
  'in',
  'notin',
  '',
];
const SELECTOR_SEPS = ['=', '==', '!=', ',', ' in (', ' notin (', ')', '!', '>', '<', ' ', '(', ''];

export const labelSelectorTarget: Target<[string, Record<string, string>]> = {
  name: 'label-selector',
  what: 'gadgets/framework/labels.ts parseLabelSelector (+ round trip through formatLabelSelector, matching)',
  arbitrary: fc.tuple(
    fc.oneof(tokens(SELECTOR_WORDS, SELECTOR_SEPS), anyString(SELECTOR_WORDS, 60)),
    fc.dictionary(
      fc.constantFrom(...SELECTOR_WORDS),
      fc.constantFrom(...SELECTOR_WORDS, '7', '+3'),
    ),
  ),
  run([s, labels]) {
    let reqs;
    try {
      reqs = parseLabelSelector(s);
    } catch (e) {
      // the daemon answers it as INVALID_ARGUMENT (runtime/local.ts), the CLI as a user error
      if (e instanceof LabelSelectorError)
        return statusMessage(new RunError('INVALID_ARGUMENT', e.message));
      throw e;
    }
    const again = parseLabelSelector(formatLabelSelector(reqs));
    if (!isDeepStrictEqual(again, reqs))
      throw new Error(
        `round trip: ${JSON.stringify(reqs)} -> ${formatLabelSelector(reqs)} -> ${JSON.stringify(again)}`,
      );
    labelSelectorMatches(s, labels);
    return undefined;
  },
};

// ---- addresses -----------------------------------------------------------------------------------------

const ADDR_WORDS = [
  'unix://',
  'unix:',
  'tcp://',
  'http://',
  '/run/x.sock',
  '[::1]',
  '::1',
  '127.0.0.1',
  'localhost',
  'host-1.example',
  ':',
  '7000',
  '0',
  '65536',
  '/',
  ']',
  '[',
];

export const addressTarget: Target<[string, boolean]> = {
  name: 'address',
  rejectCode: 'AddressError',
  what: 'proto/ts/address.ts parseAddress (--listen, --remote) + round trip through formatAddress',
  arbitrary: fc.tuple(
    fc.oneof(tokens(ADDR_WORDS, ['', '', ':', '/']), anyString(ADDR_WORDS)),
    fc.boolean(),
  ),
  // the input was quoted whole: 5000 characters, a newline
  examples: [
    ['x'.repeat(5000), false],
    ['tcp://a\nb:1', false],
  ],
  run([s, zero]) {
    let a;
    try {
      a = parseAddress(s, { allowPortZero: zero });
    } catch (e) {
      if (e instanceof AddressError) return cliMessage(e);
      throw e;
    }
    const again = parseAddress(formatAddress(a), { allowPortZero: zero });
    if (!isDeepStrictEqual(a, again))
      throw new Error(`round trip: ${JSON.stringify(a)} -> ${JSON.stringify(again)}`);
    return undefined;
  },
};

// ---- durations and -o ----------------------------------------------------------------------------------

export const timeoutTarget: Target<string> = {
  name: 'timeout',
  rejectCode: 'UserError',
  what: 'plugin/src/flags.ts parseTimeout (--timeout SECONDS) + round trip',
  arbitrary: fc.oneof(
    fc.nat(MAX_TIMEOUT_SECONDS + 10).map(String),
    fc.constantFrom('1e3', '0x10', '-1', ' 5 ', '5s', '1.5', '', '99999999999999999999', '٣'),
    anyString(['10', ' ', 's', 'm']),
  ),
  examples: ['a\nb'.repeat(1000)],
  run(s) {
    let n;
    try {
      n = parseTimeout(s);
    } catch (e) {
      if (isUserError(e)) return cliMessage(e);
      throw e;
    }
    if (
      !Number.isSafeInteger(n) ||
      n < 0 ||
      n > MAX_TIMEOUT_SECONDS ||
      parseTimeout(String(n)) !== n
    )
      throw new Error(`parseTimeout(${JSON.stringify(s)}) = ${n}`);
    return undefined;
  },
};

export const outputSpecTarget: Target<[string, boolean]> = {
  name: 'output-spec',
  rejectCode: 'UserError',
  what: 'plugin/src/output/spec.ts parseOutputSpec (-o) against trace exec columns',
  arbitrary: fc.tuple(
    fc.oneof(
      tokens(
        ['columns', 'json', 'yaml', 'columns=', 'pid', 'comm', 'K8S.NODE', 'nope', ''],
        [',', '=', ' ', ''],
      ),
      anyString(['columns=pid,comm', 'json']),
    ),
    fc.boolean(),
  ),
  examples: [
    ['x'.repeat(5000), false],
    [`columns=${'y'.repeat(5000)}`, true],
  ],
  run([s, withColumns]) {
    try {
      parseOutputSpec(s, withColumns ? traceExec.columns : undefined);
    } catch (e) {
      if (isUserError(e)) return cliMessage(e);
      throw e;
    }
    return undefined;
  },
};

// ---- gadget params (what RunRequest.params carries) -----------------------------------------------------

const DESCRIPTORS = [traceExec, traceOpen, netpol];
const PARAM_NAMES = DESCRIPTORS.flatMap((d) => d.params.map((p) => p.name));

export const paramsTarget: Target<[number, Record<string, string>]> = {
  name: 'params',
  what: 'gadgets/framework/resolve.ts resolveParams + params.ts gadgetConfig (each gadget configure)',
  arbitrary: fc.tuple(
    fc.nat(DESCRIPTORS.length - 1),
    fc.dictionary(
      anyString(PARAM_NAMES, 20),
      anyString(
        [
          'true',
          'false',
          '0',
          '-1',
          '1000',
          '99999999999999999999',
          '["/etc","/tmp"]',
          '[]',
          '[1]',
          '["' + 'x'.repeat(70) + '"]',
          '/etc',
          '[',
          '["a","b","c","d","e","f","g","h","i"]',
        ],
        30,
      ),
      { maxKeys: 4 },
    ),
  ),
  // a newline in a quoted key or value made the status message two lines
  examples: [
    [0, { '\n': 'x' }],
    [1, { prefix: 'a\nb' }],
  ],
  run([i, params]) {
    const d = DESCRIPTORS[i]!;
    let resolved;
    try {
      resolved = resolveParams(d, params);
    } catch (e) {
      if (isRunError(e)) return statusMessage(e);
      throw e;
    }
    gadgetConfig(d, resolved, { selfPid: 1 });
    return undefined;
  },
};

// ---- flow NDJSON -------------------------------------------------------------------------------------------

const IPS = ['10.244.0.10', '10.96.0.1', '2001:db8::7', '192.168.1.10', ''];
const label = fc.constantFrom('app', 'tier', 'a.b/c', 'x');
const labels = fc.dictionary(label, fc.constantFrom('web', 'db', '', 'v1'), { maxKeys: 3 });

const endpoint = (local: boolean): fc.Arbitrary<Endpoint> =>
  fc.oneof(
    fc.record({
      kind: fc.constant('pod' as const),
      ip: fc.constantFrom(...IPS),
      namespace: fc.constantFrom('demo', 'db'),
      workload: fc.constantFrom('frontend', 'backend'),
      workload_kind: fc.constantFrom('Deployment', 'StatefulSet'),
      labels,
      pods: fc.array(fc.constantFrom('p-1', 'p-2'), { maxLength: 2 }),
    }),
    fc.record({
      kind: fc.constant('node' as const),
      ip: fc.constantFrom(...IPS),
      node: fc.constantFrom('n1', 'n2'),
    }),
    fc.record({
      kind: fc.constant('container' as const),
      ip: fc.constantFrom(...IPS),
      workload: fc.constantFrom('c1', 'c2'),
    }),
    fc.record({ kind: fc.constant('unknown' as const), ip: fc.constantFrom(...IPS) }),
    ...(local
      ? []
      : [
          fc.record({
            kind: fc.constant('external' as const),
            ip: fc.constantFrom(...IPS.filter(Boolean)),
          }),
          fc.record({
            kind: fc.constant('service' as const),
            ip: fc.constantFrom('10.96.0.20'),
            service: fc.record({
              namespace: fc.constant('demo'),
              name: fc.constantFrom('backend', 'db'),
              port: fc.nat(65535),
            }),
            backends: fc.array(
              fc.record({
                namespace: fc.constant('demo'),
                workload: fc.constantFrom('backend'),
                labels,
              }),
              { maxLength: 2 },
            ),
          }),
        ]),
  );

const flowRecord: fc.Arbitrary<FlowRecord> = fc.record({
  schema: fc.constant(FLOW_SCHEMA),
  node: fc.constantFrom('node-1', 'node-2'),
  direction: fc.constantFrom('ingress' as const, 'egress' as const),
  protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
  port: fc.oneof(fc.constantFrom(53, 80, 5432), fc.nat(65535)),
  local: endpoint(true),
  peer: endpoint(false),
  count: fc.nat(1000),
  first_seen: fc.constantFrom('2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z'),
  last_seen: fc.constantFrom('2025-01-01T00:00:02.000Z'),
});

const flowLine = fc.oneof(
  { arbitrary: flowRecord.map((f) => JSON.stringify(f)), weight: 2 },
  { arbitrary: mutatedObject(flowRecord).map((o) => JSON.stringify(o) ?? 'undefined'), weight: 6 },
  { arbitrary: mutated(flowRecord.map((f) => JSON.stringify(f))), weight: 3 },
  { arbitrary: anyString(['#', '{}', '[]', 'null', '"x"']), weight: 2 },
  { arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)), weight: 1 },
);

async function readFlows(text: string): Promise<FlowRecord[] | string> {
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([text]) };
  try {
    return (await readFlowFiles(['-'], io)).flows;
  } catch (e) {
    if (isUserError(e)) return cliMessage(e);
    throw e;
  }
}

export const flowNdjsonTarget: Target<string[]> = {
  name: 'flow-ndjson',
  rejectCode: 'UserError',
  what: 'advise network-policy --input: commands.ts readFlowFiles (flow.ts parseFlowLine, FlowMerger)',
  arbitrary: fc.array(flowLine, { minLength: 1, maxLength: 6 }),
  // a 2 KB schema value was quoted whole
  examples: [[JSON.stringify({ schema: 'a\nb'.repeat(1000) })]],
  async run(lines) {
    const r = await readFlows(lines.join('\n'));
    return typeof r === 'string' ? r : undefined;
  },
};

export const flowRoundTripTarget: Target<FlowRecord[]> = {
  name: 'flow-roundtrip',
  rejectCode: 'UserError',
  what: 'flow NDJSON round trip: readFlowFiles(formatFlows(merged)) = merged, merged = mergeFlows(flows)',
  arbitrary: fc.array(flowRecord, { maxLength: 8 }),
  async run(flows) {
    // records of one key merge keeping the first one's addresses: compare merged flows
    const merged = mergeFlows(flows.map((f) => structuredClone(f)));
    const r = await readFlows(formatFlows(merged));
    if (typeof r === 'string') throw new Error(`valid flows rejected: ${r}`);
    const want = formatFlows(merged);
    if (formatFlows(r) !== want) throw new Error(`round trip: ${formatFlows(r)} != ${want}`);
    return undefined;
  },
};

// ---- NetworkPolicy YAML -----------------------------------------------------------------------------------

const reportPolicies = buildReport(demoFlows()).policies;
const policyObject = fc.constantFrom(
  ...reportPolicies.map((p) => JSON.parse(JSON.stringify(p)) as object),
);

const policyYaml: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc
      .array(mutatedObject(policyObject, 4), { minLength: 1, maxLength: 3 })
      .map((docs) => docs.map((d) => stringify(d)).join('---\n')),
    weight: 6,
  },
  {
    arbitrary: mutated(
      policyObject.map((p) => stringify(p)),
      6,
    ),
    weight: 4,
  },
  {
    arbitrary: anyString(['---', 'kind: NetworkPolicy', 'a: &x [*x]', '!!binary', '{', '- ']),
    weight: 2,
  },
  {
    // an alias bomb: each level refers to the previous one ten times
    arbitrary: fc.integer({ min: 2, max: 12 }).map((n) => {
      let s = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < n; i++)
        s += `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]\n`;
      return s + 'kind: NetworkPolicy\n';
    }),
    weight: 1,
  },
  {
    arbitrary: fc.constantFrom(
      '!!set {a, b}',
      '!!omap [a: 1]',
      'kind: !!binary aGk=',
      '? [a]\n: b',
      'a: !!timestamp 2001-12-14',
      '%YAML 1.1\n---\na: 1',
      '<<: {kind: NetworkPolicy}',
    ),
    weight: 1,
  },
);

export const policyYamlTarget: Target<string> = {
  name: 'policy-yaml',
  rejectCode: 'PolicyError',
  what: 'advise network-policy verify --policies: policy.ts parsePolicies (as verify reports it), then verifyFlows',
  arbitrary: policyYaml,
  // the yaml library takes ~2.5 s (linearly) for 200 KB of quotes
  hangMs: 10_000,
  // a second deeply nested file in one process aborted node (RegExpCompiler Allocation failed)
  examples: ['['.repeat(25000), '- '.repeat(12500)],
  run(text) {
    let set;
    try {
      set = parsePolicies(text, 'policies.yaml');
    } catch (e) {
      // as verifyCommand reports it
      if (e instanceof PolicyError) return cliMessage(new UserError(escapeControl(e.message)));
      throw e;
    }
    verifyFlows(set, demoFlows());
    return undefined;
  },
};

// ---- kubeconfig ----------------------------------------------------------------------------------------------

const kubeconfig = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Config'),
  'current-context': fc.constantFrom('ctx', 'other', ''),
  clusters: fc.array(
    fc.record({
      name: fc.constantFrom('c1', 'c2'),
      cluster: fc.record({
        server: fc.constantFrom('https://127.0.0.1:6443', 'https://[::1]:6443', 'http://x', ''),
        'certificate-authority-data': fc.constantFrom('bm90IGEgY2E=', '!!!', ''),
        'insecure-skip-tls-verify': fc.boolean(),
      }),
    }),
    { maxLength: 2 },
  ),
  users: fc.array(
    fc.record({
      name: fc.constantFrom('u1', 'u2'),
      user: fc.record({
        token: fc.constantFrom('t', ''),
        'client-key-data': fc.constantFrom('eA==', ''),
      }),
    }),
    { maxLength: 2 },
  ),
  contexts: fc.array(
    fc.record({
      name: fc.constantFrom('ctx', 'other'),
      context: fc.record({
        cluster: fc.constantFrom('c1', 'c2', 'nope'),
        user: fc.constantFrom('u1', 'u2', ''),
        namespace: fc.constantFrom('ns', ''),
      }),
    }),
    { maxLength: 2 },
  ),
});

const kubeconfigText = fc.oneof(
  { arbitrary: kubeconfig.map((k) => stringify(k)), weight: 2 },
  { arbitrary: mutatedObject(kubeconfig, 3).map((k) => stringify(k)), weight: 6 },
  {
    arbitrary: mutated(
      kubeconfig.map((k) => stringify(k)),
      4,
    ),
    weight: 3,
  },
  { arbitrary: anyString(['apiVersion: v1', 'clusters: 5', '{', 'contexts: [null]']), weight: 1 },
);

let kubeDir: string | undefined;
/** The fuzz kubeconfig file (one temp directory per process, removed at exit). */
function kubeFile(text: string): string {
  if (!kubeDir) {
    const dir = mkdtempSync(join(tmpdir(), 'kg-fuzz-kube-'));
    kubeDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const f = join(kubeDir, 'config');
  writeFileSync(f, text);
  return f;
}

export const kubeconfigTarget: Target<[string, string | undefined]> = {
  name: 'kubeconfig',
  rejectCode: 'UserError',
  what: 'plugin runtimes/k8s/kubeconfig.ts loadKubeConfig (--kubeconfig, --context)',
  examples: [
    ['['.repeat(2000), undefined],
    ['- '.repeat(2000), undefined],
    // a 12 KB cluster name was quoted whole
    [
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [],
        users: [],
        contexts: [{ name: 'other', context: { cluster: 'a\nb'.repeat(4000), user: '' } }],
      }),
      'other',
    ],
    // a context name that is a map: the clipping of names threw
    [
      'apiVersion: []\nkind: Config\ncurrent-context: ctx\nclusters: []\nusers: []\n' +
        'contexts:\n  - name: {}\n    context:\n      cluster: c1\n      user: u1\n',
      undefined,
    ],
  ],
  arbitrary: fc.tuple(
    kubeconfigText,
    fc
      .option(fc.oneof(fc.constantFrom('ctx', 'other'), nastyString(12)))
      .map((x) => x ?? undefined),
  ),
  hangMs: 5000,
  // loadKubeConfig imports @kubernetes/client-node lazily (about a second): not in the first input
  setup: async () => void (await import('@kubernetes/client-node')),
  async run([text, context]) {
    const file = kubeFile(text);
    try {
      await loadKubeConfig(
        { kubeconfig: file, ...(context !== undefined ? { context } : {}) },
        { env: {}, home: kubeDir! },
      );
    } catch (e) {
      if (isUserError(e)) return cliMessage(e);
      throw e;
    }
    return undefined;
  },
};

export const daemonKubeconfigTarget: Target<string> = {
  name: 'daemon-kubeconfig',
  rejectCode: 'RunError',
  what: `daemon/src/k8s/config.ts loadDaemonKubeConfig (${KUBECONFIG_ENV})`,
  arbitrary: kubeconfigText,
  hangMs: 5000,
  // client-node's own error (a context without a name) escaped as a plain Error
  examples: [
    'apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters: []\nusers: []\ncontexts:\n  - -1\n',
  ],
  async run(text) {
    const file = kubeFile(text);
    try {
      await loadDaemonKubeConfig({ env: { [KUBECONFIG_ENV]: file } });
    } catch (e) {
      // the daemon command reports it like any CLI error
      if (isRunError(e)) return cliMessage(e);
      throw e;
    }
    return undefined;
  },
};

// ---- DNS answers ------------------------------------------------------------------------------------------------

const dnsMessage = fc.record({
  id: fc.nat(65535),
  qname: fc
    .array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { minLength: 1, maxLength: 4 })
    .map((l) => l.join('.')),
  response: fc.boolean(),
  answers: fc.array(
    fc.oneof(
      fc
        .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
        .map((p) => ({ type: 'A' as const, data: p.join('.') })),
      fc.constantFrom({ type: 'AAAA' as const, data: '2001:db8::1' }),
    ),
    { maxLength: 3 },
  ),
});

export const dnsTarget: Target<[Uint8Array, boolean, ReturnType<typeof buildDns> | undefined]> = {
  name: 'dns',
  what: 'gadgets/advise_network_policy/dns.ts parseDns (captured answers) + round trip with buildDns',
  arbitrary: fc.oneof(
    fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.boolean(), fc.constant(undefined)),
    fc
      .tuple(dnsMessage, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.boolean())
      .map(([m, edits, keep]) => {
        const b = buildDns(m);
        if (keep) return [b, false, b] as [Uint8Array, boolean, Buffer];
        for (const [i, v] of edits) b[i % b.length] = v;
        return [b, false, undefined] as [Uint8Array, boolean, undefined];
      }),
  ),
  run([b, tcp, intact]) {
    const m = parseDns(b, tcp);
    if (intact && !m) throw new Error('a message buildDns made does not parse');
    return undefined;
  },
};

export const textTargets = [
  labelSelectorTarget,
  addressTarget,
  timeoutTarget,
  outputSpecTarget,
  paramsTarget,
  flowNdjsonTarget,
  flowRoundTripTarget,
  policyYamlTarget,
  kubeconfigTarget,
  daemonKubeconfigTarget,
  dnsTarget,
] as Array<Target<unknown>>;
