// The NATS queue takes its lease store from the wiring: a publisher (logic) needs none, a
// consumer (job) must be given one. No server is needed: the refusal comes before any read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NatsPushQueue } from '../../src/adapters/nats/push-queue.js';
import { silentLogger } from '../../src/log.js';

test('a queue without a lease store refuses to consume (publishers need none)', async () => {
  const q = new NatsPushQueue({
    url: 'nats://127.0.0.1:1',
    stream: 'TSIMTEST_noleases',
    subject: 'tsimtest.noleases',
    durable: 'job',
    retention: 'workqueue',
    maxAgeMs: 60_000,
    ackWaitMs: 2000,
    partitions: 1,
    maxAckPending: 64,
    leaseTtlMs: 600,
    publishTimeoutMs: 2000,
    retryDelayMs: 50,
    retryMaxDelayMs: 200,
    log: silentLogger,
  });
  try {
    await assert.rejects(
      q.consume(async () => {}),
      /consume\(\) needs a lease store/,
    );
  } finally {
    await q.close();
  }
});
