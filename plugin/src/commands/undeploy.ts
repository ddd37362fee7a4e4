import { Command } from '@oclif/core';
import { debugFlag, kubernetesFlags, waitFlags } from '../flags.js';

export default class Undeploy extends Command {
  static override summary = 'Remove everything deploy created from the cluster';
  static override description =
    'Deletes the gadget ClusterRoleBinding and ClusterRole and namespace gadget (with its ' +
    'ServiceAccount and DaemonSet): every object labelled app.kubernetes.io/managed-by=kubectl-gadget.';
  static override examples = ['<%= config.bin %> <%= command.id %> --wait'];
  static override flags = {
    ...waitFlags('Wait until the objects, namespace included, are gone.'),
    kubeconfig: kubernetesFlags.kubeconfig,
    context: kubernetesFlags.context,
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Undeploy);
    const { undeploy } = await import('../services/deploy/deploy.js');
    await undeploy({
      wait: flags.wait,
      timeout: flags.timeout,
      kubeconfig: flags.kubeconfig,
      context: flags.context,
    });
  }
}
