import { Command, Flags } from '@oclif/core';
import { debugFlag } from '../../../flags.js';
import { reportCommand } from '../../../services/advise_network_policy/commands.js';

export default class AdviseNetworkPolicyReport extends Command {
  static override summary = 'Write NetworkPolicies that allow exactly the recorded flows';
  static override description = `One networking.k8s.io/v1 NetworkPolicy per workload seen as a local end, covering Ingress and
Egress: pods by podSelector + namespaceSelector, Services by the pods behind them, other
addresses by ipBlock /32 or /128, DNS lookups to kube-dns. Node traffic is left out (listed
in the header). Output is sorted and stable.

With --from-cluster (or --policies FILE) it starts from the NetworkPolicies already there and
proposes only what the flows still need: rules appended to an existing policy of the workload,
or a new policy for a workload no policy isolates. stdout gets a unified diff of each changed or
new object (like kubectl diff); --output FILE writes the resulting objects for kubectl apply.
No existing rule is changed or removed; a policy that the additions would widen (its selector
also picks other pods) is left alone and named, with the reason.`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --input flows.ndjson > policies.yaml',
    '<%= config.bin %> <%= command.id %> --input node1.ndjson --input node2.ndjson --named-ports',
    '<%= config.bin %> <%= command.id %> --input flows.ndjson --from-cluster --output proposal.yaml',
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
      description:
        'Write the YAML here instead of stdout (merging: the resulting objects; - prints them instead of the diff).',
      helpValue: 'FILE',
    }),
    'from-cluster': Flags.boolean({
      description:
        "Merge with the cluster's NetworkPolicies (and Namespaces): print a diff of what to add.",
    }),
    policies: Flags.string({
      char: 'p',
      multiple: true,
      description: 'Merge with these NetworkPolicies (multi-document YAML). Repeatable.',
      helpValue: 'FILE',
    }),
    kubeconfig: Flags.string({
      description: 'Path to the kubeconfig file.',
      helpGroup: 'KUBERNETES',
    }),
    context: Flags.string({ description: 'Kubeconfig context to use.', helpGroup: 'KUBERNETES' }),
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
