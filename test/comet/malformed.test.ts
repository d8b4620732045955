// Bad input closes only the connection that sent it (docs/protocol.md#what-ends-a-connection), and the
// WebSocket upgrade and control frames behave as a goim client expects.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { GoimTestClient } from '../support/goim-client.js';
import { hex, innerFrame, rawProto, startComet, type Harness } from './harness.js';

function header(packLen: number, headerLen = 16, op = 2): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(packLen, 0);
  b.writeInt16BE(headerLen, 4);
  b.writeInt16BE(1, 6);
  b.writeInt32BE(op, 8);
  b.writeInt32BE(1, 12);
  return b;
}

/** Sends one raw HTTP request to the WebSocket port; resolves with the whole answer. */
function httpExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.write(request);
  });
}

describe('malformed client input', () => {
  let h: Harness;
  let neighbour: GoimTestClient;
  let sentinel = 0;
  before(async () => {
    h = await startComet();
    neighbour = await h.client('ws', { key: 'neighbour', room_id: 'calm://1', accepts: [1] });
  });
  after(() => h.stop());

  /** The neighbour still receives pushes after each bad connection was closed. */
  async function neighbourFine(): Promise<void> {
    const body = `still fine ${++sentinel}`;
    h.comet.broadcastRoom('calm://1', rawProto(innerFrame(1, body)));
    assert.equal((await neighbour.next()).body.toString(), body);
  }

  const tcpCases: Array<[string, Buffer]> = [
    ['packLen above 16 + maxBody', header(16 + 4097)],
    ['headerLen other than 16', header(16, 12)],
    ['packLen below 16 (goim accepted it)', header(15)],
    ['negative packLen', header(-1)],
  ];
  for (const [name, bytes] of tcpCases) {
    for (const authed of [false, true]) {
      it(`TCP: ${name} closes the connection (${authed ? 'after' : 'before'} auth)`, async () => {
        const c = await h.tcp();
        if (authed) await c.auth({ room_id: 'calm://1' });
        const at = c.rawBytes().length;
        c.sendRaw(bytes);
        await c.closed;
        assert.equal(c.rawBytes().length, at, 'nothing written');
        await neighbourFine();
      });
    }
  }

  it('TCP: a frame split across writes is reassembled; a bad one after good ones still closes', async () => {
    const c = await h.client('tcp', {});
    const hb = header(16);
    c.sendRaw(hb.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 10));
    c.sendRaw(Buffer.concat([hb.subarray(5), hb.subarray(0, 15)]));
    await new Promise((r) => setTimeout(r, 10));
    c.sendRaw(hb.subarray(15));
    assert.equal((await c.next()).op, 3);
    assert.equal((await c.next()).op, 3);
    c.sendRaw(header(16, 17));
    await c.closed;
    await neighbourFine();
  });

  const wsCases: Array<[string, Buffer]> = [
    ['a message shorter than 16 bytes', hex('00 00 00 10 00 10 00 01')],
    ['packLen beyond the message', Buffer.concat([header(40), Buffer.from('short')])],
    ['headerLen other than 16', header(16, 20)],
    ['packLen below 16', header(8)],
    ['packLen above 16 + maxBody', Buffer.concat([header(16 + 4097), Buffer.alloc(4097)])],
  ];
  for (const [name, bytes] of wsCases) {
    for (const authed of [false, true]) {
      it(`WebSocket: ${name} closes the connection (${authed ? 'after' : 'before'} auth)`, async () => {
        const c = await h.ws();
        if (authed) await c.auth({ room_id: 'calm://1' });
        const frames = c.rawFrames.length;
        c.sendRaw(bytes);
        await c.closed;
        assert.equal(c.rawFrames.length, frames, 'nothing written, no Close frame');
        await neighbourFine();
      });
    }
  }

  it('WebSocket: bytes after packLen are ignored, as goim', async () => {
    const c = await h.client('ws', {});
    c.sendRaw(Buffer.concat([header(16), Buffer.from('trailing')]));
    const f = await c.next();
    assert.deepEqual([f.op, f.seq], [3, 1]);
  });

  it('WebSocket: a message above the payload limit closes the connection', async () => {
    const c = await h.client('ws', {});
    c.sendRaw(Buffer.alloc(9000));
    await c.closed;
    await neighbourFine();
  });

  it('WebSocket: text frames count as binary, fragments are reassembled', async () => {
    const c = await h.ws();
    const auth = Buffer.concat([header(16 + 2, 16, 7), Buffer.from('{}')]);
    c.sendWsFrame(0x1, auth); // text frame
    assert.equal((await c.next()).op, 8);
    const hb = header(16);
    c.sendWsFrame(0x2, hb.subarray(0, 6), { fin: false });
    c.sendWsFrame(0x0, hb.subarray(6));
    assert.equal((await c.next()).op, 3);
  });

  it('WebSocket: the masked heartbeat vector is understood', async () => {
    const c = await h.client('ws', {});
    c.socket.write(hex('82 90 37 fa 21 3d 37 fa 21 2d 37 ea 21 3c 37 fa 21 3f 37 fa 21 3c'));
    const f = await c.next();
    assert.deepEqual([f.op, f.ver, f.seq], [3, 1, 1]);
  });

  it('WebSocket: a ping gets a pong written by comet, before and after auth', async () => {
    const c = await h.ws();
    c.sendWsFrame(0x9, Buffer.from('hi'));
    await c.waitUntil(() => c.rawFrames.length === 1);
    assert.deepEqual(c.rawFrames[0], hex('8a 02 68 69'));
    await c.auth({});
    c.sendWsFrame(0x9, Buffer.alloc(0));
    await c.waitUntil(() => c.rawFrames.length === 3);
    assert.deepEqual(c.rawFrames[2], hex('8a 00'));
  });

  it('WebSocket: a Close frame from the client ends the connection without a Close frame back', async () => {
    const c = await h.client('ws', { key: 'closer' });
    const frames = c.rawFrames.length;
    c.sendWsFrame(0x8, hex('03 e8'));
    await c.closed;
    assert.equal(c.rawFrames.length, frames);
    await h.logic.waitFor('disconnect', (r) => r.key === 'closer');
  });

  it('WebSocket: unmasked client frames are refused (RFC 6455; goim tolerated them)', async () => {
    const c = await h.ws();
    c.sendWsFrame(0x2, Buffer.concat([header(18, 16, 7), Buffer.from('{}')]), { mask: false });
    await c.closed;
    assert.equal(c.rawFrames.length, 0);
  });

  it('refuses an upgrade on any path but /sub with an HTTP error', async () => {
    for (const path of ['/', '/sub/', '/sub?x=1', '/SUB']) {
      await assert.rejects(GoimTestClient.ws(h.wsPort, { path }), /websocket upgrade refused: HTTP\/1\.1 404/, path);
    }
    await neighbourFine();
  });

  it('answers plain HTTP requests with an error status', async () => {
    const sub = await httpExchange(h.wsPort, 'GET /sub HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(sub, /^HTTP\/1\.1 426 /);
    const other = await httpExchange(h.wsPort, 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(other, /^HTTP\/1\.1 404 /);
    const bad = await httpExchange(h.wsPort, 'GET /sub HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /, 'upgrade without a key');
  });
});
