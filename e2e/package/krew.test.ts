// The krew package end to end (issue 16 #1): `npm run package` builds the archive, krew v0.4.3
// (built from the Go module proxy by scripts/krew-build.sh) checks the manifest with its own
// validate-krew-manifest and installs the archive offline under a private KREW_ROOT, then this
// machine's kubectl finds `kubectl gadget` through plugin discovery and runs it in a mount
// namespace where node, libbpf, libelf and libz are hidden (bind-mounted /dev/null): the package
// must bring them. `trace exec --local` must show the exact execs the test makes meanwhile.
//
//   node scripts/run-tests.mjs integration package/krew     (root; ~2 min, krew cached)

import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.js';

const execFileP = promisify(execFile);
const KUBECTL = existsSync('/usr/lib/google-cloud-sdk/bin/kubectl.1.33')
  ? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'
  : spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim() || undefined;
const ARCHIVE = join(ROOT, 'build', 'package', 'kubectl-gadget-linux-amd64.tar.gz');
const MANIFEST = join(ROOT, 'build', 'package', 'gadget.yaml');
/** What the package must not find on this machine. */
const HIDDEN = ['/usr/bin/node', '/usr/local/bin/node', 'libbpf.so.1', 'libelf.so.1', 'libz.so.1'];

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (trace exec --local, mount namespaces)';
  if (!KUBECTL) return 'no kubectl on this machine';
  if (process.arch !== 'x64') return 'the package is linux/amd64';
  return undefined;
}

const ok = (r: { status: number | null; stdout: string; stderr: string }, what: string): string => {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
};

/** Every file these libraries resolve to on this machine (the real paths, and their links). */
function hiddenPaths(): string[] {
  const out = new Set<string>();
  const ld = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  for (const h of HIDDEN) {
    if (h.startsWith('/')) {
      if (existsSync(h)) out.add(h);
      continue;
    }
    for (const m of ld.matchAll(
      new RegExp(`^\\s*${h.replace(/\./g, '\\.')} \\(.*\\) => (\\S+)$`, 'gm'),
    )) {
      out.add(m[1]!);
      const real = spawnSync('readlink', ['-f', m[1]!], { encoding: 'utf8' }).stdout.trim();
      if (real) out.add(real);
    }
  }
  return [...out];
}

const skip = skipReason();

