// Test-only helpers run inside the lab's network namespaces (node dist/.../servers.js CMD ...):
//
//   dns-server NAME=IP[,NAME=IP...]   answers A/AAAA queries over UDP and TCP port 53
//   udp-server PORT                   counts datagrams, never answers
//   udp-send IP PORT N                N unconnected datagrams (sendto), 50 ms apart
//   dns-tcp SERVER NAME               one A query over TCP, prints the answer
//   tcp-connect IP PORT N [GAPMS]     N TCP connections (connect + close)
//
// Servers print "listening" once ready.

import { createSocket } from 'node:dgram';
import { createServer, connect, isIPv6 } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildDns, parseDns } from '../dns.js';

function answer(query: Buffer, records: Map<string, string>): Buffer | undefined {
  const q = parseDns(query);
  if (!q || q.response) return undefined;
  const ip = records.get(q.qname.toLowerCase());
  const want6 = q.qtype === 28;
  const answers =
    ip && isIPv6(ip) === want6
      ? [{ type: want6 ? ('AAAA' as const) : ('A' as const), data: ip }]
      : [];
  return buildDns({
    id: query.readUInt16BE(0),
    qname: q.qname,
    qtype: q.qtype,
    response: true,
    answers,
  });
}

async function dnsServer(spec: string): Promise<void> {
  const records = new Map<string, string>();
  for (const pair of spec.split(',')) {
    const [name, ip] = pair.split('=');
    if (name && ip) records.set(name.toLowerCase(), ip);
  }
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const a = answer(msg, records);
    if (a) udp.send(a, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => udp.bind(53, '0.0.0.0', r));
  const tcp = createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const a = answer(buf.subarray(2, 2 + len), records);
        buf = buf.subarray(2 + len);
        if (a) {
          const out = Buffer.alloc(2 + a.length);
          out.writeUInt16BE(a.length, 0);
          a.copy(out, 2);
          s.write(out);
        }
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => tcp.listen(53, '0.0.0.0', r));
  console.log('listening');
}

async function udpServer(port: number): Promise<void> {
  const s = createSocket('udp4');
  let n = 0;
  s.on('message', () => console.log(`got ${++n}`));
  await new Promise<void>((r) => s.bind(port, '0.0.0.0', r));
  console.log('listening');
}

async function udpSend(ip: string, port: number, n: number): Promise<void> {
  const s = createSocket(isIPv6(ip) ? 'udp6' : 'udp4');
  for (let i = 0; i < n; i++) {
    await new Promise<void>((r, j) =>
      s.send(Buffer.from(`m${i}`), port, ip, (e) => (e ? j(e) : r())),
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  s.close();
}

async function dnsTcp(server: string, name: string): Promise<void> {
  const q = buildDns({ id: 0x4242, qname: name });
  const sock = connect({ host: server, port: 53 });
  await new Promise<void>((r, j) => {
    sock.once('connect', () => r());
    sock.once('error', j);
  });
  const framed = Buffer.alloc(2 + q.length);
  framed.writeUInt16BE(q.length, 0);
  q.copy(framed, 2);
  sock.write(framed);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('error', reject);
    setTimeout(() => reject(new Error('no answer')), 5000);
  });
  sock.end();
  const m = parseDns(reply);
  console.log(m?.answers.map((a) => `${a.name} ${a.type} ${a.data}`).join('\n') ?? 'bad answer');
}

async function tcpConnect(ip: string, port: number, n: number, gapMs: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: ip, port }, () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
    });
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...a] = argv;
  switch (cmd) {
    case 'dns-server':
      return dnsServer(a[0] ?? '');
    case 'udp-server':
      return udpServer(Number(a[0]));
    case 'udp-send':
      return udpSend(a[0]!, Number(a[1]), Number(a[2] ?? 1));
    case 'dns-tcp':
      return dnsTcp(a[0]!, a[1]!);
    case 'tcp-connect':
      return tcpConnect(a[0]!, Number(a[1]), Number(a[2] ?? 1), Number(a[3] ?? 0));
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

export const SERVERS_JS = fileURLToPath(import.meta.url);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
