import { Args, Command } from '@oclif/core';
import { debugFlag } from '../../flags.js';
import { recordingFlags, traceloopDelete } from '../../services/traceloop/traceloop.js';

export default class TraceloopDelete extends Command {
  static override summary =
    "Delete a container's recordings, those -n/-p/-c/-l select, or (none given) everything: recording stops, pins removed";
  static override examples = [
    '<%= config.bin %> <%= command.id %> 3f2a9c1b7d6e --remote unix:///run/kubectl-gadget/gadget.sock',
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock',
    '<%= config.bin %> <%= command.id %> -n shop',
  ];
  static override args = {
    container: Args.string({
      description: 'container id (prefix), container name, pod, pod/container; none: everything',
    }),
  };
  static override flags = { ...recordingFlags, ...debugFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TraceloopDelete);
    await traceloopDelete(flags, args.container);
  }
}
