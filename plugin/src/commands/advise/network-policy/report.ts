import { Command, Flags } from '@oclif/core';
import { debugFlag } from '../../../flags.js';
import { reportCommand } from '../../../services/advise_network_policy/commands.js';

export default class AdviseNetworkPolicyReport extends Command {
  static override summary = 'Write NetworkPolicies that allow exactly the recorded flows';
  static override description = `One networking.k8s.io/v1 NetworkPolicy per workload seen as a local end, covering Ingress and
Egress: pods by podSelector + namespaceSelector, Services by the pods behind them, other
addresses by ipBlock /32 or /128, DNS lookups to kube-dns. Node traffic is left out (listed
in the header). Output is sorted and stable.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --input flows.ndjson > policies.yaml',
    '<%= config.bin %> <%= command.id %> --input node1.ndjson --input node2.ndjson --named-ports',
  ];
  static override flags = {
    input: Flags.string({
      char: 'i',
      multiple: true,
      required: true,
      description: 'Flow file (NDJSON from monitor; - for stdin). Repeatable: files are merged.',
      helpValue: 'FILE',
    }),
    output: Flags.string({
      char: 'o',
      description: 'Write the YAML here instead of stdout.',
      helpValue: 'FILE',
    }),
    'include-node': Flags.boolean({
      description: 'Allow node traffic by ipBlock instead of leaving it out.',
    }),
    'named-ports': Flags.boolean({
      description: "Use the destination's port names where recorded.",
    }),
    'dns-namespace': Flags.string({
      description: 'Namespace of the cluster DNS pods (default kube-system).',
      helpValue: 'NS',
    }),
    'dns-selector': Flags.string({
      description: 'Labels of the cluster DNS pods (default k8s-app=kube-dns).',
      helpValue: 'K=V,...',
    }),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AdviseNetworkPolicyReport);
    await reportCommand(flags);
  }
}
