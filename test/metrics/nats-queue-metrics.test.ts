// tsim_queue_depth and tsim_queue_redeliveries_total on the NATS JetStream queue (real NATS).
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, it } from 'node:test';
import { LocalLeaseStore } from '../../src/adapters/memory/lease-store.js';
import { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { silentLogger } from '../../src/log.js';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';
import { parsePromText } from './prom-text.js';
import { eventually } from '../support/eventually.js';

const skip = await serviceGate('nats');

const roomMsg = (body: string): PushMsg => ({
  type: PushType.ROOM,
  operation: 1000,
  speed: 0,
  server: '',
  room: 'live://1',
  keys: [],
  msg: Buffer.from(body),
});

describe('NATS queue metrics', { skip }, () => {
  it('shows what waits in the stream and counts redeliveries', async () => {
    const id = uniqueName('');
    const stream = `TSIMTEST_${id}`;
    const opts = {
      url: serviceUrl('nats'),
      stream,
      subject: `tsimtest.${id}`,
      durable: 'job',
      retention: 'workqueue' as const,
      maxAgeMs: 60_000,
      ackWaitMs: 5000,
      partitions: 1,
      maxAckPending: 2,
      leaseTtlMs: 600,
      publishTimeoutMs: 2000,
      retryDelayMs: 20,
      retryMaxDelayMs: 50,
      log: silentLogger,
    };
    const producer = new NatsPushQueue(opts);
    const consumer = new NatsPushQueue({ ...opts, leases: new LocalLeaseStore() });
    const metrics = createMetricsRegistry({ queue: consumer });
    try {
      await eventually(async () => {
        try {
          await producer.publish(roomMsg('a'));
          return true;
        } catch {
          return false;
        }
      }, 'the stream to accept a message');
      for (const b of ['b', 'c', 'd', 'e']) await producer.publish(roomMsg(b));

      const handled: string[] = [];
      let failedOnce = false;
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      await consumer.consume(async (m) => {
        const body = Buffer.from(m.msg).toString();
        if (body === 'a' && !failedOnce) {
          failedOnce = true;
          throw new Error('comet down');
        }
        await gate;
        handled.push(body);
      });
      // Two in flight at most: the others wait in the stream.
      await eventually(() => consumer.queueStats().depth > 0, 'messages waiting in the stream');
      let m = parsePromText(await metrics.metrics());
      assert.ok((m.get('tsim_queue_depth') ?? 0) > 0);
      open();
      await eventually(() => handled.length === 5, 'every message handled');
      await eventually(() => consumer.queueStats().depth === 0, 'the stream drained');
      m = parsePromText(await metrics.metrics());
      assert.equal(m.get('tsim_queue_depth'), 0);
      assert.equal(m.get('tsim_queue_redeliveries_total'), 1);
      assert.deepEqual([...handled].sort(), ['a', 'b', 'c', 'd', 'e']);
    } finally {
      metrics.close();
      await consumer.close();
      await producer.close();
      const nc = await connect({ servers: serviceUrl('nats') });
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
      await nc.close();
    }
  });
});
