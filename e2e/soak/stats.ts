// The soak's arithmetic: least-squares slopes of sampled series, per hour, after a warm-up, and
// the verdict of each against its threshold. Pure functions (stats.test.ts checks them).

export interface Point {
  /** seconds since the soak started */
  t: number;
  v: number;
}

export interface Fit {
  /** points used (those at or after the warm-up) */
  n: number;
  /** least-squares slope, units per hour */
  perHour: number;
  first: number;
  last: number;
  min: number;
  max: number;
  mean: number;
}

/** Ordinary least squares of v over t (seconds) for points with t >= fromT; undefined if < 3. */
export function fit(points: readonly Point[], fromT: number): Fit | undefined {
  const p = points.filter((x) => x.t >= fromT && Number.isFinite(x.v));
  if (p.length < 3) return undefined;
  const n = p.length;
  const mt = p.reduce((s, x) => s + x.t, 0) / n;
  const mv = p.reduce((s, x) => s + x.v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const x of p) {
    sxy += (x.t - mt) * (x.v - mv);
    sxx += (x.t - mt) ** 2;
  }
  const perSecond = sxx === 0 ? 0 : sxy / sxx;
  const vs = p.map((x) => x.v);
  return {
    n,
    perHour: perSecond * 3600,
    first: vs[0]!,
    last: vs[n - 1]!,
    min: Math.min(...vs),
    max: Math.max(...vs),
    mean: mv,
  };
}

export type Verdict = 'ok' | 'LEAK' | 'info' | 'not judged';

/**
 * A series is a leak when its slope exceeds the threshold (units per hour). Series without a
 * threshold are reported only ('info'); a window shorter than minWindowS is 'not judged' (a
 * 2-minute wobble extrapolated to an hour says nothing).
 */
export function verdict(
  f: Fit | undefined,
  threshold: number | undefined,
  windowS: number,
  minWindowS: number,
): Verdict {
  if (threshold === undefined) return 'info';
  if (!f || windowS < minWindowS) return 'not judged';
  return f.perHour > threshold ? 'LEAK' : 'ok';
}

/**
 * The minimum of each window of windowS seconds, at the window's start. For series that a
 * short-lived run raises for a moment (fds, threads, BPF objects of a run the connect/disconnect
 * client has open at the sample): the floor under them is what leaks.
 */
export function minPerWindow(points: readonly Point[], windowS: number): Point[] {
  const out = new Map<number, number>();
  for (const p of points) {
    const w = Math.floor(p.t / windowS) * windowS;
    const v = out.get(w);
    out.set(w, v === undefined ? p.v : Math.min(v, p.v));
  }
  return [...out].map(([t, v]) => ({ t, v }));
}
