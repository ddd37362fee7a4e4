// Inputs fuzzing found (e2e/fuzz/, `npm run fuzz`) that broke the CLI's parsers, kept as fixed
// cases: every rejection is one line of bounded length, a daemon's layout that does not fit the
// gadget's declared transform is refused at the header, and a policy file nested past any real
// NetworkPolicy is refused before the YAML composer recurses into it.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { descriptor as traceExec } from '#gadgets/trace_exec/gadget.js';
import { descriptor as traceOpen } from '#gadgets/trace_open/gadget.js';
import type { RunMessage } from '#gadgets/framework/runtime.js';
import { gadgetLayoutPath } from '#gadgets/framework/paths.js';
import type { RecordLayout } from '#gadgets/framework/types.js';
import type { ContainerInfo } from '#gadgets/framework/containers.js';
import { resolveParams } from '#gadgets/framework/resolve.js';
import { ProtocolError } from '#proto/ts/convert.js';
import { frameRecords } from '#proto/ts/records.js';
import { isUserError } from './errors.js';
import { parseTimeout } from './flags.js';
import { parseOutputSpec } from './output/spec.js';
import type { Reporter, TextSink } from './output/types.js';
import { EventPipeline } from './pipeline/pipeline.js';
import { loadKubeConfig } from './runtimes/k8s/kubeconfig.js';
import {
  FLOW_SCHEMA,
  FlowParseError,
  parseFlowLine,
} from './services/advise_network_policy/flow.js';
import { parsePolicies, PolicyError } from './services/advise_network_policy/policy.js';

function assertOneLine(m: string, max: number): void {
  assert.doesNotMatch(m, /[\r\n\u2028\u2029]/, `one line: ${JSON.stringify(m.slice(0, 200))}`);
  assert.ok(m.length <= max, `${m.length} characters (at most ${max})`);
}

function userError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isUserError(e), `a user error, got ${String(e)}`);
    return e.message;
  }
  assert.fail('no error');
}

describe('--timeout and -o', () => {
  test('--timeout quoted its input whole', () => {
    const m = userError(() => parseTimeout('a\nb'.repeat(1000)));
    assert.match(m, /^invalid --timeout "a\\nba\\nb.*…": expected a whole number of seconds/);
    assertOneLine(m, 200);
    assertOneLine(
      userError(() => parseTimeout('9'.repeat(5000))),
      200,
    );
  });

  test('-o quoted its input and unknown columns whole', () => {
    const m = userError(() => parseOutputSpec('x'.repeat(5000)));
    assert.match(m, /^invalid --output "x+…": expected /);
    assertOneLine(m, 600);
    const cols = userError(() => parseOutputSpec(`columns=${'y'.repeat(5000)}`, traceExec.columns));
    assert.match(cols, /^unknown column "y+…" in --output: valid columns are /);
    assertOneLine(cols, 1000);
    const many = userError(() =>
      parseOutputSpec(`columns=${Array(2000).fill('a\tb').join(',')}`, traceExec.columns),
    );
    assert.match(many, /^unknown columns "a\\tb", "a\\tb", .*… in --output/);
    assertOneLine(many, 1000);
  });
});

describe('the pipeline and a layout from a daemon of another version', () => {
  const sink: TextSink = { kind: 'ndjson', write: () => {}, end: async () => {} };
  const reporter: Reporter = { warn: () => {}, log: () => {} };

  for (const d of [traceExec, traceOpen]) {
    test(`${d.name}: a layout without the transform's fields is refused at the header`, async () => {
      // was: a TypeError for every record (trace exec's transform read args of undefined)
      for (const fastJson of [true, false]) {
        const p = new EventPipeline({
          descriptor: d,
          params: resolveParams(d, {}),
          sink,
          reporter,
          fastJson,
        });
        const msgs: RunMessage[] = [
          {
            kind: 'header',
            header: {
              gadget: `${d.name}\n`,
              node: 'n1',
              layout: { struct: 'event', size: 16, fields: [] },
              bootToWallNs: 0n,
            },
          },
          { kind: 'batch', records: frameRecords([Buffer.alloc(16)]), count: 1 },
        ];
        await assert.rejects(
          (async () => {
            for (const m of msgs) await p.handle(m);
          })(),
          (e: Error) => {
            assert.ok(e instanceof ProtocolError, String(e));
            assert.equal(
              e.message,
              `the daemon's ${d.name}\\n records do not fit this CLI (no field ret): use matching versions`,
            );
            return true;
          },
        );
      }
    });
  }
});

