// gRPC over TLS (rpcServer.certFile, rpcClient.caFile): logic and comet calls round-trip,
// plaintext and untrusted clients are refused, client certificates when required.
// Certificates are made at test time with openssl (skipped when it is not installed, except
// under TSIM_REQUIRE_SERVICES=1).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GrpcCometClient } from '../../src/adapters/grpc/comet-client.js';
import { serveComet } from '../../src/adapters/grpc/comet-server.js';
import { GrpcLogicClient } from '../../src/adapters/grpc/logic-client.js';
import { serveLogic } from '../../src/adapters/grpc/logic-server.js';
import type { RpcServerOptions } from '../../src/adapters/grpc/serve.js';
import type { RpcClientTls } from '../../src/adapters/grpc/channel-options.js';
import type { ConnectRequest, LogicService } from '../../src/ports/index.js';
import { makeCert as makeTestCert, type TestCert, opensslGate } from '../support/test-certs.js';

/** A certificate whose subject is its file name. */
function makeCert(dir: string, name: string, san: string): TestCert {
  return makeTestCert(dir, name, name, san);
}

/** Answers connect with the token as the key; the other calls do nothing. */
const fakeLogic: LogicService = {
  async connect(req: ConnectRequest) {
    return { mid: 42n, key: req.token.toString(), roomId: 'tls://1', accepts: [1000], heartbeatMs: 60_000 };
  },
  async disconnect() {
    return true;
  },
  async heartbeat() {},
  async renewOnline() {
    return {};
  },
  async receive() {
    return { handled: false };
  },
  async history() {
    return { epoch: '', first: 1, last: 0, records: [], recovered: true };
  },
  async nodes() {
    throw new Error('unused');
  },
  async inbox() {
    throw new Error('unused');
  },
  async inboxAck() {
    throw new Error('unused');
  },
  async close() {},
};

const connectReq = (token: string): ConnectRequest => ({ server: 'comet-1', cookie: '', token: Buffer.from(token), clientIp: '10.0.0.1' });

describe('gRPC over TLS', { skip: opensslGate() }, () => {
  let dir: string;
  let server: TestCert;
  let named: TestCert;
  let client: TestCert;
  let stranger: TestCert;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsim-grpc-tls-'));
    server = makeCert(dir, 'server', 'IP:127.0.0.1,DNS:localhost');
    named = makeCert(dir, 'named', 'DNS:logic.internal');
    client = makeCert(dir, 'client', 'DNS:comet-1');
    stranger = makeCert(dir, 'stranger', 'DNS:stranger');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function withLogic(serverOpts: RpcServerOptions, tls: RpcClientTls | undefined, run: (c: GrpcLogicClient) => Promise<void>): Promise<void> {
    const rpc = await serveLogic(fakeLogic, '127.0.0.1:0', { ...serverOpts, shutdownGrace: 100 });
    const c = new GrpcLogicClient({ addrs: [`127.0.0.1:${rpc.port}`], timeoutMs: 3_000, tls });
    try {
      await run(c);
    } finally {
      await c.close();
      await rpc.close();
    }
  }

  const tlsServer = { certFile: '', privateFile: '' };
  before(() => {
    tlsServer.certFile = server.certFile;
    tlsServer.privateFile = server.keyFile;
  });

  it('LogicService.connect round-trips over TLS', () =>
    withLogic(tlsServer, { caFile: server.certFile }, async (c) => {
      const r = await c.connect(connectReq('over-tls'));
      assert.equal(r.key, 'over-tls');
      assert.equal(r.mid, 42n);
    }));

  it('a plaintext client cannot call a TLS server', () =>
    withLogic(tlsServer, undefined, async (c) => {
      await assert.rejects(c.connect(connectReq('plain')));
    }));

  it('a client trusting another CA cannot call', () =>
    withLogic(tlsServer, { caFile: stranger.certFile }, async (c) => {
      await assert.rejects(c.connect(connectReq('untrusted')));
    }));

  it('rpcClient.serverName checks a certificate issued for a name while dialing an IP', () =>
    withLogic({ certFile: named.certFile, privateFile: named.keyFile }, { caFile: named.certFile, serverName: 'logic.internal' }, async (c) => {
      assert.equal((await c.connect(connectReq('by-name'))).key, 'by-name');
    }));

  it('rpcServer.clientCaFile requires a client certificate it signed', async () => {
    const mtls = { ...tlsServer, clientCaFile: client.certFile };
    await withLogic(mtls, { caFile: server.certFile, certFile: client.certFile, privateFile: client.keyFile }, async (c) => {
      assert.equal((await c.connect(connectReq('mutual'))).key, 'mutual');
    });
    await withLogic(mtls, { caFile: server.certFile }, async (c) => {
      await assert.rejects(c.connect(connectReq('no-client-cert')));
    });
    await withLogic(mtls, { caFile: server.certFile, certFile: stranger.certFile, privateFile: stranger.keyFile }, async (c) => {
      await assert.rejects(c.connect(connectReq('wrong-client-cert')));
    });
  });

  it('CometService calls a comet over TLS', async () => {
    const rpc = await serveComet(
      {
        pushMsg() {},
        broadcast() {},
        broadcastRoom() {},
        rooms: () => ['tls://1', 'tls://2'],
      },
      '127.0.0.1:0',
      { ...tlsServer, shutdownGrace: 100 },
    );
    const c = new GrpcCometClient(`grpc://127.0.0.1:${rpc.port}`, { timeoutMs: 3_000, tls: { caFile: server.certFile } });
    try {
      assert.deepEqual((await c.rooms()).sort(), ['tls://1', 'tls://2']);
    } finally {
      await c.close();
      await rpc.close();
    }
  });

  it('rpcServer.certFile without privateFile is a start error', async () => {
    await assert.rejects(serveLogic(fakeLogic, '127.0.0.1:0', { certFile: server.certFile }), /certFile needs privateFile/);
  });
});
