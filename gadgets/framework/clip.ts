// Input quoted in an error message is clipped: a status message travels in an HTTP/2 trailer, and
// one over the peer's header limit is never delivered (the call hangs, and its connection with it).

/** Characters of one input value an error message quotes. */
export const MAX_ECHO = 200;

/** `value`, or its first `max` characters and "…" (a surrogate pair is never split). */
export function clip(value: string, max = MAX_ECHO): string {
  if (value.length <= max) return value;
  const end = /[\uD800-\uDBFF]/.test(value[max - 1] ?? '') ? max - 1 : max;
  return `${value.slice(0, end)}…`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `value` for a message of one line: control characters (and the Unicode line separators) as
 * `\n`, `\t`, `\r` or `\xNN`/`\uNNNN`, then clipped to `max`. Messages are one line; input quoted
 * in them (found by fuzzing, e2e/fuzz/) could hold a newline.
 */
export function clipLine(value: string, max = MAX_ECHO): string {
  const s = value.replace(CONTROL, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\t') return '\\t';
    if (ch === '\r') return '\\r';
    const c = ch.charCodeAt(0);
    return c > 0xff ? `\\u${c.toString(16)}` : `\\x${c.toString(16).padStart(2, '0')}`;
  });
  return clip(s, max);
}
