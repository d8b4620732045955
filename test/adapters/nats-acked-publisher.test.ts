import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstreamManager, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { AckedPublisher } from '../../src/adapters/nats/acked-publisher.js';
import { serviceGate, serviceUrl, uniqueName } from '../support/services.js';

const skip = await serviceGate('nats');

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('AckedPublisher (real NATS JetStream)', { skip }, () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];

  before(async () => {
    nc = await connect({ servers: serviceUrl('nats') });
    jsm = await jetstreamManager(nc);
  });

  after(async () => {
    for (const s of streams) await jsm.streams.delete(s).catch(() => {});
    await nc?.close();
  });

  async function stream(over: { max_msgs?: number; discard?: DiscardPolicy } = {}): Promise<{ name: string; subject: string }> {
    const id = uniqueName('');
    const name = `TSIMTEST_PUB_${id}`;
    const subject = `tsimtest.pub.${id}`;
    await jsm.streams.add({ name, subjects: [subject], storage: StorageType.Memory, ...over });
    streams.push(name);
    return { name, subject };
  }

  test('messages published in one turn are stored in call order, each resolved by its own ack', async () => {
    const s = await stream();
    const p = new AckedPublisher(nc, 2000, 'test');
    try {
      const n = 300;
      await Promise.all(Array.from({ length: n }, (_, i) => p.publish(s.subject, bytes(`m${i}`))));
      assert.equal((await jsm.streams.info(s.name)).state.messages, n);
      for (const i of [0, 1, 150, n - 1]) {
        const m = await jsm.streams.getMessage(s.name, { seq: i + 1 });
        assert.equal(text(m!.data), `m${i}`);
      }
    } finally {
      p.close();
    }
  });

  test('a publish no stream takes is refused', async () => {
    const p = new AckedPublisher(nc, 2000, 'test');
    try {
      await assert.rejects(
        p.publish(`tsimtest.nostream.${uniqueName('')}`, bytes('x')),
        /test: publish to tsimtest\.nostream\.\S+ failed: no stream takes this subject/,
      );
    } finally {
      p.close();
    }
  });

  test('an error ack from the stream is a rejection, and later publishes still work', async () => {
    const s = await stream({ max_msgs: 1, discard: DiscardPolicy.New });
    const p = new AckedPublisher(nc, 2000, 'test');
    try {
      await p.publish(s.subject, bytes('first'));
      await assert.rejects(p.publish(s.subject, bytes('second')), /maximum messages exceeded/);
      await jsm.streams.purge(s.name);
      await p.publish(s.subject, bytes('third'));
      assert.equal((await jsm.streams.info(s.name)).state.messages, 1);
    } finally {
      p.close();
    }
  });

  test('no ack within the timeout is a rejection', async () => {
    // a plain subscriber takes the message, so nobody acks it (and no "no responders" either)
    const subject = `tsimtest.silent.${uniqueName('')}`;
    const sub = nc.subscribe(subject);
    const p = new AckedPublisher(nc, 200, 'test');
    try {
      await assert.rejects(p.publish(subject, bytes('x')), /failed: timeout/);
    } finally {
      p.close();
      sub.unsubscribe();
    }
  });

  test('failAll and close reject what waits; whenIdle waits for the acks', async () => {
    const s = await stream();
    const p = new AckedPublisher(nc, 2000, 'test');
    const waiting = p.publish(s.subject, bytes('x'));
    p.failAll('connection lost');
    await assert.rejects(waiting, /failed: connection lost/);
    const acked = p.publish(s.subject, bytes('y'));
    await p.whenIdle();
    await acked;
    const late = p.publish(s.subject, bytes('z'));
    p.close();
    await assert.rejects(late, /failed: closed/);
  });
});
