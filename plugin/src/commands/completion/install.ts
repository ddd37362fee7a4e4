// `kubectl gadget completion install`: puts kubectl_complete-gadget on PATH, next to the
// kubectl-gadget that kubectl runs (krew links only one binary per plugin). What it writes is a
// two-line sh script that finds the completer through kubectl-gadget at each TAB, so a krew
// upgrade (a new store folder) or a rebuilt checkout keeps working without a reinstall.

import { existsSync, lstatSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { Command, Flags } from '@oclif/core';
import { UserError } from '../../errors.js';

export const COMPLETER = 'kubectl_complete-gadget';
const MARK = '# written by kubectl gadget completion install';

/** The first executable kubectl-gadget on PATH (what kubectl runs), or undefined. */
export function pluginOnPath(path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'kubectl-gadget');
    try {
      if (statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * The script: resolve kubectl-gadget (a krew link to the packaged launcher, or install-plugin.sh's
 * link to a checkout's bin/run.js) and run the completer beside its real file.
 */
export function completerScript(): string {
  return `#!/bin/sh
${MARK}: kubectl's plugin completion for kubectl gadget.
p=$(command -v kubectl-gadget) && p=$(readlink -f -- "$p") || exit 0
exec "\${p%/*}/${COMPLETER}" "$@"
`;
}

export default class CompletionInstall extends Command {
  static override summary = "Put kubectl's plugin completion (kubectl_complete-gadget) on PATH";
  static override description =
    'kubectl >= 1.26 completes `kubectl gadget ...` (verbs, flags, and namespaces, pods, containers ' +
    'and nodes from the cluster) by running kubectl_complete-gadget from PATH; krew links only ' +
    'kubectl-gadget, so this writes the completer next to it (default: the directory of the ' +
    'kubectl-gadget on PATH, e.g. ~/.krew/bin). kubectl completion itself must be on in the shell: ' +
    'source <(kubectl completion bash). For `kubectl-gadget ...` in bash, zsh and fish, see ' +
    '`kubectl gadget autocomplete`.';
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dir ~/bin',
  ];
  static override flags = {
    dir: Flags.string({
      description: 'Directory on PATH to write kubectl_complete-gadget in.',
      helpValue: 'DIR',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(CompletionInstall);
    let dir = flags.dir;
    if (dir === undefined) {
      const plugin = pluginOnPath();
      if (!plugin) {
        throw new UserError(
          'kubectl-gadget is not on PATH, so kubectl cannot run it as a plugin',
          'install it (kubectl krew install, or scripts/install-plugin.sh), or pass --dir DIR',
        );
      }
      dir = dirname(plugin);
    }
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new UserError(`--dir ${dir} is not a directory`);
    const target = join(dir, COMPLETER);
    // replace only what this command wrote (or a link, as krew would make): never a user's own file
    if (
      existsSync(target) &&
      !lstatSync(target).isSymbolicLink() &&
      !readFileSync(target, 'utf8').includes(MARK)
    ) {
      throw new UserError(
        `${target} exists and was not written by completion install`,
        'remove it first',
      );
    }
    const tmp = `${target}.tmp.${process.pid}`;
    writeFileSync(tmp, completerScript(), { mode: 0o755 });
    renameSync(tmp, target);
    const onPath = (process.env['PATH'] ?? '').split(delimiter).includes(dir);
    this.log(target);
    if (!onPath)
      process.stderr.write(
        `completion install: ${dir} is not on PATH: export PATH="${dir}:$PATH"\n`,
      );
  }
}
