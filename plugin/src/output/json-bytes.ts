// JSON text written as UTF-8 bytes straight from kernel record bytes, for the -o json fast path
// (fast-json.ts). Each writer produces exactly the bytes of the string path:
// `jsonString(decodeBytes(...))` encoded as UTF-8, including its quirks (see writeString). The
// caller guarantees room: a string writer needs at most 6 bytes per input byte, plus 2.

/** Where the last writeString stopped reading: the NUL that ended the string, or the limit. */
export const scanned = { end: 0 };

const HEX = '0123456789abcdef';
/** 1 for bytes copied as they are in the common case: printable ASCII but `"` and `\`. */
const PLAIN = new Uint8Array(256);
for (let b = 0x20; b <= 0x7f; b++) PLAIN[b] = b === 0x22 || b === 0x5c ? 0 : 1;
/** Short escapes JSON.stringify uses for control characters; 0 = `\u00XX`. */
const SHORT = new Uint8Array(32);
SHORT[0x08] = 0x62; // \b
SHORT[0x09] = 0x74; // \t
SHORT[0x0a] = 0x6e; // \n
SHORT[0x0c] = 0x66; // \f
SHORT[0x0d] = 0x72; // \r

/** `\"`, `\\`, `\n`-style or `\u00XX` for an ASCII byte that JSON must escape; else the byte. */
function writeAscii(b: number, out: Uint8Array, p: number): number {
  if (b >= 0x20) {
    if (b === 0x22 || b === 0x5c) out[p++] = 0x5c;
    out[p] = b;
    return p + 1;
  }
  out[p++] = 0x5c;
  const s = SHORT[b]!;
  if (s !== 0) {
    out[p] = s;
    return p + 1;
  }
  out[p] = 0x75; // u00XX
  out[p + 1] = 0x30;
  out[p + 2] = 0x30;
  out[p + 3] = HEX.charCodeAt(b >> 4);
  out[p + 4] = HEX.charCodeAt(b & 15);
  return p + 5;
}

/**
 * Length of the UTF-8 sequence at i if it is one TextDecoder accepts (no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. The same rules as decode.ts escapeInvalidUtf8.
 */
function sequenceAt(src: Uint8Array, i: number, end: number): number {
  const b = src[i]!;
  if (b < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) n = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b === 0xe0) lo = 0xa0;
    else if (b === 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b === 0xf0) lo = 0x90;
    else if (b === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > end) return 0;
  const c = src[i + 1]!;
  if (c < lo || c > hi) return 0;
  for (let k = 2; k < n; k++) if ((src[i + k]! & 0xc0) !== 0x80) return 0;
  return n;
}

const isBom = (src: Uint8Array, i: number): boolean =>
  src[i] === 0xef && src[i + 1] === 0xbb && src[i + 2] === 0xbf;

/**
 * The rest of a string from `i` (all of [s, i) was printable ASCII and already written), up to
 * the first NUL or `lim`, then the closing quote. decodeBytes semantics: valid UTF-8 is kept as
 * is, except that TextDecoder drops a byte order mark (EF BB BF) at the start of the string;
 * with any invalid byte, each one becomes the text `\xNN` (so `\\xNN` in JSON), and every BOM
 * is dropped (escapeInvalidUtf8 decodes one sequence at a time, each "at the start").
 */
function writeRest(
  src: Uint8Array,
  s: number,
  i: number,
  lim: number,
  out: Uint8Array,
  p: number,
): number {
  let e = i;
  let high = false;
  while (e < lim) {
    const b = src[e]!;
    if (b === 0) break;
    if (b >= 0x80) high = true;
    e++;
  }
  scanned.end = e;
  let valid = true;
  if (high) {
    for (let k = i; k < e;) {
      const n = sequenceAt(src, k, e);
      if (n === 0) {
        valid = false;
        break;
      }
      k += n;
    }
  }
  if (valid) {
    if (high && i === s && e - s >= 3 && isBom(src, s)) i += 3;
    for (; i < e; i++) {
      const b = src[i]!;
      if (b >= 0x80) out[p++] = b;
      else p = writeAscii(b, out, p);
    }
  } else {
    while (i < e) {
      const n = sequenceAt(src, i, e);
      if (n === 1) p = writeAscii(src[i]!, out, p);
      else if (n === 0) {
        const b = src[i]!;
        out[p] = 0x5c; // the text \xNN, escaped: \\xNN
        out[p + 1] = 0x5c;
        out[p + 2] = 0x78;
        out[p + 3] = HEX.charCodeAt(b >> 4);
        out[p + 4] = HEX.charCodeAt(b & 15);
        p += 5;
        i++;
        continue;
      } else if (!(n === 3 && isBom(src, i))) {
        for (let k = 0; k < n; k++) out[p + k] = src[i + k]!;
        p += n;
      }
      i += n;
    }
  }
  out[p] = 0x22;
  return p + 1;
}

