// Text that came from recorded data (argv, paths, flow fields, daemon messages) is escaped before
// it reaches a terminal, so a value holding ESC or OSC sequences cannot drive it. JSON output has
// its own escaping (json.ts, json-bytes.ts).

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_G = /[\u0000-\u001f\u007f-\u009f]/g;

/** C0, DEL and C1 control characters as `\n`, `\t`, `\r` or `\xNN`; other text unchanged. */
export function escapeControl(s: string): string {
  if (!CONTROL.test(s)) return s;
  return s.replace(CONTROL_G, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\t') return '\\t';
    if (ch === '\r') return '\\r';
    return '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0');
  });
}
