// oclif help as a kubectl plugin's: kubectl gives a plugin no sign that it started it, so usage
// and examples always say `kubectl gadget ...` (package.json oclif.helpClass). oclif renders
// `config.bin` there (`<%= config.bin %>` in examples); help gets a view of the config whose bin is
// "kubectl gadget", while the real bin (kubectl-gadget) keeps naming the executable elsewhere
// (shell completion scripts, environment variables).

import { Help, type Config, type Interfaces } from '@oclif/core';

/** How help names the CLI. */
export const DISPLAY_BIN = 'kubectl gadget';

/** The config as help sees it: every property of `config`, but bin. */
export function helpConfig(config: Config): Config {
  const view = Object.create(config) as Config;
  Object.defineProperty(view, 'bin', { value: DISPLAY_BIN, enumerable: true });
  return view;
}

export default class KubectlPluginHelp extends Help {
  constructor(config: Interfaces.Config, opts: Partial<Interfaces.HelpOptions> = {}) {
    super(helpConfig(config as Config), opts);
  }
}
