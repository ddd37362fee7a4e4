// Bundles the `ui` page (plugin/src/ui/web/, Preact) with esbuild into dist/ui/: index.html,
// app.js, app.css; the server (plugin/src/services/ui/server.ts) serves exactly these files.
// Type-checked first with the page's own tsconfig (DOM types, Preact JSX).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const web = 'plugin/src/ui/web';
const out = 'dist/ui';
execFileSync('npx', ['tsc', '-p', `${web}/tsconfig.json`], { stdio: 'inherit' });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: `${web}/main.tsx` },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(`${web}/index.html`, `${out}/index.html`);
