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
