// What redaction replaces, and how. The daemon hands command lines (NUL-separated argv) and
// captured buffers to a Redactor as latin1 strings (one char per byte, so every other byte
// survives a rewrite exactly). Each pattern marks secrets: its capture groups when it has
// some, else its whole match. A secret is replaced by REDACTED; NUL bytes inside it are kept,
// so an argv never loses or gains arguments. The list is documented in docs/security.md.

import type { RedactPattern } from '../../../gadgets/framework/redact-patterns.js';

export type { RedactPattern };
export {
  compileUserPatterns,
  nestedQuantifier,
  parseUserPattern,
} from '../../../gadgets/framework/redact-patterns.js';

/** What a secret becomes. Short: traceloop's data items are at most 264 bytes. */
export const REDACTED = '***';

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

const p = (name: string, hint: RegExp, src: string, flags = ''): RedactPattern => ({
  name,
  re: new RegExp(src, `gd${flags}`),
  hint,
});

/** The built-in patterns, applied in this order. */
export const BUILTIN_PATTERNS: readonly RedactPattern[] = [
  // --password=X, --db-password X, -storepass X, --client-secret X, --api-key=X; not
  // --password-file=/path (the word must end the flag), not --no-password, not a next flag
  p(
    'flag',
    /pass|pwd|token|secret|key/i,
    `${WORD_START}(?:--|-)(?!-)(?!no-)[a-z0-9._-]*?(?:${FLAG_WORDS})(?:=|[\\0 \\t]+(?!-))(${VAL})`,
    'i',
  ),
  // mysql -pSECRET (glued: a lone -p prompts, and `-p NAME` names the database)
  p(
    'mysql -p',
    /mysql|mariadb/,
    `${WORD_START}(?:[^${SEP}'"]*/)?(?:mysql[a-z]*|mariadb[a-z-]*)${SAME_COMMAND}[\\0 \\t]+-p(${VAL})`,
  ),
  // sshpass -p SECRET, sshpass -pSECRET
  p(
    'sshpass -p',
    /sshpass/,
    `${WORD_START}(?:[^${SEP}'"]*/)?sshpass[\\0 \\t]+-p[\\0 \\t]*(${VAL})`,
  ),
  // redis-cli -a SECRET
  p(
    'redis-cli -a',
    /redis-cli/,
    `${WORD_START}(?:[^${SEP}'"]*/)?redis-cli${SAME_COMMAND}[\\0 \\t]+-a[\\0 \\t]+(${VAL})`,
  ),
  // curl -u user:SECRET, wget --user=user:SECRET (the user is kept)
  p(
    'curl -u',
    /curl|wget/,
    `${WORD_START}(?:[^${SEP}'"]*/)?(?:curl|wget)${SAME_COMMAND}[\\0 \\t]+(?:-u|--user)(?:=|[\\0 \\t]+)?[^${SEP}:'"]*:(${VAL})`,
  ),
  // Authorization: Bearer X, Proxy-Authorization: Basic X (the scheme is kept; the rest of the
  // header value goes: Digest has several parameters)
  p(
    'authorization header',
    /authorization/i,
    `(?<![a-z0-9-])(?:proxy-)?authorization[ \\t]*:[ \\t]*(?:(?:bearer|basic|token|digest|negotiate|ntlm|aws4-hmac-sha256|apikey)[ \\t]+)?([^\\0\\r\\n'"]+)`,
    'i',
  ),
  // other headers that carry credentials
  p(
    'credential header',
    /api-key|auth-token|vault-token|private-token|cookie/i,
    `(?<![a-z0-9-])(?:x-api-key|api-key|x-auth-token|x-vault-token|private-token|cookie|set-cookie)[ \\t]*:[ \\t]*([^\\0\\r\\n'"]+)`,
    'i',
  ),
  // a bearer token outside a header (e.g. --header=Bearer X in a config line)
  p('bearer', /[Bb]earer/, `(?<![A-Za-z0-9])[Bb]earer[ \\t]+([A-Za-z0-9._~+/=-]{8,})`),
  // scheme://user:SECRET@host (the user is kept; the password runs to the last @ of the
  // authority, as an unescaped @ in it is common)
  p(
    'url credentials',
    /:\/\//,
    `(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^${SEP}/:@'"]*:([^${SEP}/'"]+)@`,
    'i',
  ),
  // ?password=X, &access_token=X, &X-Amz-Signature=X
  p(
    'query parameter',
    /pass|pwd|token|secret|key|sig|credential/i,
    `[?&;](?:[a-z0-9_.-]*[-_.])?(?:${QUERY_WORDS})=([^&#${SEP}'"]+)`,
    'i',
  ),
  // PASSWORD=X, DB_PASS=X, GITHUB_TOKEN=X, AWS_SECRET_ACCESS_KEY=X, password=X (libpq),
  // -Djavax.net.ssl.keyStorePassword=X; not PASSWORD_FILE=/path, not PWD=/dir
  // (starts after a separator, a quote, '-' (-Dx.y=), ';', '|' or '(': not after '&' or '?',
  // the query parameters above, whose values end at '&')
  p(
    'env',
    /pass|token|secret|key|credential/i,
    `(?<![^${SEP}'"\\-;|(])[a-z0-9_.]*?(?:${ENV_WORDS})=(${VAL})`,
    'i',
  ),
  // well-known token shapes, wherever they are
  p(
    'aws access key id',
    new RegExp(AWS_PREFIXES),
    `(?<![A-Za-z0-9])(?:${AWS_PREFIXES})[A-Z0-9]{16}(?![A-Za-z0-9])`,
  ),
  p(
    'github token',
    /gh[pousr]_|github_pat_/,
    `(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})`,
  ),
  p('gitlab token', /glpat-/, `(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}`),
  p('slack token', /xox[abposr]-/, `(?<![A-Za-z0-9_])xox[abposr]-[A-Za-z0-9-]{10,}`),
  p('stripe key', /_(?:live|test)_/, `(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`),
  p('google api key', /AIza/, `(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}`),
  p('jwt', /eyJ/, `(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\\.eyJ[A-Za-z0-9_-]{2,}\\.[A-Za-z0-9_-]*`),
  // a PEM private key written or read: its body (base64 has no '-')
  p('private key', /PRIVATE KEY-----/, `-----BEGIN[A-Z ]*PRIVATE KEY-----([^-]+)`),
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
      for (const pat of this.builtins) if (!pat.hint || pat.hint.test(t)) t = apply(pat, t);
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
