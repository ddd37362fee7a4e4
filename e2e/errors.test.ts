// Errors the user can act on, from the real CLI process: each gives exactly one line on stderr
// ("Error: ..."), nothing on stdout, exit code 1 (2 means a bug), and leaves nothing loaded.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttp2Server, type Http2Server } from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as pb from '../proto/gen/gadget/v1/gadget.js';
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
  {
    name: 'unknown gadget',
    args: ['trace', 'bogus', '--local'],
    line: /^Error: unknown command "trace bogus": the trace commands are trace exec, trace open /,
  },
  {
    name: 'unknown command',
    args: ['bogus-command'],
    line: /^Error: unknown command "bogus-command" \(see: kubectl gadget --help\)$/,
  },
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

// ---- addresses where no daemon answers (issue 10, items 7 and 9) ----------------------------

/** One "Error: ..." line on stderr matching `line` (and `hint` when given), exit 1. */
function assertUserError(
  r: { code: number | null; stdout: string; stderr: string },
  line: RegExp,
  hint?: string,
): void {
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, hint ? 2 : 1, `stderr:\n${r.stderr}`);
  assert.match(lines[0]!, line);
  if (hint) assert.equal(lines[1], `Hint: ${hint}`);
  assert.equal(r.stdout, '');
  assert.equal(r.code, 1, r.stderr);
}

describe('addresses where no gadget daemon answers', () => {
  const dir = mkdtempSync('/tmp/kgtest-dh-servers-');
  const open = new Set<Socket>();
  const silent = (): Server =>
    createServer((s) => {
      // accepts, reads, never answers
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    });
  const silentUnix = silent();
  const silentTcp = silent();
  const http404 = createHttp2Server((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  const otherGrpc = new grpc.Server();
  const olderDaemon = new grpc.Server();
  let addrs: Record<'silentUnix' | 'silentTcp' | 'http404' | 'otherGrpc' | 'olderDaemon', string>;

  const listen = (s: Server | Http2Server, where: string | number): Promise<string> =>
    new Promise((resolve) => {
      if (typeof where === 'string') s.listen(where, () => resolve(`unix://${where}`));
      else
        s.listen(where, '127.0.0.1', () =>
          resolve(`tcp://127.0.0.1:${(s.address() as AddressInfo).port}`),
        );
    });
  const bindGrpc = (s: grpc.Server): Promise<string> =>
    new Promise((resolve, reject) =>
      s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) =>
        e ? reject(e) : resolve(`tcp://127.0.0.1:${port}`),
      ),
    );

  before(async () => {
    // a gRPC server of another API, and a gadget daemon that only knows GetInfo (an old one)
    otherGrpc.addService(
      { ping: { ...pb.GadgetServiceDefinition.getInfo, path: '/other.v1.Other/Ping' } },
      { ping: (_c: unknown, cb: grpc.sendUnaryData<pb.GetInfoResponse>) => cb(null, null) },
    );
    olderDaemon.addService(
      { getInfo: pb.GadgetServiceDefinition.getInfo },
      {
        getInfo: (_c: unknown, cb: grpc.sendUnaryData<pb.GetInfoResponse>) =>
          cb(null, { node: 'old', kernel: '', version: '0.0.1', gadgets: [], apiRevision: 0 }),
      },
    );
    addrs = {
      silentUnix: await listen(silentUnix, join(dir, 'silent.sock')),
      silentTcp: await listen(silentTcp, 0),
      http404: await listen(http404, 0),
      otherGrpc: await bindGrpc(otherGrpc),
      olderDaemon: await bindGrpc(olderDaemon),
    };
  });

  after(async () => {
    for (const s of open) s.destroy();
    await Promise.all([
      new Promise((r) => silentUnix.close(r)),
      new Promise((r) => silentTcp.close(r)),
      new Promise((r) => http404.close(r)),
    ]);
    otherGrpc.forceShutdown();
    olderDaemon.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const which of ['silentUnix', 'silentTcp'] as const) {
    for (const timeout of ['1', '3', '4']) {
      test(`a socket that accepts and never answers (${which}), --timeout ${timeout}: cannot reach`, async () => {
        const t0 = Date.now();
        const r = await runCli(
          ['trace', 'exec', '--remote', addrs[which], '--timeout', timeout, '-o', 'json'],
          {
            timeoutMs: 20_000,
          },
        );
        const took = Date.now() - t0;
        assertUserError(
          r,
          new RegExp(
            `^Error: cannot reach daemon at ${esc(addrs[which])}: no connection within \\d+(\\.\\d)? s \\(is \`kubectl-gadget daemon\` running\\?\\)$`,
          ),
        );
        assert.ok(took < Math.min(Number(timeout), 3) * 1000 + 5000, `${took} ms`);
      });
    }
  }

  test('a socket that accepts and never answers: version and list-containers cannot reach it either', async () => {
    for (const args of [['version'], ['list-containers']]) {
      const r = await runCli([...args, '--remote', addrs.silentTcp], { timeoutMs: 20_000 });
      assertUserError(
        r,
        new RegExp(
          `^Error: cannot reach daemon at ${esc(addrs.silentTcp)}: no connection within 3 s`,
        ),
      );
    }
  });

  test('an HTTP/2 server answering 404: the address does not serve the gadget API', async () => {
    for (const args of [['version'], ['trace', 'exec', '--timeout', '2'], ['traceloop', 'list']]) {
      const r = await runCli([...args, '--remote', addrs.http404], { timeoutMs: 20_000 });
      assertUserError(
        r,
        new RegExp(
          `^Error: ${esc(addrs.http404)} does not serve the gadget API: it answered HTTP 404 \\(is it the address of a kubectl-gadget daemon\\?\\)$`,
        ),
      );
    }
  });

  test('a gRPC server of another API: the address does not serve the gadget API', async () => {
    const r = await runCli(['trace', 'exec', '--timeout', '2', '--remote', addrs.otherGrpc], {
      timeoutMs: 20_000,
    });
    assertUserError(
      r,
      new RegExp(
        `^Error: ${esc(addrs.otherGrpc)} does not serve the gadget API: the gRPC server there has no gadget.v1 service \\(is it the address of a kubectl-gadget daemon\\?\\)$`,
      ),
    );
  });

  test('a gadget daemon without the method: older than this CLI, upgrade it', async () => {
    const r = await runCli(['traceloop', 'list', '--remote', addrs.olderDaemon], {
      timeoutMs: 20_000,
    });
    assertUserError(
      r,
      new RegExp(
        `^Error: daemon at ${esc(addrs.olderDaemon)}: The server does not implement the method /gadget.v1.GadgetService/TraceloopList$`,
      ),
      'the daemon is older than this CLI: upgrade it',
    );
  });
});
