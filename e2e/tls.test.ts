// Mutual TLS between the CLI and a daemon on TCP: certificates made by openssl in a temp dir (a
// CA, the daemon's certificate for 127.0.0.1 and gadget.test, a client certificate, one from
// another CA, an expired one), the real daemon process, and the real CLI with --remote tcp://.
// The right certificate works (GetInfo and a streamed trace exec, audited with the certificate's
// subject); no certificate, another CA's and an expired one are refused with one line and exit 1.
// Flag errors of both sides are one line before anything is loaded; a listener beyond loopback
// needs TLS or --insecure (which warns).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cli, readyExec, runCli, runQuiet, marker } from './helpers/cli.js';
import type { CliExit } from './helpers/cli.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** `openssl req` arguments for a new unencrypted P-256 key (fast) in `name`.key. */
const newKey = (name: string): string[] => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  `${name}.key`,
];

/** A key and a CSR for `cn`. */
function keyAndCsr(dir: string, name: string, cn: string): void {
  openssl(dir, [
    'req',
    '-new',
    ...newKey(name),
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}/O=kg-test`,
  ]);
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, [
    'req',
    '-x509',
    ...newKey(name),
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
  ]);
}

/** `name`.crt signed by `ca` with the given extensions, valid now. */
function sign(dir: string, name: string, ca: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
}

/** `name`.crt signed by `ca`, valid only on 2020-01-01 (OpenSSL 3 refuses negative -days). */
function signExpired(dir: string, name: string, ca: string): void {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = kg',
      '[kg]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'default_md = sha256',
      'policy = anything',
      'unique_subject = no',
      'x509_extensions = client',
      '[anything]',
      'commonName = supplied',
      'organizationName = optional',
      '[client]',
      'basicConstraints = CA:FALSE',
      'extendedKeyUsage = clientAuth',
      '',
    ].join('\n'),
  );
  openssl(dir, [
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    `${ca}.crt`,
    '-keyfile',
    `${ca}.key`,
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-notext',
  ]);
}

const SERVER_EXT =
  'subjectAltName = IP:127.0.0.1, DNS:gadget.test\nextendedKeyUsage = serverAuth\n';
const CLIENT_EXT = 'extendedKeyUsage = clientAuth\n';

function makeCerts(dir: string): void {
  makeCa(dir, 'ca', 'kg-test-ca');
  makeCa(dir, 'other-ca', 'kg-other-ca');
  keyAndCsr(dir, 'daemon', 'kg-daemon');
  sign(dir, 'daemon', 'ca', SERVER_EXT);
  keyAndCsr(dir, 'client', 'kg-client');
  sign(dir, 'client', 'ca', CLIENT_EXT);
  keyAndCsr(dir, 'stranger', 'kg-stranger');
  sign(dir, 'stranger', 'other-ca', CLIENT_EXT);
  keyAndCsr(dir, 'expired', 'kg-expired');
  signExpired(dir, 'expired', 'ca');
}

/** exit 1 and exactly one error line (plus at most a Hint line); returns the error line. */
function oneLineError(x: CliExit, what: string): string {
  assert.equal(x.code, 1, `${what}: exit ${x.code}, stderr: ${x.stderr}`);
  const lines = x.stderr.split('\n').filter(Boolean);
  const errors = lines.filter((l) => !l.startsWith('Hint: '));
  assert.equal(errors.length, 1, `${what}: one error line, got:\n${x.stderr}`);
  assert.ok(lines.length <= 2, `${what}: at most an error and a hint, got:\n${x.stderr}`);
  assert.match(errors[0]!, /^Error: /);
  return errors[0]!;
}

/**
 * Flag errors: each case's command (given a temp dir holding a dummy x.pem) fails with one line
 * that matches, and with a hint when `hint`.
 */
function flagErrors(
  title: string,
  hint: boolean,
  cases: Array<[string, (dir: string) => string[], (dir: string) => RegExp]>,
): void {
  describe(title, () => {
    let dir = '';
    before(() => {
      dir = realpathSync(mkdtempSync('/tmp/kgtest-tlsflags-'));
      writeFileSync(join(dir, 'x.pem'), '-----BEGIN CERTIFICATE-----\n');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, args, want] of cases) {
      test(name, async () => {
        const x = await runCli(args(dir), { timeoutMs: 30_000 });
        assert.match(oneLineError(x, name), want(dir));
        if (hint) assert.match(x.stderr, /^Hint: /m, `${name}: a hint`);
      });
    }
  });
}

flagErrors('CLI --tls-* flag errors (one line, before any connection)', false, [
  [
    '--tls-cert without --tls-key',
    (dir) => ['version', '--remote', 'tcp://127.0.0.1:1', '--tls-cert', join(dir, 'x.pem')],
    () => /^Error: --tls-cert needs --tls-key: a client certificate goes with its private key$/,
  ],
  [
    '--tls-key without --tls-cert',
    (dir) => ['version', '--remote', 'tcp://127.0.0.1:1', '--tls-key', join(dir, 'x.pem')],
    () => /^Error: --tls-key needs --tls-cert: a client certificate goes with its private key$/,
  ],
  [
    'an unreadable file',
    (dir) => ['version', '--remote', 'tcp://127.0.0.1:1', '--tls-ca', join(dir, 'missing.pem')],
    (dir) => new RegExp(`^Error: cannot read --tls-ca ${dir}/missing\\.pem: ENOENT$`),
  ],
  [
    '--tls-* with a unix address',
    (dir) => ['version', '--remote', `unix://${dir}/g.sock`, '--tls-ca', join(dir, 'x.pem')],
    (dir) =>
      new RegExp(`^Error: --tls-ca: TLS applies to tcp:// addresses, not unix://${dir}/g\\.sock$`),
  ],
  [
    '--tls-* without --remote',
    (dir) => ['trace', 'exec', '--tls-ca', join(dir, 'x.pem')],
    () => /^Error: --tls-ca apply to --remote tcp:\/\/HOST:PORT only$/,
  ],
]);

