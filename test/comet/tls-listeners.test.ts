// Which certificates each TLS client listener uses (tls-listeners.ts): tcp's own files, else
// the websocket ones — the very set wss loaded when wss is on — and which setting an error names.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { loadTlsListeners, type TlsListenerSettings } from '../../src/comet/tls-listeners.js';
import { makeCert, opensslGate, type TestCert } from '../support/test-certs.js';

const none = { certFile: '', privateFile: '' };

function settings(over: Partial<TlsListenerSettings>): TlsListenerSettings {
  return { wss: false, tcpTls: false, websocket: none, tcp: none, handshakeTimeoutMs: 5000, ...over };
}

describe('TLS listener certificates', () => {
  it('loads nothing when no listener speaks TLS', async () => {
    const tls = await loadTlsListeners(settings({ websocket: { certFile: '/nonexistent.pem', privateFile: '/nonexistent.key' } }));
    assert.deepEqual(tls, { wss: undefined, tcp: undefined, credentials: [] });
  });

  it('names the setting whose files are missing', async () => {
    await assert.rejects(loadTlsListeners(settings({ wss: true })), /^Error: websocket\.certFile: no certificate file configured/);
    await assert.rejects(loadTlsListeners(settings({ tcpTls: true })), /^Error: websocket\.certFile \(for tcp\.tlsBind\): no certificate/);
    const missing = { certFile: '/nonexistent.pem', privateFile: '/nonexistent.key' };
    await assert.rejects(loadTlsListeners(settings({ tcpTls: true, tcp: missing })), /^Error: tcp\.certFile: .*nonexistent\.pem/);
    // Only the key missing: the key is named.
    const keyMissing = { certFile: fileURLToPath(import.meta.url), privateFile: '/nonexistent.key' };
    await assert.rejects(loadTlsListeners(settings({ tcpTls: true, tcp: keyMissing })), /^Error: tcp\.certFile: .*nonexistent\.key/);
  });

  describe('with certificates', { skip: opensslGate() }, () => {
    let dir: string;
    let ws: TestCert;
    let tcp: TestCert;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tsim-tls-listeners-'));
      ws = makeCert(dir, 'ws', 'localhost', 'IP:127.0.0.1');
      tcp = makeCert(dir, 'tcp', 'localhost', 'IP:127.0.0.1');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const files = (c: TestCert) => ({ certFile: c.certFile, privateFile: c.keyFile });

    it('TCP over TLS without files of its own shares the set wss loaded (one reload renews both)', async () => {
      const tls = await loadTlsListeners(settings({ wss: true, tcpTls: true, websocket: files(ws) }));
      assert.equal(tls.credentials.length, 1);
      assert.ok(tls.wss !== undefined);
      assert.equal(tls.tcp, tls.wss);
      assert.deepEqual(tls.wss.credentials.fingerprints(), [ws.fingerprint]);
      assert.equal(tls.tcp.handshakeTimeoutMs, 5000);
    });

    it('without wss, TCP over TLS loads the websocket files itself', async () => {
      const tls = await loadTlsListeners(settings({ tcpTls: true, websocket: files(ws) }));
      assert.equal(tls.wss, undefined);
      assert.equal(tls.credentials.length, 1);
      assert.deepEqual(tls.tcp?.credentials.fingerprints(), [ws.fingerprint]);
    });

    it('files of its own give TCP over TLS a set of its own', async () => {
      const tls = await loadTlsListeners(settings({ wss: true, tcpTls: true, websocket: files(ws), tcp: files(tcp) }));
      assert.equal(tls.credentials.length, 2);
      assert.deepEqual(tls.wss?.credentials.fingerprints(), [ws.fingerprint]);
      assert.deepEqual(tls.tcp?.credentials.fingerprints(), [tcp.fingerprint]);
    });
  });
});
