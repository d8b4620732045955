// What every PushQueue promises (src/ports/push-queue.ts), run against each adapter:
// test/adapters/memory-push-queue.test.ts and nats-push-queue.test.ts. Cases go through the
// port only; capacity, partitions, leases and acknowledgements on the server are each
// engine's own tests. The factory hands out a queue that accepts publishes at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PushType, type PushMsg, type PushQueue } from '../../src/ports/index.js';
import { eventually } from '../support/eventually.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

const utf8 = new TextEncoder();

function roomMsg(room: string, body: string): PushMsg {
  return { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room, keys: [], msg: utf8.encode(body) };
}

const text = (m: PushMsg): string => new TextDecoder().decode(m.msg);

export function pushQueueContract(name: string, factory: Factory<PushQueue>, options: ContractOptions = {}): void {
  describe(`PushQueue contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('round trip keeps every field and every byte', async () => {
      const q = await open();
      const got: PushMsg[] = [];
      await q.consume(async (m) => void got.push(m));
      const all = new Uint8Array(256).map((_, i) => i);
      const sent: PushMsg[] = [
        { type: PushType.PUSH, operation: 1000, speed: 0, server: 'comet01', room: '', keys: ['k1', 'k2'], msg: all },
        { type: PushType.ROOM, operation: 1001, speed: 0, server: '', room: 'live://1000', keys: [], msg: utf8.encode('{"test":1}') },
        { type: PushType.BROADCAST, operation: -1, speed: 100, server: '', room: '', keys: [], msg: utf8.encode('hi') },
      ];
      for (const m of sent) await q.publish(m);
      await eventually(() => got.length === 3, 'three messages');
      const norm = (m: PushMsg) => ({ ...m, msg: Buffer.from(m.msg).toString('hex') });
      const byOp = (a: { operation: number }, b: { operation: number }) => a.operation - b.operation;
      assert.deepEqual(got.map(norm).sort(byOp), sent.map(norm).sort(byOp));
    });

    test('messages published before consume() are kept and delivered', async () => {
      const q = await open();
      for (let i = 0; i < 3; i++) await q.publish(roomMsg('live://1', String(i)));
      const got: string[] = [];
      await q.consume(async (m) => void got.push(text(m)));
      await eventually(() => got.length === 3, 'the three messages');
      assert.deepEqual(got, ['0', '1', '2']);
    });

    test("one room's messages reach the handler in publish order, once each", async () => {
      const q = await open();
      const calls: number[] = [];
      await q.consume(async (m) => {
        const n = Number(text(m));
        calls.push(n);
        // uneven handler latency must not reorder calls
        if (n % 3 === 0) await new Promise((r) => setImmediate(r));
      });
      const sends: Promise<void>[] = [];
      for (let n = 0; n < 30; n++) sends.push(q.publish(roomMsg('live://order', String(n))));
      await Promise.all(sends);
      await eventually(() => calls.length >= 30, 'every message');
      assert.deepEqual(
        calls,
        Array.from({ length: 30 }, (_, i) => i),
      );
    });

    test('a rejected (or throwing) handler gets the message again later', async () => {
      const q = await open();
      const attempts = new Map<number, number>();
      const acked: number[] = [];
      await q.consume((m) => {
        const n = Number(text(m));
        const a = (attempts.get(n) ?? 0) + 1;
        attempts.set(n, a);
        if (n === 1 && a <= 3) return Promise.reject(new Error('comet down'));
        if (n === 2 && a === 1) throw new Error('sync failure');
        acked.push(n);
        return Promise.resolve();
      });
      for (let i = 0; i < 3; i++) await q.publish(roomMsg('live://1', String(i)));
      await eventually(() => acked.length === 3, 'all three handled');
      assert.equal(attempts.get(0), 1);
      assert.equal(attempts.get(1), 4);
      assert.equal(attempts.get(2), 2);
      assert.deepEqual([...acked].sort(), [0, 1, 2]);
    });

    test('close() waits for the handler in flight; publishes from then on are refused', async () => {
      const q = await open();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const calls: string[] = [];
      await q.consume((m) => {
        calls.push(text(m));
        return gate;
      });
      await q.publish(roomMsg('live://close', 'held'));
      await eventually(() => calls.length === 1, 'the handler call');
      let closed = false;
      const closing = q.close().then(() => (closed = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(closed, false, 'close waits for the handler');
      await assert.rejects(q.publish(roomMsg('live://close', 'late')), /closed/);
      release();
      await closing;
      assert.deepEqual(calls, ['held']);
      await assert.rejects(q.publish(roomMsg('live://close', 'later')), /closed/);
    });

    test('a second consumer is refused', async () => {
      const q = await open();
      await q.consume(async () => {});
      await assert.rejects(q.consume(async () => {}));
    });
  });
}
