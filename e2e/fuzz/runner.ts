// The runner every fuzz target shares (e2e/fuzz/*): a fast-check property that feeds one input to
// a parser (or to a real daemon) and classifies what came of it.
//
//   accepted   run() returned normally
//   rejected   run() returned the message of the module's own typed error (a user error); the
//              message must be one line (no CR/LF), non-empty and at most maxMessage characters.
//              Rejections are counted by code: a gRPC status name the message starts with
//              ("INVALID_ARGUMENT: ..."), else the target's codeOf() or rejectCode
//   crash      run() threw: an unexpected exception type, a broken round trip, a dead daemon
//   hang       one input took longer than hangMs (async runs are cut off at that bound)
//
// A crash, a hang or a bad message fails the property: fast-check shrinks the input and the
// report names it. The run is bounded by time (FUZZ_SECONDS per target, or the caller's default:
// the short run in `npm test`), and reports per target the inputs tried, crashes, hangs and the
// distinct rejection messages (their shapes: quoted text and digits folded).

import fc from 'fast-check';

/** Longest rejection message accepted (gRPC status details are clipped at 2000 by the server). */
export const MAX_MESSAGE = 2048;

export interface Target<T> {
  name: string;
  /** what is fed, for the report */
  what: string;
  arbitrary: fc.Arbitrary<T>;
  /**
   * Runs one input: undefined when accepted, or the message of the module's own typed error
   * (the target catches exactly that type: anything else it lets through is a crash).
   */
  run(input: T): string | undefined | Promise<string | undefined>;
  /** the code a rejection counts under when its message starts with none (default 'rejected') */
  rejectCode?: string;
  /** the code of a rejection message, when the target tells codes apart itself */
  codeOf?: (message: string) => string;
  /** inputs that once broke the code (regression examples), tried first */
  examples?: T[];
  /** per-input bound (ms); default 2000 */
  hangMs?: number;
  maxMessage?: number;
  /** a check between inputs (the daemon answers GetInfo): every `checkEvery` inputs, and at the end */
  check?: () => Promise<void>;
  checkEvery?: number;
  /** run once before the first input (a baseline to compare against) */
  setup?: () => Promise<void>;
}

export interface Report {
  name: string;
  what: string;
  inputs: number;
  accepted: number;
  rejected: number;
  /** distinct rejection message shapes */
  messages: number;
  /** rejections per code (gRPC status, or error type) */
  byCode: Record<string, number>;
  /** a few of them, for the report */
  sample: string[];
  crashes: number;
  hangs: number;
  badMessages: number;
  slowestMs: number;
  ms: number;
  seed: number;
  /** the first failure: its kind, the (shrunk) input and what went wrong */
  failure?: string;
}

/** FUZZ_SECONDS (per target) when set, else the caller's default. */
export function budgetMs(defaultMs: number): number {
  const s = Number(process.env.FUZZ_SECONDS);
  return Number.isFinite(s) && s > 0 ? s * 1000 : defaultMs;
}

function seedOf(): number {
  const s = Number(process.env.FUZZ_SEED);
  return Number.isInteger(s) ? s : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
}

/** The shape of a message: quoted text, numbers and hex folded, so variants of one error count once. */
export function messageShape(m: string): string {
  return m
    .replace(/"(?:[^"\\]|\\.)*"?/g, '"…"')
    .replace(/'(?:[^'\\]|\\.)*'?/g, "'…'")
    .replace(/0x[0-9a-f]+/gi, 'N')
    .replace(/\d+/g, 'N')
    .slice(0, 160);
}

/** Why a rejection message is not acceptable, or undefined. */
export function messageProblem(m: unknown, max = MAX_MESSAGE): string | undefined {
  if (typeof m !== 'string' || m.trim() === '') return 'an empty rejection message';
  if (/[\r\n]/.test(m)) return `a multi-line rejection message: ${JSON.stringify(m.slice(0, 300))}`;
  if (m.length > max) return `a rejection message of ${m.length} characters (at most ${max})`;
  return undefined;
}

/** A rejection's code: a gRPC status name it starts with, else the target's own. */
export function codeOf(t: Pick<Target<unknown>, 'rejectCode' | 'codeOf'>, m: string): string {
  const status = /^([A-Z][A-Z_]{4,}): /.exec(m);
  if (status) return status[1]!;
  return t.codeOf?.(m) ?? t.rejectCode ?? 'rejected';
}

/** Rejections by code, most first: "INVALID_ARGUMENT 120, NOT_FOUND 3". */
export function formatCodes(byCode: Record<string, number>): string {
  const e = Object.entries(byCode).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return e.length ? e.map(([k, n]) => `${k} ${n}`).join(', ') : '-';
}

