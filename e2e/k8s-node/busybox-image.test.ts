// The node's busybox test image (scripts/k8s/images.sh build), run with podman from the same
// OCI archive the node imports; no cluster needed:
// - no entrypoint and the command `sh`, so `kubectl run ... -- sh -c '...'` (container args)
//   runs what it says: with the old entrypoint /bin/sh it ran `/bin/sh sh -c ...` and failed;
// - `wget -T N` fetches from an httpd in the same container, and a 404 or a refused connection
//   exits 1: Debian's busybox 1.35 wget died with SIGSEGV (139) on any -T (images.sh patches
//   the option string; -T is then ignored, `timeout N wget` limits the time).
//
// KGADGET_BUSYBOX_ARCHIVE=FILE tests that archive instead of building one.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { podman, podmanAvailable, uniqueName } from '../fixtures/podman.js';
import { BUSYBOX_IMAGE, SCRIPTS } from './cluster.js';

const RUN = ['run', '--rm', '--network', 'none'];
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

function skipReason(): string | undefined {
  if (!podmanAvailable()) return 'needs root and podman';
  try {
    execFileSync('buildah', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs buildah (apt-get install buildah)';
  }
  return undefined;
}

describe('busybox test image', { skip: skipReason() }, () => {
  let image = '';
  let loaded = false;

  before(async () => {
    let archive = process.env.KGADGET_BUSYBOX_ARCHIVE;
    if (!archive) {
      execFileSync(join(SCRIPTS, 'images.sh'), ['build'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const cache = process.env.KGADGET_CACHE ?? join(homedir(), '.cache', 'kubectl-gadget');
      archive = join(cache, 'k8s', 'images', 'busybox.oci.tar');
    }
    // loaded under a name of this run: another run's copy of the image stays untouched
    image = `localhost/${uniqueName('fh-busybox')}:test`;
    const hadName = (await podman(['image', 'exists', BUSYBOX_IMAGE])).code === 0;
    const r = await podman(['pull', '-q', `oci-archive:${archive}`]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split('\n').pop()!;
    assert.equal((await podman(['tag', id, image])).code, 0);
    loaded = true;
    // the archive's own name was new in podman's storage: keep only our tag
    if (!hadName) await podman(['untag', id, BUSYBOX_IMAGE]);
  });

  after(async () => {
    if (loaded) await podman(['rmi', '-f', image]);
  });

  test('no entrypoint, command sh: container args run as given', async () => {
    const inspect = await podman(['image', 'inspect', image, '--format', '{{json .Config}}']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const config = JSON.parse(inspect.stdout) as { Entrypoint?: string[] | null; Cmd?: string[] };
    assert.deepEqual(config.Entrypoint ?? [], []);
    assert.deepEqual(config.Cmd, ['sh']);
    // what `kubectl run demo --image=... -- sh -c 'echo ...'` makes: args, no command
    const r = await podman([...RUN, ...LIMITS, image, 'sh', '-c', 'echo args-ran; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'args-ran\n');
    // and nothing given: an interactive shell (here: stdin is empty, so it exits 0)
    const sh = await podman([...RUN, ...LIMITS, image]);
    assert.equal(sh.code, 0, sh.stderr);
  });

  test('wget -T: fetches from an httpd in the same container; errors exit 1, not 139', async () => {
    const script = [
      'mkdir -p /tmp/www && echo served-by-httpd > /tmp/www/index.html',
      'httpd -p 127.0.0.1:8080 -h /tmp/www',
      'sleep 0.3',
      'wget -T 5 -q -O - http://127.0.0.1:8080/index.html; echo "fetch=$?"',
      'wget -q -T5 -O - http://127.0.0.1:8080/index.html; echo "fetch2=$?"',
      'wget -T 2 -q -O - http://127.0.0.1:8080/missing 2>/dev/null; echo "missing=$?"',
      'wget -T 2 -q -O - http://127.0.0.1:1/ 2>/dev/null; echo "refused=$?"',
      // what the docs say to use for a time limit: a listener that accepts and never answers
      '(sleep 30 | nc -l -p 8081 >/dev/null) &',
      'sleep 0.3',
      'timeout 1 wget -q -O - http://127.0.0.1:8081/ 2>/dev/null; echo "limited=$?"',
    ].join('\n');
    // the entrypoint given: this checks wget alone, whatever the image's entrypoint
    const r = await podman(
      [...RUN, ...LIMITS, '--entrypoint', '/bin/sh', image, '-c', script],
      60_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'served-by-httpd',
      'fetch=0',
      'served-by-httpd',
      'fetch2=0',
      'missing=1',
      'refused=1',
      // busybox timeout: the child ended by SIGTERM
      'limited=143',
    ]);
  });
});
