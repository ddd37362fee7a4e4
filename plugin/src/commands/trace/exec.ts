import { Command } from '@oclif/core';
import { descriptor } from '#gadgets/trace_exec/gadget.js';
import { gadgetFlags, helpDescription } from '../../flags.js';
import { runGadgetCommand } from '../../services/gadget-command.js';

export default class TraceExec extends Command {
  static override summary = descriptor.description;
  static override description = helpDescription(descriptor);
  static override examples = [
    '<%= config.bin %> <%= command.id %> --local',
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock -c web -o json',
    '<%= config.bin %> <%= command.id %> --local -o columns=timestamp,pid,comm,args --timeout 10',
  ];
  static override flags = gadgetFlags(descriptor);

  async run(): Promise<void> {
    const { flags } = await this.parse(TraceExec);
    await runGadgetCommand(descriptor, flags);
  }
}
