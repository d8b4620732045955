// Backpressure on the comet's session calls to logic (limits.logicCalls, connectQueue,
// disconnectQueue; docs/operations.md#connect-storms): a real comet over real sockets with a
// logic that answers only when the test lets it.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import type { ConnectReply, ConnectRequest, SessionRef } from '../../src/ports/index.js';
import { eventually } from '../support/eventually.js';
import type { GoimTestClient } from '../support/goim-client.js';
import { StubLogic } from '../support/stub-logic.js';
import { startComet, type Harness, type Section } from './harness.js';

/** A logic whose Connect and Disconnect calls wait until released, counting how many are in flight. */
class SlowLogic extends StubLogic {
  inFlight = 0;
  maxInFlight = 0;
  /** Tokens of the Connect calls that reached logic, in arrival order. */
  readonly arrived: string[] = [];
  private readonly held: Array<() => void> = [];
  private holding = true;

  override connect(req: ConnectRequest): Promise<ConnectReply> {
    this.arrived.push(Buffer.from(req.token).toString());
    return this.slow(() => super.connect(req));
  }

  override disconnect(req: SessionRef): Promise<boolean> {
    return this.slow(() => super.disconnect(req));
  }

  /** Calls waiting for release. */
  get waiting(): number {
    return this.held.length;
  }

  /** Lets the oldest held call answer. */
  releaseOne(): void {
    this.held.shift()?.();
  }

  /** Lets every held call answer, and later ones answer at once. */
  releaseAll(): void {
    this.holding = false;
    for (const r of this.held.splice(0)) r();
  }

  private async slow<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
      return await call();
    } finally {
      this.inFlight--;
    }
  }
}

/** A logger whose lines the test reads. */
function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

async function withSlowComet(
  limits: Section,
  run: (h: Harness, logic: SlowLogic, hits: LimitHits) => Promise<void>,
  log?: Logger,
  protocol?: Section,
) {
  const logic = new SlowLogic();
  const hits = new LimitHits();
  const h = await startComet({ limits, ...(protocol ? { protocol } : {}) }, logic, { limits: hits, ...(log ? { log } : {}) });
  try {
    await run(h, logic, hits);
  } finally {
    logic.releaseAll();
    await h.stop();
  }
}

/** Sends op 7 without waiting for the reply. */
function sendAuth(c: GoimTestClient, key: string): void {
  c.send(7, JSON.stringify({ key }));
}

const calls = (h: Harness) => h.comet.counters().logicCalls!;

