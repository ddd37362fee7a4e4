// `kubectl gadget ui --remote` in a real headless chromium against a real daemon recording with
// traceloop: a podman container opens a marker path, a process in it crashes (SIGSEGV) and
// the container exits 139; after it died the
// traceloop view lists its recording, opens it and shows exactly the lines `traceloop show`
// prints for it (header included), ending with the marker open and the crash; the -F filters
// give the lines `show -F` gives; the search narrows the lines in the page. Recorded strings
// arrive as text (a marker with markup stays text). KG_UI_SCREENSHOTS=1 saves
// docs/ui/traceloop.png.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestDaemon } from '../helpers/daemon.js';
import {
  ensureRootfs,
  podmanSkip,
  removeContainer,
  runContainer,
  uniqueName,
  waitFor,
} from '../fixtures/podman.js';
import { browserMissing, maybeScreenshot, openBrowser, startUi } from './browser.js';
import type { UiBrowser, UiProcess } from './browser.js';

const skip = podmanSkip() || browserMissing();

type Ev = Record<string, unknown>;

describe('kubectl gadget ui --remote: traceloop view in chromium', { skip, concurrency: 1 }, () => {
  let d: TestDaemon | undefined;
  let ui: UiProcess | undefined;
  let b: UiBrowser | undefined;
  const name = uniqueName('ui-tl-crash');
  // markup in a recorded string: it must reach the page as text
  const markerPath = `/nonexistent-<b>${name}</b>`;

  before(async () => {
    ensureRootfs();
    d = new TestDaemon('ui-tl');
    await d.start();
    await d.ok(['traceloop', 'start', '-c', name]);
    const r = await runContainer(name, [
      '/bin/sh',
      '-c',
      // pid 1 ignores a signal it has no handler for: a child crashes, the container exits 139
      `cat '${markerPath}'; sh -c 'kill -SEGV $$'; exit $?`,
    ]);
    assert.equal(r.code, 139, `the container crashes with SIGSEGV: ${r.stderr}`);
    await waitFor(async () => {
      const l = await d!.json(['traceloop', 'list']);
      return l.some(
        (e) => (e.container as Ev).name === name && (e.container as Ev).state === 'exited',
      )
        ? true
        : undefined;
    }, 15_000);
    ui = await startUi(['--remote', d.addr], { env: d.env });
    b = await openBrowser();
  });

  after(async () => {
    await b?.close();
    await ui?.cli.stop();
    await d?.cleanup();
    await removeContainer(name);
  });

  const pageLines = async (): Promise<string[]> => {
    const header = (await b!.page.locator('#tl-show .tl-header').textContent()) ?? '';
    return [header, ...(await b!.page.locator('#tl-show .tl-line').allTextContents())];
  };
  const showLines = async (args: string[]): Promise<string[]> =>
    (await d!.ok(['traceloop', 'show', name, ...args])).stdout.split('\n').filter(Boolean);

  test("the crashed container's recording shows its last syscalls, equal to traceloop show", async () => {
    const { page, errors } = b!;
    await page.goto(ui!.url);
    await page.click('#tab-traceloop');
    const row = page.locator('#tl-recordings tbody tr', { hasText: name });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /exited /);
    await row.locator('button.tl-open').click();
    await page.locator('#tl-show .tl-line').first().waitFor();

    const expected = await showLines([]);
    const shown = await pageLines();
    assert.deepEqual(shown, expected, 'the page shows the lines traceloop show prints');
    // its last syscalls: the marker open failing, then the crash
    const open = shown.findIndex((l) => l.includes(markerPath) && l.includes('ENOENT'));
    assert.ok(open > 0, `the failed open of the marker: ${shown.slice(-8).join('\n')}`);
    assert.ok(
      shown.slice(open).some((l) => /SIGSEGV/.test(l)),
      `the crash after it: ${shown.slice(open).join('\n')}`,
    );
    // markup stays text: no <b> element was made from the recorded path
    assert.equal(await page.locator('#tl-show b').count(), 0);
    assert.equal(await page.locator('#tl-count').textContent(), `${expected.length - 1} record(s)`);
    assert.deepEqual(
      errors.filter((e) => !/^Failed to load resource: .* 404/.test(e)),
      [],
      'no console error (CSP, script)',
    );
  });

  test('-F filters give what show -F gives; the search narrows the lines', async () => {
    const { page } = b!;
    await page.fill('#tl-filters', 'comm:cat\nsyscall:!execve');
    await page.click('#tl-apply');
    const expected = await showLines(['-F', 'comm:cat', '-F', 'syscall:!execve']);
    assert.ok(expected.length >= 4, expected.join('\n'));
    await page.waitForFunction(
      `document.querySelectorAll('#tl-show .tl-line').length === ${expected.length - 1}`,
    );
    assert.deepEqual(await pageLines(), expected);

    await page.fill('#tl-search', 'enoent');
    // case-insensitive, over the whole line
    const marked = expected.slice(1).filter((l) => l.includes('ENOENT'));
    assert.equal(marked.length, 1, expected.join('\n'));
    await page.waitForFunction(`document.querySelectorAll('#tl-show .tl-line').length === 1`);
    assert.deepEqual(await pageLines(), [expected[0], ...marked]);
    assert.equal(
      await page.locator('#tl-count').textContent(),
      `1 of ${expected.length - 1} record(s) match "enoent"`,
    );

    // --last: the crash at the end, as `show --last` prints it (the screenshot's view)
    await page.fill('#tl-search', '');
    await page.fill('#tl-filters', '');
    await page.fill('#tl-last', '16');
    await page.click('#tl-apply');
    const tail = await showLines(['--last', '16']);
    await page.waitForFunction(`document.querySelectorAll('#tl-show .tl-line').length === 16`);
    assert.deepEqual(await pageLines(), tail);
    await maybeScreenshot(page, 'traceloop');

    // a bad filter: one line with a hint, from show's own parser
    await page.fill('#tl-filters', 'nosuchcolumn:1');
    await page.click('#tl-apply');
    const err = page.locator('.traceloop-view .error');
    await err.waitFor();
    assert.match(
      (await err.textContent()) ?? '',
      /^unknown column "nosuchcolumn" in --filter: valid columns are time, .*\(e\.g\. /,
    );
  });
});
