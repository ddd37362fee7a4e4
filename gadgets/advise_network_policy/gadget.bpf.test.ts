import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addonPath, ObjectSpec } from '../../daemon/src/bpf/index.js';
import { makeDecoder } from '../framework/decode.js';
import { gadgetConfig } from '../framework/params.js';
import { gadgetLayoutPath, gadgetObjectPath } from '../framework/paths.js';
import { formatAddr } from './addr.js';
import { buildDns, parseDns } from './dns.js';
import { drainFlows, FLOW_KEY, FLOW_VAL } from './drain.js';
import { descriptor, seedNetnsOwners, type NetpolEvent } from './gadget.js';
import { LAYOUT } from './testdata/layout.js';

test('addresses: IPv4, IPv6 (RFC 5952), IPv4-mapped', () => {
  assert.equal(formatAddr([10, 1, 2, 3], 4), '10.1.2.3');
  assert.equal(
    formatAddr([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 6),
    '2001:db8::1',
  );
  assert.equal(formatAddr([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4], 6), '1.2.3.4');
  assert.equal(formatAddr(new Array(16).fill(0), 6), '::');
  assert.equal(formatAddr([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1], 6), '1:0:1::1:0:1');
});

test('dns: answers with compression, CNAME chains, AAAA; TCP length prefix; junk', () => {
  const a = buildDns({
    id: 7,
    qname: 'db.demo.svc.cluster.local',
    response: true,
    answers: [
      { type: 'A', data: '10.0.0.5' },
      { type: 'A', data: '10.0.0.6' },
    ],
  });
  const m = parseDns(a)!;
  assert.equal(m.qname, 'db.demo.svc.cluster.local');
  assert.equal(m.response, true);
  assert.deepEqual(
    m.answers.map((x) => `${x.name} ${x.type} ${x.data}`),
    ['db.demo.svc.cluster.local A 10.0.0.5', 'db.demo.svc.cluster.local A 10.0.0.6'],
  );
  const six = parseDns(
    buildDns({
      id: 1,
      qname: 'x.example',
      qtype: 28,
      response: true,
      answers: [{ type: 'AAAA', data: '2001:db8::7' }],
    }),
  )!;
  assert.deepEqual(six.answers, [{ name: 'x.example', type: 'AAAA', data: '2001:db8::7' }]);
  const framed = Buffer.concat([Buffer.from([0, a.length]), a]);
  assert.equal(parseDns(framed, true)?.qname, 'db.demo.svc.cluster.local');
  assert.equal(parseDns(a, true)?.qname, 'db.demo.svc.cluster.local', 'no prefix after all');
  // a CNAME answer (hand-made: www -> web, then web A)
  const q = buildDns({ id: 2, qname: 'www.example', response: true });
  q.writeUInt16BE(2, 6);
  const cname = Buffer.from([
    0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 6, 3, 0x77, 0x65, 0x62, 0xc0, 16,
  ]);
  const webA = Buffer.from([0xc0, q.length + 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1]);
  const cm = parseDns(Buffer.concat([q, cname, webA]))!;
  assert.deepEqual(
    cm.answers.map((x) => `${x.name} ${x.type} ${x.data}`),
    ['www.example CNAME web.example', 'web.example A 192.0.2.1'],
  );
  assert.equal(parseDns(Buffer.from('not a dns message at all')), undefined);
  assert.equal(parseDns(a.subarray(0, 20)), undefined, 'cut inside the question');
  const cut = parseDns(a.subarray(0, a.length - 3))!;
  assert.equal(cut.answers.length, 1, 'cut inside the second answer');
  // a pointer loop does not hang
  const loop = Buffer.from(a);
  loop[12] = 0xc0;
  loop[13] = 12;
  assert.equal(parseDns(loop), undefined);
});

function record(fields: Partial<Record<string, number | bigint | number[] | Buffer>>): Buffer {
  const dns = (fields.dns as Buffer | undefined) ?? Buffer.alloc(0);
  const b = Buffer.alloc(LAYOUT.size + dns.length);
  for (const f of LAYOUT.fields) {
    const v = fields[f.name];
    if (v === undefined) continue;
    if (f.kind === 'u64') b.writeBigUInt64LE(BigInt(v as number), f.offset);
    else if (f.kind === 'u32') b.writeUInt32LE(v as number, f.offset);
    else if (f.kind === 'u16') b.writeUInt16LE(v as number, f.offset);
    else if (f.kind === 'u8') b[f.offset] = v as number;
    else if (f.kind === 'array') Buffer.from(v as number[]).copy(b, f.offset);
  }
  dns.copy(b, LAYOUT.size);
  b.writeUInt32LE(dns.length, LAYOUT.fields.find((f) => f.name === 'dns_size')!.offset);
  return b;
}

test('transform: flow reports and DNS answers', () => {
  const decode = makeDecoder(LAYOUT);
  const tcp = record({
    timestamp: 5n,
    netns_id: 42,
    count: 3,
    first_seen: 2,
    direction: 0,
    proto: 6,
    family: 4,
    source: 1,
    port: 443,
    lport: 50000,
    rport: 443,
    laddr: [10, 0, 0, 1],
    raddr: [93, 184, 216, 34],
  });
  const ev = descriptor.transform(decode(tcp, 0, tcp.length), {}) as NetpolEvent;
  assert.deepEqual(
    { ...ev },
    {
      direction: 'egress',
      protocol: 'TCP',
      family: 4,
      local_ip: '10.0.0.1',
      local_port: 50000,
      remote_ip: '93.184.216.34',
      remote_port: 443,
      port: 443,
      netns: 42,
      count: 3,
      first_seen_ns: 2,
      source: 'tcp-connect',
    },
  );
  const v6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
  const udp = record({
    direction: 1,
    proto: 17,
    family: 6,
    source: 5,
    port: 53,
    lport: 53,
    rport: 40000,
    raddr: v6,
  });
  const u = descriptor.transform(decode(udp, 0, udp.length), {}) as NetpolEvent;
  assert.equal(u.direction, 'ingress');
  assert.equal(u.protocol, 'UDP');
  assert.equal(u.remote_ip, '2001:db8::9');
  assert.equal(u.local_ip, '::');
  assert.equal(u.source, 'udp-recv');
  const answer = buildDns({
    id: 9,
    qname: 'a.b',
    response: true,
    answers: [{ type: 'A', data: '1.2.3.4' }],
  });
  const dns = record({
    proto: 17,
    family: 4,
    source: 6,
    port: 53,
    raddr: [10, 96, 0, 10],
    dns: answer,
  });
  const d = descriptor.transform(decode(dns, 0, dns.length), {}) as NetpolEvent;
  assert.equal(d.source, 'dns');
  assert.equal(d.dns?.answers[0]?.data, '1.2.3.4');
  const query = buildDns({ id: 9, qname: 'a.b' });
  const q = record({ proto: 17, family: 4, source: 6, dns: query });
  assert.equal(descriptor.transform(decode(q, 0, q.length), {}), null, 'queries are not answers');
  const bad = record({ source: 9 });
  assert.equal(descriptor.transform(decode(bad, 0, bad.length), {}), null);
});

test('configure: report interval and DNS switch become globals; netns owners are seeded', () => {
  const c = gadgetConfig(descriptor, { 'report-interval': '250', dns: 'false' }, { selfPid: 1 });
  assert.equal(c.rodata.report_interval_ns, 250_000_000n);
  assert.equal(c.rodata.capture_dns, false);
  assert.ok(Array.isArray(c.maps?.netns_owner));
  const p = descriptor.params.find((x) => x.name === 'report-interval')!;
  assert.throws(() => p.validate!('5'), /10 to 3600000/);
});

test('seedNetnsOwners: newest process outside the host mount namespace wins', () => {
  const root = mkdtempSync(join(tmpdir(), 'kgtest-proc-'));
  try {
    const proc = (pid: number, net: number, mnt: number, comm: string) => {
      mkdirSync(join(root, String(pid), 'ns'), { recursive: true });
      symlinkSync(`net:[${net}]`, join(root, String(pid), 'ns', 'net'));
      symlinkSync(`mnt:[${mnt}]`, join(root, String(pid), 'ns', 'mnt'));
      writeFileSync(join(root, String(pid), 'comm'), `${comm}\n`);
    };
    proc(1, 100, 200, 'init');
    proc(50, 101, 201, 'pause');
    proc(60, 101, 202, 'app');
    proc(70, 101, 200, 'nsenter'); // host mntns: loses against a container's
    proc(80, 102, 200, 'ip-netns');
    const seeded = new Map(
      seedNetnsOwners(root).map(([k, v]) => [
        Buffer.from(k).readUInt32LE(0),
        {
          mnt: Number(Buffer.from(v).readBigUInt64LE(0)),
          uids: [Buffer.from(v).readBigUInt64LE(8), Buffer.from(v).readBigUInt64LE(16)],
          pid: Buffer.from(v).readUInt32LE(24),
          comm: Buffer.from(v).subarray(28, 44).toString().replace(/\0+$/, ''),
        },
      ]),
    );
    // unique ids unknown (0): the kernel takes the seed for the inode, records join by inode
    const none = [0n, 0n];
    assert.deepEqual(seeded.get(101), { mnt: 202, uids: none, pid: 60, comm: 'app' });
    assert.deepEqual(seeded.get(100), { mnt: 200, uids: none, pid: 1, comm: 'init' });
    assert.deepEqual(seeded.get(102), { mnt: 200, uids: none, pid: 80, comm: 'ip-netns' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('drainFlows: unreported counts of the flow map become records', () => {
  const key = Buffer.alloc(FLOW_KEY.size);
  key.writeUInt32LE(77, FLOW_KEY.netns);
  key[FLOW_KEY.direction] = 1;
  key[FLOW_KEY.proto] = 6;
  key[FLOW_KEY.family] = 4;
  key.writeUInt16LE(8080, FLOW_KEY.port);
  Buffer.from([10, 0, 0, 9]).copy(key, FLOW_KEY.raddr);
  const val = Buffer.alloc(FLOW_VAL.size);
  val.writeBigUInt64LE(100n, FLOW_VAL.first_ns);
  val.writeBigUInt64LE(900n, FLOW_VAL.last_ns);
  val.writeBigUInt64LE(7n, FLOW_VAL.count);
  val.writeBigUInt64LE(3n, FLOW_VAL.reported);
  val.writeUInt32LE(1234, FLOW_VAL.pid);
  val.writeBigUInt64LE(4026532100n, FLOW_VAL.mntns);
  val.writeBigUInt64LE(4242n, FLOW_VAL.mntns_uid);
  val[FLOW_VAL.source] = 2;
  const done = Buffer.from(val);
  done.writeBigUInt64LE(7n, FLOW_VAL.reported);
  const out = drainFlows(
    [
      [key, val],
      [key, done],
    ],
    LAYOUT,
  );
  assert.equal(out.count, 1);
  assert.equal(out.records.readUInt32LE(0), LAYOUT.size);
  const raw = makeDecoder(LAYOUT)(out.records, 4, LAYOUT.size);
  // the owner's inode and the join key
  assert.equal(raw.mntns_id, 4026532100);
  assert.equal(raw.mntns_uid, 4242);
  assert.equal(raw.pid, 1234);
  const ev = descriptor.transform(raw, {}) as NetpolEvent;
  assert.equal(ev.count, 4);
  assert.equal(ev.direction, 'ingress');
  assert.equal(ev.port, 8080);
  assert.equal(ev.remote_ip, '10.0.0.9');
  assert.equal(ev.netns, 77);
  assert.equal(ev.source, 'tcp-accept');
  assert.equal(ev.first_seen_ns, 100);
});

test('the built object agrees with the TS side (layout, flow map, netns_owner value)', (t) => {
  const obj = gadgetObjectPath('advise_network_policy');
  if (!existsSync(obj) || !existsSync(addonPath())) {
    t.skip('build/gadgets/advise_network_policy.bpf.o or the addon not built');
    return;
  }
  assert.deepEqual(
    JSON.parse(readFileSync(gadgetLayoutPath('advise_network_policy'), 'utf8')),
    LAYOUT,
  );
  const spec = ObjectSpec.open(obj);
  try {
    const maps = new Map(spec.maps().map((m) => [m.name, m]));
    assert.equal(maps.get('flows')?.keySize, FLOW_KEY.size);
    assert.equal(maps.get('flows')?.valueSize, FLOW_VAL.size);
    assert.equal(maps.get('netns_owner')?.valueSize, 48);
    assert.ok(spec.hasGlobal('report_interval_ns') && spec.hasGlobal('capture_dns'));
  } finally {
    spec.close();
  }
});
