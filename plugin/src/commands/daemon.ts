import { Command, Flags } from '@oclif/core';
import { DEFAULT_ADDRESS } from '#proto/ts/address.js';

export default class Daemon extends Command {
  static override summary = 'Run the node daemon: gadgets behind a gRPC API (needs root)';
  static override examples = [
    'sudo <%= config.bin %> <%= command.id %>',
    'sudo <%= config.bin %> <%= command.id %> --listen tcp://127.0.0.1:7878',
    'sudo <%= config.bin %> <%= command.id %> --metrics-listen 127.0.0.1:9477',
    'sudo <%= config.bin %> <%= command.id %> --listen tcp://0.0.0.0:7878 --tls-cert daemon.crt --tls-key daemon.key --tls-client-ca clients-ca.crt',
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
    'tls-cert': Flags.string({
      description:
        "Mutual TLS on a tcp:// listener: the daemon's certificate (PEM). Needs --tls-key and --tls-client-ca.",
      helpValue: 'FILE',
      helpGroup: 'SECURITY',
    }),
    'tls-key': Flags.string({
      description: 'The private key of --tls-cert (PEM).',
      helpValue: 'FILE',
      helpGroup: 'SECURITY',
    }),
    'tls-client-ca': Flags.string({
      description:
        "CA certificate(s) (PEM) that clients' certificates must chain to; clients without one are refused.",
      helpValue: 'FILE',
      helpGroup: 'SECURITY',
    }),
    insecure: Flags.boolean({
      description:
        'Allow a tcp:// listener beyond loopback without TLS (refused otherwise): anyone who reaches it can trace the node.',
      helpGroup: 'SECURITY',
    }),
    'max-runs': Flags.integer({
      // the default lives in daemon/src/server/security.ts (DEFAULT_MAX_RUNS)
      description:
        'Concurrent runs on this daemon; more are refused (RESOURCE_EXHAUSTED). Default 64.',
      min: 1,
      helpValue: 'N',
      helpGroup: 'SECURITY',
    }),
    'max-runs-per-caller': Flags.integer({
      description:
        'Concurrent runs of one caller (Kubernetes user, TLS client certificate subject, else connection). Default 16.',
      min: 1,
      helpValue: 'N',
      helpGroup: 'SECURITY',
    }),
    'audit-log': Flags.string({
      description:
        'Append the audit log (one JSON line per run start, end or refusal) to this file (mode 0600); default: stderr.',
      helpValue: 'FILE',
      helpGroup: 'SECURITY',
    }),
    'metrics-listen': Flags.string({
      description:
        'Serve Prometheus metrics (runs, events and losses by gadget, containers, BPF memory, RSS, traceloop) over plain HTTP at http://HOST:PORT/metrics. Counts only. Default: off (the DaemonSet uses 0.0.0.0:9477).',
      helpValue: 'HOST:PORT',
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
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      tlsClientCa: flags['tls-client-ca'],
      insecure: flags.insecure,
      maxRuns: flags['max-runs'],
      maxRunsPerCaller: flags['max-runs-per-caller'],
      auditLog: flags['audit-log'],
      metricsListen: flags['metrics-listen'],
    });
  }
}
