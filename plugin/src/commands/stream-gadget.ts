// The command of a stream gadget (trace exec, trace open, ...), made from its descriptor: flags
// from its params, help from its description, docs and examples. index.ts makes one per gadget
// the registry finds, so a new stream gadget needs no file here.

import { Command } from '@oclif/core';
import type { GadgetDescriptor } from '#gadgets/framework/types.js';
import { gadgetFlags, helpDescription } from '../flags.js';
import { runGadgetCommand } from '../services/gadget-command.js';

/** The oclif command id of a gadget: its command words joined by ':' (trace_exec -> trace:exec). */
export function commandId(descriptor: Pick<GadgetDescriptor, 'command'>): string {
  return descriptor.command.join(':');
}

export function streamGadgetCommand(descriptor: GadgetDescriptor): Command.Class {
  return class StreamGadgetCommand extends Command {
    static override summary = descriptor.description;
    static override description = helpDescription(descriptor);
    static override examples = (descriptor.examples ?? []).map(
      (args) => `<%= config.bin %> <%= command.id %> ${args}`,
    );
    static override flags = gadgetFlags(descriptor);

    async run(): Promise<void> {
      const { flags } = await this.parse(StreamGadgetCommand);
      await runGadgetCommand(descriptor, flags);
    }
  };
}
