// Every command of the CLI, for oclif's explicit command loading (package.json oclif.commands):
// the hand-written ones below, plus one generated per stream gadget the registry finds in
// gadgets/<name>/ (stream-gadget.ts), so adding a stream gadget touches only its folder.
//
// With oclif.manifest.json (written by every build), oclif imports this module only to run a
// command (help and the command list come from the manifest), so each command the manifest
// names is a stand-in that imports what it runs when it runs, as with a commands directory: a
// hand-written command its module, a stream gadget's command the registry. Without the manifest
// every class is loaded, for help; loaded.ts does the same for the manifest generator
// (scripts/gen-oclif-manifest.mjs).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Config } from '@oclif/core';
import { packageRoot } from '#gadgets/framework/paths.js';
import { listGadgets } from '#gadgets/framework/registry.js';
import { commandId, streamGadgetCommand } from './stream-gadget.js';

type Load = () => Promise<{ default: Command.Class }>;

/** Commands that are not a gadget's stream, including the verbs of traceloop and advise. */
const HAND_WRITTEN: Record<string, Load> = {
  daemon: () => import('./daemon.js'),
  deploy: () => import('./deploy.js'),
  'list-containers': () => import('./list-containers.js'),
  'list-gadgets': () => import('./list-gadgets.js'),
  ui: () => import('./ui.js'),
  undeploy: () => import('./undeploy.js'),
  version: () => import('./version.js'),
  'completion:fish': () => import('./completion/fish.js'),
  'completion:install': () => import('./completion/install.js'),
  'traceloop:delete': () => import('./traceloop/delete.js'),
  'traceloop:list': () => import('./traceloop/list.js'),
  'traceloop:show': () => import('./traceloop/show.js'),
  'traceloop:start': () => import('./traceloop/start.js'),
  'traceloop:stop': () => import('./traceloop/stop.js'),
  'advise:network-policy:graph': () => import('./advise/network-policy/graph.js'),
  'advise:network-policy:monitor': () => import('./advise/network-policy/monitor.js'),
  'advise:network-policy:report': () => import('./advise/network-policy/report.js'),
  'advise:network-policy:verify': () => import('./advise/network-policy/verify.js'),
};

/** What oclif needs of a command class to run it (it sets id and plugin first). */
interface Runnable {
  id?: string;
  plugin?: Command.Class['plugin'];
  run(argv: string[], config: Config): Promise<unknown>;
}

/** A stand-in that imports the command's module when it runs. */
function lazy(load: Load): Runnable {
  return {
    async run(argv, config) {
      const cmd = (await load()).default;
      cmd.id = this.id!;
      cmd.plugin = this.plugin;
      return cmd.run(argv, config);
    },
  };
}

/**
 * The generated commands: one per runnable gadget, except those whose words are a topic of
 * hand-written commands (advise network-policy: monitor, report, ...), which have verbs of their own.
 */
async function streamCommands(): Promise<Record<string, Command.Class>> {
  const ids = Object.keys(HAND_WRITTEN);
  const out: Record<string, Command.Class> = {};
  for (const d of await listGadgets()) {
    const id = commandId(d);
    if (ids.some((h) => h.startsWith(id + ':'))) continue;
    if (id in HAND_WRITTEN || id in out) {
      throw new Error(`gadget ${d.name}: command "${d.command.join(' ')}" is already taken`);
    }
    out[id] = streamGadgetCommand(d);
  }
  return out;
}

/** The stream gadget command `id`, made when it runs. */
const streamCommand =
  (id: string): Load =>
  async () => {
    const cmd = (await streamCommands())[id];
    if (!cmd) throw new Error(`no gadget has the command "${id.replaceAll(':', ' ')}"`);
    return { default: cmd };
  };

/** Every command class, loaded (for help without a manifest, and for the manifest itself). */
export async function loadCommands(): Promise<Record<string, Command.Class>> {
  const entries = await Promise.all(
    Object.entries(HAND_WRITTEN).map(async ([id, load]) => [id, (await load()).default] as const),
  );
  return { ...Object.fromEntries(entries), ...(await streamCommands()) };
}

/** The command ids of oclif.manifest.json, or undefined without one. */
function manifestIds(): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(packageRoot(), 'oclif.manifest.json'), 'utf8');
  } catch {
    return undefined;
  }
  return Object.keys((JSON.parse(text) as { commands: Record<string, unknown> }).commands);
}

const ids = manifestIds();

export const COMMANDS: Record<string, Command.Class | Runnable> = ids
  ? Object.fromEntries(ids.map((id) => [id, lazy(HAND_WRITTEN[id] ?? streamCommand(id))]))
  : await loadCommands();
