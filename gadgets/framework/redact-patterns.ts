// Users' redaction patterns (`daemon --redact-pattern`, `deploy --redact-pattern`): parsed and
// checked the same way by the daemon, which applies them (daemon/src/redact/), and by deploy,
// which passes them to the daemons and must not start pods that would refuse them.

import { RunError, clip } from './errors.js';

export interface RedactPattern {
  /** short name, for docs and tests */
  name: string;
  /** global, with indices ('gd'): group spans are what is replaced */
  re: RegExp;
  /**
   * The pattern sees argv separators (NUL) as spaces (user patterns: `\s` then separates
   * arguments). Built-ins see the NULs themselves.
   */
  nulAsSpace?: boolean;
  /** a cheap pre-check every match passes (built-ins): the pattern is skipped when it fails */
  hint?: RegExp;
}

/** `--redact-pattern` needs redaction on: refused together with `--no-redact`. */
export function checkRedactFlags(redact: boolean | undefined, patterns: readonly string[]): void {
  if (redact === false && patterns.length) {
    throw new RunError(
      'INVALID_ARGUMENT',
      '--redact-pattern needs redaction on, but --no-redact turns it off',
      'drop one of them',
    );
  }
}

/** Inputs a pattern must get through quickly (the longest text one is applied to: 16 KiB argv). */
const PROBE_BYTES = 16 << 10;
const PROBE_BUDGET_MS = 250;
const PROBE_TIMEOUT_MS = 3000;

/**
 * `--redact-pattern` values -> patterns, or a one-line error naming the bad one. A leading
 * `(?i)` makes one case-insensitive. Refused: invalid syntax, a match of the empty string, a
 * nested quantifier (`(a+)+`: exponential backtracking), and a pattern that takes over
 * PROBE_BUDGET_MS on adversarial 16 KiB inputs (tried in a worker, which is killed if it hangs).
 */
export async function compileUserPatterns(sources: readonly string[]): Promise<RedactPattern[]> {
  const out: RedactPattern[] = [];
  for (const src of sources) {
    out.push(parseUserPattern(src));
  }
  if (out.length) await probe(out);
  return out;
}

function bad(src: string, why: string, hint?: string): RunError {
  return new RunError(
    'INVALID_ARGUMENT',
    `invalid --redact-pattern ${JSON.stringify(clip(src))}: ${why}`,
    hint,
  );
}

export function parseUserPattern(src: string): RedactPattern {
  let body = src;
  let flags = 'gd';
  if (body.startsWith('(?i)')) {
    body = body.slice(4);
    flags += 'i';
  }
  if (body === '') throw bad(src, 'empty pattern');
  let re: RegExp;
  try {
    re = new RegExp(body, flags);
  } catch (e) {
    // V8: "Invalid regular expression: /<source>/<flags>: <reason>"
    throw bad(
      src,
      (e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, ''),
    );
  }
  if (new RegExp(`^(?:${body})$`, flags.replace('g', '')).test('')) {
    throw bad(
      src,
      'it matches the empty string',
      'use + instead of * where the secret must have characters',
    );
  }
  const nested = nestedQuantifier(body);
  if (nested) {
    throw bad(
      src,
      `nested quantifier ${JSON.stringify(nested)} can take exponential time`,
      'quantify the group or its contents, not both',
    );
  }
  return { name: src, re, nulAsSpace: true };
}

/**
 * A group that repeats (`*`, `+`, `{n,}`, `{n,m}`) and holds a repeated part itself: the shape
 * of exponential backtracking. Returns the group's text, or undefined.
 */
export function nestedQuantifier(src: string): string | undefined {
  // per open group: where it starts, whether it holds a quantifier
  const stack: Array<{ at: number; quantified: boolean }> = [];
  let inClass = false;
  const quantifierAt = (i: number): number => {
    const c = src[i];
    if (c === '*' || c === '+') return 1;
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i));
      if (m && m[2] !== undefined && (m[3] === '' || Number(m[3]) > 1)) return m[0].length;
    }
    return 0;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      stack.push({ at: i, quantified: false });
    } else if (c === ')') {
      const g = stack.pop();
      if (!g) continue;
      const q = quantifierAt(i + 1);
      if (q && g.quantified) return src.slice(g.at, i + 1 + q);
      const outer = stack[stack.length - 1];
      if (outer && (g.quantified || q)) outer.quantified = true;
    } else if (quantifierAt(i)) {
      const outer = stack[stack.length - 1];
      if (outer) outer.quantified = true;
    }
  }
  return undefined;
}

/** Times each pattern on adversarial inputs in a worker thread; a hang is killed. */
async function probe(pats: RedactPattern[]): Promise<void> {
  const { Worker } = await import('node:worker_threads');
  // replace() walks every match of a global pattern (empty ones included) to the end
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const n = workerData.bytes;
    const fill = (s) => s.repeat(Math.ceil(n / s.length)).slice(0, n);
    const inputs = ['a', ' ', '\\0', 'a ', 'a=', '-a', 'a:', 'a@', '0', '-', '/', "'", '"', 'aA0_ -=:/@\\0']
      .map(fill);
    for (const [i, p] of workerData.patterns.entries()) {
      const re = new RegExp(p.source, p.flags);
      const t0 = performance.now();
      for (const s of inputs) s.replace(re, '');
      parentPort.postMessage({ i, ms: performance.now() - t0 });
    }
    parentPort.postMessage({ done: true });
  `;
  const patterns = pats.map((x) => ({ source: x.re.source, flags: x.re.flags }));
  const w = new Worker(code, { eval: true, workerData: { bytes: PROBE_BYTES, patterns } });
  let current = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            bad(
              pats[current]!.name,
              `still running after ${PROBE_TIMEOUT_MS / 1000} s on a 16 KiB input (catastrophic backtracking)`,
              'make the repeated parts unambiguous',
            ),
          ),
        PROBE_TIMEOUT_MS,
      );
      w.on('message', (m: { i?: number; ms?: number; done?: boolean }) => {
        if (m.done) {
          clearTimeout(timer);
          resolve();
          return;
        }
        current = m.i! + 1;
        if (m.ms! > PROBE_BUDGET_MS) {
          clearTimeout(timer);
          reject(
            bad(
              pats[m.i!]!.name,
              `too slow: ${Math.round(m.ms!)} ms on 16 KiB inputs (at most ${PROBE_BUDGET_MS})`,
              'make the repeated parts unambiguous',
            ),
          );
        }
      });
      w.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } finally {
    await w.terminate();
  }
}
