// IP addresses and CIDRs for the network-policy tools: parse, normalise (IPv4-mapped IPv6 becomes
// IPv4), format canonically, and test CIDR membership. Addresses are bigints so IPv4 and IPv6 go
// through the same code.

import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface ParsedIp {
  family: Family;
  value: bigint;
}

function parseV4(s: string): bigint | undefined {
  if (!isIPv4(s)) return undefined;
  let v = 0;
  for (const part of s.split('.')) v = v * 256 + Number(part);
  return BigInt(v);
}

function parseV6(s: string): bigint | undefined {
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (!isIPv6(text)) return undefined;
  // an embedded dotted quad at the end (::ffff:1.2.3.4) counts as two groups
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    tailV4 = parseV4(tail);
    if (tailV4 === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  const groups = [...head, ...Array<string>(halves.length > 1 ? missing : 0).fill('0'), ...rest];
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
export function parseIp(s: string): ParsedIp | undefined {
  const t = s.trim();
  const v4 = parseV4(t);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseV6(t);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** The canonical text of an address ('' when it is not one): v4-mapped -> IPv4, IPv6 compressed. */
export function normalizeIp(s: string): string {
  const p = parseIp(s);
  return p ? formatIp(p) : '';
}

/** An address from raw bytes (4 or 16, network order), v4-mapped normalised. */
export function ipFromBytes(bytes: ArrayLike<number>, family: Family): string {
  let v = 0n;
  const n = family === 4 ? 4 : 16;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  if (family === 6 && v >> 32n === 0xffffn) return formatIp({ family: 4, value: v & 0xffffffffn });
  return formatIp({ family, value: v });
}

export function ipFamily(s: string): Family | undefined {
  return parseIp(s)?.family;
}

export interface Cidr {
  family: Family;
  /** network address (host bits cleared) */
  base: bigint;
  prefix: number;
}

/** Parses "a.b.c.d/n" or "x::/n"; a bare address is a /32 or /128. Throws on bad input. */
export function parseCidr(s: string): Cidr {
  const t = s.trim();
  const slash = t.indexOf('/');
  const addr = slash >= 0 ? t.slice(0, slash) : t;
  // a mapped address in a CIDR keeps its IPv6 meaning for the prefix length
  const v4 = parseV4(addr);
  const v6 = v4 === undefined ? parseV6(addr) : undefined;
  if (v4 === undefined && v6 === undefined) throw new Error(`invalid CIDR "${s}": bad address`);
  const family: Family = v4 !== undefined ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits)
      throw new Error(`invalid CIDR "${s}": bad prefix length`);
    prefix = Number(p);
  }
  let value = (v4 ?? v6)!;
  let fam: Family = family;
  // ::ffff:0:0/96 and longer prefixes inside it describe IPv4 addresses
  if (family === 6 && prefix >= 96 && value >> 32n === 0xffffn) {
    fam = 4;
    prefix -= 96;
    value &= 0xffffffffn;
  }
  const width = fam === 4 ? 32 : 128;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(width - prefix);
  return { family: fam, base: value & mask, prefix };
}

export function cidrContains(c: Cidr, ip: ParsedIp): boolean {
  if (c.family !== ip.family) return false;
  const width = c.family === 4 ? 32 : 128;
  if (c.prefix === 0) return true;
  const shift = BigInt(width - c.prefix);
  return ip.value >> shift === c.base >> shift;
}

/** Is `inner` entirely inside `outer`? */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.family === outer.family &&
    inner.prefix >= outer.prefix &&
    cidrContains(outer, { family: inner.family, value: inner.base })
  );
}

/** "10.0.0.1/32" or "fd00::1/128": the host route of an address. */
export function hostCidr(ip: string): string {
  const p = parseIp(ip);
  if (!p) throw new Error(`invalid IP "${ip}"`);
  return `${formatIp(p)}/${p.family === 4 ? 32 : 128}`;
}

/** Sort key of an address: family, then numeric value. */
export function compareIps(a: string, b: string): number {
  const pa = parseIp(a);
  const pb = parseIp(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.family !== pb.family) return pa.family - pb.family;
  return pa.value < pb.value ? -1 : pa.value > pb.value ? 1 : 0;
}
