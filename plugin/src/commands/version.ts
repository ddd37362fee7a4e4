import { Command } from '@oclif/core';
import { debugFlag, modeFlags, outputFlag } from '../flags.js';
import { showVersion } from '../services/lists.js';

export default class Version extends Command {
  static override summary = "Print the client version (with --remote also the daemon's)";
  static override flags = {
    remote: modeFlags.remote,
    output: outputFlag([]),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Version);
    await showVersion(this.config.version, flags);
  }
}
