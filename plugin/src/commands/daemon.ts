import { Command, Flags } from '@oclif/core';
import { DEFAULT_ADDRESS } from '#proto/ts/address.js';

export default class Daemon extends Command {
  static override summary = 'Run the node daemon: gadgets behind a gRPC API (needs root)';
  static override examples = [
    'sudo <%= config.bin %> <%= command.id %>',
    'sudo <%= config.bin %> <%= command.id %> --listen tcp://127.0.0.1:7878',
  ];
  static override flags = {
    listen: Flags.string({
      description: 'Address to serve on: unix:///path/to.sock or tcp://host:port.',
      default: DEFAULT_ADDRESS,
      helpValue: 'ADDR',
    }),
    node: Flags.string({ description: 'Node name to report (default: hostname).' }),
    kubernetes: Flags.boolean({
      description:
        'Kubernetes mode: runs without a filter see only pod processes unless --host; pod labels and owners from the API server (in-cluster config, or $KGADGET_KUBECONFIG); callers authorized per namespace.',
    }),
    authorization: Flags.string({
      description:
        'Kubernetes mode: "kubernetes" checks that each caller may create pods/exec in the namespaces it traces (TokenReview/client certificate + SubjectAccessReview); "none" lets anyone who reaches the daemon trace everything.',
      options: ['kubernetes', 'none'],
      default: 'kubernetes',
    }),
    redact: Flags.boolean({
      description:
        'Replace secrets in command lines and captured buffers (--password=..., Authorization: Bearer ..., URL credentials, tokens) with *** before events leave the node. Default: on with --kubernetes, else off (see docs/security.md).',
      allowNo: true,
    }),
    'redact-pattern': Flags.string({
      description:
        'Also redact what this JavaScript regular expression matches (its capture groups when it has some); repeatable; (?i) at the start ignores case. Turns redaction on.',
      multiple: true,
      helpValue: 'REGEX',
    }),
    verbose: Flags.boolean({ char: 'v', description: 'Also log info messages.' }),
    debug: Flags.boolean({ description: 'Print stack traces of errors.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    const { startDaemon } = await import('../../../daemon/src/main.js');
    await startDaemon({
      listen: flags.listen,
      node: flags.node,
      kubernetes: flags.kubernetes,
      authorization: flags.authorization as 'kubernetes' | 'none',
      verbose: flags.verbose,
      redact: flags.redact,
      redactPatterns: flags['redact-pattern'],
    });
  }
}
