// RFC 3339 timestamps with 9-digit nanoseconds in UTC, from bigint nanoseconds without ever
// going through a float (a double cannot hold today's epoch in ns: 2^53 ns is ~104 days).

const NS_PER_SEC = 1_000_000_000n;
const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000', '0000000', '00000000'];

function pad9(n: number): string {
  const s = String(n);
  return s.length >= 9 ? s : ZEROS[9 - s.length]! + s;
}

export function secondPrefix(sec: bigint): string {
  // whole seconds fit a double exactly; toISOString gives "YYYY-MM-DDTHH:MM:SS.mmmZ"
  return new Date(Number(sec) * 1000).toISOString().slice(0, 19);
}

/** Unix-epoch nanoseconds -> "2024-05-01T12:34:56.123456789Z". */
export function formatRfc3339Nano(ns: bigint): string {
  let sec = ns / NS_PER_SEC;
  let frac = ns % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    sec -= 1n;
  }
  return secondPrefix(sec) + '.' + pad9(Number(frac)) + 'Z';
}

/**
 * Formats kernel boot-clock timestamps as wall-clock RFC 3339. Events arrive in bursts within
 * the same second, so the "YYYY-MM-DDTHH:MM:SS." prefix is cached and only the nanoseconds change.
 */
export class TimestampFormatter {
  private secStart = -1n;
  private prefix = '';

  constructor(private readonly bootToWallNs: bigint) {}

  format(bootNs: bigint | number): string {
    const wall = (typeof bootNs === 'bigint' ? bootNs : BigInt(bootNs)) + this.bootToWallNs;
    const d = Number(wall - this.secStart);
    if (d >= 0 && d < 1e9 && this.secStart >= 0n) return this.prefix + pad9(d) + 'Z';
    if (wall < 0n) return formatRfc3339Nano(wall);
    const sec = wall / NS_PER_SEC;
    this.secStart = sec * NS_PER_SEC;
    this.prefix = secondPrefix(sec) + '.';
    return this.prefix + pad9(Number(wall - this.secStart)) + 'Z';
  }
}

/**
 * TimestampFormatter's text written as bytes from a raw u64 boot-clock timestamp (two u32 halves
 * read from the record), without a bigint per event: the current second's start is kept as u32
 * halves of boot time, so an event in it costs one subtraction and nine digits.
 */
export class TimestampWriter {
  /** the cached second's start in boot-clock ns, as hi * 2^32 + lo; valid when prefix is set */
  private hi = 0;
  private lo = 0;
  private readonly prefix = new Uint8Array(20); // "YYYY-MM-DDTHH:MM:SS." (UTC)
  private cached = false;

  constructor(private readonly bootToWallNs: bigint) {}

  /** Writes the timestamp (no quotes) for the u64 at buf[off..off+8); returns the new offset. */
  write(buf: Uint8Array, off: number, out: Uint8Array, p: number): number {
    const lo =
      (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 16777216;
    const hi =
      (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16)) + buf[off + 7]! * 16777216;
    let d = (hi - this.hi) * 4294967296 + (lo - this.lo);
    if (!this.cached || d < 0 || d >= 1e9) {
      const wall = ((BigInt(hi) << 32n) | BigInt(lo)) + this.bootToWallNs;
      if (wall < 0n) {
        const s = formatRfc3339Nano(wall);
        for (let i = 0; i < s.length; i++) out[p + i] = s.charCodeAt(i);
        return p + s.length;
      }
      const sec = wall / NS_PER_SEC;
      const start = sec * NS_PER_SEC - this.bootToWallNs;
      this.hi = Number(start >> 32n);
      this.lo = Number(BigInt.asUintN(32, start));
      // always 20 characters: slice(0, 19) of toISOString, and '.'
      const prefix = secondPrefix(sec) + '.';
      for (let i = 0; i < 20; i++) this.prefix[i] = prefix.charCodeAt(i);
      this.cached = true;
      d = Number(wall - sec * NS_PER_SEC);
    }
    const pre = this.prefix;
    for (let i = 0; i < 20; i++) out[p + i] = pre[i]!;
    p += 29;
    out[p] = 0x5a; // Z
    for (let k = p - 1; k >= p - 9; k--) {
      const q = (d / 10) | 0; // d < 1e9 < 2^31
      out[k] = 0x30 + d - q * 10;
      d = q;
    }
    return p + 1;
  }
}
