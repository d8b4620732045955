// The Node ceiling (child process entry; argv[2] = tcp | ws): a node:net server that writes
// one prebuilt buffer to every socket — exactly the bytes tsim's comet would write for a
// room batch of the same size (docs/protocol.md#pushes-on-the-wire): bare inner frames on TCP; on WebSocket one binary
// message holding an op-9 envelope, written on the raw socket after ws performed the upgrade.
// No auth, no rooms, no caps: just the loop tsim's fan-out has to approach.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { wsHeaderLen, writeWsHeader, WS_BINARY } from '../../src/comet/ws-frame.js';
import { HEADER_LEN, writeHeader } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { clockMs, stampBody } from '../load/stamp.js';
import { serveBaseline } from './baseline-child.js';
import { BENCH_OP } from './bench-room.js';

const transport = process.argv[2] === 'ws' ? 'ws' : 'tcp';

/** Dense array with swap-remove, as tsim keeps room members. */
const sockets: Socket[] = [];
const slot = new WeakMap<Socket, number>();

function add(s: Socket): void {
  s.setNoDelay(true);
  s.on('error', () => {});
  slot.set(s, sockets.length);
  sockets.push(s);
  s.once('close', () => {
    const i = slot.get(s)!;
    const last = sockets.pop()!;
    if (last !== s) {
      sockets[i] = last;
      slot.set(last, i);
    }
  });
}

/** `batch` inner frames with bodies stamped now; wrapped as one WebSocket message on ws. */
function batchBytes(batch: number, bodySize: number): Buffer {
  const body = Buffer.from(stampBody(clockMs(), bodySize));
  const inner = batch * (HEADER_LEN + body.length);
  const ws = transport === 'ws';
  const envelope = ws ? HEADER_LEN + inner : inner;
  const at = ws ? wsHeaderLen(envelope) : 0;
  const buf = Buffer.allocUnsafe(at + envelope);
  let off = 0;
  if (ws) {
    writeWsHeader(buf, WS_BINARY, envelope);
    writeHeader(buf, at, inner, 1, Op.Raw, 0);
    off = at + HEADER_LEN;
  }
  for (let i = 0; i < batch; i++) {
    writeHeader(buf, off, body.length, 1, BENCH_OP, 0);
    body.copy(buf, off + HEADER_LEN);
    off += HEADER_LEN + body.length;
  }
  return buf;
}

const tick = (batch: number, bodySize: number): void => {
  const buf = batchBytes(batch, bodySize);
  for (let i = sockets.length - 1; i >= 0; i--) sockets[i].write(buf);
};

if (transport === 'tcp') {
  const server = createServer(add);
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    serveBaseline((server.address() as AddressInfo).port, { count: () => sockets.length, tick });
  });
} else {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  // As tsim's WebSocket listener: no per-request timers while thousands of upgrades arrive.
  const http = createHttpServer({ requestTimeout: 0 });
  http.on('upgrade', (req, socket: Duplex, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // From here on every byte is written on the raw socket (as tsim does); ws only reads.
      add((ws as unknown as { _socket: Socket })._socket);
      ws.on('error', () => {});
    });
  });
  http.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    serveBaseline((http.address() as AddressInfo).port, { count: () => sockets.length, tick });
  });
}