flagErrors('daemon flag errors (one line, before anything is loaded)', true, [
  [
    'a listener beyond loopback without TLS',
    () => ['daemon', '--listen', 'tcp://0.0.0.0:0'],
    () =>
      /^Error: refusing to listen on tcp:\/\/0\.0\.0\.0:0 without TLS: anyone who reaches it could trace every process on this node$/,
  ],
  [
    '--tls-cert alone',
    (dir) => ['daemon', '--listen', 'tcp://127.0.0.1:0', '--tls-cert', join(dir, 'x.pem')],
    () =>
      /^Error: --tls-cert needs --tls-key and --tls-client-ca: the daemon serves mutual TLS only$/,
  ],
  [
    '--tls-* with a unix listener',
    (dir) => [
      'daemon',
      '--listen',
      `unix://${dir}/g.sock`,
      '--tls-cert',
      join(dir, 'x.pem'),
      '--tls-key',
      join(dir, 'x.pem'),
      '--tls-client-ca',
      join(dir, 'x.pem'),
    ],
    (dir) =>
      new RegExp(
        `^Error: --tls-cert, --tls-key, --tls-client-ca: TLS applies to tcp:// listen addresses, not unix://${dir}/g\\.sock$`,
      ),
  ],
  [
    'an unreadable --tls-key',
    (dir) => [
      'daemon',
      '--listen',
      'tcp://127.0.0.1:0',
      '--tls-cert',
      join(dir, 'x.pem'),
      '--tls-key',
      join(dir, 'nope.key'),
      '--tls-client-ca',
      join(dir, 'x.pem'),
    ],
    (dir) => new RegExp(`^Error: cannot read --tls-key ${dir}/nope\\.key: ENOENT$`),
  ],
  [
    'an --audit-log that cannot be opened',
    (dir) => ['daemon', '--listen', 'tcp://127.0.0.1:0', '--audit-log', `${dir}/no/such/dir/a.log`],
    (dir) => new RegExp(`^Error: cannot open --audit-log ${dir}/no/such/dir/a\\.log: ENOENT$`),
  ],
]);

/** The real daemon on TCP; resolves with its address once it listens. */
async function startTcpDaemon(args: string[], env: Record<string, string>): Promise<[Cli, string]> {
  const d = new Cli(['daemon', ...args], { env });
  const m = await d.waitUntil(
    () => /listening on (tcp:\/\/[\d.]+:\d+)/.exec(d.stderr) ?? undefined,
    30_000,
    'the daemon listening',
  );
  return [d, m[1]!];
}

