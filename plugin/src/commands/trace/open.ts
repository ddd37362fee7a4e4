import { Command } from '@oclif/core';
import { descriptor } from '#gadgets/trace_open/gadget.js';
import { gadgetFlags, helpDescription } from '../../flags.js';
import { runGadgetCommand } from '../../services/gadget-command.js';

export default class TraceOpen extends Command {
  static override summary = descriptor.description;
  static override description = helpDescription(descriptor);
  static override examples = [
    '<%= config.bin %> <%= command.id %> --local --failed',
    '<%= config.bin %> <%= command.id %> --remote tcp://127.0.0.1:7878 --prefix /etc/ -o json',
  ];
  static override flags = gadgetFlags(descriptor);

  async run(): Promise<void> {
    const { flags } = await this.parse(TraceOpen);
    await runGadgetCommand(descriptor, flags);
  }
}