describe('the pipeline and a timestamp that is not an integer', () => {
  test('a cstring timestamp is refused at the header (was: SyntaxError per record)', async () => {
    const real = JSON.parse(readFileSync(gadgetLayoutPath('trace_exec'), 'utf8')) as RecordLayout;
    const layout: RecordLayout = {
      ...real,
      fields: real.fields.map((f) => (f.name === 'timestamp' ? { ...f, kind: 'cstring' } : f)),
    };
    for (const fastJson of [true, false]) {
      const p = new EventPipeline({
        descriptor: traceExec,
        params: resolveParams(traceExec, {}),
        sink: { kind: 'ndjson', write: () => {}, end: async () => {} },
        reporter: { warn: () => {}, log: () => {} },
        fastJson,
      });
      await assert.rejects(
        (async () => {
          await p.handle({
            kind: 'header',
            header: { gadget: 'trace_exec', node: 'n1', layout, bootToWallNs: 0n },
          });
          await p.handle({
            kind: 'batch',
            records: frameRecords([Buffer.alloc(layout.size, 0x4c)]),
            count: 1,
          });
        })(),
        (e: Error) => {
          assert.ok(e instanceof ProtocolError, String(e));
          assert.equal(
            e.message,
            "the daemon's trace_exec records do not fit this CLI (field timestamp is cstring, not an integer): use matching versions",
          );
          return true;
        },
      );
    }
  });
});

describe('the pipeline and a layout without mntns_id', () => {
  test('a record with only a mntns_uid is placed on the host on both paths (the object path used the uid)', async () => {
    const real = JSON.parse(readFileSync(gadgetLayoutPath('trace_open'), 'utf8')) as RecordLayout;
    const layout: RecordLayout = {
      ...real,
      fields: real.fields.filter((f) => f.name !== 'mntns_id'),
    };
    const uidField = layout.fields.find((f) => f.name === 'mntns_uid');
    assert.ok(uidField);
    const rec = Buffer.alloc(layout.size);
    rec.writeBigUInt64LE(77n, uidField.offset);
    const container: ContainerInfo = {
      runtime: 'podman',
      id: 'c'.repeat(64),
      name: 'web',
      pid: 1,
      mntnsId: 4026532000,
      mntnsUid: 77,
      generation: 1,
      state: 'running',
      startedAt: 0,
      image: 'img',
      annotations: {},
      k8s: {
        namespace: 'ns',
        pod: 'web',
        container: 'web',
        podUid: 'u',
        labels: {},
        ownerKind: 'Deployment',
        ownerName: 'o',
        podIp: '10.0.0.1',
        hostNetwork: false,
      },
    };
    const msgs: RunMessage[] = [
      { kind: 'header', header: { gadget: 'trace_open', node: 'n1', layout, bootToWallNs: 0n } },
      { kind: 'containers', containers: [container] },
      { kind: 'batch', records: frameRecords([rec]), count: 1 },
    ];
    for (const fastJson of [true, false]) {
      let out = '';
      const p = new EventPipeline({
        descriptor: traceOpen,
        params: resolveParams(traceOpen, {}),
        sink: { kind: 'ndjson', write: (c) => void (out += c.toString()), end: async () => {} },
        reporter: { warn: () => {}, log: () => {} },
        fastJson,
      });
      for (const m of msgs) await p.handle(m);
      const ev = JSON.parse(out.trim()) as Record<string, unknown>;
      assert.equal(ev.namespace, '', `fastJson ${fastJson}: ${out}`);
      assert.equal(ev.container, '');
    }
  });
});

describe('flow NDJSON', () => {
  const flowError = (line: string): string => {
    try {
      parseFlowLine(line, 'f.ndjson', 1);
    } catch (e) {
      assert.ok(e instanceof FlowParseError, String(e));
      return e.message;
    }
    assert.fail('accepted');
  };

  test('a 3 KB schema value was quoted whole', () => {
    const m = flowError(JSON.stringify({ schema: 'a\nb'.repeat(1000) }));
    assert.match(
      m,
      /^f\.ndjson:1: schema: expected "netpol\.kubectl-gadget\.io\/flow\/v1", got "a\\nb/,
    );
    assertOneLine(m, 300);
  });

  const valid = {
    schema: FLOW_SCHEMA,
    node: 'n',
    direction: 'egress',
    protocol: 'TCP',
    port: 80,
    local: { kind: 'pod', ip: '10.0.0.1', namespace: 'd', workload: 'w', labels: { app: 'a' } },
    peer: { kind: 'external', ip: '1.1.1.1' },
    count: 1,
    first_seen: '2025-01-01T00:00:00.000Z',
    last_seen: '2025-01-01T00:00:00.000Z',
  };

  test('a label key with a newline, a huge IP', () => {
    const key = flowError(
      JSON.stringify({
        ...valid,
        local: { ...valid.local, labels: { [`a\n${'k'.repeat(3000)}`]: 1 } },
      }),
    );
    assert.match(key, /^f\.ndjson:1: local\.labels\.a\\nk+…: must be a string$/);
    assertOneLine(key, 200);
    const ip = flowError(
      JSON.stringify({ ...valid, peer: { kind: 'external', ip: 'x\n'.repeat(3000) } }),
    );
    assert.match(ip, /^f\.ndjson:1: peer\.ip: "x\\nx\\n.*…" is not an IP address$/);
    assertOneLine(ip, 200);
  });

  test('the valid record passes', () => {
    assert.ok(parseFlowLine(JSON.stringify(valid), 'f.ndjson', 1));
  });
});

