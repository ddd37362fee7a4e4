// Hostile and odd input for the event sources, without a runtime: podman log lines (malformed,
// giant, partial, rotated, truncated files), containerd envelopes (garbage bytes, an Any of an
// unknown type), the cache's bounds. Files are real temporary files; nothing is mocked.

import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import protobuf from 'protobufjs';

import { MetaCache } from './cache.js';
import { decodeEnvelope, decodeEvent, encodeSubscribeRequest } from './containerd.js';
import { DESCRIPTOR } from './descriptor.js';
import { LineSplitter, PodmanEventSource, parsePodmanEventLine } from './podman.js';
import type { RuntimeMeta } from '../sources.js';
import { REPO_ROOT } from '../../../../e2e/fixtures/podman.js';

const ID = (n: number): string => n.toString(16).padStart(64, '0');
const line = (o: Record<string, unknown>): string =>
  JSON.stringify({ Type: 'container', Time: new Date().toISOString(), ...o });

describe('parsePodmanEventLine', () => {
  test('a container event of podman 4', () => {
    const r = parsePodmanEventLine(
      JSON.stringify({
        ID: ID(1),
        Image: 'docker.io/library/busybox:latest',
        Name: 'web',
        Status: 'init',
        Time: '2026-12-07T03:15:29.71806788Z',
        Type: 'container',
        Attributes: { app: 'x', n: 3 },
        ContainerExitCode: 0,
      }),
    );
    assert.ok(r.ok);
    assert.equal(r.event.id, ID(1));
    assert.equal(r.event.name, 'web');
    assert.equal(r.event.image, 'docker.io/library/busybox:latest');
    assert.equal(r.event.status, 'init');
    assert.equal(r.event.time, Date.parse('2026-12-07T03:15:29.718Z'));
    assert.deepEqual(r.event.attributes, { app: 'x' });
    assert.equal(r.event.exitCode, 0);
  });

  test('malformed lines are errors, other events are ignored, never a throw', () => {
    const bad = [
      '',
      '{',
      'null',
      '[1,2]',
      '"str"',
      '{"Type":"container","Status":"start","ID":"xyz","Time":"2026-01-01T00:00:00Z"}',
      `{"Type":"container","Status":"start","ID":"${ID(2)}","Time":"yesterday"}`,
      `{"Type":"container","Status":"start","ID":"${ID(2)}"}`,
      `{"Type":"container","Status":"start","ID":${'9'.repeat(400)}}`,
      '\u0000\u0001garbage',
    ];
    for (const l of bad) {
      const r = parsePodmanEventLine(l);
      assert.equal(r.ok, false, l);
      assert.equal(!r.ok && r.ignored, false, l);
    }
    for (const l of [
      '{"Status":"refresh","Time":"2026-12-07T03:15:26Z","Type":"system","Attributes":null}',
      line({ ID: ID(3), Status: 'exec' }),
      line({ ID: ID(3), Status: 'attach' }),
      '{"Type":"image","Status":"pull","ID":"x"}',
    ]) {
      const r = parsePodmanEventLine(l);
      assert.ok(!r.ok && r.ignored, l);
    }
  });

  test('a name that is not a podman name is not handed out', () => {
    const r = parsePodmanEventLine(line({ ID: ID(4), Status: 'start', Name: 'a\nb\u001b[31m' }));
    assert.ok(r.ok);
    assert.equal(r.event.name, '');
    const long = parsePodmanEventLine(line({ ID: ID(4), Status: 'start', Name: 'n'.repeat(300) }));
    assert.ok(long.ok && long.event.name === '');
  });
});

describe('LineSplitter', () => {
  test('lines across chunks, and a giant line dropped whole', () => {
    const s = new LineSplitter(100);
    const out: string[] = [];
    const push = (t: string): void => s.push(Buffer.from(t), (l) => out.push(l));
    push('ab');
    push('c\nde');
    push('f\n\n');
    push('x'.repeat(60));
    push('y'.repeat(60)); // over 100 bytes without a newline: dropped
    push('z'.repeat(500) + '\nok\n');
    push('w'.repeat(150) + '\nfine\n'); // a giant line within one chunk
    assert.deepEqual(out, ['abc', 'def', 'ok', 'fine']);
    assert.equal(s.oversized, 2);
  });

  test('skipToNextLine drops the partial first line after a seek', () => {
    const s = new LineSplitter();
    const out: string[] = [];
    s.skipToNextLine();
    s.push(Buffer.from('tail of a line\nwhole\n'), (l) => out.push(l));
    assert.deepEqual(out, ['whole']);
  });
});

