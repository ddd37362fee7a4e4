// `kubectl gadget ui --local` in a real headless chromium, on the real kernel: the Events view runs
// trace exec with a -F filter, an exec made by the test appears in the table (its latency is
// printed; the bound is 1 s), the row's details and the NDJSON export carry exactly that
// exec, Stop and Ctrl-C leave no BPF object behind. The server: 403 without the token (or with a
// wrong one or a foreign Host), a loopback-only socket, the CSP header. KG_UI_SCREENSHOTS=1 saves
// docs/ui/events.png.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { marker, runQuiet, sleep } from '../helpers/cli.js';
import { count, heldClosure, waitReleased } from '../helpers/bpf.js';
import type { BpfIds } from '../helpers/bpf.js';
import { startDaemon } from '../helpers/daemon.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { browserMissing, maybeScreenshot, openBrowser, startUi } from './browser.js';
import type { UiBrowser, UiProcess } from './browser.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = !isRoot ? 'needs root (--local)' : browserMissing();

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:";

/** The page's document, typed for the functions run in the page (serialized: no helper can be
 * called from them; this tsconfig has no DOM lib). */
interface PageNode {
  textContent: string | null;
}
interface PageDoc {
  querySelector(s: string): PageNode | null;
  querySelectorAll(s: string): ArrayLike<PageNode>;
}

/** A raw GET (node's http, so the Host header is ours to set). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs argv to its exit; resolves with its pid. */
function exec(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', () => resolve(p.pid!));
  });
}

describe('kubectl gadget ui --local: Events view in chromium', { skip, concurrency: 1 }, () => {
  let ui: UiProcess;
  let b: UiBrowser;
  /** what the ui process held while its run was attached */
  let held: BpfIds | undefined;

  before(async () => {
    ui = await startUi(['--local']);
    b = await openBrowser();
  });

  after(async () => {
    await b?.close();
    await ui?.cli.stop();
  });

  test('a request without the token gets 403; a wrong token or a foreign Host too', async () => {
    for (const path of [
      '/',
      '/app.js',
      '/api/events/gadgets',
      '/api/events/stream?gadget=trace_exec',
    ]) {
      const r = await get(ui.port, path);
      assert.equal(r.status, 403, `${path} without a token`);
      assert.match(r.body, /^forbidden: .*token/);
    }
    const wrong = await get(ui.port, `/?token=${'0'.repeat(32)}`);
    assert.equal(wrong.status, 403);
    const header = await get(ui.port, '/api/events/gadgets', { 'X-Gadget-Token': ui.token });
    assert.equal(header.status, 200);
    // DNS rebinding: the right token under another name is still refused
    const host = await get(ui.port, '/api/events/gadgets', {
      'X-Gadget-Token': ui.token,
      Host: `evil.example:${ui.port}`,
    });
    assert.equal(host.status, 403);
  });

  test('the first load trades the token for an HttpOnly cookie; every answer carries the CSP', async () => {
    const first = await get(ui.port, `/?token=${ui.token}`);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, '/');
    const cookie = String(first.headers['set-cookie']);
    assert.match(cookie, new RegExp(`^kg_ui_token=${ui.token}; HttpOnly; SameSite=Strict; Path=/`));
    for (const r of [
      first,
      await get(ui.port, '/'),
      await get(ui.port, '/', { Cookie: cookie.split(';')[0]! }),
    ]) {
      assert.ok(String(r.headers['content-security-policy']).startsWith(CSP), 'CSP header');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    const page = await get(ui.port, '/', { Cookie: cookie.split(';')[0]! });
    assert.equal(page.status, 200);
    // nothing loaded from outside: every src/href of the page is a local path
    for (const m of page.body.matchAll(/(?:src|href)="([^"]*)"/g))
      assert.match(m[1]!, /^(\/[\w.]+|data:,)$/);
  });

  test('the server listens on 127.0.0.1 only (its socket)', () => {
    const lines = execFileSync('ss', ['-Htlnp'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(`pid=${ui.cli.pid},`));
    assert.equal(lines.length, 1, `one listening socket of the ui process: ${lines.join(' | ')}`);
    const local = lines[0]!.trim().split(/\s+/)[3];
    assert.equal(local, `127.0.0.1:${ui.port}`);
  });

  test('an exec made by the test shows in the table, its details and the NDJSON export', async () => {
    const { page, errors } = b;
    await page.goto(ui.url);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    await page.selectOption('#gadget', 'trace_exec');
    // -F on the page as on the command line: only the marker programs pass
    await page.fill('#filters', 'comm:~^(true|echo)$');
    await page.click('#start');
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { document: PageDoc }).document.querySelector('#status')
          ?.textContent === 'running',
    );
    const rowWith = (m: string): Promise<unknown> =>
      page.waitForFunction(
        (m) =>
          Array.from(
            (globalThis as unknown as { document: PageDoc }).document.querySelectorAll(
              '#events-table tbody td',
            ),
          ).some((td) => td.textContent?.includes(m)),
        m,
        { polling: 'raf', timeout: 2000 },
      );
    // ready: the program is attached once a marker exec shows
    const ready = marker('ui-ready');
    const readyBy = Date.now() + 30_000;
    for (;;) {
      await runQuiet('/bin/true', [ready]);
      try {
        await rowWith(ready);
        break;
      } catch (e) {
        if (Date.now() > readyBy) throw e;
      }
    }
    const m = marker('ui-exec');
    const t0 = Date.now();
    const pid = await exec(['/bin/echo', m]);
    await rowWith(m);
    const ms = Date.now() - t0;
    console.log(`# ui: exec -> row in the table: ${ms} ms`);
    assert.ok(ms < 1000, `the exec showed after ${ms} ms (the issue's bound: 1 s)`);
    // the noise filter held: every row is true or echo
    const headers = await page.$$eval('#events-table thead th', (ths) =>
      ths.map((th) => th.textContent),
    );
    const col = headers.indexOf('COMM') + 1;
    assert.ok(col > 0, `a COMM column in ${headers.join(',')}`);
    const comms = await page.$$eval(`#events-table tbody tr td:nth-child(${col})`, (tds) =>
      tds.map((td) => td.textContent),
    );
    assert.ok(comms.length >= 2);
    for (const c of comms) assert.ok(c === 'true' || c === 'echo', `row of comm ${c}`);

    await page.click(`#events-table tbody tr:has(td:text-is("${pid}"))`);
    const details = Object.fromEntries(
      await page.$$eval('#details tr', (trs) =>
        trs.map((tr) => [tr.querySelector('th')?.textContent, tr.querySelector('td')?.textContent]),
      ),
    );
    assert.equal(details.pid, String(pid));
    assert.equal(details.comm, 'echo');
    assert.equal(details.args, `/bin/echo ${m}`);
    assert.equal(details.ret, '0');
    await maybeScreenshot(page, 'events');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const lines = readFileSync((await download.path())!, 'utf8')
      .trimEnd()
      .split('\n');
    const inView = Number(await page.textContent('#n-view'));
    assert.equal(lines.length, inView, 'the export holds the rows in view');
    const exported = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = exported.filter((e) => Array.isArray(e.args) && e.args[1] === m);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.pid, pid);
    assert.deepEqual(mine[0]!.args, ['/bin/echo', m]);
    held = heldClosure(ui.cli.pid);
    assert.ok(count(held) > 0, 'the run holds BPF objects');

    await page.click('#stop');
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { document: PageDoc }).document.querySelector('#status')
          ?.textContent === 'stopped',
    );
    // stopped means detached: an exec now does not reach the page
    const late = marker('ui-late');
    await exec(['/bin/echo', late]);
    await sleep(500);
    assert.equal(await page.locator(`td:text-is("/bin/echo ${late}")`).count(), 0);
    assert.equal(Number(await page.textContent('#n-lost')), 0);
    assert.equal(Number(await page.textContent('#n-dropped')), 0);
    assert.deepEqual(errors, [], 'no console error (a CSP violation would be one)');
  });

  test('a bad -F is one line with a hint, and no run starts', async () => {
    const { page } = b;
    await page.fill('#filters', 'nosuch:1');
    await page.click('#start');
    const err = await page.textContent('#error', { timeout: 5000 });
    assert.match(err ?? '', /nosuch.*valid columns are/);
    assert.ok(!(err ?? '').includes('\n'));
    assert.equal(await page.locator('#stop').count(), 0, 'no run started');
  });

  test('Ctrl-C ends the ui process; nothing stays loaded', async () => {
    const x = await ui.cli.stop('SIGINT');
    assert.equal(x.code, 0, x.stderr);
    // (not a global check: other tests may load their own objects meanwhile)
    assert.ok(held, 'the exec test ran');
    await waitReleased(held, 10_000, 'objects the ui run held');
  });
});

