// The demo's direct-message panel end to end in Chromium (playwright-core) against a real
// embedded tsim: two pages as users 1 and 2; 2 goes offline, 1 writes three messages through
// the push API on the page's own origin (durable=1), 2 comes back and shows the three in order,
// once each, then a live one. Skipped without /usr/bin/chromium, except under
// TSIM_REQUIRE_SERVICES=1 (test/support/services.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { toolGate } from '../support/services.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const skip = toolGate('Chromium', existsSync(CHROMIUM) ? null : `not found at ${CHROMIUM} (apt-get install chromium)`);

describe('direct-message demo in chromium', { skip }, () => {
  let tsim: Embedded;
  let origin: string;
  let wsPort: number;
  let browser: Browser;
  const pages: Page[] = [];

  const dataDir = mkdtempSync(join(tmpdir(), 'tsim-inbox-'));

  before(async () => {
    tsim = await startEmbedded(
      buildConfig({
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        // The SQLite engine embedded mode uses, in a directory of this suite's own.
        inbox: { dataDir },
      }),
      silentLogger,
    );
    const a = tsim.addresses();
    origin = `http://127.0.0.1:${a.http.port}`;
    wsPort = a.ws[0].port;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 30_000,
    });
  });

  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
    await tsim?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function openPage(me: number, peer: number): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    pages.push(page);
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${origin}/?port=${wsPort}&dm=${me}&peer=${peer}&dmconnect=1`);
    await page.waitForSelector('#dm-status[data-state="open"]');
    return { page, errors };
  }

  /** The DM rows a page shows: [seq, from, text]. */
  const rows = (page: Page) =>
    page.$$eval('#dm-list li', (lis) =>
      lis.map((li) => [li.querySelector('time')?.textContent, li.querySelector('.tag')?.textContent, li.querySelector('.text')?.textContent]),
    );

  async function send(page: Page, text: string): Promise<void> {
    await page.fill('#dm-text', text);
    await page.click('#dm-send');
    await page.waitForSelector('#dm-reply[data-state="ok"]');
    // Ready for the next one: the field was cleared on success.
    assert.equal(await page.inputValue('#dm-text'), '');
    await page.evaluate(() => {
      const r = document.getElementById('dm-reply');
      if (r) r.dataset.state = '';
    });
  }

  it('an offline user comes back to the messages written meanwhile, in order and once each, then gets live ones', async () => {
    const a = await openPage(1, 2);
    const b = await openPage(2, 1);
    // B was online once: its device key is known to its inbox. Now it goes offline.
    await b.page.click('#dm-online');
    await b.page.waitForSelector('#dm-status[data-state="closed"]');

    for (const text of ['first', 'second', 'third']) await send(a.page, text);

    await b.page.click('#dm-online');
    await b.page.waitForSelector('#dm-status[data-state="open"]');
    await b.page.waitForFunction(() => document.querySelectorAll('#dm-list li').length >= 3);
    assert.deepEqual(await rows(b.page), [
      ['#1', 'from 1', 'first'],
      ['#2', 'from 1', 'second'],
      ['#3', 'from 1', 'third'],
    ]);

    await send(a.page, 'live one');
    await b.page.waitForFunction(() => document.querySelectorAll('#dm-list li').length >= 4);
    assert.deepEqual((await rows(b.page)).slice(3), [['#4', 'from 1', 'live one']]);
    // B's acks reached the inbox: its device's watermark is at 4.
    const devices = async () =>
      ((await (await fetch(`${origin}/tsim/inbox/2/devices`)).json()) as { data: { devices: { acked: number }[] } }).data.devices.map((d) => d.acked);
    await eventually(async () => (await devices())[0] === 4, 'watermark 4');
    assert.deepEqual(await devices(), [4]);
    // A got nothing (all went to 2); nothing shown twice; no script errors.
    assert.deepEqual(await rows(a.page), []);
    assert.equal((await rows(b.page)).length, 4);
    assert.deepEqual([...a.errors, ...b.errors], []);
  });
});
