// Plain WebSocket sockets are cut at an absolute deadline (protocol.handshakeTimeout from
// accept) however slowly they trickle their upgrade request: those refused by a limit
// (which wait only for the request their 503 answers, and only limits.maxRefusedWaiting
// at a time) as well as admitted ones.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { closedByServer, rawSocket } from '../support/raw-socket.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { Op } from '../../src/protocol/ops.js';
import { startComet, type Harness, type Section } from './harness.js';

/** Far beyond the deadlines used here: a socket still open then was never going to be closed. */
const CLOSE_WAIT_MS = 15_000;

/** Resolves when the server closed `s`; rejects if it is still open after CLOSE_WAIT_MS. */
const closedUntil = (s: Socket, what: string): Promise<void> => closedByServer(s, what, CLOSE_WAIT_MS);

/** The start of an upgrade request, then one more header line every 50 ms, never the end. */
function trickleUpgrade(s: Socket): void {
  s.write('GET /sub HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  let n = 0;
  const t = setInterval(() => {
    if (s.destroyed) clearInterval(t);
    else s.write(`X-Slow-${n++}: 1\r\n`);
  }, 50);
  s.once('close', () => clearInterval(t));
}

async function withComet(sections: Record<string, Section>, run: (h: Harness, hits: LimitHits) => Promise<void>): Promise<void> {
  const hits = new LimitHits();
  const h = await startComet(sections, undefined, { limits: hits });
  try {
    await run(h, hits);
  } finally {
    await h.stop();
  }
}

describe('WebSocket handshake deadline', () => {
  it('refused sockets trickling their request are closed at the deadline; the IP gets in again', async () => {
    await withComet({ protocol: { handshakeTimeout: '300ms' }, limits: { maxConnectionsPerIp: 1 } }, async (h, hits) => {
      const holder = await h.client('ws', { key: 'holder' });
      const refused = [await rawSocket(h.wsPort), await rawSocket(h.wsPort), await rawSocket(h.wsPort)];
      for (const s of refused) trickleUpgrade(s);
      await Promise.all(refused.map((s) => closedUntil(s, 'refused trickling socket')));
      assert.equal(hits.snapshot().connections_per_ip, 3);
      holder.close();
      await holder.closed;
      const again = await h.client('ws', { key: 'again' });
      again.send(Op.Heartbeat);
      await again.nextWhere((f) => f.op === Op.HeartbeatReply);
    });
  });

  it('at most limits.maxRefusedWaiting refused sockets wait for their 503; more are closed at once', async () => {
    // A deadline far beyond this test: the waiting sockets stay open until their request.
    await withComet({ protocol: { handshakeTimeout: '60s' }, limits: { maxConnectionsPerIp: 1, maxRefusedWaiting: 2 } }, async (h) => {
      const holder = await h.client('ws', { key: 'holder' });
      const waiting = [await rawSocket(h.wsPort), await rawSocket(h.wsPort)];
      const third = await rawSocket(h.wsPort);
      await closedUntil(third, 'refused socket over maxRefusedWaiting');
      assert.deepEqual(
        waiting.map((s) => s.destroyed),
        [false, false],
      );
      // A waiting one still gets its answer.
      const answer = new Promise<string>((resolve) => {
        let text = '';
        waiting[0].on('data', (d: Buffer) => (text += d.toString('latin1')));
        waiting[0].once('close', () => resolve(text));
      });
      waiting[0].write('GET /sub HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      assert.match(await answer, /^HTTP\/1\.1 503 Service Unavailable/);
      waiting[1].destroy();
      holder.close();
    });
  });

  it('admitted sockets whose upgrade request never completes are closed at the deadline', async () => {
    await withComet({ protocol: { handshakeTimeout: '300ms' } }, async (h) => {
      const slow = [await rawSocket(h.wsPort), await rawSocket(h.wsPort)];
      trickleUpgrade(slow[0]);
      // The other sends the request line only, then nothing.
      slow[1].write('GET /sub HTTP/1.1\r\n');
      await Promise.all(slow.map((s) => closedUntil(s, 'admitted socket with an unfinished upgrade')));
      assert.equal(h.comet.counters().sockets, 0);
    });
  });
});