class Hang extends Error {}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Hang(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** An input as the report shows it: JSON with bytes as hex, clipped. */
export function show(x: unknown, max = 600): string {
  const s = JSON.stringify(x, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
    if (
      v &&
      typeof v === 'object' &&
      (v as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((v as { data?: unknown }).data)
    )
      return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    if (typeof v === 'string' && v.length > 200) return `${v.slice(0, 100)}…(${v.length} chars)`;
    return v;
  });
  const text = s ?? String(x);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export async function runTarget<T>(t: Target<T>, budget: number): Promise<Report> {
  const seed = seedOf();
  const r: Report = {
    name: t.name,
    what: t.what,
    inputs: 0,
    accepted: 0,
    rejected: 0,
    messages: 0,
    byCode: {},
    sample: [],
    crashes: 0,
    hangs: 0,
    badMessages: 0,
    slowestMs: 0,
    ms: 0,
    seed,
  };
  const shapes = new Map<string, string>();
  const hangMs = t.hangMs ?? 2000;
  const every = t.checkEvery ?? 50;
  // after the first failure fast-check shrinks: those runs are not counted
  let frozen = false;
  let lastProblem = '';
  const t0 = performance.now();

  // the input that failed first (when it was still running as the time limit struck, fast-check
  // returned without it: see inflight)
  let failedInput: { value: T } | undefined;
  const one = async (input: T): Promise<boolean> => {
    const start = performance.now();
    let problem: string | undefined;
    let kind: 'crashes' | 'hangs' | 'badMessages' | undefined;
    let outcome: string | undefined;
    try {
      outcome = await within(
        Promise.resolve().then(() => t.run(input)),
        hangMs,
      );
    } catch (e) {
      if (e instanceof Hang) {
        kind = 'hangs';
        problem = e.message;
      } else {
        kind = 'crashes';
        problem = e instanceof Error ? `${e.name}: ${e.message}` : `threw ${show(e)}`;
        if (e instanceof Error && e.stack && process.env.FUZZ_STACKS) problem += `\n${e.stack}`;
      }
    }
    const ms = performance.now() - start;
    if (!kind && ms > hangMs) {
      kind = 'hangs';
      problem = `took ${Math.round(ms)} ms (bound ${hangMs} ms)`;
    }
    if (!kind && outcome !== undefined) {
      const bad = messageProblem(outcome, t.maxMessage);
      if (bad) {
        kind = 'badMessages';
        problem = bad;
      }
    }
    if (!frozen) {
      r.inputs++;
      r.slowestMs = Math.max(r.slowestMs, ms);
      if (kind) r[kind]++;
      else if (outcome === undefined) r.accepted++;
      else {
        r.rejected++;
        const code = codeOf(t, outcome);
        r.byCode[code] = (r.byCode[code] ?? 0) + 1;
        const s = messageShape(outcome);
        if (!shapes.has(s))
          shapes.set(s, outcome.length > 200 ? `${outcome.slice(0, 200)}…` : outcome);
      }
    }
    if (kind) {
      if (!frozen) failedInput = { value: input };
      frozen = true;
      lastProblem = `${{ crashes: 'crash', hangs: 'hang', badMessages: 'bad message' }[kind]}: ${problem}`;
      return false;
    }
    if (t.check && !frozen && r.inputs % every === 0) {
      try {
        await t.check();
      } catch (e) {
        frozen = true;
        r.crashes++;
        lastProblem = `check after ${r.inputs} inputs: ${(e as Error).message}`;
        throw e;
      }
    }
    return true;
  };
  // fast-check's time limit does not wait for the input in progress: the report waits for it, so
  // it is counted, and nothing of this target still runs when the next one starts
  let inflight: Promise<boolean> | undefined;
  const property = fc.asyncProperty(t.arbitrary, (input) => {
    inflight = one(input);
    return inflight;
  });

  await t.setup?.();
  const details = await fc.check(property, {
    numRuns: 2 ** 31 - 1,
    interruptAfterTimeLimit: budget,
    markInterruptAsFailure: false,
    seed,
    ...(t.examples?.length ? { examples: t.examples.map((e) => [e] as [T]) } : {}),
  });
  await (inflight as Promise<unknown> | undefined)?.catch(() => undefined);
  if (!frozen && t.check) {
    try {
      await t.check();
    } catch (e) {
      r.crashes++;
      lastProblem = `final check: ${(e as Error).message}`;
      frozen = true;
    }
  }
  r.ms = performance.now() - t0;
  r.messages = shapes.size;
  r.sample = [...shapes.values()].slice(0, 8);
  // the time limit struck before the first input ended: not a failure (that input was awaited)
  const onlyInterrupted = details.interrupted && !details.counterexample && !frozen;
  if ((details.failed && !onlyInterrupted) || frozen) {
    const input = details.counterexample
      ? `(shrunk) ${show(details.counterexample[0])}`
      : failedInput
        ? show(failedInput.value)
        : '(none)';
    const why =
      lastProblem ||
      (details.errorInstance instanceof Error
        ? `${details.errorInstance.name}: ${details.errorInstance.message}`
        : `fast-check: ${JSON.stringify({ interrupted: details.interrupted, numRuns: details.numRuns, numSkips: details.numSkips })}`);
    r.failure = `${why}\n  input: ${input}\n  seed ${seed}, path ${details.counterexamplePath ?? '?'}`;
  }
  return r;
}

/** One line per target: what the docs' table and the test log show. */
export function formatReport(r: Report): string {
  return (
    `${r.name}: ${r.inputs} inputs in ${(r.ms / 1000).toFixed(1)} s (${r.accepted} accepted, ` +
    `${r.rejected} rejected: ${formatCodes(r.byCode)}; ${r.messages} distinct messages), crashes ${r.crashes}, ` +
    `hangs ${r.hangs}, bad messages ${r.badMessages}, slowest ${r.slowestMs.toFixed(1)} ms`
  );
}
