// `kubectl gadget completion fish`: fish completion for `kubectl-gadget ...`. @oclif/plugin-autocomplete
// 3.2.x (the last line that runs on Node 20) writes bash and zsh only, so fish asks the same engine
// kubectl does (kubectl_complete-gadget, beside the kubectl-gadget on PATH) and drops cobra's
// directive line. `kubectl gadget ...` in fish goes through kubectl's own completion instead.

import { Command } from '@oclif/core';

export function fishScript(): string {
  return `# kubectl-gadget completion for fish: kubectl-gadget completion fish | source
function __kubectl_gadget_complete
    set -l p (command -s kubectl-gadget); or return
    set p (readlink -f -- $p); or return
    set -l words (commandline -opc)
    set -e words[1]
    set -l completer (dirname -- $p)/kubectl_complete-gadget
    for line in (command $completer $words (commandline -ct) 2>/dev/null)
        string match -q -- ':*' $line; or echo $line
    end
end
complete -c kubectl-gadget -f -a '(__kubectl_gadget_complete)'
`;
}

export default class CompletionFish extends Command {
  static override summary = 'Print the fish completion script for kubectl-gadget';
  static override description =
    'Load it in the current shell with `kubectl-gadget completion fish | source`, or save it as ' +
    '~/.config/fish/completions/kubectl-gadget.fish. bash and zsh: `kubectl gadget autocomplete bash|zsh`.';
  static override examples = [
    '<%= config.bin %> <%= command.id %> > ~/.config/fish/completions/kubectl-gadget.fish',
  ];

  async run(): Promise<void> {
    await this.parse(CompletionFish);
    process.stdout.write(fishScript());
  }
}
