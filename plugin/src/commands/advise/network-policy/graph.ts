import { Command, Flags } from '@oclif/core';
import { debugFlag } from '../../../flags.js';
import { graphCommand } from '../../../services/advise_network_policy/commands.js';
import type { GraphFormat } from '../../../services/advise_network_policy/graph.js';

export default class AdviseNetworkPolicyGraph extends Command {
  static override summary = 'Draw the service dependency map of recorded flows (Mermaid, DOT, SVG)';
  static override description = `Workloads are nodes (boxed by namespace), flows are edges with port/protocol and counts; a
connection recorded at both ends counts once. SVG is rendered by Graphviz (dot -Tsvg).`;
  static override examples = [
    '<%= config.bin %> <%= command.id %> --input flows.ndjson > map.mmd',
    '<%= config.bin %> <%= command.id %> --input flows.ndjson --output map.svg',
  ];
  static override flags = {
    input: Flags.string({
      char: 'i',
      multiple: true,
      required: true,
      description: 'Flow file (NDJSON from monitor; - for stdin). Repeatable.',
      helpValue: 'FILE',
    }),
    format: Flags.string({
      char: 'f',
      options: ['mermaid', 'dot', 'svg'],
      description: 'Output format (default: from the --output extension, else mermaid).',
    }),
    output: Flags.string({
      char: 'o',
      description: 'Write here instead of stdout.',
      helpValue: 'FILE',
    }),
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AdviseNetworkPolicyGraph);
    const { format, ...rest } = flags;
    await graphCommand({ ...rest, ...(format ? { format: format as GraphFormat } : {}) });
  }
}
