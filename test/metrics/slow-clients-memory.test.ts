// 1,000 clients that stop reading, in one room, while large room messages are pushed: the
// per-connection send cap keeps the server's memory bounded, and the skipped pushes show
// up in /metrics. The server runs in a child process so its memory is measured alone.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { GoimTestClient } from '../support/goim-client.js';
import { scrape } from './prom-text.js';

const N = 1000;
/** protocol.sendQueueBytes: the most one connection may hold unsent. */
const CAP = 64 * 1024;
const MESSAGE_BYTES = 8 * 1024;
/**
 * room.batch 2: a batch (~16 KiB) is well under the push part of the cap (48 KiB), so the
 * one client that reads gets every batch even when a few wait in its send buffer.
 */
const MESSAGES = 600;
/**
 * What the process may grow by besides the queued bytes, measured after a full GC: V8's
 * young generation and old-space headroom that the push burst (HTTP requests, batches,
 * write requests) makes it keep (up to ~3 × 16 MiB semi-space on 64-bit Node 24), and
 * allocator arenas that do not return pages. 64 MiB covers that with room to spare while
 * staying small beside CAP × N (62.5 MiB here). Each slow client is sent
 * MESSAGES × MESSAGE_BYTES = 4.7 MiB, 73 times its cap.
 */
const BASELINE = 64 * 1024 * 1024;

interface Usage {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

describe('1,000 non-reading clients', () => {
  let child: ChildProcess;
  let ports: { tcp: number; http: number };
  const clients: GoimTestClient[] = [];

  const ask = async (msg: string): Promise<Usage> => {
    const reply = once(child, 'message');
    child.send(msg);
    return (await reply)[0] as Usage;
  };

  before(async () => {
    const config = {
      env: { host: 'comet-mem' },
      log: { level: 'silent' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      httpServer: { addr: '127.0.0.1:0' },
      protocol: { sendQueueBytes: CAP, slowPolicy: 'drop' },
      room: { batch: 2, signal: '5ms' },
    };
    const script = fileURLToPath(new URL('./embedded-child.js', import.meta.url));
    child = fork(script, [JSON.stringify(config)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [ready] = (await once(child, 'message')) as [{ tcp: number; http: number }];
    ports = ready;
  });

  after(async () => {
    for (const c of clients) c.close();
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    }
  });

  it('keeps the server under cap × N + baseline and counts the drops in /metrics', async (t) => {
    // Connect and authenticate in waves (the listen backlog is finite), then stop reading.
    for (let i = 0; i < N; i += 100) {
      const wave = await Promise.all(
        Array.from({ length: Math.min(100, N - i) }, async (_, j) => {
          const c = await GoimTestClient.tcp(ports.tcp);
          clients.push(c);
          await c.auth({ mid: i + j + 1, key: `slow-${i + j}`, room_id: 'live://mem' });
          c.socket.pause();
          return c;
        }),
      );
      assert.equal(wave.length, Math.min(100, N - i));
    }
    const reader = await GoimTestClient.tcp(ports.tcp);
    clients.push(reader);
    await reader.auth({ mid: 999_999, key: 'reader', room_id: 'live://mem' });

    const api = `http://127.0.0.1:${ports.http}`;
    let m = await scrape(`${api}/metrics`);
    assert.equal(m.get('tsim_comet_connections'), N + 1);
    const before = await ask('measure');

    const body = Buffer.alloc(MESSAGE_BYTES, 0x61);
    for (let i = 0; i < MESSAGES; i++) {
      body.write(String(i).padStart(8, '0'));
      const res = await fetch(`${api}/goim/push/room?operation=1000&type=live&room=mem`, { method: 'POST', body });
      assert.equal(await res.text(), '{"code":0,"message":""}');
    }
    // The reading client gets every message: all batches went through the fan-out.
    const got = await reader.collect(MESSAGES, 20_000);
    assert.deepEqual(
      got.map((f) => f.body.subarray(0, 8).toString()),
      Array.from({ length: MESSAGES }, (_, i) => String(i).padStart(8, '0')),
    );

    const afterPush = await ask('measure');
    m = await scrape(`${api}/metrics`);
    const dropped = m.sum('tsim_comet_pushes_dropped_total');
    assert.ok(dropped > 0, 'drops counted in /metrics');
    assert.equal(m.get('tsim_comet_pushes_dropped_total', { kind: 'room' }), dropped);
    // Dropping is the policy: nobody was disconnected.
    assert.equal(m.get('tsim_comet_connections'), N + 1);
    assert.equal(m.get('tsim_comet_slow_disconnects_total'), 0);

    const rssGrowth = afterPush.rss - before.rss;
    const heapGrowth = afterPush.heapUsed + afterPush.external - (before.heapUsed + before.external);
    const bound = CAP * N + BASELINE;
    const note =
      `rss ${mib(before.rss)} → ${mib(afterPush.rss)} (+${mib(rssGrowth)}), heap+external +${mib(heapGrowth)}, ` +
      `bound ${mib(bound)}, pushes dropped ${dropped}, delivered ${m.sum('tsim_comet_pushes_delivered_total')}`;
    t.diagnostic(note);
    assert.ok(rssGrowth < bound, `rss growth over the bound: ${note}`);
    assert.ok(heapGrowth < bound, `heap growth over the bound: ${note}`);
  });
});
