// Validates a run's params against the gadget's declared ParamSpecs and fills defaults.

import type { GadgetDescriptor } from '../../../gadgets/framework/types.js';
import { RunError } from '../errors.js';

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
        `unknown parameter "${key}" for ${g.command.join(' ')} (valid: ${names})`,
      );
    }
  }
  for (const p of g.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) continue;
    const bad = (why: string): RunError =>
      new RunError('INVALID_ARGUMENT', `invalid value "${v}" for --${p.name}: ${why}`);
    if (p.type === 'bool' && v !== 'true' && v !== 'false') throw bad('expected true or false');
    if (p.type === 'int' && !/^-?\d+$/.test(v)) throw bad('expected an integer');
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
