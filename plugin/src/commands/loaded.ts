// The command map with every class loaded, for scripts/gen-oclif-manifest.mjs (oclif reads each
// command's flags and help from its class); the CLI itself loads index.ts.

import { loadCommands } from './index.js';

export const COMMANDS = await loadCommands();
