// RFC 3339 timestamps with 9-digit nanoseconds in UTC, from bigint nanoseconds without ever
// going through a float (a double cannot hold today's epoch in ns: 2^53 ns is ~104 days).

const NS_PER_SEC = 1_000_000_000n;
const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000', '0000000', '00000000'];

function pad9(n: number): string {
  const s = String(n);
  return s.length >= 9 ? s : ZEROS[9 - s.length]! + s;
}

function secondPrefix(sec: bigint): string {
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