describe('comet → logic backpressure', () => {
  it('never has more than limits.logicCalls Connect calls in flight; the rest wait and all authenticate', async () => {
    await withSlowComet({ logicCalls: 2 }, async (h, logic) => {
      const clients = await Promise.all(Array.from({ length: 8 }, () => h.tcp()));
      clients.forEach((c, i) => sendAuth(c, `k${i}`));
      await eventually(() => logic.waiting === 2 && calls(h).connectsWaiting === 6, '2 calls held, 6 waiting');
      assert.equal(calls(h).inFlight, 2);
      // One answer lets exactly one waiting handshake through.
      logic.releaseOne();
      await eventually(() => logic.waiting === 2 && calls(h).connectsWaiting === 5, 'the next call started');
      while (logic.arrived.length < 8 || logic.waiting > 0) {
        await eventually(() => logic.waiting > 0, 'a held call');
        logic.releaseOne();
      }
      await Promise.all(clients.map((c) => c.nextWhere((f) => f.op === 8)));
      assert.equal(logic.maxInFlight, 2);
      assert.equal(h.comet.stats().connections, 8);
      assert.equal(calls(h).waited.connect, 6);
      assert.deepEqual(
        logic.arrived.map((t) => (JSON.parse(t) as { key: string }).key),
        ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'],
        'waiting handshakes go first come, first served',
      );
    });
  });

  it('a connection that closes while it waits never reaches logic', async () => {
    await withSlowComet({ logicCalls: 1 }, async (h, logic) => {
      const first = await h.tcp();
      sendAuth(first, 'first');
      await eventually(() => logic.waiting === 1, 'first call held');
      const gone = await h.tcp();
      sendAuth(gone, 'gone');
      await eventually(() => calls(h).connectsWaiting === 1, 'second handshake waiting');
      gone.close();
      await eventually(() => calls(h).shed.connect_gone === 1, 'the closed handshake left the queue');
      assert.equal(calls(h).connectsWaiting, 0);
      const last = await h.tcp();
      sendAuth(last, 'last');
      await eventually(() => calls(h).connectsWaiting === 1, 'third handshake waiting');
      logic.releaseAll();
      await first.nextWhere((f) => f.op === 8);
      await last.nextWhere((f) => f.op === 8);
      assert.deepEqual(
        logic.arrived.map((t) => (JSON.parse(t) as { key: string }).key),
        ['first', 'last'],
      );
    });
  });

  it('a handshake whose deadline passes while it waits is closed without a call to logic', async () => {
    await withSlowComet(
      { logicCalls: 1 },
      async (h, logic) => {
        const first = await h.tcp();
        sendAuth(first, 'first');
        await eventually(() => logic.waiting === 1, 'first call held');
        const late = await h.tcp();
        sendAuth(late, 'late');
        await late.closed; // the handshake deadline, swept while the call waits
        assert.equal(calls(h).shed.connect_gone, 1);
        logic.releaseAll();
        await eventually(() => calls(h).inFlight === 0, 'first call answered');
        assert.deepEqual(
          logic.arrived.map((t) => (JSON.parse(t) as { key: string }).key),
          ['first'],
        );
      },
      undefined,
      { handshakeTimeout: '1s' },
    );
  });

  it('a full connect queue closes the handshake, counted as limit connect_queue and logged with the reason', async () => {
    const { log, lines } = recordingLogger();
    await withSlowComet(
      { logicCalls: 1, connectQueue: 1 },
      async (h, logic, hits) => {
        const first = await h.tcp();
        sendAuth(first, 'first');
        await eventually(() => logic.waiting === 1, 'first call held');
        const queued = await h.tcp();
        sendAuth(queued, 'queued');
        await eventually(() => calls(h).connectsWaiting === 1, 'second handshake waiting');
        const refused = await h.tcp();
        sendAuth(refused, 'refused');
        await refused.closed;
        assert.equal(hits.snapshot().connect_queue, 1);
        assert.equal(calls(h).shed.connect_queue_full, 1);
        const line = lines.find((l) => l.limit === 'connect_queue');
        assert.ok(line, 'the refusal is logged');
        assert.equal(line.msg, 'comet: limit connect_queue reached');
        assert.equal(line.waiting, 1);
        logic.releaseAll();
        await first.nextWhere((f) => f.op === 8);
        await queued.nextWhere((f) => f.op === 8);
        assert.ok(!logic.arrived.some((t) => t.includes('"refused"')), 'the refused handshake never reached logic');
      },
      log,
    );
  });

  it('Disconnect calls of many closes wait their turn, bounded by limits.disconnectQueue', async () => {
    await withSlowComet({ logicCalls: 1, disconnectQueue: 2 }, async (h, logic, hits) => {
      logic.releaseAll();
      const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => h.client('tcp', { key: `d${i}` })));
      logic.maxInFlight = 0;
      // Hold again: the first Disconnect takes the slot, two wait, the fourth is not made.
      const hold = logic.hold('disconnect');
      for (const c of clients) c.close();
      await eventually(() => calls(h).shed.disconnect_queue_full === 1, 'the fourth Disconnect shed');
      assert.equal(calls(h).inFlight, 1);
      assert.equal(calls(h).backgroundWaiting, 2);
      assert.equal(hits.snapshot().disconnect_queue, 1);
      hold();
      await eventually(() => logic.calls.disconnect.length === 3 && calls(h).inFlight === 0, 'three Disconnect calls made');
      assert.equal(logic.maxInFlight, 1);
      assert.equal(calls(h).waited.disconnect, 2);
    });
  });

  it("an old connection's Disconnect that waited while a new connection with its key registered is not made", async () => {
    await withSlowComet({ logicCalls: 1 }, async (h, logic) => {
      logic.releaseAll();
      const old = await h.client('tcp', { key: 'K' });
      const hold = logic.hold('connect');
      const other = await h.tcp();
      sendAuth(other, 'other'); // holds the only slot
      await eventually(() => calls(h).inFlight === 1 && logic.calls.connect.length === 2, 'slot taken');
      old.close();
      await eventually(() => calls(h).backgroundWaiting === 1, "the old connection's Disconnect waits");
      const renewed = await h.tcp();
      sendAuth(renewed, 'K');
      await eventually(() => calls(h).connectsWaiting === 1, 'the new Connect waits');
      hold();
      await renewed.nextWhere((f) => f.op === 8);
      await eventually(() => calls(h).inFlight === 0 && calls(h).backgroundWaiting === 0, 'every call done');
      // It would delete the routing the new connection's Connect just wrote (same key, same server).
      assert.deepEqual(
        logic.calls.disconnect.filter((r) => r.key === 'K'),
        [],
      );
    });
  });

  it('a Disconnect that ran alongside a new Connect of its key has the new connection refresh its routing', async () => {
    await withSlowComet({ logicCalls: 2 }, async (h, logic) => {
      logic.releaseAll();
      const old = await h.client('tcp', { key: 'K' });
      const hold = logic.hold('disconnect');
      old.close();
      await eventually(() => logic.calls.disconnect.length === 1, 'Disconnect in flight');
      const renewed = await h.client('tcp', { key: 'K' });
      assert.equal(logic.calls.heartbeat.length, 0);
      hold();
      await logic.waitFor('heartbeat', (r) => r.key === 'K');
      renewed.close();
    });
  });

  it('a Connect answered after its connection closed (deadline passed during the call) is undone with a Disconnect', async () => {
    await withSlowComet(
      { logicCalls: 1 },
      async (h, logic) => {
        const late = await h.tcp();
        sendAuth(late, 'late-key');
        await eventually(() => logic.waiting === 1, 'the Connect reached logic and is held');
        await late.closed; // the handshake deadline passes while logic has the call
        logic.releaseAll();
        await logic.waitFor('disconnect', (r) => r.key === 'late-key');
      },
      undefined,
      { handshakeTimeout: '1s' },
    );
  });
});