describe(
  'krew: npm run package, validate-krew-manifest, kubectl krew install, kubectl gadget',
  { skip },
  () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kgtest-krew-'));
    const krewRoot = join(tmp, 'krew');
    const tools = join(tmp, 'tools'); // kubectl and kubectl-krew
    const home = join(tmp, 'home'); // no kubeconfig
    const hideScript = join(tmp, 'hide.sh');
    let env: NodeJS.ProcessEnv = {};
    let krewBin = '';

    before(
      () => {
        krewBin = ok(
          spawnSync('bash', [join(ROOT, 'scripts', 'krew-build.sh'), '--print-bin'], {
            encoding: 'utf8',
          }),
          'krew-build.sh --print-bin',
        ).trim();
        ok(
          spawnSync('bash', [join(ROOT, 'scripts', 'krew-build.sh')], {
            encoding: 'utf8',
            timeout: 20 * 60_000,
          }),
          'scripts/krew-build.sh',
        );
        const pk = spawnSync('npm', ['run', '--silent', 'package'], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 10 * 60_000,
        });
        ok(pk, 'npm run package');
        process.stderr.write(
          `e2e/package/krew: ${pk.stderr
            .split('\n')
            .filter((l) => l.includes('MiB'))
            .join('\n')}\n`,
        );
        mkdirSync(tools);
        mkdirSync(home);
        symlinkSync(KUBECTL!, join(tools, 'kubectl'));
        symlinkSync(join(krewBin, 'kubectl-krew'), join(tools, 'kubectl-krew'));
        env = {
          HOME: home,
          KREW_ROOT: krewRoot,
          KREW_NO_UPGRADE_CHECK: '1',
          PATH: `${join(krewRoot, 'bin')}:${tools}:/usr/sbin:/usr/bin:/sbin:/bin`,
        };
        // a private mount namespace without node and the libraries the addon needs
        const mounts = hiddenPaths().map((p) => `mount --bind /dev/null '${p}'`);
        writeFileSync(hideScript, ['set -e', ...mounts, 'exec "$@"', ''].join('\n'));
      },
      { timeout: 30 * 60_000 },
    );
    after(() => rmSync(tmp, { recursive: true, force: true }));

    /** `unshare` arguments: CMD in a private mount namespace with node and the libraries hidden. */
    const hiddenArgs = (cmd: string[]): string[] => [
      '-m',
      '--propagation',
      'private',
      'sh',
      hideScript,
      ...cmd,
    ];
    /** kubectl ARGS with the test's environment, node and the libraries hidden. */
    const hidden = (args: string[], timeout = 60_000) =>
      spawnSync('unshare', hiddenArgs(['kubectl', ...args]), { encoding: 'utf8', env, timeout });
    /**
     * kubectl ARGS (hidden) in the background, with `prefix` before unshare (a lock): its output
     * so far, whether it still runs, and its exit code once it has.
     */
    const startHidden = (args: string[], prefix: string[] = []) => {
      const argv = [...prefix, 'unshare', ...hiddenArgs(['kubectl', ...args])];
      const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((r) => p.on('close', r));
      const run = { stdout: '', stderr: '', running: true, exited };
      p.stdout.setEncoding('utf8').on('data', (d: string) => (run.stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (run.stderr += d));
      void run.exited.then(() => (run.running = false));
      return run;
    };

    test('the archive: launchers, runtime, app, BPF objects, the addon with its libraries on its RPATH', () => {
      const list = ok(
        spawnSync('tar', ['-tzf', ARCHIVE], { encoding: 'utf8', maxBuffer: 64 << 20 }),
        'tar -t',
      ).split('\n');
      for (const f of [
        './kubectl-gadget',
        './kubectl_complete-gadget',
        './LICENSE',
        './runtime/node',
        './app/package.json',
        './app/oclif.manifest.json',
        './app/bin/run.js',
        './app/bin/kubectl_complete-gadget',
        './app/dist/plugin/src/commands/index.js',
        // the ui page, bundled at build time (scripts/build-ui.mjs)
        './app/dist/ui/index.html',
        './app/dist/ui/app.js',
        './app/dist/ui/app.css',
        './app/build/native/bpf_addon.node',
        './app/build/native/lib/libbpf.so.1',
        './app/build/native/lib/libelf.so.1',
        './app/build/native/lib/libz.so.1',
        './app/build/bpf/container_tracker.bpf.o',
        './app/build/gadgets/trace_exec.bpf.o',
        './app/build/gadgets/trace_exec.layout.json',
        './app/node_modules/@oclif/core/package.json',
      ]) {
        assert.ok(list.includes(f), `${f} in the archive`);
      }
      // no development dependency, no test
      for (const dev of ['typescript', 'esbuild', 'playwright-core', 'preact']) {
        assert.ok(
          !list.some((f) => f.startsWith(`./app/node_modules/${dev}/`)),
          `${dev} is not shipped`,
        );
      }
      assert.ok(
        !list.some((f) => f.startsWith('./app/dist/') && f.endsWith('.test.js')),
        'no test files',
      );
      const sha = readFileSync(`${ARCHIVE}.sha256`, 'utf8').split(' ')[0]!;
      assert.match(readFileSync(MANIFEST, 'utf8'), new RegExp(`^      sha256: "${sha}"$`, 'm'));
      assert.ok(statSync(ARCHIVE).size > 10 << 20);
    });

    test('validate-krew-manifest: the committed manifest (structure) and the built one (installed for real)', async () => {
      const v = join(krewBin, 'validate-krew-manifest');
      const committed = spawnSync(
        v,
        ['-manifest', join(ROOT, 'image', 'krew', 'gadget.yaml'), '-skip-install'],
        { encoding: 'utf8' },
      );
      ok(committed, 'validate-krew-manifest image/krew/gadget.yaml -skip-install');
      assert.match(committed.stderr, /structural validation OK/);
      // without -skip-install it downloads the uri with krew: serve the archive on loopback
      const server: Server = createServer((req, res) => {
        if (req.url !== '/kubectl-gadget-linux-amd64.tar.gz') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-length': statSync(ARCHIVE).size });
        createReadStream(ARCHIVE).pipe(res);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as AddressInfo).port;
        const dir = join(tmp, 'served');
        mkdirSync(dir);
        const m = join(dir, 'gadget.yaml'); // validate-krew-manifest wants file name = plugin name
        writeFileSync(
          m,
          readFileSync(MANIFEST, 'utf8').replace(
            /^( *uri: ).*$/m,
            `$1http://127.0.0.1:${port}/kubectl-gadget-linux-amd64.tar.gz`,
          ),
        );
        const r = await execFileP(v, ['-manifest', m], {
          env: { ...env, KREW_ROOT: join(tmp, 'unused') },
          timeout: 5 * 60_000,
        });
        assert.match(r.stderr, /all 1 spec\.platforms installed fine/);
      } finally {
        server.close();
      }
    });

    test('kubectl krew install --manifest --archive (offline), then kubectl plugin list finds it', () => {
      const r = spawnSync(
        'kubectl',
        ['krew', 'install', `--manifest=${MANIFEST}`, `--archive=${ARCHIVE}`],
        {
          encoding: 'utf8',
          env,
          timeout: 5 * 60_000,
        },
      );
      ok(r, 'kubectl krew install');
      assert.match(r.stderr, /Installed plugin: gadget/);
      // krew's own record of it (`krew list` needs the online index)
      const receipt = readFileSync(join(krewRoot, 'receipts', 'gadget.yaml'), 'utf8');
      assert.match(receipt, /^ {2}version: v0\.1\.0$/m);
      assert.ok(
        existsSync(
          join(krewRoot, 'store', 'gadget', 'v0.1.0', 'app', 'build', 'native', 'bpf_addon.node'),
        ),
      );
      const plugins = ok(
        spawnSync('kubectl', ['plugin', 'list'], { encoding: 'utf8', env }),
        'kubectl plugin list',
      );
      assert.match(plugins, new RegExp(`^${join(krewRoot, 'bin', 'kubectl-gadget')}$`, 'm'));
    });

    test('kubectl gadget version, with node and libbpf hidden', () => {
      // the mount namespace does hide them
      const probe = spawnSync('unshare', hiddenArgs(['sh', '-c', 'node -v; echo rc=$?']), {
        encoding: 'utf8',
        env,
      });
      assert.match(probe.stdout + probe.stderr, /rc=(126|127)/);
      const r = hidden(['gadget', 'version']);
      ok(r, 'kubectl gadget version');
      const info = JSON.parse(readFileSync(join(ROOT, 'build', 'build-info.json'), 'utf8')) as {
        id: string;
      };
      assert.equal(
        r.stdout,
        `Client version: v0.1.0+${info.id}\n` +
          'Server version: unknown (no kubeconfig found (checked $KUBECONFIG, ~/.kube/config): set --kubeconfig)\n',
      );
      // help names the plugin as kubectl runs it
      assert.match(
        ok(hidden(['gadget', 'trace', 'exec', '--help']), 'help'),
        /^ {2}\$ kubectl gadget trace exec /m,
      );
    });

    test('kubectl gadget trace exec --local --timeout 2 sees the execs made meanwhile, none missing', async () => {
      const marker = `kgpkg-${randomBytes(4).toString('hex')}`;
      const cli = startHidden(
        ['gadget', 'trace', 'exec', '--local', '--timeout', '2', '-o', 'json'],
        ['flock', '-s', '/tmp/kg-bench.lock'],
      );
      // markers every 100 ms until the CLI is done (it starts cold, then traces 2 s)
      let made = 0;
      while (cli.running && made < 600) {
        spawnSync('/bin/echo', [`${marker}-${made}`]);
        made++;
        await new Promise((r) => setTimeout(r, 100));
      }
      const code = await cli.exited;
      const { stdout, stderr } = cli;
      assert.equal(code, 0, `exit ${code}: ${stderr}`);
      const events = stdout
        .split('\n')
        .filter(Boolean)
        .map(
          (l) => JSON.parse(l) as { comm: string; args: string[]; ret: number; exepath: string },
        );
      const seen = events.filter((e) => e.args[1]?.startsWith(`${marker}-`));
      assert.ok(seen.length > 0, `no marker exec among ${events.length} events; stderr: ${stderr}`);
      const idx = seen.map((e) => Number(e.args[1]!.slice(marker.length + 1)));
      for (const e of seen) {
        assert.deepEqual(
          { comm: e.comm, args: e.args, ret: e.ret, exepath: e.exepath },
          { comm: 'echo', args: ['/bin/echo', e.args[1]], ret: 0, exepath: '/usr/bin/echo' },
        );
      }
      // one event per exec, in order, none missing between the first and the last seen
      const first = idx[0]!;
      assert.deepEqual(
        idx,
        Array.from({ length: idx.length }, (_, i) => first + i),
      );
      assert.ok(idx.at(-1)! < made);
    });

    test('the packaged daemon serves list-gadgets and trace exec to the packaged CLI (--remote)', async () => {
      const sock = join(tmp, 'gadget.sock');
      const marker = `kgpkgd-${randomBytes(4).toString('hex')}`;
      const daemon = spawn(
        'flock',
        [
          '-s',
          '/tmp/kg-bench.lock',
          'unshare',
          ...hiddenArgs(['kubectl', 'gadget', 'daemon', '--listen', `unix://${sock}`]),
        ],
        // its own process group: flock forks, so the signal must reach the daemon under it too
        { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
      );
      let dErr = '';
      daemon.stderr.setEncoding('utf8').on('data', (d: string) => (dErr += d));
      const gone = new Promise((r) => daemon.on('close', r));
      try {
        for (let i = 0; !dErr.includes('listening on') && i < 600; i++) {
          assert.equal(daemon.exitCode, null, `daemon exited: ${dErr}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.match(dErr, /kubectl-gadget daemon listening on/);
        const list = hidden(['gadget', 'list-gadgets', '--remote', `unix://${sock}`, '-o', 'json']);
        const names = (JSON.parse(ok(list, 'list-gadgets --remote')) as { name: string }[]).map(
          (g) => g.name,
        );
        assert.ok(names.includes('trace_exec') && names.includes('traceloop'), names.join(', '));
        // a run through the daemon: the marker's exec arrives
        const cli = startHidden([
          'gadget',
          'trace',
          'exec',
          '--remote',
          `unix://${sock}`,
          '--timeout',
          '3',
          '-o',
          'json',
        ]);
        while (cli.running) {
          spawnSync('/bin/echo', [marker]);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(await cli.exited, 0, cli.stderr);
        const seen = cli.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { args: string[]; comm: string })
          .filter((e) => e.args[1] === marker);
        assert.ok(seen.length > 0, `no marker exec through the daemon: ${cli.stderr}`);
        for (const e of seen) assert.deepEqual([e.comm, e.args], ['echo', ['/bin/echo', marker]]);
      } finally {
        process.kill(-daemon.pid!, 'SIGTERM');
        await gone;
      }
    });

    test('kubectl gadget completion install, then kubectl __complete gadget ... runs the packaged completer', () => {
      const r = hidden(['gadget', 'completion', 'install']);
      const target = join(krewRoot, 'bin', 'kubectl_complete-gadget');
      assert.equal(ok(r, 'completion install'), `${target}\n`);
      assert.equal(r.stderr, '');
      const c = hidden(['__complete', 'gadget', 'trace', 'ex']);
      ok(c, 'kubectl __complete gadget trace ex');
      assert.equal(
        c.stdout,
        'exec\tTrace new processes: every execve/execveat, successful or failed\n:4\n',
      );
      const f = hidden(['__complete', 'gadget', 'trace', 'exec', '--ignore']);
      assert.equal(
        ok(f, '__complete flags'),
        '--ignore-failed\tDrop failed execs (in the kernel)\n:4\n',
      );
    });
  },
);
