// Outbound over real sockets: the write held until the end of the turn reaches the client,
// in order with later writes, and before the FIN of a graceful close; it is handed to the
// socket one loop turn later, after what the turn's immediates send (a gRPC reply's end).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Connection } from '../../src/comet/connection.js';
import { Outbound } from '../../src/comet/outbound.js';

/** A server socket and the client socket connected to it. */
async function pair(server: Server): Promise<{ srv: Socket; cli: Socket }> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  const cli = connect(addr.port, '127.0.0.1');
  const [[srv]] = await Promise.all([accepted, once(cli, 'connect')]);
  return { srv, cli };
}

/** Resolves once the immediates of this turn and of the next one ran: an Outbound flush is done by then. */
const flushed = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

/** Everything the client reads until the server ends the stream. */
async function readToEnd(cli: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  cli.on('data', (b: Buffer) => chunks.push(b));
  await once(cli, 'end');
  return Buffer.concat(chunks);
}

describe('outbound over a real socket', () => {
  let server: Server;
  before(async () => {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  after(() => server.close());

  const conn = (srv: Socket, out: Outbound): Connection => new Connection(srv, false, '127.0.0.1', '127.0.0.1:0', Infinity, out, () => {});

  it('a graceful close right after a push still delivers the push, then ends', async () => {
    const { srv, cli } = await pair(server);
    const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
    const c = conn(srv, out);
    const got = readToEnd(cli);
    out.push(c, Buffer.from('held-until-turn-end'));
    c.close('shutdown', 'debug', true);
    assert.equal((await got).toString(), 'held-until-turn-end');
  });

  it('one write, two writes and a reply in one turn arrive whole and in order', async () => {
    const { srv, cli } = await pair(server);
    const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
    const c = conn(srv, out);
    const got = readToEnd(cli);
    out.push(c, Buffer.from('a'));
    await flushed();
    out.push(c, Buffer.from('b'));
    out.reply(c, Buffer.from('c'));
    out.push(c, Buffer.from('d'));
    await flushed();
    out.push(c, Buffer.from('e'));
    await flushed();
    srv.end();
    assert.equal((await got).toString(), 'abcde');
  });

  it('hands a write to the socket only after the immediates of its turn ran, and delivers it then', async () => {
    const { srv, cli } = await pair(server);
    const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
    const c = conn(srv, out);
    const got = readToEnd(cli);
    out.push(c, Buffer.from('batch'));
    // What the turn's immediates send (grpc-js: a reply's trailers, from Node's http2) leaves first.
    const atImmediate = await new Promise<{ socketWrites: number; held: boolean }>((r) =>
      setImmediate(() => r({ socketWrites: out.socketWrites, held: c.pending !== null })),
    );
    assert.deepEqual(atImmediate, { socketWrites: 0, held: true });
    await flushed();
    assert.equal(out.socketWrites, 1);
    srv.end();
    assert.equal((await got).toString(), 'batch');
  });
});