describe('PodmanEventSource on a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kg-podman-events-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('replay, follow, hostile lines, rotation and truncation', async () => {
    const path = join(dir, 'events.log');
    const old = new Date(Date.now() - 3_600_000).toISOString();
    writeFileSync(
      path,
      [
        // outside the replay window: not learned
        JSON.stringify({ Type: 'container', Status: 'start', ID: ID(10), Name: 'old', Time: old }),
        line({ ID: ID(11), Name: 'before', Status: 'init', Image: 'img:1' }),
        line({ ID: ID(11), Name: 'before', Status: 'start' }),
        'garbage',
        line({ ID: ID(12), Name: 'gone', Status: 'init' }),
        line({ ID: ID(12), Name: 'gone', Status: 'died' }),
        line({ ID: ID(12), Name: 'gone', Status: 'remove' }),
        '',
      ].join('\n'),
    );
    const src = new PodmanEventSource({ path, pollMs: 20, maxLineBytes: 4096 });
    const seen: string[] = [];
    src.on('event', (e) => seen.push(`${e.status}:${e.meta.name}:${e.replay}`));
    src.start();
    try {
      assert.equal(src.lookup(ID(10), 'podman'), null);
      assert.equal(src.lookup(ID(11), 'podman')?.name, 'before');
      assert.equal(src.lookup(ID(11), 'unknown')?.image, 'img:1');
      assert.equal(src.lookup(ID(11), 'containerd'), null);
      assert.equal(src.exitedAt(ID(11)), 0);
      assert.equal(src.lookup(ID(12), 'podman')?.name, 'gone');
      assert.ok(src.exitedAt(ID(12)) > 0);
      assert.equal(src.stats().malformed, 1);
      assert.deepEqual(seen.slice(0, 2), ['init:before:true', 'start:before:true']);

      // appended: a partial line, then its end; a giant line; a malformed one
      const before = src.stats().bytes;
      appendFileSync(path, line({ ID: ID(13), Name: 'late', Status: 'init' }).slice(0, 30));
      await waitUntil(() => src.stats().bytes === before + 30);
      assert.equal(src.lookup(ID(13), 'podman'), null);
      appendFileSync(path, line({ ID: ID(13), Name: 'late', Status: 'init' }).slice(30) + '\n');
      appendFileSync(path, `{"x":"${'a'.repeat(10_000)}"}\n{oops\n`);
      appendFileSync(path, line({ ID: ID(14), Name: 'after-giant', Status: 'start' }) + '\n');
      await waitUntil(() => src.lookup(ID(14), 'podman') !== null);
      assert.equal(src.lookup(ID(13), 'podman')?.name, 'late');
      assert.equal(src.stats().oversized, 1);
      assert.equal(src.stats().malformed, 2);

      // rotation as podman does it: a new file (its newer half) renamed over the log
      const tmp = join(dir, 'events.log.tmp');
      writeFileSync(
        tmp,
        line({ ID: ID(14), Name: 'after-giant', Status: 'start' }) +
          '\n' +
          line({ ID: ID(12), Name: 'gone', Status: 'start', Time: new Date(Date.now() - 60_000) }) +
          '\n' +
          line({ ID: ID(15), Name: 'rotated', Status: 'init' }) +
          '\n',
      );
      renameSync(tmp, path);
      await waitUntil(() => src.lookup(ID(15), 'podman') !== null);
      assert.equal(src.stats().rotations, 1);
      // a replayed 'start' older than the exit does not revive the container
      assert.ok(src.exitedAt(ID(12)) > 0);

      // truncation in place
      truncateSync(path, 0);
      appendFileSync(path, line({ ID: ID(16), Name: 'truncated', Status: 'init' }) + '\n');
      await waitUntil(() => src.lookup(ID(16), 'podman') !== null);
      assert.equal(src.stats().rotations, 2);

      // removed: followed again once it is back
      rmSync(path);
      await new Promise((r) => setTimeout(r, 60));
      writeFileSync(path, line({ ID: ID(17), Name: 'recreated', Status: 'init' }) + '\n');
      await waitUntil(() => src.lookup(ID(17), 'podman') !== null);
      assert.equal(src.stats().errors, 0);
    } finally {
      src.close();
    }
  });

  test('a log that does not exist yet (nor its directory) is followed once podman creates it', async () => {
    const sub = join(dir, 'later', 'events');
    const path = join(sub, 'events.log');
    const src = new PodmanEventSource({ path, pollMs: 20 });
    src.start();
    try {
      assert.equal(src.stats().errors, 0);
      mkdirSync(sub, { recursive: true });
      writeFileSync(path, line({ ID: ID(20), Name: 'first', Status: 'init' }) + '\n');
      await waitUntil(() => src.lookup(ID(20), 'podman') !== null);
      appendFileSync(path, line({ ID: ID(21), Name: 'second', Status: 'init' }) + '\n');
      await waitUntil(() => src.lookup(ID(21), 'podman') !== null);
      assert.equal(src.stats().errors, 0);
      assert.equal(src.stats().rotations, 0);
    } finally {
      src.close();
    }
  });

  test('a replay reads at most replayMaxBytes from the end, from a line start', () => {
    const path = join(dir, 'big.log');
    const lines: string[] = [];
    for (let i = 0; i < 200; i++)
      lines.push(line({ ID: ID(1000 + i), Name: `c${i}`, Status: 'init' }));
    writeFileSync(path, lines.join('\n') + '\n');
    const src = new PodmanEventSource({ path, pollMs: 0, replayMaxBytes: 2000 });
    src.start();
    try {
      assert.equal(src.lookup(ID(1199), 'podman')?.name, 'c199');
      assert.equal(src.lookup(ID(1000), 'podman'), null);
      assert.ok(src.stats().bytes <= 2000);
      assert.equal(src.stats().malformed, 0, 'the cut first line is skipped, not parsed');
    } finally {
      src.close();
    }
  });
});