describe(
  'kubectl gadget ui --remote: a run streams from a real daemon',
  { skip: !isRoot && 'needs root (the daemon)' },
  () => {
    let daemon: TestDaemon;
    let ui: UiProcess;

    before(async () => {
      daemon = await startDaemon('ui');
      ui = await startUi(['--remote', daemon.addr]);
    });

    after(async () => {
      await ui?.cli.stop();
      await daemon?.cleanup();
    });

    test('an exec made by the test arrives over SSE with its pid and args', async () => {
      const ac = new AbortController();
      const q = new URLSearchParams({ gadget: 'trace_exec', filter: 'comm:echo' });
      const r = await fetch(`${ui.origin}/api/events/stream?${q}`, {
        headers: { 'X-Gadget-Token': ui.token },
        signal: ac.signal,
      });
      assert.equal(r.status, 200);
      const reader = r.body!.getReader();
      let buf = '';
      const rows: Record<string, unknown>[] = [];
      const m = marker('ui-remote');
      const pids: number[] = [];
      let started = false;
      // an exec every 200 ms once the run started, until one arrives (the first may precede the attach)
      const execs = setInterval(() => {
        if (started) void exec(['/bin/echo', m]).then((p) => pids.push(p));
      }, 200);
      const giveUp = setTimeout(() => ac.abort(), 30_000);
      try {
        while (!rows.some((e) => Array.isArray(e.args) && e.args[1] === m)) {
          const { value, done } = await reader.read();
          assert.ok(!done, 'the stream ended early');
          buf += Buffer.from(value).toString('utf8');
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (!ev.startsWith('data: ')) continue;
            const msg = JSON.parse(ev.slice(6)) as {
              type: string;
              rows?: Record<string, unknown>[];
            };
            if (msg.type === 'start') started = true;
            if (msg.rows) rows.push(...msg.rows);
          }
        }
      } finally {
        clearInterval(execs);
        clearTimeout(giveUp);
        ac.abort();
      }
      await sleep(300); // the last exec's pid is known
      const mine = rows.filter((e) => Array.isArray(e.args) && e.args[1] === m);
      assert.ok(mine.length >= 1);
      for (const e of rows) assert.equal(e.comm, 'echo', 'the -F filter held');
      for (const e of mine) {
        assert.ok(
          pids.includes(e.pid as number),
          `pid ${String(e.pid)} is one of the test's execs`,
        );
        assert.deepEqual(e.args, ['/bin/echo', m]);
      }
    });
  },
);
