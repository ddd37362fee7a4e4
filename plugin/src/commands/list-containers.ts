import { Command } from '@oclif/core';
import {
  containerFlags,
  debugFlag,
  kubernetesFlags,
  modeFlags,
  outputFlag,
  sortArgv,
  sortFlag,
} from '../flags.js';
import { CONTAINER_COLUMNS, listContainers } from '../services/lists.js';

export default class ListContainers extends Command {
  static override summary = 'List the containers the runtime knows on the node';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --local',
    '<%= config.bin %> <%= command.id %> --local --sort -pid',
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock -o json',
  ];
  static override flags = {
    ...modeFlags,
    ...kubernetesFlags,
    containername: containerFlags.containername,
    'container-id': containerFlags['container-id'],
    output: outputFlag(CONTAINER_COLUMNS),
    sort: sortFlag(CONTAINER_COLUMNS),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ListContainers, sortArgv(this.argv));
    await listContainers(flags);
  }
}
