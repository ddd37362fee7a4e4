import { Command } from '@oclif/core';
import { version } from '#gadgets/framework/version.js';
import { debugFlag, kubernetesFlags, modeFlags, outputFlag, remoteTlsFlags } from '../flags.js';
import { showVersion } from '../services/lists.js';

export default class Version extends Command {
  static override summary =
    "Print the client version and the daemons' (each node's, or with --remote the one's)";
  static override description =
    'Versions carry the build id (+commit[.dirty].buildtime) when the build stamped one. ' +
    'Exits 0 when no cluster is configured or reachable (the server line says why); ' +
    'with --remote an unreachable daemon is an error (exit 1).';
  static override flags = {
    remote: modeFlags.remote,
    ...remoteTlsFlags,
    kubeconfig: kubernetesFlags.kubeconfig,
    context: kubernetesFlags.context,
    node: kubernetesFlags.node,
    output: outputFlag([]),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Version);
    // the client's own version with its build id, not oclif's package.json version
    await showVersion(version, flags);
  }
}
