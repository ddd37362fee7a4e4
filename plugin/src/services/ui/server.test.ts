// The ui server over real HTTP with scripted routes: the token gate, the CSP on every answer, a
// recorded string that looks like markup reaching the client escaped (JSON and SSE), a route's
// input error as a 400 with its hint, and an SSE stream whose client goes away ending the route's
// iterator (what stops a run).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CSP, startUiServer } from './server.js';
import type { UiServer } from './server.js';
import { toJsonText, UiInputError } from './types.js';

const EVIL = '</script><img src=x onerror=alert(1)>&amp;\u2028';
let server: UiServer;
let dir: string;
const ac = new AbortController();
let streamEnded: (() => void) | undefined;
const streamClosed = new Promise<void>((r) => (streamEnded = r));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kg-ui-assets-'));
  for (const f of ['index.html', 'app.js', 'app.css']) writeFileSync(join(dir, f), `/* ${f} */`);
  server = await startUiServer({
    assets: dir,
    signal: ac.signal,
    routes: [
      { method: 'GET', path: '/api/evil', handle: () => ({ comm: EVIL }) },
      {
        method: 'GET',
        path: '/api/bad',
        handle: () => {
          throw new UiInputError('unknown gadget "x"', 'pick one of trace_exec, trace_open');
        },
      },
      {
        method: 'GET',
        path: '/api/stream',
        handle: async function* (req) {
          try {
            for (let i = 0; !req.signal.aborted; i++) {
              yield { i, comm: EVIL };
              await new Promise((r) => setTimeout(r, 20));
            }
          } finally {
            streamEnded?.();
          }
        },
      },
    ],
  });
});

after(async () => {
  ac.abort();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const hdr = (): Record<string, string> => ({ 'X-Gadget-Token': server.token });

test('toJsonText escapes markup characters and keeps the value', () => {
  const t = toJsonText({ s: EVIL, n: 10n });
  assert.doesNotMatch(t, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(t), { s: EVIL, n: '10' });
});

test('no token, a wrong one: 403 with the CSP; the right one: 200', async () => {
  for (const init of [{}, { headers: { 'X-Gadget-Token': 'f'.repeat(32) } }]) {
    const r = await fetch(`http://127.0.0.1:${server.port}/api/evil`, init);
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('content-security-policy'), CSP);
  }
  const ok = await fetch(`http://127.0.0.1:${server.port}/app.js`, { headers: hdr() });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), '/* app.js */');
  assert.equal(ok.headers.get('content-security-policy'), CSP);
});

test('a recorded string goes out escaped, and parses back to itself', async () => {
  const r = await fetch(`http://127.0.0.1:${server.port}/api/evil`, { headers: hdr() });
  const text = await r.text();
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.doesNotMatch(text, /[<>&]/);
  assert.deepEqual(JSON.parse(text), { comm: EVIL });
});

test("a route's input error is a 400 with the hint", async () => {
  const r = await fetch(`http://127.0.0.1:${server.port}/api/bad`, { headers: hdr() });
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), {
    error: 'unknown gadget "x"',
    hint: 'pick one of trace_exec, trace_open',
  });
  const missing = await fetch(`http://127.0.0.1:${server.port}/api/nope`, { headers: hdr() });
  assert.equal(missing.status, 404);
});

test('SSE: escaped data lines; a client that goes away ends the route', async () => {
  const ctl = new AbortController();
  const r = await fetch(`http://127.0.0.1:${server.port}/api/stream`, {
    headers: hdr(),
    signal: ctl.signal,
  });
  assert.equal(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = r.body!.getReader();
  let text = '';
  while ((text.match(/\n\n/g) ?? []).length < 3) {
    const { value } = await reader.read();
    text += Buffer.from(value!).toString('utf8');
  }
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  assert.doesNotMatch(text, /[<>&]/);
  assert.deepEqual(JSON.parse(events[0]!.slice(6)), { i: 0, comm: EVIL });
  ctl.abort();
  await streamClosed;
});