describe('NetworkPolicy YAML', () => {
  const policyError = (text: string): string => {
    try {
      parsePolicies(text, 'p.yaml');
    } catch (e) {
      assert.ok(e instanceof PolicyError, String(e));
      assertOneLine(e.message, 1000);
      return e.message;
    }
    assert.fail('accepted');
  };

  test('deep nesting is refused before the composer recurses (twice in one process)', () => {
    // the second deep file in one process aborted node ("RegExpCompiler Allocation failed")
    for (const text of ['['.repeat(25000), '- '.repeat(12500), '['.repeat(25000)])
      assert.equal(policyError(text), 'p.yaml: document 1: nested deeper than 64 levels');
    // 64 levels are fine (and not a policy)
    assert.equal(
      policyError(`${'['.repeat(64)}${']'.repeat(64)}`),
      'p.yaml: document 1: not a Kubernetes object',
    );
  });

  const policy = (extra: string): string =>
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\nspec:\n  podSelector: {}\n${extra}`;

  test('a 100 KB policy type was quoted whole', () => {
    const m = policyError(policy(`  policyTypes: [${'x'.repeat(100_000)}]\n`));
    assert.match(
      m,
      /^p\.yaml: document 1 \(NetworkPolicy web\): spec\.policyTypes: unknown type "x+…$/,
    );
  });

  test('a huge name, apiVersion, unknown field, port and kind are clipped', () => {
    const long = 'n'.repeat(50_000);
    assert.match(
      policyError(policy('').replace('name: web', `name: ${long}`) + '  policyTypes: [Nope]\n'),
      /^p\.yaml: document 1 \(NetworkPolicy n+…\): spec\.policyTypes: unknown type "Nope"$/,
    );
    assert.match(
      policyError(policy('').replace('networking.k8s.io/v1', long)),
      /: apiVersion: expected networking\.k8s\.io\/v1, got "n+…$/,
    );
    assert.match(
      // (an implicit key is at most 1024 characters in YAML)
      policyError(policy(`  ingress:\n    - ${long.slice(0, 1000)}: 1\n`)),
      /: spec\.ingress\[0\]: unknown field "n+…$/,
    );
    assert.match(
      policyError(policy(`  ingress:\n    - ports:\n        - port: "${long}"\n`)),
      /: spec\.ingress\[0\]\.ports\[0\]\.port: "n+… is not a valid port name$/,
    );
    assert.match(
      policyError(`kind: ${long}List\nitems: 3\n`),
      /^p\.yaml: no NetworkPolicy or Namespace in it \(found n+…\)$/,
    );
  });
});

describe('--kubeconfig', () => {
  test('a 12 KB cluster name was quoted whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kg-fuzz-found-'));
    try {
      const f = join(dir, 'config');
      const cluster = 'a\nb'.repeat(4000);
      writeFileSync(
        f,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': 'ctx',
          clusters: [],
          users: [],
          contexts: [{ name: 'other', context: { cluster, user: '' } }],
        }),
      );
      await assert.rejects(
        loadKubeConfig({ kubeconfig: f, context: 'other' }, { env: {}, home: dir }),
        (e: Error) => {
          assert.ok(isUserError(e));
          assert.match(
            e.message,
            /^context "other" refers to cluster "a\nba\nb[^]*…", which has no server in kubeconfig /,
          );
          assert.ok(e.message.length < 300, `${e.message.length} characters`);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a context name that is a map (the clipping threw value.slice is not a function)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kg-fuzz-found-'));
    try {
      const f = join(dir, 'config');
      writeFileSync(
        f,
        'apiVersion: []\nkind: Config\ncurrent-context: ctx\nclusters: []\nusers: []\n' +
          'contexts:\n  - name: {}\n    context:\n      cluster: c1\n      user: u1\n',
      );
      await assert.rejects(
        loadKubeConfig({ kubeconfig: f }, { env: {}, home: dir }),
        (e: Error) => {
          assert.ok(isUserError(e), String(e));
          assert.match(e.message, /^context "ctx" not found in kubeconfig /);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
