// Errors the user can act on, from the real CLI process: each gives exactly one line on stderr
// ("Error: ..."), nothing on stdout, exit code 1 (2 means a bug), and leaves nothing loaded.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import type { SpawnOptions } from './helpers/cli.js';
import { LeakCheck } from './helpers/bpf.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const NOBODY = ['/usr/bin/setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];
// root, but without the capabilities bpf() needs (CAP_BPF, CAP_PERFMON, or CAP_SYS_ADMIN)
const NO_BPF_CAPS = [
  '/usr/bin/setpriv',
  '--inh-caps=-all',
  '--bounding-set=-bpf,-sys_admin,-perfmon',
];
// nobody's home, as a non-root user has its own (root's is not readable by nobody)
const NOBODY_ENV = { HOME: '/nonexistent' };

const NO_DAEMON = 'unix:///tmp/kgtest-no-such-dir/gadget.sock';
const LONG = '/' + 'x'.repeat(63);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Case {
  name: string;
  args: string[];
  opts?: SpawnOptions;
  /** what the one line must say */
  line: RegExp;
}

const CASES: Case[] = [
  { name: 'unknown gadget', args: ['trace', 'bogus', '--local'], line: /trace[: ]bogus not found/ },
  { name: 'unknown command', args: ['bogus-command'], line: /bogus-command not found/ },
  {
    name: 'unknown flag',
    args: ['trace', 'exec', '--local', '--bogus'],
    line: /Nonexistent flag: --bogus/,
  },
  {
    name: 'bad -o value',
    args: ['trace', 'exec', '--local', '-o', 'xml'],
    line: /invalid --output "xml"/,
  },
  {
    name: 'unknown column',
    args: ['trace', 'open', '--local', '-o', 'columns=pid,bogus'],
    line: /unknown column "bogus"/,
  },
  {
    name: 'bad --timeout (not a number)',
    args: ['trace', 'exec', '--local', '--timeout', 'abc'],
    line: /invalid --timeout "abc"/,
  },
  {
    name: 'bad --timeout (negative)',
    args: ['trace', 'exec', '--local', '--timeout', '-1'],
    line: /--timeout/,
  },
  {
    name: 'bad --timeout (beyond a timer: 24 days), --local',
    args: ['trace', 'exec', '--local', '--timeout', '2147484'],
    line: /^Error: invalid --timeout "2147484": at most 2147483 seconds \(24 days\)$/,
  },
  {
    name: 'bad --timeout (beyond a timer: 24 days), --remote',
    args: ['trace', 'open', '--remote', NO_DAEMON, '--timeout', '4294967296'],
    line: /^Error: invalid --timeout "4294967296": at most 2147483 seconds \(24 days\)$/,
  },
  {
    name: 'too many --prefix',
    args: [
      'trace',
      'open',
      '--local',
      ...'abcdefghi'.split('').flatMap((c) => ['--prefix', `/${c}`]),
    ],
    line: /at most 8 prefixes/,
  },
  {
    name: '--prefix too long',
    args: ['trace', 'open', '--local', '--prefix', LONG],
    line: /longer than 63 bytes/,
  },
  {
    name: 'empty --prefix',
    args: ['trace', 'open', '--local', '--prefix='],
    line: /empty prefix/,
  },
  {
    name: 'a filter and --host together',
    args: ['trace', 'exec', '--local', '-c', 'x', '--host'],
    line: /--host/,
  },
  {
    name: 'no root (--local as uid 65534)',
    args: ['trace', 'exec', '--local', '-o', 'json'],
    opts: { wrapper: NOBODY, env: NOBODY_ENV },
    line: /root/,
  },
  {
    name: 'no root (list-containers --local as uid 65534)',
    args: ['list-containers', '--local'],
    opts: { wrapper: NOBODY, env: NOBODY_ENV },
    line: /root/,
  },
  {
    name: 'no root (daemon as uid 65534)',
    args: ['daemon', '--listen', 'unix:///tmp/kgtest-nobody.sock'],
    opts: { wrapper: NOBODY, env: NOBODY_ENV },
    line: /root/,
  },
  {
    name: 'no BTF (trace exec --local)',
    args: ['trace', 'exec', '--local', '-o', 'json'],
    opts: { env: { KGADGET_BTF_PATH: '/nonexistent/vmlinux' } },
    line: /BTF.*\/nonexistent\/vmlinux/,
  },
  {
    name: 'no BTF (daemon)',
    args: ['daemon', '--listen', 'unix:///tmp/kgtest-nobtf.sock'],
    opts: { env: { KGADGET_BTF_PATH: '/nonexistent/vmlinux' } },
    line: /BTF/,
  },
  {
    name: 'bpf() denied (root without CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN): trace open',
    args: ['trace', 'open', '--local', '-o', 'json'],
    opts: { wrapper: NO_BPF_CAPS },
    line: /CAP_BPF|capabilit|permission|not permitted/i,
  },
  {
    name: 'bpf() denied: daemon',
    args: ['daemon', '--listen', 'unix:///tmp/kgtest-nocaps.sock'],
    opts: { wrapper: NO_BPF_CAPS },
    line: /CAP_BPF|capabilit|permission|not permitted/i,
  },
  {
    name: 'unreachable daemon (unix socket): trace exec',
    args: ['trace', 'exec', '--remote', NO_DAEMON],
    line: new RegExp(esc(NO_DAEMON)),
  },
  {
    name: 'unreachable daemon (tcp): trace open',
    args: ['trace', 'open', '--remote', 'tcp://127.0.0.1:1'],
    line: /tcp:\/\/127\.0\.0\.1:1/,
  },
  {
    name: 'unreachable daemon: list-containers',
    args: ['list-containers', '--remote', NO_DAEMON],
    line: new RegExp(esc(NO_DAEMON)),
  },
  {
    name: 'unreachable daemon: version',
    args: ['version', '--remote', NO_DAEMON],
    line: new RegExp(esc(NO_DAEMON)),
  },
  {
    name: 'malformed daemon address',
    args: ['trace', 'exec', '--remote', 'bogus://x'],
    line: /bogus:\/\/x/,
  },
];

describe('errors: one line, exit 1, nothing loaded', { skip: !isRoot && 'needs root' }, () => {
  let leaks: LeakCheck;
  before(() => {
    leaks = new LeakCheck();
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const r = await runCli(c.args, { ...c.opts, timeoutMs: 30_000 });
      const lines = r.stderr.replace(/\n$/, '').split('\n');
      assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.stderr}`);
      assert.match(lines[0]!, /^Error: /);
      assert.doesNotMatch(lines[0]!, /\(bug\)/, 'a user error, not a bug');
      assert.match(lines[0]!, c.line);
      assert.equal(r.stdout, '');
      assert.equal(r.code, 1, `exit code (signal ${r.signal})`);
    });
  }

  after(async () => {
    await leaks.assertNothingNew();
  });
});
