// wss and the TCP protocol over TLS: auth and pushes over both, SNI between certificate
// pairs, and certificate reload (new connections get the new certificate, open ones live on).
// Certificates are made at test time with openssl (skipped when it is not installed, except
// under TSIM_REQUIRE_SERVICES=1).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { cometSettings } from '../../src/config/comet-settings.js';
import { buildConfig } from '../../src/config/load.js';
import { Comet } from '../../src/comet/comet.js';
import { startEmbedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';
import { makeCert as makeTestCert, type TestCert, opensslGate } from '../support/test-certs.js';
import { StubLogic } from '../support/stub-logic.js';
import { innerFrame, rawProto, startComet, type Harness } from './harness.js';

/** A certificate for `dnsNames` and 127.0.0.1. */
function makeCert(dir: string, name: string, dnsNames: string[]): TestCert {
  const san = ['IP:127.0.0.1', ...dnsNames.map((d) => `DNS:${d}`)].join(',');
  return makeTestCert(dir, name, dnsNames[0], san);
}

const skip = opensslGate();

describe('TLS listeners', { skip }, () => {
  let dir: string;
  let a: TestCert;
  let b: TestCert;
  let other: TestCert;
  /** The files the comet is configured with (copies, replaced by the reload test). */
  let certFile: string;
  let keyFile: string;
  let h: Harness;
  let tlsPort: number;
  let wssPort: number;
  const ca = (): Buffer[] => [a.pem, b.pem, other.pem];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsim-tls-'));
    a = makeCert(dir, 'a', ['localhost']);
    b = makeCert(dir, 'b', ['localhost']);
    other = makeCert(dir, 'other', ['other.test']);
    certFile = join(dir, 'live.pem');
    keyFile = join(dir, 'live.key');
    copyFileSync(a.certFile, certFile);
    copyFileSync(a.keyFile, keyFile);
    h = await startComet({
      tcp: { tlsBind: ['127.0.0.1:0'] },
      websocket: {
        tlsOpen: true,
        tlsBind: ['127.0.0.1:0'],
        // Two pairs: the first is the default, SNI "other.test" picks the second.
        certFile: `${certFile}, ${other.certFile}`,
        privateFile: `${keyFile}, ${other.keyFile}`,
      },
    });
    tlsPort = h.comet.tcpTlsAddresses()[0].port;
    wssPort = h.comet.wssAddresses()[0].port;
  });

  after(async () => {
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const clients: GoimTestClient[] = [];
  after(() => {
    for (const c of clients) c.close();
  });
  const tcpTls = async (servername?: string): Promise<GoimTestClient> => {
    const c = await GoimTestClient.tls(tlsPort, { ca: ca(), servername });
    clients.push(c);
    return c;
  };
  const wss = async (servername?: string): Promise<GoimTestClient> => {
    const c = await GoimTestClient.ws(wssPort, { tls: { ca: ca(), servername } });
    clients.push(c);
    return c;
  };

  it('lists the TLS listeners besides the plain ones', () => {
    assert.equal(h.comet.tcpAddresses().length, 2);
    assert.equal(h.comet.wsAddresses().length, 2);
    assert.notEqual(tlsPort, h.tcpPort);
    assert.notEqual(wssPort, h.wsPort);
  });

  for (const transport of ['tcp', 'wss'] as const) {
    it(`${transport}: auth, heartbeat and pushes over TLS`, async () => {
      const c = transport === 'tcp' ? await tcpTls() : await wss();
      assert.equal(c.peerFingerprint(), a.fingerprint);
      const reply = await c.auth({ key: `tls-${transport}`, room_id: `tls://${transport}`, accepts: [1000] }, 7);
      assert.equal(reply.seq, 7);
      c.send(Op.Heartbeat, '', 1, 8);
      assert.equal((await c.nextWhere((f) => f.op === Op.HeartbeatReply)).seq, 8);
      h.comet.pushMsg([`tls-${transport}`], 1000, rawProto(innerFrame(1000, `to key over ${transport}`)));
      assert.equal((await c.nextWhere((f) => f.op === 1000)).body.toString(), `to key over ${transport}`);
      h.comet.broadcastRoom(`tls://${transport}`, rawProto(innerFrame(1000, `to room over ${transport}`)));
      assert.equal((await c.nextWhere((f) => f.op === 1000)).body.toString(), `to room over ${transport}`);
    });
  }

  it('SNI picks the certificate pair that covers the name', async () => {
    const c = await tcpTls('other.test');
    assert.equal(c.peerFingerprint(), other.fingerprint);
    const w = await wss('other.test');
    assert.equal(w.peerFingerprint(), other.fingerprint);
    await w.auth({ key: 'sni' });
  });

  it('reloadTls: new connections get the new certificate, open ones keep working; a bad file keeps the old one', async () => {
    const oldTcp = await tcpTls();
    const oldWss = await wss();
    await oldTcp.auth({ key: 'old-tcp', room_id: 'reload://1' });
    await oldWss.auth({ key: 'old-wss', room_id: 'reload://1' });
    assert.equal(oldTcp.peerFingerprint(), a.fingerprint);

    copyFileSync(b.certFile, certFile);
    copyFileSync(b.keyFile, keyFile);
    await h.comet.reloadTls();
    const newTcp = await tcpTls();
    const newWss = await wss();
    assert.equal(newTcp.peerFingerprint(), b.fingerprint);
    assert.equal(newWss.peerFingerprint(), b.fingerprint);
    await newTcp.auth({ key: 'new-tcp' });
    await newWss.auth({ key: 'new-wss' });

    // The connections made before the reload still work.
    h.comet.broadcastRoom('reload://1', rawProto(innerFrame(5, 'after reload')));
    assert.equal((await oldTcp.nextWhere((f) => f.op === 5)).body.toString(), 'after reload');
    assert.equal((await oldWss.nextWhere((f) => f.op === 5)).body.toString(), 'after reload');
    oldTcp.send(Op.Heartbeat, '', 1, 3);
    assert.equal((await oldTcp.nextWhere((f) => f.op === Op.HeartbeatReply)).seq, 3);

    // A broken certificate file: logged, the certificate in use stays.
    writeFileSync(certFile, 'not a certificate\n');
    await h.comet.reloadTls();
    const still = await tcpTls();
    assert.equal(still.peerFingerprint(), b.fingerprint);
    await still.auth({ key: 'still' });
    copyFileSync(b.certFile, certFile);
  });

  it('a client that does not trust the certificate fails the handshake; the listener lives on', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tlsConnect({ port: tlsPort, host: '127.0.0.1', servername: 'localhost', ca: [other.pem] });
        s.once('secureConnect', () => {
          s.destroy();
          resolve(undefined);
        });
        s.once('error', reject);
      }),
      /self[- ]signed|unable to verify|certificate/i,
    );
    const c = await tcpTls();
    await c.auth({ key: 'after-bad-client' });
  });
});

