// `deploy` of a gadget image rebuilt under the same tag, on the real node: image/build-local.sh
// records the archive's digest and build id, deploy puts the digest in a pod-template
// annotation, so the DaemonSet rolls its pod onto the new image, and `version` shows the new
// build id for the client and the node's daemon. (Before: `daemonset/gadget unchanged`, and the
// pod kept the old image.) Under the machine-wide cluster lock:
//
//   flock /tmp/kg-cluster.lock node scripts/run-tests.mjs integration k8s-node/redeploy

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';
import {
  GADGET_IMAGE,
  clusterUp,
  deployGadget,
  gadgetPod,
  gadgetRun,
  kubectlOk,
  ok,
  run,
  skipReason,
  teardown,
  type Cluster,
} from './cluster.js';

const RECORD = `${process.env.KGADGET_IMAGE_ARCHIVE ?? join(ROOT, 'build', 'image', 'kubectl-gadget.oci.tar')}.json`;

interface Record {
  image: string;
  digest: string;
  id: string;
  buildId: string;
}
const record = (): Record => JSON.parse(readFileSync(RECORD, 'utf8')) as Record;

describe('deploy after a rebuild under the same tag', { skip: skipReason() }, () => {
  let cluster: Cluster | undefined;
  const c = (): Cluster => cluster!;

  before(
    () => {
      cluster = clusterUp();
      deployGadget(c());
    },
    { timeout: 25 * 60_000 },
  );

  after(() => teardown(cluster), { timeout: 3 * 60_000 });

  /** The node's daemon's version line, and the image id its container runs. */
  const daemon = (): { version: string; pod: string; imageID: string } => {
    const v = ok(gadgetRun(c(), ['version']), 'version');
    const m = /^Server version: v(\S+) \(node kgnode, kernel \S+\)$/m.exec(v);
    assert.ok(m, `a version line for node kgnode:\n${v}`);
    const pod = gadgetPod(c()).name;
    const imageID = kubectlOk(c(), [
      '-n',
      'gadget',
      'get',
      'pod',
      pod,
      '-o',
      'jsonpath={.status.containerStatuses[0].imageID}',
    ]);
    assert.match(v, /^Client version: v\S+$/m);
    return { version: m[1]!, pod, imageID };
  };

  test('the pods roll onto the rebuilt image; version shows the new build id', () => {
    const first = record();
    assert.equal(first.image, GADGET_IMAGE);
    const before = daemon();
    assert.match(before.version, new RegExp(`\\+${first.buildId.replace(/\./g, '\\.')}$`));
    // containerd names an imported image by its config digest (the image id)
    assert.equal(before.imageID, first.id);
    const ann = kubectlOk(c(), [
      '-n',
      'gadget',
      'get',
      'daemonset',
      'gadget',
      '-o',
      'jsonpath={.spec.template.metadata.annotations.kubectl-gadget\\.io/image-digest}',
    ]);
    assert.equal(ann, first.digest);

    // rebuild: the same tag, new content (at least the build id, stamped into the image)
    const t0 = Date.now();
    ok(run('bash', [join(ROOT, 'image', 'build-local.sh')], { timeoutMs: 5 * 60_000 }), 'rebuild');
    // import + deploy --wait (images.sh builds once more when dist/ changed meanwhile: the
    // record is read after it)
    const out = deployGadget(c()).stdout;
    const second = record();
    assert.notEqual(second.digest, first.digest);
    assert.notEqual(second.buildId, first.buildId);
    assert.match(out, /^daemonset\/gadget configured$/m);
    assert.match(
      out,
      new RegExp(
        `^image: ${GADGET_IMAGE}: content changed \\(${first.digest.slice(0, 19)} -> ${second.digest.slice(0, 19)}, build ${second.buildId.replace(/\./g, '\\.')}\\), the pods roll$`,
        'm',
      ),
    );
    assert.match(out, /^kubectl-gadget ready on 1\/1 nodes \(\d+s\)$/m);
    const after = daemon();
    process.stderr.write(`rebuild + import + rollout: ${((Date.now() - t0) / 1000).toFixed(0)}s\n`);
    assert.notEqual(after.pod, before.pod, 'a new gadget pod');
    assert.equal(after.imageID, second.id);
    assert.match(after.version, new RegExp(`\\+${second.buildId.replace(/\./g, '\\.')}$`));
    // the client was stamped by the same build
    const client = /^Client version: v(\S+)$/m.exec(ok(gadgetRun(c(), ['version']), 'version'));
    assert.equal(client?.[1], after.version);
  });
});
