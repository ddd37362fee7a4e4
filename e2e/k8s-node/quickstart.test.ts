// The node quick start of docs/local-cluster.md, run as written: the fenced block after the
// `<!-- quickstart-node` marker goes verbatim to bash (-e: a failing step fails the test where it
// fails). It starts its own node cluster, in its own state dir and on the test ports
// (testClusterEnv), deploys, runs a demo pod, traces it and brings everything down again.
// Run it under the machine-wide cluster lock:
//
//   flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration k8s-node/quickstart

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';
import { SCRIPTS, run, skipReason, testClusterEnv } from './cluster.js';

const DOC = join(ROOT, 'docs', 'local-cluster.md');
const MARKER = '<!-- quickstart-node';
const DIR = '/tmp/kgadget-e2e-quickstart';

/** The first ```sh block after the marker, as it is in the docs. */
function quickstartBlock(markdown: string): string {
  const at = markdown.indexOf(MARKER);
  if (at < 0) throw new Error(`${DOC}: no ${MARKER} marker`);
  const m = /```sh\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!m?.[1]) throw new Error(`${DOC}: no \`\`\`sh block after ${MARKER}`);
  return m[1] + '\n';
}

function skip(): string | undefined {
  if (process.env.KGADGET_NODE_KUBECONFIG) {
    return 'KGADGET_NODE_KUBECONFIG is set: the quick start starts its own node (one per machine)';
  }
  return skipReason();
}

describe('docs/local-cluster.md: the node quick start as written', { skip: skip() }, () => {
  const env = testClusterEnv(DIR);
  // what the block sets itself, not inherited from whoever runs the tests
  delete env.KUBECTL;

  after(() => {
    // the block ends with down.sh; this is for a block that failed half-way
    run(join(SCRIPTS, 'down.sh'), [], { env, timeoutMs: 120_000 });
  });

  test('pasted into bash: cluster, deploy, demo pod, trace exec, cleanup', () => {
    const block = quickstartBlock(readFileSync(DOC, 'utf8'));
    const t0 = Date.now();
    const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', block], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      // cold: the Kubernetes and CoreDNS builds come first
      timeout: 25 * 60_000,
      maxBuffer: 64 << 20,
    });
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    process.stderr.write(`quick start: ${secs}s\n`);
    assert.equal(r.status, 0, `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    const out = r.stdout;
    // kubectl gadget deploy through kubectl's plugin discovery (the PATH of up.sh's lines)
    assert.match(out, /^daemonset\/gadget created$/m);
    assert.match(out, /^kubectl-gadget ready on 1\/1 nodes \(\d+s\)$/m);
    // kubectl run ... -- sh -c '...': the args run (the busybox image has no entrypoint)
    assert.match(out, /^pod\/demo created$/m);
    assert.match(out, /^pod\/demo condition met$/m);
    // kubectl gadget trace exec -p demo --timeout 5 -o columns=pod,comm,args
    assert.match(out, /^K8S\.PODNAME +COMM +ARGS$/m);
    const rows = out.split('\n').filter((l) => /^demo +\S/.test(l));
    const dates = rows.filter((l) => /^demo +date +\/bin\/date$/.test(l)).length;
    const sleeps = rows.filter((l) => /^demo +sleep +\/bin\/sleep 1$/.test(l)).length;
    // one date and one sleep per second of the 5 s trace
    assert.ok(dates >= 3 && dates <= 7, `${dates} date rows:\n${rows.join('\n')}`);
    assert.ok(sleeps >= 3 && sleeps <= 7, `${sleeps} sleep rows:\n${rows.join('\n')}`);
    assert.equal(rows.length, dates + sleeps, `only the demo pod's execs:\n${rows.join('\n')}`);
    assert.match(out, /^pod "demo" deleted/m);
    // ends cleanly: down.sh removed the state dir, with the links up.sh put on PATH
    assert.equal(existsSync(DIR), false, `${DIR} is left behind`);
  });
});