describe('TLS configuration', { skip }, () => {
  let dir: string;
  let cert: TestCert;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsim-tls-'));
    cert = makeCert(dir, 'c', ['localhost']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tcp.certFile/privateFile of their own serve TCP over TLS without wss', async () => {
    const h = await startComet({ tcp: { tlsBind: ['127.0.0.1:0'], certFile: cert.certFile, privateFile: cert.keyFile } });
    try {
      assert.equal(h.comet.wssAddresses().length, 0);
      const c = await GoimTestClient.tls(h.comet.tcpTlsAddresses()[0].port, { ca: cert.pem });
      try {
        assert.equal(c.peerFingerprint(), cert.fingerprint);
        await c.auth({ key: 'own' });
      } finally {
        c.close();
      }
    } finally {
      await h.stop();
    }
  });

  it('limits apply before the TLS handshake', async () => {
    const hits = new LimitHits();
    const h = await startComet(
      { tcp: { tlsBind: ['127.0.0.1:0'], certFile: cert.certFile, privateFile: cert.keyFile }, limits: { maxConnections: 1 } },
      undefined,
      { limits: hits },
    );
    try {
      const port = h.comet.tcpTlsAddresses()[0].port;
      const first = await GoimTestClient.tls(port, { ca: cert.pem });
      await first.auth({ key: 'first' });
      await assert.rejects(GoimTestClient.tls(port, { ca: cert.pem }));
      assert.equal(hits.snapshot().connections, 1);
      first.close();
      await first.closed;
      let again: GoimTestClient | undefined;
      const end = Date.now() + 10_000;
      while (again === undefined) {
        if (Date.now() > end) throw new Error('never admitted again');
        again = await GoimTestClient.tls(port, { ca: cert.pem }).catch(() => undefined);
        if (again === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      try {
        await again.auth({ key: 'again' });
      } finally {
        again.close();
      }
    } finally {
      await h.stop();
    }
  });

  it('embedded: SIGHUP reloads the certificates; stop releases the signal', async () => {
    const second = makeCert(dir, 'second', ['localhost']);
    const live = join(dir, 'hup.pem');
    const liveKey = join(dir, 'hup.key');
    copyFileSync(cert.certFile, live);
    copyFileSync(cert.keyFile, liveKey);
    const before = process.listenerCount('SIGHUP');
    const tsim = await startEmbedded(
      buildConfig({
        env: { host: 'tls-hup' },
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'], tlsOpen: true, tlsBind: ['127.0.0.1:0'], certFile: live, privateFile: liveKey },
        httpServer: { addr: '127.0.0.1:0' },
      }),
      silentLogger,
    );
    const port = tsim.comet.wssAddresses()[0].port;
    const ca = [cert.pem, second.pem];
    try {
      assert.equal(process.listenerCount('SIGHUP'), before + 1);
      const first = await GoimTestClient.ws(port, { tls: { ca } });
      assert.equal(first.peerFingerprint(), cert.fingerprint);
      first.close();
      copyFileSync(second.certFile, live);
      copyFileSync(second.keyFile, liveKey);
      process.kill(process.pid, 'SIGHUP');
      // The reload reads files asynchronously: wait for a connection that sees it.
      const end = Date.now() + 10_000;
      for (;;) {
        const c = await GoimTestClient.ws(port, { tls: { ca } });
        const fp = c.peerFingerprint();
        c.close();
        if (fp === second.fingerprint) break;
        if (Date.now() > end) throw new Error('SIGHUP did not reload the certificate');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await tsim.stop();
    }
    assert.equal(process.listenerCount('SIGHUP'), before);
  });

  it('start fails with a clear error when a certificate file is missing', async () => {
    const config = buildConfig({
      env: { host: 'tls-missing' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'], tlsOpen: true, tlsBind: ['127.0.0.1:0'], certFile: join(dir, 'nope.pem'), privateFile: cert.keyFile },
    });
    const comet = new Comet({ ...cometSettings(config), serverId: 'tls-missing', logic: new StubLogic(), log: silentLogger });
    await assert.rejects(comet.start(), /websocket\.certFile: .*nope\.pem/);
    await comet.stop();
  });

  it('start fails when tlsOpen has no certificate configured', async () => {
    const config = buildConfig({
      env: { host: 'tls-none' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'], tlsOpen: true, tlsBind: ['127.0.0.1:0'] },
    });
    const comet = new Comet({ ...cometSettings(config), serverId: 'tls-none', logic: new StubLogic(), log: silentLogger });
    await assert.rejects(comet.start(), /websocket\.certFile: no certificate file configured/);
    await comet.stop();
  });
});
