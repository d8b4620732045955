// The operations console in Chromium (playwright-core) against a real embedded tsim with an
// admin key: the page loads behind HTTP Basic with nothing from outside, its overview shows
// numbers that change while the test connects a client and pushes, a lookup finds that client,
// and the Disconnect button closes its socket. Skipped without /usr/bin/chromium, except under
// TSIM_REQUIRE_SERVICES=1 (test/support/services.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { GoimTestClient } from '../support/goim-client.js';
import { toolGate } from '../support/services.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = toolGate('Chromium', existsSync(CHROMIUM) ? null : `not found at ${CHROMIUM} (apt-get install chromium)`);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ADMIN_KEY = 'console-0123456789abcdef';

describe('operations console in chromium', { skip }, () => {
  let tsim: Embedded;
  let origin: string;
  let tcpPort: number;
  let browser: Browser;
  let context: BrowserContext;
  const clients: GoimTestClient[] = [];
  const foreign: string[] = [];

  before(async () => {
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build-client.mjs')], { cwd: root });
    tsim = await startEmbedded(
      buildConfig({
        env: { host: 'console-e2e' },
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        room: { signal: '20ms' },
        comet: { renewOnline: '100ms' },
        logic: { onlineReload: '100ms' },
        admin: { keys: [`tester:${ADMIN_KEY}`], statsInterval: '250ms' },
      }),
      silentLogger,
    );
    const a = tsim.addresses();
    origin = `http://127.0.0.1:${a.http.port}`;
    tcpPort = a.tcp[0].port;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
    context = await browser.newContext({ httpCredentials: { username: 'tester', password: ADMIN_KEY } });
  });

  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await tsim?.stop();
  });

  async function openConsole(): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('request', (req) => {
      if (!req.url().startsWith(`${origin}/`)) foreign.push(req.url());
    });
    const res = await page.goto(`${origin}/admin`);
    assert.equal(res?.status(), 200);
    return { page, errors };
  }

  const text = async (page: Page, id: string): Promise<string> => (await page.textContent(`#${id}`)) ?? '';

  it('is refused without the admin key', async () => {
    const anonymous = await browser.newContext();
    try {
      const page = await anonymous.newPage();
      // Headless Chromium cannot prompt for the Basic credentials the 401 asks for: the navigation fails.
      await assert.rejects(page.goto(`${origin}/admin`), /ERR_INVALID_AUTH_CREDENTIALS/);
      const res = await anonymous.request.get(`${origin}/admin/admin.js`);
      assert.equal(res.status(), 401);
      assert.equal(res.headers()['www-authenticate'], 'Basic realm="tsim admin", charset="UTF-8"');
    } finally {
      await anonymous.close();
    }
  });

  it('shows live numbers that change while a client connects and pushes flow', async () => {
    const { page, errors } = await openConsole();
    await page.waitForSelector('#state[data-state="live"]');
    await page.waitForFunction(() => document.getElementById('total-connections')?.textContent === '0');
    // Four charts drawn by uPlot, and the three roles in the node table.
    assert.equal(await page.locator('#charts .uplot').count(), 4);
    await page.waitForSelector('#nodes tr[data-node="job/console-e2e"]');
    assert.equal(await page.locator('#nodes tbody tr').count(), 3);

    const c = await GoimTestClient.tcp(tcpPort);
    clients.push(c);
    await c.auth({ mid: 501, key: 'browser-watched', room_id: 'live://42', accepts: [1000] });
    await page.waitForFunction(() => document.getElementById('total-connections')?.textContent === '1');

    // Pushes until the page shows a delivery rate above zero.
    let pushing = true;
    const pushes = (async () => {
      while (pushing) {
        await fetch(`${origin}/goim/push/room?operation=1000&type=live&room=42`, { method: 'POST', body: 'tick' });
        await c.next();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await page.waitForFunction(() => Number(document.getElementById('total-delivered_per_s')?.textContent) > 0);
      await page.waitForFunction(() => Number(document.getElementById('total-pushes_in_per_s')?.textContent) > 0);
      // The room among the busiest by message rate while its messages flow.
      await page.waitForSelector('#rooms-rate tbody tr >> text=live://42');
    } finally {
      pushing = false;
      await pushes;
    }
    const ticks = Number((await text(page, 'state')).replace(/\D+/g, ''));
    await page.waitForFunction((n) => Number(document.getElementById('state')?.textContent?.replace(/\D+/g, '')) > n, ticks);
    await page.waitForSelector('#rooms tbody tr >> text=live://42');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('finds a connected client and disconnects it', async () => {
    const c = await GoimTestClient.tcp(tcpPort);
    clients.push(c);
    await c.auth({ mid: 777001, key: 'browser-kick-me', room_id: 'live://43', accepts: [1000] });
    const { page, errors } = await openConsole();
    await page.fill('#lookup-value', '777001');
    await page.click('#lookup-form button[type="submit"]');
    const row = page.locator('#connections tr[data-key="browser-kick-me"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[1], '777001');
    assert.equal(cells[2], 'console-e2e');
    assert.match(cells[3], /^127\.0\.0\.1:\d+$/);
    assert.equal(cells[4], 'live://43');
    assert.equal(cells[6], 'tcp');

    // The room's view lists it among its members.
    await page.locator('#rooms tr[data-room="live://43"]').click();
    await page.waitForSelector('#room-members tr[data-key="browser-kick-me"]');
    assert.match(await text(page, 'room-total'), /^1 member$/);

    // Push from the console to that user: the bytes arrive on its socket.
    await page.fill('#push-body', 'hello from ops');
    await page.click('#push-form button[type="submit"]');
    const f = await c.next();
    assert.equal(f.op, 1000);
    assert.equal(f.body.toString(), 'hello from ops');

    await row.locator('button.disconnect').click();
    await c.closed;
    assert.equal(c.isClosed, true);
    await page.waitForSelector('#action-state[data-state="ok"]');
    assert.match(await text(page, 'action-state'), /disconnected browser-kick-me/);
    // The lookup is run again: the connection is gone.
    await page.waitForFunction(() => document.querySelector('#connections tr[data-key="browser-kick-me"]') === null);
    assert.deepEqual(errors, []);
    assert.deepEqual(foreign, []);
    await page.close();
  });
});
