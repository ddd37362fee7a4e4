// Shared by the `ui` browser tests: the real CLI's `ui` command (started like a user does, its URL
// read from stdout) and Debian's chromium driven by playwright-core (never a downloaded browser),
// headless, with a fresh profile each time. Screenshots go to docs/ui/ only when KG_UI_SCREENSHOTS=1
// asks (CI leaves the tree clean).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT, startCli } from '../helpers/cli.js';
import type { Cli, SpawnOptions } from '../helpers/cli.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here (node:test `skip`), or false. */
export function browserMissing(): string | false {
  return existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} not installed (scripts/setup.sh installs chromium)`;
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface UiBrowser {
  context: BrowserContext;
  page: Page;
  /** console errors and uncaught page errors (a CSP violation shows here) */
  errors: string[];
  close(): Promise<void>;
}

/** A headless chromium with a fresh --user-data-dir (removed on close) and one page. */
export async function openBrowser(): Promise<UiBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'kg-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 860 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface UiProcess {
  cli: Cli;
  /** the URL `ui` printed, with ?token= */
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  port: number;
  token: string;
}

/** Starts `kubectl-gadget ui ARGS` and waits for the URL line it prints. */
export async function startUi(args: string[], opts?: SpawnOptions): Promise<UiProcess> {
  const cli = startCli(['ui', ...args], opts);
  const url = await cli.waitUntil(
    () => /(http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/.exec(cli.stdout)?.[1],
    30_000,
    'the ui URL on stdout',
  );
  const u = new URL(url);
  return { cli, url, origin: u.origin, port: Number(u.port), token: u.searchParams.get('token')! };
}

/** Saves docs/ui/NAME.png when KG_UI_SCREENSHOTS=1 (a screenshot run: the docs' pictures). */
export async function maybeScreenshot(page: Page, name: string): Promise<string | undefined> {
  if (process.env.KG_UI_SCREENSHOTS !== '1') return undefined;
  const dir = join(ROOT, 'docs', 'ui');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
