import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { isUserError } from '../../errors.js';
import {
  graphCommand,
  graphFormatFor,
  reportCommand,
  splitMonitorOutput,
  verifyCommand,
  type IoStreams,
} from './commands.js';
import { demoFlows } from './fixtures.js';
import { formatFlows } from './flow.js';

function io(): IoStreams & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }),
    stderr: new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }),
    out: () => out,
    err: () => err,
  };
}

async function userError(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isUserError(e), String(e));
    return e.reason;
  }
  throw new Error('no error');
}

test('monitor -o: formats and a file, in any order', async () => {
  assert.deepEqual(splitMonitorOutput([]), { spec: { format: 'columns' } });
  assert.deepEqual(splitMonitorOutput(['flows.ndjson']), {
    spec: { format: 'columns' },
    file: 'flows.ndjson',
  });
  assert.deepEqual(splitMonitorOutput(['json', 'f.ndjson']), {
    spec: { format: 'json' },
    file: 'f.ndjson',
  });
  assert.deepEqual(splitMonitorOutput(['columns=local,peer']), {
    spec: { format: 'columns', columns: ['local', 'peer'] },
  });
  assert.match(await userError(() => splitMonitorOutput(['a', 'b'])), /two files/);
  assert.match(await userError(() => splitMonitorOutput(['json', 'columns'])), /two formats/);
  assert.match(await userError(() => splitMonitorOutput(['yaml'])), /columns or json/);
  assert.match(
    await userError(() => splitMonitorOutput(['columns=nope'])),
    /unknown column "nope"/,
  );
});

test('report, verify and graph over files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kgtest-cmd-'));
  try {
    const flows = join(dir, 'flows.ndjson');
    writeFileSync(flows, formatFlows(demoFlows()));
    const pol = join(dir, 'p.yaml');
    const s = io();
    await reportCommand({ input: [flows], output: pol }, s);
    assert.match(
      s.err(),
      /^4 policies for 13 flow record\(s\); 1 note\(s\) in the header written to /,
    );
    const v = io();
    assert.equal(await verifyCommand({ input: [flows], policies: [pol] }, v), 0);
    assert.match(v.out(), /^VERDICT +LOCAL +DIR +PEER/);
    assert.equal(v.err(), '13 of 13 flows allowed by 4 policies\n');
    // without backend's policy backend is not isolated: everything still passes
    const text = readFileSync(pol, 'utf8')
      .split('---\n')
      .filter((d) => !d.includes('name: backend-network'))
      .join('---\n');
    writeFileSync(pol, text);
    const d = io();
    assert.equal(
      await verifyCommand(
        { input: [flows], policies: [pol], show: 'denied', output: { format: 'json' } },
        d,
      ),
      0,
      'no policy for backend: not isolated',
    );
    assert.equal(d.out(), '');
    const deny = join(dir, 'deny.yaml');
    writeFileSync(
      deny,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: demo}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n',
    );
    const x = io();
    assert.equal(
      await verifyCommand(
        { input: [flows], policies: [deny], show: 'denied', output: { format: 'json' } },
        x,
      ),
      1,
    );
    const lines = x
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { allowed: boolean; why: string });
    assert.equal(
      lines.length,
      12,
      'all but the node probe (ingress from the node is always allowed)',
    );
    assert.ok(
      lines.every((l) => !l.allowed && /isolated for (Ingress|Egress) by demo\/deny/.test(l.why)),
    );
    assert.match(x.err(), /^12 of 13 flows would be denied \(1 allowed\) by 1 policy\n$/);
    const g = io();
    await graphCommand({ input: [flows], format: 'dot' }, g);
    assert.match(g.out(), /^digraph services/);
    assert.equal(graphFormatFor({ output: 'x.svg' }), 'svg');
    assert.equal(graphFormatFor({ output: 'x.gv' }), 'dot');
    assert.equal(graphFormatFor({}), 'mermaid');
    assert.match(
      await userError(() => reportCommand({ input: [join(dir, 'none')] }, io())),
      /flow file ".*none" not found/,
    );
    writeFileSync(join(dir, 'bad.ndjson'), '{"schema":"x"}\n');
    assert.match(
      await userError(() => reportCommand({ input: [join(dir, 'bad.ndjson')] }, io())),
      /bad\.ndjson:1: schema: expected/,
    );
    await assert.rejects(
      verifyCommand({ input: [flows] }, io()),
      /no policies: give --policies FILE/,
    );
    const stdin = { ...io(), stdin: Readable.from([formatFlows(demoFlows())]) };
    await reportCommand({ input: ['-'] }, stdin);
    assert.match(stdin.out(), /^# Generated by kubectl-gadget/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
