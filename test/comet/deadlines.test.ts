// The sweep (deadlines.ts) on a manual clock: handshake and heartbeat deadlines, the re-arm
// on heartbeats, and routing refresh — no wall-clock waiting.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ClientProtocol } from '../../src/comet/client-protocol.js';
import { Connection, State } from '../../src/comet/connection.js';
import { ConnectionTable } from '../../src/comet/connection-table.js';
import { DeadlineSweep } from '../../src/comet/deadlines.js';
import { LimitLog } from '../../src/comet/limit-log.js';
import { LogicCalls } from '../../src/comet/logic-calls.js';
import { Outbound } from '../../src/comet/outbound.js';
import { silentLogger } from '../../src/log.js';
import { ManualClock } from '../support/manual-clock.js';
import { StubLogic } from '../support/stub-logic.js';

/** Just enough of a net.Socket for Connection and Outbound. */
class FakeSocket {
  writableLength = 0;
  destroyed = false;
  readonly written: Buffer[] = [];
  cork(): void {}
  uncork(): void {}
  write(b: Buffer): boolean {
    this.written.push(b);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function setup(routingRefreshMs = 0, heartbeatMs = 60_000) {
  const clock = new ManualClock();
  const now = (): number => clock.now();
  const table = new ConnectionTable();
  const logic = new StubLogic({ heartbeatMs });
  const limitLog = new LimitLog(undefined, silentLogger, 'comet', clock);
  const protocol = new ClientProtocol({
    serverId: 's1',
    logic,
    log: silentLogger,
    table,
    ring: 8,
    routingRefreshMs,
    maxAccepts: 256,
    maxRooms: 128,
    limitLog,
    clock,
    calls: new LogicCalls({ logicCalls: 64, connectQueue: 1000, disconnectQueue: 1000 }, limitLog, silentLogger, clock),
  });
  const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
  const sweep = new DeadlineSweep(table, 1000, (c) => protocol.refreshRouting(c), clock);
  const open = (handshakeMs = 5000) => {
    const socket = new FakeSocket();
    const c = new Connection(socket as unknown as Socket, false, '10.0.0.1', '10.0.0.1:5000', now() + handshakeMs, out, protocol.closed);
    table.add(c);
    return { c, socket };
  };
  const auth = async (c: Connection, token: object) => {
    protocol.onFrame(c, { ver: 1, op: 7, seq: 1, body: Buffer.from(JSON.stringify(token)) });
    while (c.state === State.Authing) await new Promise((r) => setImmediate(r));
  };
  return { table, logic, protocol, sweep, open, auth, clock, now };
}

const heartbeat = { ver: 1, op: 2, seq: 2, body: Buffer.alloc(0) };

describe('deadline sweep', () => {
  it('closes a connection at its handshake deadline, not before, without Disconnect', () => {
    const { sweep, open, table, logic } = setup();
    const { c, socket } = open(500);
    sweep.sweep(c.deadline - 1);
    assert.equal(c.state, State.Handshake);
    sweep.sweep(c.deadline);
    assert.equal(c.state, State.Closed);
    assert.equal(socket.destroyed, true);
    assert.equal(table.all.length, 0);
    assert.equal(logic.calls.disconnect.length, 0);
  });

  it('arms the heartbeat deadline at auth and re-arms it on every heartbeat', async () => {
    const { sweep, open, auth, protocol, logic, clock, now } = setup(0, 1000);
    const { c } = open();
    const before = now();
    await auth(c, { mid: 3, key: 'k' });
    assert.equal(c.state, State.Open);
    const armed = c.deadline;
    assert.ok(armed >= before + 1000);
    clock.advance(11);
    protocol.onFrame(c, heartbeat);
    assert.ok(c.deadline > armed, 'heartbeat moved the deadline');
    sweep.sweep(armed); // the old deadline has passed: still open
    assert.equal(c.state, State.Open);
    sweep.sweep(c.deadline);
    assert.equal(c.state, State.Closed);
    assert.deepEqual(logic.calls.disconnect, [{ mid: 3n, key: 'k', server: 's1' }]);
  });

  it('only op 2 re-arms the heartbeat deadline', async () => {
    const { open, auth, protocol, clock } = setup(0, 1000);
    const { c } = open();
    await auth(c, { key: 'k2' });
    const armed = c.deadline;
    clock.advance(6);
    protocol.onFrame(c, { ver: 1, op: 12, seq: 3, body: Buffer.from('live://1') });
    protocol.onFrame(c, { ver: 1, op: 3, seq: 4, body: Buffer.alloc(0) });
    protocol.onFrame(c, { ver: 1, op: 1000, seq: 5, body: Buffer.alloc(0) });
    assert.equal(c.deadline, armed);
  });

  it('refreshes routing in logic when due, with jitter inside the period', async () => {
    const { sweep, open, auth, logic, now } = setup(10_000);
    const { c } = open();
    const before = now();
    await auth(c, { mid: 4, key: 'r1' });
    assert.ok(c.refreshAt >= before + 5000 && c.refreshAt <= now() + 10_000, `first refreshAt in [½, 1] of the period`);
    sweep.sweep(c.refreshAt - 1);
    assert.equal(logic.calls.heartbeat.length, 0);
    const due = c.refreshAt;
    const started = now();
    sweep.sweep(due);
    assert.deepEqual(logic.calls.heartbeat, [{ mid: 4n, key: 'r1', server: 's1' }]);
    sweep.sweep(due + 1); // in flight: not started twice
    assert.equal(logic.calls.heartbeat.length, 1);
    while (c.refreshing) await new Promise((r) => setImmediate(r));
    assert.ok(c.refreshAt >= started + 7500 && c.refreshAt <= now() + 10_000, 'next refresh in [¾, 1] of the period');
  });

  it('never refreshes an unauthenticated connection', () => {
    const { sweep, open, logic, now } = setup(10);
    const { c } = open(5000);
    c.refreshAt = 0;
    sweep.sweep(now());
    assert.equal(logic.calls.heartbeat.length, 0);
  });

  it('sweeps every interval on its clock once started, and not after stop', () => {
    const { sweep, open, clock } = setup();
    const { c } = open(500);
    sweep.start();
    clock.advance(999);
    assert.equal(c.state, State.Handshake, 'past its deadline, but no sweep ran yet');
    clock.advance(1);
    assert.equal(c.state, State.Closed);
    const late = open(500).c;
    sweep.stop();
    assert.equal(clock.timers, 0);
    clock.advance(5000);
    assert.equal(late.state, State.Handshake);
  });

  it('closes several due connections in one sweep without skipping any', () => {
    const { sweep, open, table, now } = setup();
    const conns = Array.from({ length: 10 }, (_, i) => open(i % 2 === 0 ? 100 : 10_000).c);
    sweep.sweep(now() + 1000);
    assert.deepEqual(
      conns.map((c) => c.state === State.Closed),
      conns.map((_, i) => i % 2 === 0),
    );
    assert.equal(table.all.length, 5);
    table.all.forEach((c, i) => assert.equal(c.tableIndex, i));
  });
});
