import { Command, Flags } from '@oclif/core';
import { descriptor } from '#gadgets/advise_network_policy/gadget.js';
import {
  containerFlags,
  debugFlag,
  kubernetesFlags,
  modeFlags,
  paramFlags,
  stopTimeoutFlag,
} from '../../../flags.js';
import { monitorCommand } from '../../../services/advise_network_policy/commands.js';

export default class AdviseNetworkPolicyMonitor extends Command {
  static override summary = 'Record the network flows of pods, for report, verify and graph';
  static override description = `${descriptor.docs ?? ''}

Each distinct flow (local workload, direction, peer, port, protocol) becomes one NDJSON record with
its count and first/last seen (schema: docs/network-policy.md). -o/--output takes a format
(columns, columns=a,b, json) or a file, and may be given twice.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --local --output flows.ndjson --timeout 600',
    '<%= config.bin %> <%= command.id %> --local -o columns -o flows.ndjson --from-cluster',
    '<%= config.bin %> <%= command.id %> --remote unix:///run/kubectl-gadget/gadget.sock -o json --timeout 60 > flows.ndjson',
  ];
  static override flags = {
    ...modeFlags,
    ...kubernetesFlags,
    ...containerFlags,
    output: Flags.string({
      char: 'o',
      multiple: true,
      description:
        'Live format (columns | columns=a,b | json: the records at the end) or the NDJSON file to write.',
      helpValue: 'FORMAT|FILE',
      helpGroup: 'OUTPUT',
    }),
    timeout: stopTimeoutFlag(),
    'from-cluster': Flags.boolean({
      description:
        'Name pods, Services and nodes through the API server (--kubeconfig, --context; always on in Kubernetes mode).',
      helpGroup: 'KUBERNETES',
    }),
    'keep-loopback': Flags.boolean({
      description: 'Keep flows to loopback addresses (inside one pod).',
      helpGroup: 'GADGET',
    }),
    ...paramFlags(descriptor.params),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AdviseNetworkPolicyMonitor);
    const { output, ...rest } = flags;
    await monitorCommand({ ...(rest as Record<string, unknown>), out: output ?? [] });
  }
}
