// The demo page in a real browser (Debian's chromium driven by playwright-core): served by an
// in-test static server laid out like logic's (/ → web/index.html, /<name> from web/ then
// dist/web/), talking to a scripted goim peer and to a stand-in for the push API. Skipped
// without /usr/bin/chromium, except under TSIM_REQUIRE_SERVICES=1 (test/support/services.ts).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { encodeFrame } from '../../src/protocol/frame.js';
import { toolGate } from '../support/services.js';
import { FakeComet } from './fake-comet.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = toolGate('Chromium', existsSync(CHROMIUM) ? null : `not found at ${CHROMIUM} (apt-get install chromium)`);

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

interface PushCall {
  kind: string;
  query: URLSearchParams;
  body: string;
}

describe('demo page in chromium', { skip }, () => {
  let comet: FakeComet;
  let http: Server;
  let origin: string;
  let browser: Browser;
  const pushes: PushCall[] = [];

  before(async () => {
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build-client.mjs')], { cwd: root });
    comet = await FakeComet.ws({ online: 42 });
    http = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const push = /^\/goim\/push\/(room|keys|mids|all)$/.exec(url.pathname);
      if (req.method === 'POST' && push) {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          pushes.push({ kind: push[1], query: url.searchParams, body: body.toString() });
          // Deliver it as a comet would on WebSocket: an op-9 envelope around the inner frame.
          const inner = encodeFrame(Number(url.searchParams.get('operation')), body, 1, 0);
          for (let c = 1; c <= comet.connections; c++) comet.send(c, encodeFrame(9, inner, 1, 0));
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"code":0,"message":""}');
        });
        return;
      }
      const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      if (req.method !== 'GET' || !/^[\w.-]+$/.test(name)) {
        res.writeHead(404).end('404 page not found');
        return;
      }
      const candidates = [join(root, 'web', name), join(root, 'dist', 'web', name)];
      const file = candidates.find((f) => existsSync(f));
      if (file === undefined) {
        res.writeHead(404).end('404 page not found');
        return;
      }
      void readFile(file).then((data) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(data));
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
  });

  after(async () => {
    await browser?.close();
    await comet?.close();
    if (http) {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  async function openPage(query: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${origin}/?${query}`);
    return { page, errors };
  }

  it('connects, shows the online count and pushed messages, pushes and changes room', async () => {
    const wsPort = new URL(comet.url).port;
    const { page, errors } = await openPage(`port=${wsPort}&mid=7&connect=1`);
    try {
      await page.waitForSelector('#status[data-state="open"]');
      const auth = await comet.frame((f) => f.op === 7);
      assert.deepEqual(JSON.parse(auth.body.toString()), {
        mid: 7,
        room_id: 'live://1000',
        platform: 'web',
        accepts: [1000, 1001, 1002],
        history: { last: 30 },
      });
      await page.waitForFunction(() => document.getElementById('online')?.textContent === '42');

      // Room push through the form; the stand-in API delivers it back over the WebSocket.
      await page.fill('#push-body', 'hello from the page');
      await page.click('#push-form button[type="submit"]');
      const row = page.locator('#messages li.push', { hasText: 'hello from the page' });
      await row.waitFor();
      assert.equal(await row.locator('.tag').textContent(), 'op 1000');
      await page.waitForSelector('#push-reply[data-state="ok"]');
      assert.match((await page.textContent('#push-reply')) ?? '', /HTTP 200\n\{"code":0,"message":""\}/);
      const roomPush = pushes.at(-1)!;
      assert.deepEqual(
        [roomPush.kind, roomPush.query.toString(), roomPush.body],
        ['room', 'operation=1000&type=live&room=1000', 'hello from the page'],
      );

      // Push to mids.
      await page.check('input[name="target"][value="mids"]');
      await page.fill('#push-mids', '7, 8');
      await page.fill('#push-op', '1001');
      await page.fill('#push-body', 'to mids');
      await page.click('#push-form button[type="submit"]');
      await page.locator('#messages li.push', { hasText: 'to mids' }).waitFor();
      assert.deepEqual(
        [pushes.at(-1)!.kind, pushes.at(-1)!.query.getAll('mids'), pushes.at(-1)!.query.get('operation')],
        ['mids', ['7', '8'], '1001'],
      );

      // Change room.
      await page.fill('#new-room', 'live://2000');
      await page.click('#change-room');
      const change = await comet.frame((f) => f.op === 12);
      // The page opted in to history: op 12 asks for the new room's last messages (docs/history.md#opting-in).
      assert.deepEqual(JSON.parse(change.body.toString()), { room: 'live://2000', history: { last: 30 } });
      await page.waitForFunction(() => document.getElementById('current-room')?.textContent === 'live://2000');
      assert.equal(await page.inputValue('#push-room'), 'live://2000');

      // Usable at phone width: nothing wider than the viewport.
      await page.setViewportSize({ width: 360, height: 740 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than a 360px viewport`);

      // Disconnect.
      const gone = new Promise((resolve) => comet.once('disconnect', resolve));
      await page.click('#connect');
      await page.waitForSelector('#status[data-state="closed"]');
      await gone;
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
