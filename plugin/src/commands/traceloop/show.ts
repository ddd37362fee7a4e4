import { Args, Command, Flags } from '@oclif/core';
import { debugFlag, filterFlag, kubernetesFlags, modeFlags, outputFlag } from '../../flags.js';
import { SHOW_COLUMNS, sessionFlag, traceloopShow } from '../../services/traceloop/traceloop.js';

export default class TraceloopShow extends Command {
  static override summary =
    "Show a container's recorded syscalls, oldest first (also after it exited)";
  static override description = `The container is a container id (or a prefix), a container name, a pod, pod/container
or namespace/pod/container. For a container that restarted, the newest instance is shown and
the others are listed; --instance picks one. Errors show as errno names; syscalls that had not
returned show "?".`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> 3f2a9c1b7d6e --remote unix:///run/kubectl-gadget/gadget.sock',
    '<%= config.bin %> <%= command.id %> web-7d4b9/app --last 50 -o json',
    "<%= config.bin %> <%= command.id %> web-7d4b9/app -F syscall:~^open -F 'ret:<0'",
  ];
  static override args = {
    container: Args.string({
      description: 'container id (prefix), container name, pod, pod/container',
      required: true,
    }),
  };
  static override flags = {
    ...modeFlags,
    ...kubernetesFlags,
    ...sessionFlag,
    instance: Flags.integer({
      description: 'Instance of a restarted container (the INSTANCE column of `traceloop list`).',
      min: 1,
    }),
    last: Flags.integer({ description: 'Only the last N records.', min: 1 }),
    output: outputFlag(SHOW_COLUMNS),
    filter: filterFlag(SHOW_COLUMNS),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TraceloopShow);
    await traceloopShow(flags, args.container);
  }
}
