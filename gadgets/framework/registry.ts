// Gadgets are discovered from their folders (gadgets/<name>/gadget.js). The daemon runs what it
// finds here, list-gadgets lists it, and the CLI makes a command for each stream gadget
// (plugin/src/commands/index.ts), so adding a stream gadget touches only its folder
// (e2e/new-gadget.test.ts shows it). Gadgets with verbs of their own (traceloop, advise
// network-policy) also have commands and services in plugin/.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { clipLine } from './clip.js';
import type { GadgetDescriptor, GadgetListing } from './types.js';

const gadgetsDir = join(dirname(fileURLToPath(import.meta.url)), '..');
let cache: { run: Map<string, GadgetDescriptor>; other: Map<string, GadgetListing> } | undefined;

async function loadAll(): Promise<NonNullable<typeof cache>> {
  if (cache) return cache;
  const run = new Map<string, GadgetDescriptor>();
  const other = new Map<string, GadgetListing>();
  for (const entry of readdirSync(gadgetsDir, { withFileTypes: true })) {
    const file = join(gadgetsDir, entry.name, 'gadget.js');
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const mod = (await import(pathToFileURL(file).href)) as {
      descriptor?: GadgetDescriptor;
      listing?: GadgetListing;
    };
    if (mod.descriptor) run.set(mod.descriptor.name, mod.descriptor);
    else if (mod.listing) other.set(mod.listing.name, mod.listing);
  }
  cache = { run, other };
  return cache;
}

async function load(): Promise<Map<string, GadgetDescriptor>> {
  return (await loadAll()).run;
}

/** Every gadget for list-gadgets: the runnable ones and those with commands of their own. */
export async function listAllGadgets(): Promise<Array<GadgetDescriptor | GadgetListing>> {
  const { run, other } = await loadAll();
  return [...run.values(), ...other.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export async function listGadgets(): Promise<GadgetDescriptor[]> {
  return [...(await load()).values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Accepts the canonical name (`trace_exec`) or the command words (`trace exec`). */
export async function getGadget(name: string): Promise<GadgetDescriptor> {
  const all = await load();
  const key = name.trim().replace(/[\s-]+/g, '_');
  const g = all.get(key);
  const other = (await loadAll()).other.get(key);
  if (!g && other) {
    throw Object.assign(
      new Error(`gadget "${clipLine(name)}" is not run as a stream: ${other.usage}`),
      {
        code: 'UNKNOWN_GADGET',
      },
    );
  }
  if (!g) {
    const names = [...all.keys()].sort().join(', ');
    throw Object.assign(new Error(`unknown gadget "${clipLine(name)}" (available: ${names})`), {
      code: 'UNKNOWN_GADGET',
    });
  }
  return g;
}
