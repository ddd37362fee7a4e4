// What redaction replaces, and how. The daemon hands command lines (NUL-separated argv) and
// captured buffers to a Redactor as latin1 strings (one char per byte, so every other byte
// survives a rewrite exactly). Each pattern marks secrets: its capture groups when it has
// some, else its whole match. A secret is replaced by REDACTED; NUL bytes inside it are kept,
// so an argv never loses or gains arguments. The list is documented in docs/security.md.

import { RunError, clip } from '../../../gadgets/framework/errors.js';

/** What a secret becomes. Short: traceloop's data items are at most 264 bytes. */
export const REDACTED = '***';

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
}

// separators: NUL (between arguments), and ASCII whitespace only. Not \s: it matches U+00A0,
// which in a latin1 view is the byte 0xA0, a UTF-8 continuation byte inside a password
const SEP = '\\0 \\t\\n\\r\\f\\v';
/** a value: quoted (within one argument), or up to the next separator */
const VAL = `(?:'[^'\\0]*'|"[^"\\0]*"|[^${SEP}]+)`;
/** the start of a word: after a separator or an opening quote, or at the start */
const WORD_START = `(?<![^${SEP}'"])`;
/**
 * From a command word to one of its options: the next words of the same shell command (at most
 * 16; ';', '&', '|' and newlines end a command). Words and separators are disjoint classes, so
 * the scan is linear: a command line of many command words is not quadratic.
 */
const SAME_COMMAND = `(?:[\\0 \\t]+[^${SEP};&|]+){0,16}?`;

const FLAG_WORDS =
  'password|passwd|passphrase|pass|pwd|token|secret|api[-_]?key|access[-_]?key|secret[-_]?key';
const ENV_WORDS =
  'password|passwd|passphrase|pass|token|secret|api_?key|access_?key|secret_?key|private_?key|credentials?';
const QUERY_WORDS =
  'password|passwd|pass|pwd|token|secret|api_?key|apikey|key|signature|sig|credential';
const AWS_PREFIXES = 'AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA';

const p = (name: string, src: string, flags = ''): RedactPattern => ({
  name,
  re: new RegExp(src, `gd${flags}`),
});

/** The built-in patterns, applied in this order. */
export const BUILTIN_PATTERNS: readonly RedactPattern[] = [
  // --password=X, --db-password X, -storepass X, --client-secret X, --api-key=X; not
  // --password-file=/path (the word must end the flag), not --no-password, not a next flag
  p(
    'flag',
    `${WORD_START}(?:--|-)(?!-)(?!no-)[a-z0-9._-]*?(?:${FLAG_WORDS})(?:=|[\\0 \\t]+(?!-))(${VAL})`,
    'i',
  ),
  // mysql -pSECRET (glued: a lone -p prompts, and `-p NAME` names the database)
  p(
    'mysql -p',
    `${WORD_START}(?:[^${SEP}'"]*/)?(?:mysql[a-z]*|mariadb[a-z-]*)${SAME_COMMAND}[\\0 \\t]+-p(${VAL})`,
  ),
  // sshpass -p SECRET, sshpass -pSECRET
  p('sshpass -p', `${WORD_START}(?:[^${SEP}'"]*/)?sshpass[\\0 \\t]+-p[\\0 \\t]*(${VAL})`),
  // redis-cli -a SECRET
  p(
    'redis-cli -a',
    `${WORD_START}(?:[^${SEP}'"]*/)?redis-cli${SAME_COMMAND}[\\0 \\t]+-a[\\0 \\t]+(${VAL})`,
  ),
  // curl -u user:SECRET, wget --user=user:SECRET (the user is kept)
  p(
    'curl -u',
    `${WORD_START}(?:[^${SEP}'"]*/)?(?:curl|wget)${SAME_COMMAND}[\\0 \\t]+(?:-u|--user)(?:=|[\\0 \\t]+)?[^${SEP}:'"]*:(${VAL})`,
  ),
  // Authorization: Bearer X, Proxy-Authorization: Basic X (the scheme is kept; the rest of the
  // header value goes: Digest has several parameters)
  p(
    'authorization header',
    `(?<![a-z0-9-])(?:proxy-)?authorization[ \\t]*:[ \\t]*(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256|apikey)[ \\t]+)?([^\\0\\r\\n'"]+)`,
    'i',
  ),
  // other headers that carry credentials
  p(
    'credential header',
    `(?<![a-z0-9-])(?:x-api-key|api-key|x-auth-token|x-vault-token|private-token|cookie|set-cookie)[ \\t]*:[ \\t]*([^\\0\\r\\n'"]+)`,
    'i',
  ),
  // a bearer token outside a header (e.g. --header=Bearer X in a config line)
  p('bearer', `(?<![A-Za-z0-9])[Bb]earer[ \\t]+([A-Za-z0-9._~+/=-]{8,})`),
  // scheme://user:SECRET@host (the user is kept; the password runs to the last @ of the
  // authority, as an unescaped @ in it is common)
  p('url credentials', `(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^${SEP}/:@'"]*:([^${SEP}/'"]+)@`, 'i'),
  // ?password=X, &access_token=X, &X-Amz-Signature=X
  p('query parameter', `[?&;](?:[a-z0-9_.-]*[-_.])?(?:${QUERY_WORDS})=([^&#${SEP}'"]+)`, 'i'),
  // PASSWORD=X, DB_PASS=X, GITHUB_TOKEN=X, AWS_SECRET_ACCESS_KEY=X, password=X (libpq),
  // -Djavax.net.ssl.keyStorePassword=X; not PASSWORD_FILE=/path, not PWD=/dir
  // (starts after a separator, a quote, '-' (-Dx.y=), ';', '|' or '(': not after '&' or '?',
  // the query parameters above, whose values end at '&')
  p('env', `(?<![^${SEP}'"\\-;|(])[a-z0-9_.]*?(?:${ENV_WORDS})=(${VAL})`, 'i'),
  // well-known token shapes, wherever they are
  p('aws access key id', `(?<![A-Za-z0-9])(?:${AWS_PREFIXES})[A-Z0-9]{16}(?![A-Za-z0-9])`),
  p(
    'github token',
    `(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})`,
  ),
  p('gitlab token', `(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}`),
  p('slack token', `(?<![A-Za-z0-9_])xox[abposr]-[A-Za-z0-9-]{10,}`),
  p('stripe key', `(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`),
  p('google api key', `(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}`),
  p('jwt', `(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\\.eyJ[A-Za-z0-9_-]{2,}\\.[A-Za-z0-9_-]*`),
  // a PEM private key written or read: its body (base64 has no '-')
  p('private key', `-----BEGIN[A-Z ]*PRIVATE KEY-----([^-]+)`),
];

