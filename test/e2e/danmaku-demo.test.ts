// The danmaku demo end to end in Chromium (playwright-core) against a real embedded tsim with
// SQLite history: one page sends, the other shows it flying; a refused danmaku shows its
// reason; a page opened later replays the history. Skipped without /usr/bin/chromium, except
// under TSIM_REQUIRE_SERVICES=1 (test/support/services.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { toolGate } from '../support/services.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = toolGate('Chromium', existsSync(CHROMIUM) ? null : `not found at ${CHROMIUM} (apt-get install chromium)`);

describe('danmaku demo in chromium', { skip }, () => {
  let tsim: Embedded;
  let dataDir: string;
  let origin: string;
  let wsPort: number;
  let browser: Browser;
  const pages: Page[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tsim-demo-'));
    tsim = await startEmbedded(
      buildConfig({
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        room: { signal: '20ms' },
        comet: { renewOnline: '100ms' },
        logic: { onlineReload: '100ms' },
        roomTypes: { live: { send: true, history: true, rate: 50, burst: 50 } },
        history: { engine: 'sqlite', dataDir },
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
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function openPage(mid: number): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    pages.push(page);
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${origin}/?port=${wsPort}&mid=${mid}&room=live://demo&connect=1`);
    await page.waitForSelector('#status[data-state="open"]');
    return { page, errors };
  }

  const flying = (page: Page) => page.evaluate(() => Number(document.getElementById('stage')?.dataset.flying ?? 0));

  it('one page sends, the other sees it fly; a refusal shows its reason; a later page replays the history', async () => {
    const a = await openPage(1);
    const b = await openPage(2);

    await a.page.fill('#danmaku-text', 'hello from page A');
    await a.page.click('#danmaku-send');
    await a.page.waitForSelector('#danmaku-reply[data-state="ok"]');
    // B receives it through the room and puts it on the stage.
    await b.page.locator('#danmaku-log li', { hasText: 'hello from page A' }).waitFor({ state: 'attached' });
    await b.page.waitForFunction(() => Number(document.getElementById('stage')?.dataset.flying ?? 0) > 0);
    assert.ok((await flying(b.page)) > 0, 'a danmaku is flying on page B');
    // The sender sees its own danmaku come back through the room too.
    await a.page.locator('#danmaku-log li', { hasText: 'hello from page A' }).waitFor({ state: 'attached' });

    // Over the room type's 100 characters: refused with the reason, and nobody receives it.
    await a.page.fill('#danmaku-text', 'x'.repeat(150));
    await a.page.click('#danmaku-send');
    await a.page.waitForSelector('#danmaku-reply[data-state="error"]');
    assert.match((await a.page.textContent('#danmaku-reply')) ?? '', /refused \(4\): too long/);

    await a.page.fill('#danmaku-text', 'second');
    await a.page.click('#danmaku-send');
    await b.page.locator('#danmaku-log li', { hasText: 'second' }).waitFor({ state: 'attached' });
    const bLog = await b.page.locator('#danmaku-log li').allTextContents();
    assert.deepEqual(bLog, ['hello from page A', 'second'], 'B saw both accepted danmaku once, in order, and not the refused one');

    // A page opened later gets the room's history replayed, oldest first.
    const c = await openPage(3);
    await c.page.locator('#danmaku-log li', { hasText: 'second' }).waitFor({ state: 'attached' });
    assert.deepEqual(await c.page.locator('#danmaku-log li').allTextContents(), ['hello from page A', 'second']);
    await c.page.locator('#messages li', { hasText: 'replaying 2' }).waitFor({ state: 'attached' });

    assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
  });
});
