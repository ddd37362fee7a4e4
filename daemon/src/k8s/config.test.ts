// loadDaemonKubeConfig on kubeconfigs fuzzing found (e2e/fuzz/text.ts): client-node's own
// errors were thrown as they came (multi-line, not a RunError); they are one-line RunErrors now.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isRunError } from '../../../gadgets/framework/errors.js';
import { KUBECONFIG_ENV, loadDaemonKubeConfig } from './config.js';

describe('loadDaemonKubeConfig (KGADGET_KUBECONFIG)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kg-daemon-kube-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function failure(text: string): Promise<string> {
    const f = join(dir, 'config');
    writeFileSync(f, text);
    try {
      await loadDaemonKubeConfig({ env: { [KUBECONFIG_ENV]: f } });
    } catch (e) {
      assert.ok(isRunError(e), `a RunError, got ${String(e)}`);
      assert.equal(e.code, 'FAILED_PRECONDITION');
      assert.doesNotMatch(e.message, /[\r\n]/);
      assert.ok(e.message.length <= 600, `${e.message.length} characters`);
      return e.message.replace(f, 'FILE');
    }
    assert.fail('accepted');
  }

  const head = 'apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters: []\nusers: []\n';

  test('a context that is a number (client-node threw "contexts[0].name is missing")', async () => {
    assert.match(
      await failure(`${head}contexts:\n  - -1\n`),
      /^KGADGET_KUBECONFIG=FILE: invalid kubeconfig: .+$/,
    );
  });

  test('YAML that does not parse, and deep nesting', async () => {
    assert.match(await failure('a: [\n'), /^KGADGET_KUBECONFIG=FILE: invalid kubeconfig: /);
    assert.match(await failure('['.repeat(2000)), /^KGADGET_KUBECONFIG=FILE: invalid kubeconfig: /);
  });

  test('a path with a newline that does not exist', async () => {
    await assert.rejects(
      loadDaemonKubeConfig({ env: { [KUBECONFIG_ENV]: `${dir}/no\nfile` } }),
      (e: Error) => {
        assert.equal(e.message, `${KUBECONFIG_ENV}=${dir}/no\\nfile: no such file`);
        return true;
      },
    );
  });

  test('a valid file loads', async () => {
    const f = join(dir, 'ok');
    writeFileSync(
      f,
      `${head.replace('clusters: []', 'clusters:\n  - name: c\n    cluster:\n      server: https://127.0.0.1:6443')}contexts:\n  - name: ctx\n    context:\n      cluster: c\n      user: ""\n`,
    );
    const k = await loadDaemonKubeConfig({ env: { [KUBECONFIG_ENV]: f } });
    assert.equal(k.server, 'https://127.0.0.1:6443');
  });
});
