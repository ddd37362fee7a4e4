import { Command, Flags } from '@oclif/core';
import { debugFlag, kubernetesFlags, waitFlags } from '../flags.js';
import { DEFAULT_IMAGE_REPOSITORY, IMAGE_PULL_POLICIES } from '../runtimes/k8s/constants.js';

export default class Deploy extends Command {
  static override summary =
    'Deploy the kubectl-gadget DaemonSet (and its namespace and RBAC) to the cluster';
  static override description =
    'Applies namespace gadget, its ServiceAccount, a least-privilege ClusterRole and binding, and the ' +
    'gadget DaemonSet with server-side apply: running it again upgrades in place. The digest of ' +
    'an image that image/build-local.sh built goes into the pod template, so a rebuild under the ' +
    'same tag rolls the pods; a registry tag pushed again does not (use a new tag or IMAGE@sha256:...).';
  static override examples = [
    '<%= config.bin %> <%= command.id %> --wait',
    '<%= config.bin %> <%= command.id %> --image localhost/kubectl-gadget:dev --image-pull-policy Never',
    '<%= config.bin %> <%= command.id %> --node-selector kubernetes.io/arch=amd64 --print-only > gadget.yaml',
    '<%= config.bin %> <%= command.id %> --no-sys-admin',
    "<%= config.bin %> <%= command.id %> --redact-pattern 'x-internal-key: (\\S+)'",
  ];
  static override flags = {
    image: Flags.string({
      description: `Container image of the daemon [default: ${DEFAULT_IMAGE_REPOSITORY}:<version>].`,
      helpValue: 'IMAGE',
    }),
    'image-pull-policy': Flags.string({
      description: `Image pull policy: ${IMAGE_PULL_POLICIES.join(', ')} [default: IfNotPresent].`,
      helpValue: 'POLICY',
    }),
    'node-selector': Flags.string({
      description: 'Only nodes with these labels: key=value[,key=value].',
      helpValue: 'LABELS',
    }),
    'sys-admin': Flags.boolean({
      description:
        'Give the daemon CAP_SYS_ADMIN, to hold each exec of runc/crun until the container is named ' +
        '(fanotify). --no-sys-admin: containers that live only milliseconds may go unnamed.',
      allowNo: true,
      default: true,
    }),
    redact: Flags.boolean({
      description:
        'The daemons replace secrets in command lines and captured buffers with *** before events ' +
        'leave the node (docs/security.md). --no-redact: events carry them as they are.',
      allowNo: true,
      default: true,
    }),
    'redact-pattern': Flags.string({
      description:
        'Also redact what this JavaScript regular expression matches (its capture groups when it has ' +
        'some); repeatable; (?i) at the start ignores case.',
      multiple: true,
      helpValue: 'REGEX',
    }),
    'print-only': Flags.boolean({
      description: 'Print the manifests as YAML and contact nothing.',
    }),
    ...waitFlags('Wait until the gadget pod is ready on every node.'),
    kubeconfig: kubernetesFlags.kubeconfig,
    context: kubernetesFlags.context,
    ...debugFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Deploy);
    const { deploy } = await import('../services/deploy/deploy.js');
    await deploy({
      version: this.config.version,
      image: flags.image,
      imagePullPolicy: flags['image-pull-policy'],
      nodeSelector: flags['node-selector'],
      sysAdmin: flags['sys-admin'],
      redact: flags.redact,
      redactPatterns: flags['redact-pattern'],
      printOnly: flags['print-only'],
      wait: flags.wait,
      timeout: flags.timeout,
      kubeconfig: flags.kubeconfig,
      context: flags.context,
    });
  }
}
