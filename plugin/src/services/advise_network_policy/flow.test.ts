import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoFlows, DEMO, flow } from './fixtures.js';
import {
  FLOW_SCHEMA,
  flowKey,
  formatFlows,
  mergeFlows,
  parseFlows,
  FlowParseError,
} from './flow.js';

test('flows: NDJSON round trip is stable and sorted', () => {
  const text = formatFlows(demoFlows());
  const back = parseFlows(text);
  assert.equal(back.length, demoFlows().length);
  assert.equal(formatFlows(back), text);
  assert.equal(formatFlows([...demoFlows()].reverse()), text);
  const first = JSON.parse(text.split('\n')[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), [
    'schema',
    'node',
    'direction',
    'protocol',
    'port',
    'local',
    'peer',
    'count',
    'first_seen',
    'last_seen',
  ]);
  assert.equal(first.schema, FLOW_SCHEMA);
});

test('flows: merging folds counts, times and names of equal keys', () => {
  const a = flow('egress', DEMO.frontend, DEMO.backend, 'TCP', 8080, {
    count: 2,
    first_seen: '2025-01-01T00:00:05.000Z',
    last_seen: '2025-01-01T00:00:06.000Z',
  });
  a.local.pods = ['fe-1'];
  const b = structuredClone(a);
  b.count = 3;
  b.first_seen = '2025-01-01T00:00:01.000Z';
  b.last_seen = '2025-01-01T00:00:09.000Z';
  b.local.pods = ['fe-2'];
  b.peer.dns_names = ['backend'];
  const c = flow('egress', DEMO.frontend, DEMO.backend, 'TCP', 8081);
  assert.equal(flowKey(a), flowKey(b));
  assert.notEqual(flowKey(a), flowKey(c));
  const m = mergeFlows([a, b, c]);
  assert.equal(m.length, 2);
  assert.equal(m[0]!.count, 5);
  assert.equal(m[0]!.first_seen, '2025-01-01T00:00:01.000Z');
  assert.equal(m[0]!.last_seen, '2025-01-01T00:00:09.000Z');
  assert.deepEqual(m[0]!.local.pods, ['fe-1', 'fe-2']);
  assert.deepEqual(m[0]!.peer.dns_names, ['backend']);
  assert.equal(a.count, 2, 'inputs untouched');
});

test('flows: validation errors carry the line number', () => {
  const good = formatFlows([flow('egress', DEMO.frontend, DEMO.backend, 'TCP', 8080)]).trim();
  const bad = (line: string) => {
    try {
      parseFlows(`# comment\n\n${good}\n${line}\n`, 'f.ndjson');
    } catch (e) {
      assert.ok(e instanceof FlowParseError);
      return e.message;
    }
    throw new Error('no error');
  };
  assert.match(bad('{'), /^f\.ndjson:4: invalid JSON/);
  assert.equal(
    bad(good.replace('"TCP"', '"ICMP"')),
    'f.ndjson:4: protocol: must be one of TCP, UDP, SCTP',
  );
  assert.equal(
    bad(good.replace('"port":8080', '"port":70000')),
    'f.ndjson:4: port: must be an integer 0-65535',
  );
  assert.equal(
    bad(good.replace('"10.244.0.20"', '"10.244.0.x"')),
    'f.ndjson:4: peer.ip: "10.244.0.x" is not an IP address',
  );
  assert.equal(
    bad(good.replace(FLOW_SCHEMA, 'v0')),
    `f.ndjson:4: schema: expected "${FLOW_SCHEMA}", got "v0"`,
  );
  const mapped = parseFlows(good.replace('"10.244.0.20"', '"::ffff:10.244.0.20"'));
  assert.equal(mapped[0]!.peer.ip, '10.244.0.20');
});
