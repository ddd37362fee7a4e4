import { Command } from '@oclif/core';
import { debugFlag, kubernetesFlags, modeFlags, outputFlag } from '../flags.js';
import { showVersion } from '../services/lists.js';

export default class Version extends Command {
  static override summary =
    "Print the client version and the daemons' (each node's, or with --remote the one's)";
  static override flags = {
    remote: modeFlags.remote,
    kubeconfig: kubernetesFlags.kubeconfig,
    context: kubernetesFlags.context,
    node: kubernetesFlags.node,
    output: outputFlag([]),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Version);
    await showVersion(this.config.version, flags);
  }
}