/**
 * Cheap pre-check: text none of the built-ins can match does not match this (every built-in
 * match contains one of these). Most command lines and buffers stop here.
 */
const TRIGGER =
  /pass|pwd|token|secret|key|auth|bearer|cookie|credential|sig|:\/\/|mysql|mariadb|redis-cli|curl|wget|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA|gh[pousr]_|github_pat_|glpat-|xox|_live_|_test_|AIza|eyJ/i;

export class Redactor {
  constructor(
    /** user patterns, after the built-ins */
    readonly user: readonly RedactPattern[] = [],
    readonly builtins: readonly RedactPattern[] = BUILTIN_PATTERNS,
  ) {}

  /** The text with its secrets replaced, or null when nothing was. */
  redact(text: string): string | null {
    let t = text;
    if (this.builtins.length && TRIGGER.test(t)) {
      for (const pat of this.builtins) t = apply(pat, t);
    }
    for (const pat of this.user) t = apply(pat, t);
    return t === text ? null : t;
  }

  /** Bytes (latin1 round trip) with their secrets replaced, or null when nothing was. */
  redactBytes(b: Buffer): Buffer | null {
    const out = this.redact(b.toString('latin1'));
    return out === null ? null : Buffer.from(out, 'latin1');
  }
}

/** One pattern over the text: each secret span's non-NUL runs become REDACTED. */
function apply(pat: RedactPattern, text: string): string {
  const re = pat.re;
  const view = pat.nulAsSpace && text.includes('\0') ? text.replace(/\0/g, ' ') : text;
  re.lastIndex = 0;
  let out = '';
  let from = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(view)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    const spans = m.indices!;
    const groups = spans.length > 1;
    for (let g = groups ? 1 : 0; g < spans.length; g++) {
      const s = spans[g];
      if (!s || s[0] < from || s[1] <= s[0]) continue;
      out += text.slice(from, s[0]) + mask(text.slice(s[0], s[1]));
      from = s[1];
    }
  }
  return from === 0 ? text : out + text.slice(from);
}

function mask(secret: string): string {
  return secret.includes('\0')
    ? secret
        .split('\0')
        .map((r) => (r ? REDACTED : ''))
        .join('\0')
    : REDACTED;
}

// ---- user patterns -------------------------------------------------------------------------------

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
