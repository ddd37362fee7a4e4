import { Command, Flags } from '@oclif/core';
import { debugFlag, outputFlag } from '../../../flags.js';
import { verifyCommand } from '../../../services/advise_network_policy/commands.js';

export default class AdviseNetworkPolicyVerify extends Command {
  static override summary =
    'Replay recorded flows against NetworkPolicies: which would be allowed, which denied';
  static override description = `Evaluates every flow under NetworkPolicy semantics (isolation by policyTypes, union of rules,
podSelector and namespaceSelector with matchExpressions, ipBlock with except, ports with endPort,
named ports; egress at the source and ingress at the destination; Services by their backends).
Exits 1 when any recorded flow would be denied. For a denied flow, -o json gives "denials":
the pod on each denying side, the policies isolating it, and for each of their rules why it
does not match (selector, namespace, ipBlock, port or protocol).`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --input flows.ndjson --policies policies.yaml',
    '<%= config.bin %> <%= command.id %> --input flows.ndjson --from-cluster --show denied',
    '<%= config.bin %> <%= command.id %> --input flows.ndjson --from-cluster --show denied -o json',
  ];
  static override flags = {
    input: Flags.string({
      char: 'i',
      multiple: true,
      required: true,
      description: 'Flow file (NDJSON from monitor; - for stdin). Repeatable.',
      helpValue: 'FILE',
    }),
    policies: Flags.string({
      char: 'p',
      multiple: true,
      description:
        'NetworkPolicies (multi-document YAML; Namespace objects give namespace labels). Repeatable.',
      helpValue: 'FILE',
    }),
    'from-cluster': Flags.boolean({
      description: "Use the cluster's NetworkPolicies and Namespaces (--kubeconfig, --context).",
    }),
    kubeconfig: Flags.string({
      description: 'Path to the kubeconfig file.',
      helpGroup: 'KUBERNETES',
    }),
    context: Flags.string({ description: 'Kubeconfig context to use.', helpGroup: 'KUBERNETES' }),
    show: Flags.string({
      options: ['all', 'denied', 'allowed'],
      default: 'all',
      description: 'Which flows to list.',
    }),
    output: outputFlag(),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AdviseNetworkPolicyVerify);
    const code = await verifyCommand({
      ...flags,
      show: flags.show as 'all' | 'denied' | 'allowed',
    });
    if (code !== 0) process.exitCode = code;
  }
}
