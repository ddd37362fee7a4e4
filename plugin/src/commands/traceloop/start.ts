import { Command, Flags } from '@oclif/core';
import { containerFlags, debugFlag, kubernetesFlags, modeFlags, outputFlag } from '../../flags.js';
import {
  SESSION_COLUMNS,
  TRACELOOP_HELP,
  traceloopStart,
} from '../../services/traceloop/traceloop.js';

export default class TraceloopStart extends Command {
  static override summary = 'Start recording the syscalls of containers (a flight recorder)';
  static override description = TRACELOOP_HELP;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock',
    '<%= config.bin %> <%= command.id %> -n shop --syscalls 8192 --syscall-filter openat,connect,execve',
  ];
  static override flags = {
    ...modeFlags,
    ...kubernetesFlags,
    containername: containerFlags.containername,
    'container-id': containerFlags['container-id'],
    'syscall-filter': Flags.string({
      description: 'Record only these syscalls (comma-separated or repeated), e.g. openat,execve.',
      multiple: true,
    }),
    syscalls: Flags.integer({
      description:
        'Syscalls kept per container (rounded up to a power of two; default 2048, max 65536).',
      min: 1,
      max: 65536,
    }),
    'max-memory': Flags.integer({
      description:
        'Memory cap of all recordings on a node, MiB (default 64). When full, the oldest recordings of exited containers are evicted first.',
      min: 1,
    }),
    durations: Flags.boolean({
      description:
        'Record when each syscall returns too: `show` prints its duration as strace -T does (<0.000123>). A second clock read per syscall.',
    }),
    output: outputFlag(SESSION_COLUMNS),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TraceloopStart);
    await traceloopStart(flags);
  }
}
