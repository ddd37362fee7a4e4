import { Command } from '@oclif/core';
import { debugFlag, kubernetesFlags, modeFlags } from '../../flags.js';
import { sessionFlag, traceloopStop } from '../../services/traceloop/traceloop.js';

export default class TraceloopStop extends Command {
  static override summary =
    'Stop recording: programs detached, pins removed; recordings stay readable until delete';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock',
  ];
  static override flags = { ...modeFlags, ...kubernetesFlags, ...sessionFlag, ...debugFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(TraceloopStop);
    await traceloopStop(flags);
  }
}
