import { Command } from '@oclif/core';
import { debugFlag, outputFlag, sortArgv, sortFlag } from '../../flags.js';
import { LIST_COLUMNS, recordingFlags, traceloopList } from '../../services/traceloop/traceloop.js';

export default class TraceloopList extends Command {
  static override summary = 'List the recordings: running and exited containers, records held';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock',
    '<%= config.bin %> <%= command.id %> -A -o json',
  ];
  static override flags = {
    ...recordingFlags,
    output: outputFlag(LIST_COLUMNS),
    sort: sortFlag(LIST_COLUMNS),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TraceloopList, sortArgv(this.argv));
    await traceloopList(flags);
  }
}
