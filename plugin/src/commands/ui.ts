import { Command, Flags } from '@oclif/core';
import { debugFlag, kubernetesFlags, modeFlags } from '../flags.js';

export default class Ui extends Command {
  static override summary = 'Serve a local web page of live events, the service map and traceloop';
  static override description =
    'Serves a page on 127.0.0.1 only, protected by a random token in the URL it prints, with a strict Content-Security-Policy. ' +
    'Runs go through the same runtime as trace exec: Kubernetes (default), --remote ADDR or --local. Ctrl-C stops every run. See docs/ui.md.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --local --port 8080',
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock',
  ];
  static override flags = {
    ...modeFlags,
    kubeconfig: kubernetesFlags.kubeconfig,
    context: kubernetesFlags.context,
    node: kubernetesFlags.node,
    port: Flags.integer({
      description: 'Port on 127.0.0.1 to serve on (0: any free port).',
      default: 0,
      min: 0,
      max: 65535,
    }),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ui);
    const { serveUi } = await import('../services/ui/server.js');
    await serveUi(flags);
  }
}