describe('MetaCache', () => {
  const meta = (n: number): RuntimeMeta => ({
    runtime: 'podman',
    id: ID(n),
    name: `c${n}`,
    image: '',
    initPid: 0,
    annotations: {},
    sandbox: false,
    bundle: '',
    containerdNamespace: '',
  });

  test('bounded: exited entries are evicted first, and counted', () => {
    let now = 1000;
    const c = new MetaCache(3, 60_000, () => now);
    c.set(meta(1));
    c.set(meta(2));
    c.set(meta(3));
    c.markExited(ID(2));
    c.set(meta(4));
    assert.equal(c.get(ID(2)), undefined);
    assert.ok(c.get(ID(1)));
    c.set(meta(5)); // none exited: the oldest
    assert.equal(c.get(ID(1)), undefined);
    assert.deepEqual(c.stats(), { entries: 3, evicted: 2, expired: 0 });
    c.markExited(ID(3));
    now += 59_999;
    assert.ok(c.get(ID(3)), 'kept for the retention after the exit');
    now += 1;
    assert.equal(c.get(ID(3)), undefined);
    assert.equal(c.stats().expired, 1);
  });

  test('an older event does not undo a newer one', () => {
    const c = new MetaCache(4096, 60_000, () => 250);
    c.set(meta(1), 100);
    assert.ok(c.markExited(ID(1), 200, 200));
    assert.equal(c.set({ ...meta(1), name: 'replayed' }, 150), false);
    c.markRunning(ID(1), 150);
    assert.equal(c.exitedAt(ID(1)), 200);
    assert.equal(c.get(ID(1))?.name, 'c1');
  });
});

describe('containerd envelopes', () => {
  test('garbage bytes throw (the source counts them), an unknown Any type decodes to null', () => {
    const root = protobuf.Root.fromJSON(DESCRIPTOR);
    const Envelope = root.lookupType('containerd.services.events.v1.Envelope');
    const bytes = Envelope.encode(
      Envelope.fromObject({
        namespace: 'k8s.io',
        topic: '/snapshot/prepare',
        timestamp: { seconds: 1_700_000_000, nanos: 5_000_000 },
        event: { type_url: 'containerd.events.SnapshotPrepare', value: Buffer.from([1, 2, 3]) },
      }),
    ).finish();
    const env = decodeEnvelope(bytes);
    assert.equal(env.topic, '/snapshot/prepare');
    assert.equal(env.time, 1_700_000_000_005);
    assert.equal(decodeEvent(env.typeName, env.value), null);
    assert.throws(() => decodeEnvelope(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1])));
    const TaskCreate = root.lookupType('containerd.events.TaskCreate');
    const tc = TaskCreate.encode(
      TaskCreate.fromObject({ container_id: 'abc', bundle: '/run/x', pid: 42 }),
    ).finish();
    assert.deepEqual(
      { ...decodeEvent('containerd.events.TaskCreate', tc) },
      {
        container_id: 'abc',
        bundle: '/run/x',
        rootfs: [],
        io: null,
        checkpoint: '',
        pid: 42,
      },
    );
    // an invalid wire type inside the Any's value
    assert.throws(() =>
      decodeEvent('containerd.events.TaskCreate', Buffer.from([0x0a, 1, 0x61, 0x0f])),
    );
    assert.ok(encodeSubscribeRequest(['topic=="/tasks/create"']).length > 10);
  });

  test('descriptor.ts matches the .proto files', () => {
    const dir = join(REPO_ROOT, 'daemon', 'src', 'containers', 'events');
    const PROTO_FILES = readdirSync(dir).filter((f) => f.endsWith('.proto'));
    assert.equal(PROTO_FILES.length, 4);
    const fromProto = new protobuf.Root()
      .loadSync(
        PROTO_FILES.map((f) => join(dir, f)),
        { keepCase: true },
      )
      .toJSON();
    assert.deepEqual(
      protobuf.Root.fromJSON(DESCRIPTOR).toJSON(),
      JSON.parse(JSON.stringify(fromProto)),
      'stale: node daemon/src/containers/events/gen-descriptor.mjs && npx prettier --write daemon/src/containers/events/descriptor.ts',
    );
  });
});

async function waitUntil(fn: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
