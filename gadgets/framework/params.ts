import type { GadgetConfig, GadgetDescriptor, RecordLayout } from './types.js';

/** string[] params travel as a JSON array string (repeatable flags). */
export function listParam(params: Record<string, string>, name: string): string[] {
  const v = params[name];
  if (!v) return [];
  if (v.startsWith('[')) return JSON.parse(v) as string[];
  return [v];
}

/** A bool param's value (resolved params hold 'true'/'false', defaults included). */
export function boolParam(params: Record<string, string>, name: string): boolean {
  return params[name] === 'true';
}

/** The byte offset of a record field of the layout; throws when the gadget's layout lacks it. */
export function fieldOffset(layout: RecordLayout, name: string): number {
  const f = layout.fields.find((x) => x.name === name);
  if (!f) throw new Error(`layout ${layout.struct}: no field ${name}`);
  return f.offset;
}

/**
 * The kernel configuration of a run: the `const volatile` globals that params declare with
 * `rodata` (bool and int params, from their value or default), then what the gadget's own
 * configure() derives (lists, maps, computed values), which wins on a clash.
 */
export function gadgetConfig(
  g: GadgetDescriptor,
  params: Record<string, string>,
  ctx: { selfPid: number },
): GadgetConfig {
  const declared: GadgetConfig['rodata'] = {};
  for (const p of g.params) {
    const v = params[p.name] ?? p.default;
    if (!p.rodata || v === undefined) continue;
    declared[p.rodata] = p.type === 'bool' ? v === 'true' : Number(v);
  }
  const own = g.configure?.(params, ctx);
  return { ...own, rodata: { ...declared, ...own?.rodata } };
}
