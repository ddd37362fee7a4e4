// The install step of the README (scripts/install-plugin.sh) and `kubectl gadget` through real
// kubectl plugin discovery: a temp dir on PATH holds the link, kubectl is this machine's. No
// cluster: `version` prints the client version, says why no server answered, and exits 0.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { version } from '../gadgets/framework/version.js';
import { CLI, ROOT } from './helpers/cli.js';

const INSTALL = join(ROOT, 'scripts', 'install-plugin.sh');

function kubectlPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describe(
  'kubectl gadget: the install step and plugin discovery',
  {
    skip: kubectlPath() ? false : 'no kubectl on PATH',
  },
  () => {
    let dir = '';
    let home = '';
    let env: NodeJS.ProcessEnv = {};

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'kgtest-fh-plugin-'));
      home = mkdtempSync(join(tmpdir(), 'kgtest-fh-home-'));
      // no kubeconfig anywhere: an empty HOME, no KUBECONFIG
      env = { ...process.env, HOME: home, PATH: `${dir}:${process.env.PATH ?? ''}` };
      delete env.KUBECONFIG;
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    });

    const kubectl = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      spawnSync(kubectlPath()!, args, {
        encoding: 'utf8',
        env: { ...env, ...extra },
        timeout: 60_000,
      });

    test('install-plugin.sh DIR links DIR/kubectl-gadget to bin/run.js', () => {
      const r = spawnSync(INSTALL, [dir], { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${join(dir, 'kubectl-gadget')}\n`);
      assert.equal(r.stderr, ''); // DIR is on PATH: no hint
      assert.equal(readlinkSync(join(dir, 'kubectl-gadget')), CLI);
      // again: replaces its own link
      assert.equal(spawnSync(INSTALL, [dir], { env }).status, 0);
    });

    test('kubectl plugin list finds it', () => {
      const r = kubectl(['plugin', 'list']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${join(dir, 'kubectl-gadget')}$`, 'm'));
    });

    test('kubectl gadget version without a kubeconfig: client version, why no server, exit 0', () => {
      const r = kubectl(['gadget', 'version']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout,
        `Client version: v${version}\n` +
          'Server version: unknown (no kubeconfig found (checked $KUBECONFIG, ~/.kube/config): set --kubeconfig)\n',
      );
      // the build id is there when the build stamped one (npm run build, image/build-local.sh)
      assert.match(version, /^\d+\.\d+\.\d+(\+[0-9a-f]{7,40}(\.dirty)?\.\d{8}T\d{6}Z)?$/);
    });

    test('kubectl gadget version against an unreachable cluster: exit 0, the server line says so', () => {
      const kc = join(dir, 'closed.kubeconfig');
      writeFileSync(
        kc,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: closed, cluster: {server: "https://127.0.0.1:1"}}]',
          'users: [{name: u, user: {}}]',
          'contexts: [{name: closed, context: {cluster: closed, user: u}}]',
          'current-context: closed',
        ].join('\n'),
      );
      const r = kubectl(['gadget', 'version'], { KUBECONFIG: kc });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout,
        `Client version: v${version}\n` +
          'Server version: unknown (cannot reach cluster "closed" at https://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1)\n',
      );
    });

    test('kubectl gadget version --remote to no daemon: one-line error, exit 1', () => {
      const r = kubectl(['gadget', 'version', '--remote', 'unix:///nonexistent/kgtest-fh.sock']);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /unix:\/\/\/nonexistent\/kgtest-fh\.sock/);
    });

    test('install-plugin.sh never replaces a file that is not a link', () => {
      const other = mkdtempSync(join(tmpdir(), 'kgtest-fh-plugin-'));
      try {
        writeFileSync(join(other, 'kubectl-gadget'), '#!/bin/sh\n', { mode: 0o755 });
        const r = spawnSync(INSTALL, [other], { encoding: 'utf8', env });
        assert.equal(r.status, 1);
        assert.equal(
          r.stderr,
          `install-plugin: ${join(other, 'kubectl-gadget')} exists and is not a link: remove it first\n`,
        );
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    });
  },
);
