// Validates a run's params against the gadget's declared ParamSpecs and fills defaults.

import type { GadgetDescriptor } from './types.js';
import { clipLine, RunError } from './errors.js';

/** Longest run timeout: setTimeout holds at most 2^31-1 ms (longer fires after 1 ms). */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Throws INVALID_ARGUMENT for a run timeout no timer can hold. */
export function checkTimeoutSeconds(seconds: number): void {
  if (seconds > MAX_TIMEOUT_SECONDS) {
    throw new RunError(
      'INVALID_ARGUMENT',
      `invalid timeout of ${seconds} seconds: at most ${MAX_TIMEOUT_SECONDS} (24 days)`,
    );
  }
}

/** A string[] param travels as a JSON array (listParam): anything else in brackets is bad. */
function isStringList(v: string): boolean {
  if (!v.startsWith('[')) return true;
  try {
    const list: unknown = JSON.parse(v);
    return Array.isArray(list) && list.every((x) => typeof x === 'string');
  } catch {
    return false;
  }
}

export function resolveParams(
  g: GadgetDescriptor,
  given: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(given)) {
    if (!g.params.some((p) => p.name === key)) {
      const names = g.params.map((p) => p.name).join(', ') || 'none';
      throw new RunError(
        'INVALID_ARGUMENT',
        `unknown parameter "${clipLine(key)}" for ${g.command.join(' ')} (valid: ${names})`,
      );
    }
  }
  for (const p of g.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) continue;
    const bad = (why: string): RunError =>
      new RunError(
        'INVALID_ARGUMENT',
        `invalid value "${clipLine(v)}" for --${p.name}: ${clipLine(why)}`,
      );
    if (p.type === 'bool' && v !== 'true' && v !== 'false') throw bad('expected true or false');
    if (p.type === 'int' && !/^-?\d+$/.test(v)) throw bad('expected an integer');
    if (p.type === 'string[]' && !isStringList(v))
      throw bad('expected a JSON array of strings, e.g. ["/etc","/tmp"]');
    if (p.validate) {
      try {
        p.validate(v);
      } catch (e) {
        throw bad((e as Error).message);
      }
    }
    out[p.name] = v;
  }
  return out;
}
