// TLS listeners (tcp.tlsBind and wss) cut every admitted socket whose TLS handshake is not
// done within protocol.handshakeTimeout of accept, whether it sends nothing or trickles
// bytes that restart Node's idle handshake timer; such sockets are counted while they wait
// (tsim_comet_tls_handshakes) and when cut (limit tls_handshake_timeout), and the IP whose
// per-IP slots they held gets in again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closedByServer, rawSocket } from '../support/raw-socket.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';
import { makeCert, type TestCert, opensslGate } from '../support/test-certs.js';
import { startComet, type Harness } from './harness.js';
import { eventually } from '../support/eventually.js';

const skip = opensslGate();
const HANDSHAKE_MS = 300;
/** Far beyond the deadline: a socket still open then was never going to be closed. */
const CLOSE_WAIT_MS = 15_000;

/** Resolves when the server closed `s`; rejects if it is still open after CLOSE_WAIT_MS. */
const closedUntil = (s: Socket, what: string): Promise<void> => closedByServer(s, what, CLOSE_WAIT_MS);

/**
 * Sends a TLS record header announcing a 16 KiB handshake record, then one byte of it every
 * 50 ms: never a complete ClientHello, and always a byte within Node's idle handshake timer.
 */
function trickle(s: Socket): void {
  s.write(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]));
  const t = setInterval(() => {
    if (s.destroyed) clearInterval(t);
    else s.write(Buffer.from([0x01]));
  }, 50);
  s.once('close', () => clearInterval(t));
}

describe('TLS handshake deadline', { skip }, () => {
  let dir: string;
  let cert: TestCert;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsim-tls-deadline-'));
    cert = makeCert(dir, 'c', 'localhost', 'IP:127.0.0.1,DNS:localhost');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function withTlsComet(
    run: (h: Harness, hits: LimitHits, ports: { tcp: number; wss: number }) => Promise<void>,
    handshakeMs = HANDSHAKE_MS,
  ): Promise<void> {
    const hits = new LimitHits();
    const h = await startComet(
      {
        tcp: { tlsBind: ['127.0.0.1:0'] },
        websocket: { tlsOpen: true, tlsBind: ['127.0.0.1:0'], certFile: cert.certFile, privateFile: cert.keyFile },
        protocol: { handshakeTimeout: `${handshakeMs}ms` },
        limits: { maxConnectionsPerIp: 3 },
      },
      undefined,
      { limits: hits },
    );
    try {
      await run(h, hits, { tcp: h.comet.tcpTlsAddresses()[0].port, wss: h.comet.wssAddresses()[0].port });
    } finally {
      await h.stop();
    }
  }

  for (const listener of ['tcp', 'wss'] as const) {
    it(`${listener}: silent and trickling sockets are cut at the deadline, shown while waiting, counted; the IP gets in again`, async () => {
      await withTlsComet(async (h, hits, ports) => {
        const port = ports[listener];
        const metrics = createMetricsRegistry({ comet: h.comet, limits: hits });
        try {
          const silent = await rawSocket(port);
          const slow = [await rawSocket(port), await rawSocket(port)];
          for (const s of slow) trickle(s);
          // The three hold this IP's three slots, and are visible while they do.
          await eventually(() => h.comet.counters().tlsHandshakes === 3, 'three handshakes in progress');
          assert.match(await metrics.metrics(), /^tsim_comet_tls_handshakes 3$/m);
          await Promise.all([closedUntil(silent, 'silent socket'), ...slow.map((s) => closedUntil(s, 'trickling socket'))]);
          assert.equal(hits.snapshot().tls_handshake_timeout, 3);
          assert.equal(h.comet.counters().tlsHandshakes, 0);
          assert.match(await metrics.metrics(), /^tsim_comet_tls_handshakes 0$/m);
        } finally {
          metrics.close();
        }
        // Their slots are free again: a real client gets through and is served.
        const c = listener === 'tcp' ? await GoimTestClient.tls(port, { ca: cert.pem }) : await GoimTestClient.ws(port, { tls: { ca: cert.pem } });
        try {
          await c.auth({ key: `after-${listener}` });
          c.send(Op.Heartbeat);
          await c.nextWhere((f) => f.op === Op.HeartbeatReply);
        } finally {
          c.close();
        }
      });
    });

    it(`${listener}: a finished handshake lifts the TLS deadline at once`, async () => {
      await withTlsComet(async (h, hits, ports) => {
        const c =
          listener === 'tcp' ? await GoimTestClient.tls(ports.tcp, { ca: cert.pem }) : await GoimTestClient.ws(ports.wss, { tls: { ca: cert.pem } });
        try {
          // Authenticated means the server saw the handshake finish: no TLS deadline is left
          // pending for this socket then (the deadline itself is still far off), so nothing
          // can cut it later.
          await c.auth({ key: `done-${listener}` });
          assert.equal(h.comet.counters().tlsHandshakes, 0);
          assert.equal(hits.snapshot().tls_handshake_timeout, undefined);
        } finally {
          c.close();
        }
      }, 5_000);
    });
  }
});
