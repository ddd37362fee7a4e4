// Gadgets are discovered from their folders (gadgets/<name>/gadget.js), so adding one touches
// only its folder.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GadgetDescriptor } from './types.js';

const gadgetsDir = join(dirname(fileURLToPath(import.meta.url)), '..');
let cache: Map<string, GadgetDescriptor> | undefined;

async function load(): Promise<Map<string, GadgetDescriptor>> {
  if (cache) return cache;
  const found = new Map<string, GadgetDescriptor>();
  for (const entry of readdirSync(gadgetsDir, { withFileTypes: true })) {
    const file = join(gadgetsDir, entry.name, 'gadget.js');
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const mod = (await import(pathToFileURL(file).href)) as { descriptor?: GadgetDescriptor };
    if (mod.descriptor) found.set(mod.descriptor.name, mod.descriptor);
  }
  cache = found;
  return found;
}

export async function listGadgets(): Promise<GadgetDescriptor[]> {
  return [...(await load()).values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Accepts the canonical name (`trace_exec`) or the command words (`trace exec`). */
export async function getGadget(name: string): Promise<GadgetDescriptor> {
  const all = await load();
  const key = name.trim().replace(/[\s-]+/g, '_');
  const g = all.get(key);
  if (!g) {
    const names = [...all.keys()].sort().join(', ');
    throw Object.assign(new Error(`unknown gadget "${name}" (available: ${names})`), {
      code: 'UNKNOWN_GADGET',
    });
  }
  return g;
}
