// The socket.io 4 baseline (child process entry): what a Node user would pick instead. Every
// client joins one room on connection; each message is `io.to(room).emit('m', body)`, which
// socket.io encodes once per broadcast. WebSocket transport only, no compression.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { clockMs, stampBody } from '../load/stamp.js';
import { serveBaseline } from './baseline-child.js';
import { BENCH_ROOM } from './bench-room.js';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, connectTimeout: 30_000 });
io.on('connection', (s) => {
  void s.join(BENCH_ROOM.key);
});

http.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  serveBaseline((http.address() as AddressInfo).port, {
    count: () => io.engine.clientsCount,
    tick: (batch, bodySize) => {
      for (let i = 0; i < batch; i++) io.to(BENCH_ROOM.key).emit('m', stampBody(clockMs(), bodySize));
    },
  });
});
