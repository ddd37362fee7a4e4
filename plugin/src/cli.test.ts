// The built CLI, end to end up to the point where a runtime would be needed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listAllGadgets } from '#gadgets/framework/registry.js';
import { COMMANDS } from './commands/index.js';
import { commandId } from './commands/stream-gadget.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'run.js');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneErrorLine(r: { stderr: string }): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^Error: /);
  return lines[0]!;
}

test('an unknown flag: non-zero exit, one line', () => {
  const r = cli('trace', 'exec', '--bogus');
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(oneErrorLine(r), /--bogus/);
});

test('without --local/--remote: Kubernetes mode, which needs a kubeconfig', () => {
  const r = cli('trace', 'exec', '--kubeconfig', '/nonexistent/kubeconfig');
  assert.equal(r.status, 1);
  assert.equal(
    oneErrorLine(r),
    'Error: kubeconfig "/nonexistent/kubeconfig" not found (--kubeconfig)',
  );
});

test('bad -o, unknown column, bad --timeout, exclusive flags: one line each, exit 1', () => {
  const cases: Array<[string[], RegExp]> = [
    [['-o', 'xml'], /invalid --output "xml"/],
    [
      ['-o', 'columns=pid,nope'],
      /unknown column "nope" in --output: valid columns are node, namespace, pod, container, pid/,
    ],
    [['--timeout', 'abc'], /invalid --timeout "abc"/],
    [['--local', '--remote', 'tcp://127.0.0.1:1'], /--remote/],
    [['-c', 'web', '--host'], /--host|--containername/],
    [['extra-arg'], /Unexpected argument: extra-arg/],
  ];
  for (const [args, re] of cases) {
    const r = cli('trace', 'exec', '--remote', 'unix:///nonexistent.sock', ...args);
    assert.equal(r.status, 1, args.join(' ') + ': ' + r.stderr);
    assert.match(oneErrorLine(r), re);
  }
});

test('version and list-gadgets: every gadget of the registry, with its command', async () => {
  const v = cli('version');
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^Client version: v\d+\.\d+\.\d+/);
  const gadgets = await listAllGadgets();
  assert.ok(gadgets.length >= 4, gadgets.map((g) => g.name).join(', '));
  const g = cli('list-gadgets');
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /^COMMAND +DESCRIPTION\n/);
  for (const d of gadgets) {
    const words = d.command.join(' ');
    assert.ok(g.stdout.includes(`\n${words} `), `${words} in:\n${g.stdout}`);
  }
  assert.match(g.stdout, /\ntrace exec +Trace/);
  assert.match(g.stdout, /\ntraceloop +Flight recorder/);
  const j = cli('list-gadgets', '-o', 'json');
  const list = JSON.parse(j.stdout) as Array<{ name: string }>;
  assert.deepEqual(
    list.map((x) => x.name),
    gadgets.map((d) => d.name),
  );
});

test('a command per stream gadget, generated from its descriptor', async () => {
  // stream gadgets: in the registry with a descriptor, and not a topic of hand-written verbs
  const gadgets = await listAllGadgets();
  const ids = Object.keys(COMMANDS);
  const streams = gadgets.filter(
    (d) => 'params' in d && !ids.some((id) => id.startsWith(commandId(d) + ':')),
  );
  assert.ok(
    streams.some((d) => d.name === 'trace_exec') && streams.some((d) => d.name === 'trace_open'),
    streams.map((d) => d.name).join(', '),
  );
  const root = cli('--help');
  assert.equal(root.status, 0, root.stderr);
  for (const d of streams) {
    assert.ok(ids.includes(commandId(d)), `${commandId(d)} in ${ids.join(', ')}`);
    const h = cli(...d.command, '--help');
    assert.equal(h.status, 0, h.stderr);
    assert.ok(h.stdout.startsWith(d.description + '\n'), h.stdout);
    assert.ok(
      /^ {2}\$ kubectl gadget (.*?)( \[|$)/m.exec(h.stdout)?.[1] === d.command.join(' '),
      h.stdout,
    );
    for (const p of 'params' in d ? d.params : []) {
      assert.ok(h.stdout.includes(`--${p.name}`), `--${p.name} in:\n${h.stdout}`);
    }
    assert.ok(root.stdout.includes(`\n  ${d.command[0]} `), root.stdout);
  }
  // the verbs of traceloop and advise network-policy stay hand-written, not generated
  assert.ok(!ids.includes('advise:network-policy'), ids.join(', '));
  assert.ok(ids.includes('advise:network-policy:monitor'), ids.join(', '));
});

test('an unreachable daemon is a user error, not a bug', () => {
  const r = cli('trace', 'exec', '--remote', 'unix:///nonexistent/kgadget.sock', '--timeout', '2');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^Error: /);
});

test('a mistyped command: "did you mean", one line, exit 1', () => {
  for (const [args, want] of [
    [['trace', 'exce'], 'Error: unknown command "trace exce": did you mean "trace exec"?'],
    [
      ['tracelop', 'list'],
      'Error: unknown command "tracelop list": did you mean "traceloop list"?',
    ],
    [['bogus'], 'Error: unknown command "bogus"'],
  ] as const) {
    const r = cli(...args, '--local');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(oneErrorLine(r), `${want} (see: kubectl gadget --help)`);
  }
});

test('-o columns= takes the header names too, in any case (PID, K8S.NODE)', () => {
  // parsed (the run then fails to reach the daemon): no "unknown column"
  const r = cli(
    'trace',
    'open',
    '--remote',
    'unix:///nonexistent/kgadget.sock',
    '-o',
    'columns=PID,K8S.NODE,Err,path',
  );
  assert.equal(r.status, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /unknown column/);
  assert.match(oneErrorLine(r), /nonexistent\/kgadget\.sock/);
});

test('an error quoting input with ESC/OSC sequences prints them escaped', () => {
  const evil = '\u001b]0;pwned\u0007\u001b[2J\u009b31m';
  const r = cli('trace', 'exec', '--remote', 'unix:///x', '-o', `columns=pid,${evil}`);
  assert.equal(r.status, 1, r.stderr);
  const want = 'Error: unknown column "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in --output';
  assert.equal(oneErrorLine(r).slice(0, want.length), want);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
});