/**
 * A JSON string of the bytes from `s` to the first NUL or `lim` (a C string, or one of the
 * NUL-separated strings of a bytes field): the same bytes as jsonString(decodeBytes(src, s, e))
 * encoded as UTF-8. Sets `scanned.end` to where it stopped.
 */
export function writeString(
  src: Uint8Array,
  s: number,
  lim: number,
  out: Uint8Array,
  p: number,
): number {
  out[p++] = 0x22;
  let i = s;
  for (; i < lim; i++) {
    const b = src[i]!;
    if (PLAIN[b] === 0) {
      if (b === 0) break;
      return writeRest(src, s, i, lim, out, p);
    }
    out[p++] = b;
  }
  scanned.end = i;
  out[p] = 0x22;
  return p + 1;
}

/** The `index`-th NUL-separated string of [s, lim) as JSON (splitNulStrings(..)[index] ?? ''). */
export function writeNthString(
  src: Uint8Array,
  s: number,
  lim: number,
  index: number,
  out: Uint8Array,
  p: number,
): number {
  for (let k = 0; k < index && s < lim; k++) {
    while (s < lim && src[s] !== 0) s++;
    s++;
  }
  if (s >= lim) {
    out[p] = 0x22;
    out[p + 1] = 0x22;
    return p + 2;
  }
  return writeString(src, s, lim, out, p);
}

/** Every NUL-separated string of [s, lim) as a JSON array (splitNulStrings). */
export function writeStrings(
  src: Uint8Array,
  s: number,
  lim: number,
  out: Uint8Array,
  p: number,
): number {
  out[p++] = 0x5b;
  let first = true;
  while (s < lim) {
    if (!first) out[p++] = 0x2c;
    first = false;
    p = writeString(src, s, lim, out, p);
    s = scanned.end + 1;
  }
  out[p] = 0x5d;
  return p + 1;
}

/** Decimal digits of a safe integer (String(n) for it): at most 17 bytes with the sign. */
export function writeInt(out: Uint8Array, p: number, n: number): number {
  if (n < 0) {
    out[p++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    out[p] = 0x30 + n;
    return p + 1;
  }
  if (n < 4294967296) {
    // 32 bits: integer division by truncation (>>> 0)
    const digits =
      n < 100
        ? 2
        : n < 1e4
          ? n < 1e3
            ? 3
            : 4
          : n < 1e6
            ? n < 1e5
              ? 5
              : 6
            : n < 1e8
              ? n < 1e7
                ? 7
                : 8
              : n < 1e9
                ? 9
                : 10;
    const end = p + digits;
    for (let k = end - 1; k >= p; k--) {
      const q = (n / 10) >>> 0;
      out[k] = 0x30 + n - q * 10;
      n = q;
    }
    return end;
  }
  let digits = 2;
  for (let t = 100; t <= n && digits < 16; t *= 10) digits++;
  let k = p + digits;
  const end = k;
  while (n >= 1) {
    const q = Math.floor(n / 10);
    out[--k] = 0x30 + (n - q * 10);
    n = q;
  }
  return end;
}

/** Any number as its JSON text (String(n) for finite numbers, which integers always are here). */
export function writeNumber(out: Uint8Array, p: number, n: number): number {
  if (Number.isSafeInteger(n)) return writeInt(out, p, n);
  const s = Number.isFinite(n) ? String(n) : 'null';
  for (let i = 0; i < s.length; i++) out[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/** ASCII text (digits, a timestamp) as bytes. */
export function writeAsciiText(out: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/** A pre-encoded fragment: a loop for short ones (cheaper than a call into set), else set. */
export function writeBytes(out: Uint8Array, p: number, b: Uint8Array): number {
  const n = b.length;
  if (n < 48) {
    for (let i = 0; i < n; i++) out[p + i] = b[i]!;
  } else {
    out.set(b, p);
  }
  return p + n;
}
