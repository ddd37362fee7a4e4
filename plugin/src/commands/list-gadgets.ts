import { Command } from '@oclif/core';
import { debugFlag, modeFlags, outputFlag, remoteTlsFlags } from '../flags.js';
import { GADGET_COLUMNS, listGadgetsCommand } from '../services/lists.js';

export default class ListGadgets extends Command {
  static override summary = "List the available gadgets (with --remote: the daemon's)";
  static override flags = {
    remote: modeFlags.remote,
    ...remoteTlsFlags,
    output: outputFlag(GADGET_COLUMNS),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ListGadgets);
    await listGadgetsCommand(flags);
  }
}
