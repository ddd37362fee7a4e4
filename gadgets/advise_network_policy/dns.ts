// A small DNS message parser (RFC 1035, AAAA from RFC 3596) for the answers the kernel program
// copies out of the pod's own lookups: the question name and the A/AAAA/CNAME answers. Messages
// may be cut at 512 bytes: whatever parses before the cut is returned.

export interface DnsAnswer {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME';
  /** address for A/AAAA, target name for CNAME */
  data: string;
}

export interface DnsMessage {
  id: number;
  response: boolean;
  rcode: number;
  /** the first question */
  qname: string;
  qtype: number;
  answers: DnsAnswer[];
}

import { formatAddr } from './addr.js';

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;

/** Reads a (possibly compressed) name at off; returns [name, offset after it] or undefined. */
function readName(b: Uint8Array, start: number): [string, number] | undefined {
  const labels: string[] = [];
  let off = start;
  let end = -1;
  for (let jumps = 0; jumps < 32;) {
    if (off >= b.length) return undefined;
    const len = b[off]!;
    if (len === 0) {
      if (end < 0) end = off + 1;
      return [labels.join('.'), end];
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= b.length) return undefined;
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | b[off + 1]!;
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0) return undefined;
    if (off + 1 + len > b.length) return undefined;
    let label = '';
    for (let i = off + 1; i < off + 1 + len; i++) {
      const c = b[i]!;
      label +=
        c > 0x20 && c < 0x7f && c !== 0x2e
          ? String.fromCharCode(c)
          : `\\${c.toString().padStart(3, '0')}`;
    }
    labels.push(label);
    off += 1 + len;
  }
  return undefined;
}

function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

/**
 * Parses a DNS message. `tcp`: the message may start with the 2-byte length prefix of DNS over
 * TCP (dropped when it matches). Returns undefined when it is not a DNS message.
 */
export function parseDns(raw: Uint8Array, tcp = false): DnsMessage | undefined {
  if (tcp && raw.length >= 14) {
    const len = u16(raw, 0);
    if (len >= 12 && len + 2 >= raw.length) {
      const m = parseMessage(raw.subarray(2));
      if (m) return m;
    }
  }
  return parseMessage(raw);
}

function parseMessage(b: Uint8Array): DnsMessage | undefined {
  if (b.length < 12) return undefined;
  const id = u16(b, 0);
  const flags = u16(b, 2);
  const qd = u16(b, 4);
  const an = u16(b, 6);
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0 || qd !== 1) return undefined;
  const q = readName(b, 12);
  if (!q || q[1] + 4 > b.length) return undefined;
  const msg: DnsMessage = {
    id,
    response: (flags & 0x8000) !== 0,
    rcode: flags & 0xf,
    qname: q[0],
    qtype: u16(b, q[1]),
    answers: [],
  };
  let off = q[1] + 4;
  for (let i = 0; i < an; i++) {
    const n = readName(b, off);
    if (!n || n[1] + 10 > b.length) break;
    const type = u16(b, n[1]);
    const rdlen = u16(b, n[1] + 8);
    const rd = n[1] + 10;
    if (rd + rdlen > b.length) break;
    if (type === TYPE_A && rdlen === 4) {
      msg.answers.push({
        name: n[0],
        type: 'A',
        data: `${b[rd]}.${b[rd + 1]}.${b[rd + 2]}.${b[rd + 3]}`,
      });
    } else if (type === TYPE_AAAA && rdlen === 16) {
      msg.answers.push({ name: n[0], type: 'AAAA', data: formatAddr(b.subarray(rd, rd + 16), 6) });
    } else if (type === TYPE_CNAME) {
      const t = readName(b, rd);
      if (t) msg.answers.push({ name: n[0], type: 'CNAME', data: t[0] });
    }
    off = rd + rdlen;
  }
  return msg;
}

/** Builds a query or response (tests, the e2e DNS stand-in server). */
export function buildDns(opts: {
  id: number;
  qname: string;
  qtype?: number;
  response?: boolean;
  answers?: Array<{ type: 'A' | 'AAAA'; data: string; ttl?: number }>;
}): Buffer {
  const name = Buffer.concat([
    ...opts.qname
      .split('.')
      .filter(Boolean)
      .map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])),
    Buffer.from([0]),
  ]);
  const answers = opts.answers ?? [];
  const head = Buffer.alloc(12);
  head.writeUInt16BE(opts.id, 0);
  head.writeUInt16BE(opts.response ? 0x8180 : 0x0100, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(answers.length, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(opts.qtype ?? TYPE_A, 0);
  q.writeUInt16BE(1, 2);
  const parts: Buffer[] = [head, name, q];
  for (const a of answers) {
    const rr = Buffer.alloc(10);
    rr.writeUInt16BE(a.type === 'A' ? TYPE_A : TYPE_AAAA, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt32BE(a.ttl ?? 30, 4);
    let data: Buffer;
    if (a.type === 'A') data = Buffer.from(a.data.split('.').map(Number));
    else {
      const [l = '', r = ''] = a.data.split('::');
      const lg = l ? l.split(':') : [];
      const rg = r ? r.split(':') : [];
      const groups = a.data.includes('::')
        ? [...lg, ...Array<string>(8 - lg.length - rg.length).fill('0'), ...rg]
        : lg;
      data = Buffer.alloc(16);
      groups.forEach((g, i) => data.writeUInt16BE(parseInt(g, 16), i * 2));
    }
    rr.writeUInt16BE(data.length, 8);
    parts.push(Buffer.from([0xc0, 12]), rr, data);
  }
  return Buffer.concat(parts);
}