describe('daemon with mutual TLS', { skip: !isRoot && 'needs root', concurrency: 1 }, () => {
  let dir: string;
  let daemon: Cli | undefined;
  let addr: string;
  let pinDir: string;
  const f = (n: string): string => join(dir, n);
  const remote = (extra: string[]): string[] => ['--remote', addr, ...extra];
  /** trust our CA and present `name`.crt */
  const certOf = (name: string): string[] => [
    '--tls-ca',
    f('ca.crt'),
    '--tls-cert',
    f(`${name}.crt`),
    '--tls-key',
    f(`${name}.key`),
  ];
  const client = (): string[] => certOf('client');

  before(async () => {
    dir = realpathSync(mkdtempSync('/tmp/kgtest-tls-'));
    makeCerts(dir);
    pinDir = `/sys/fs/bpf/kgtest-tls-${process.pid}`;
    [daemon, addr] = await startTcpDaemon(
      [
        '--listen',
        'tcp://127.0.0.1:0',
        '--tls-cert',
        f('daemon.crt'),
        '--tls-key',
        f('daemon.key'),
        '--tls-client-ca',
        f('ca.crt'),
        '--audit-log',
        f('audit.log'),
      ],
      { KGADGET_TRACELOOP_PIN_DIR: pinDir },
    );
  });
  after(async () => {
    await daemon?.stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    rmSync(pinDir, { recursive: true, force: true });
  });

  test('the right client certificate: version answers, trace exec streams, the audit log names the subject', async () => {
    const v = await runCli(['version', ...remote(client())], { timeoutMs: 30_000 });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Server version: /m);
    assert.equal(v.stderr, '');

    const cli = new Cli(['trace', 'exec', '-o', 'json', ...remote(client())]);
    try {
      await readyExec(cli);
      const m = marker('tls');
      await runQuiet('/bin/true', [m]);
      await cli.waitForEvent(
        (e) => Array.isArray(e.args) && e.args[0] === '/bin/true' && e.args[1] === m,
        10_000,
        'the marker exec',
      );
    } finally {
      const x = await cli.stop('SIGINT');
      assert.equal(x.code, 0, cli.describeExit());
    }
    await cli.exited;
    // the run's end is written when the daemon saw the cancel
    const deadline = Date.now() + 5000;
    let lines: Array<Record<string, unknown>> = [];
    while (Date.now() < deadline) {
      lines = readFileSync(f('audit.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.some((l) => l.audit === 'run-end')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const start = lines.find((l) => l.audit === 'run-start');
    const end = lines.find((l) => l.audit === 'run-end');
    assert.ok(start && end, JSON.stringify(lines));
    assert.equal(start.caller, 'CN=kg-client, O=kg-test');
    assert.equal(start.via, 'tls');
    assert.equal(start.gadget, 'trace_exec');
    assert.equal(start.namespaces, '*');
    assert.equal(end.run, start.run);
    assert.equal(end.caller, 'CN=kg-client, O=kg-test');
    assert.equal(end.outcome, 'cancelled');
    assert.equal(typeof end.durationMs, 'number');
    assert.ok((end.records as number) >= 2, `records ${String(end.records)}`);
  });

  test('--tls-server-name: the name in the certificate works, another is refused', async () => {
    const ok = await runCli(
      ['version', ...remote([...client(), '--tls-server-name', 'gadget.test'])],
      { timeoutMs: 30_000 },
    );
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await runCli(
      ['version', ...remote([...client(), '--tls-server-name', 'other.test'])],
      { timeoutMs: 30_000 },
    );
    assert.match(
      oneLineError(bad, 'wrong server name'),
      /^Error: cannot reach daemon at tcp:\/\/127\.0\.0\.1:\d+: the daemon's certificate does not name other\.test \(.*\)$/,
    );
    assert.match(bad.stderr, /^Hint: give --tls-server-name NAME/m);
  });

  const refusals: Array<[string, () => string[], string]> = [
    ['no TLS at all', () => [], 'the daemon requires TLS'],
    [
      'no client certificate',
      () => ['--tls-ca', f('ca.crt')],
      'the daemon requires a client certificate',
    ],
    [
      'a client certificate from another CA',
      () => certOf('stranger'),
      'the daemon refused the client certificate (it closed the connection after the TLS handshake)',
    ],
    [
      'an expired client certificate',
      () => certOf('expired'),
      'the daemon refused the client certificate: it expired on 2020-01-02T00:00:00.000Z',
    ],
  ];
  for (const [name, args, why] of refusals) {
    test(`refused: ${name} (one line, exit 1)`, async (t) => {
      const t0 = Date.now();
      const x = await runCli(['version', ...remote(args())], { timeoutMs: 30_000 });
      const line = oneLineError(x, name);
      t.diagnostic(x.stderr.trim());
      assert.equal(line, `Error: cannot reach daemon at ${addr}: ${why}`);
      assert.match(x.stderr, /^Hint: /m);
      assert.ok(Date.now() - t0 < 15_000, `answered in ${Date.now() - t0} ms`);
    });
  }

  test('nothing refused at the handshake reached the audit log as a run', () => {
    const lines = readFileSync(f('audit.log'), 'utf8').split('\n').filter(Boolean);
    const runs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      runs.map((r) => `${String(r.audit)} ${String(r.caller)}`),
      ['run-start CN=kg-client, O=kg-test', 'run-end CN=kg-client, O=kg-test'],
    );
  });
});

describe('daemon --insecure beyond loopback', { skip: !isRoot && 'needs root' }, () => {
  test('listens, and warns on stderr', async () => {
    const pinDir = `/sys/fs/bpf/kgtest-insecure-${process.pid}`;
    const [d, addr] = await startTcpDaemon(['--listen', 'tcp://0.0.0.0:0', '--insecure'], {
      KGADGET_TRACELOOP_PIN_DIR: pinDir,
    });
    try {
      assert.match(addr, /^tcp:\/\/0\.0\.0\.0:\d+$/);
      assert.match(
        d.stderr,
        new RegExp(
          `^warn: listening on ${addr.replace(/\./g, '\\.')} without TLS \\(--insecure\\): anyone who reaches it can trace every process on this node$`,
          'm',
        ),
      );
      const v = await runCli(['version', '--remote', addr.replace('0.0.0.0', '127.0.0.1')], {
        timeoutMs: 30_000,
      });
      assert.equal(v.code, 0, v.stderr);
    } finally {
      await d.stop('SIGTERM');
      rmSync(pinDir, { recursive: true, force: true });
    }
  });
});
