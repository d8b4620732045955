// The browser bundles from scripts/build-client.mjs: they are written, and tsim-client.js
// defines the global `Tsim` whose client speaks goim through whatever WebSocket the page has
// (here a stub inside a node:vm context, so no Node API can leak in unnoticed).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { hex } from './fake-comet.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const web = join(root, 'dist', 'web');
const JS_TOKEN = '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}';

/** A WebSocket stand-in that records what the client sends and lets the test play the server. */
class StubWebSocket {
  static readonly made: StubWebSocket[] = [];
  binaryType = 'blob';
  readonly sent: Buffer[] = [];
  closed = false;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {
    StubWebSocket.made.push(this);
  }
  send(data: Uint8Array): void {
    this.sent.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  close(): void {
    this.closed = true;
    queueMicrotask(() => this.onclose?.({ code: 1000, reason: '' }));
  }
  /** Delivers one binary message as a fresh ArrayBuffer, as browsers do. */
  receive(bytes: Buffer): void {
    const copy = new ArrayBuffer(bytes.length);
    new Uint8Array(copy).set(bytes);
    this.onmessage?.({ data: copy });
  }
}

describe('browser bundles (scripts/build-client.mjs)', () => {
  before(async () => {
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build-client.mjs')], { cwd: root });
  });

  it('writes tsim-client.js (+ map) and demo.js without Node imports', () => {
    for (const f of ['tsim-client.js', 'tsim-client.js.map', 'demo.js']) assert.ok(existsSync(join(web, f)), `${f} missing`);
    const bundle = readFileSync(join(web, 'tsim-client.js'), 'utf8');
    assert.match(bundle, /sourceMappingURL=tsim-client\.js\.map/);
    assert.doesNotMatch(bundle, /\brequire\(|["']node:/);
    assert.doesNotMatch(readFileSync(join(web, 'demo.js'), 'utf8'), /\brequire\(|["']node:/);
  });

  it('defines Tsim, whose client authenticates and unpacks batches over a stub WebSocket', async () => {
    const context = vm.createContext({
      WebSocket: StubWebSocket,
      TextEncoder,
      TextDecoder,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      queueMicrotask,
    });
    vm.runInContext(readFileSync(join(web, 'tsim-client.js'), 'utf8'), context, { filename: 'tsim-client.js' });
    const Tsim = context.Tsim as Record<string, unknown> & {
      TsimClient: new (o: object) => {
        on(t: string, l: (p: unknown) => void): () => void;
        close(): Promise<void>;
        state: string;
      };
      encodeFrame: (op: number, body: string, ver: number, seq: number) => Uint8Array;
    };
    assert.equal(typeof Tsim, 'object');
    for (const name of ['TsimClient', 'encodeFrame', 'decodeFrame', 'messageFrames', 'eachFrame', 'Op']) {
      assert.ok(name in Tsim, `Tsim.${name} missing`);
    }
    assert.ok(!('TcpClient' in Tsim), 'the browser bundle must not carry the TCP client');
    const auth = Tsim.encodeFrame(7, JS_TOKEN, 1, 1);
    assert.deepEqual(
      Buffer.from(auth.buffer, auth.byteOffset, auth.byteLength),
      hex('00 00 00 62 00 10 00 01 00 00 00 07 00 00 00 01' + Buffer.from(JS_TOKEN).toString('hex')),
    );

    const client = new Tsim.TsimClient({ url: 'ws://comet.test:3102/sub', token: JS_TOKEN, reconnect: false });
    const events: string[] = [];
    const texts: string[] = [];
    client.on('auth', () => events.push('auth'));
    client.on('online', (n) => events.push(`online ${String(n)}`));
    client.on('message', (m) => texts.push((m as { text(): string }).text()));
    await new Promise((resolve) => setImmediate(resolve));

    const ws = StubWebSocket.made.at(-1)!;
    assert.equal(ws.url, 'ws://comet.test:3102/sub');
    assert.equal(ws.binaryType, 'arraybuffer');
    ws.onopen!();
    assert.deepEqual(ws.sent[0], Buffer.from(auth));
    ws.receive(hex('00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01'));
    assert.equal(client.state, 'open');
    assert.deepEqual(ws.sent[1].subarray(4, 12), hex('00 10 00 01 00 00 00 02'), 'heartbeat after op 8');
    ws.receive(hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 02 00 00 00 05'));
    ws.receive(
      hex(
        '00 00 00 44 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
      ),
    );
    assert.deepEqual(events, ['auth', 'online 5']);
    assert.deepEqual(texts, ['{"test":1}', '{"test":2}']);
    await client.close();
    assert.ok(ws.closed);
    assert.equal(client.state, 'closed');
  });
});
