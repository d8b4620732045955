// The JetStream objects the queue uses, created when missing: one stream holding
// `<subject>.*`, and per partition p one durable pull consumer `<durable>-<p>` filtered to
// `<subject>.<p>` (partitions never overlap, as workqueue retention requires). A job taking
// over a partition whose holder is gone restarts its consumer (restartConsumer).
import { nanos } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { Logger } from '../../log.js';

export interface Topology {
  stream: string;
  subject: string;
  durable: string;
  retention: 'workqueue' | 'limits';
  maxAgeMs: number;
  ackWaitMs: number;
  partitions: number;
  maxAckPending: number;
}

export const partitionSubject = (t: Topology, p: number): string => `${t.subject}.${p}`;
export const partitionDurable = (t: Topology, p: number): string => `${t.durable}-${p}`;
/**
 * Core NATS subject a job answers on while it may hold messages of partition p (see
 * PartitionReader). Outside `<subject>.*`, so the stream never stores a probe.
 */
export const holderSubject = (t: Topology, p: number): string => `_TSIM.holder.${t.stream}.${p}`;

function isApiError(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && e.code === code;
}

/** Creates the stream when missing; fails clearly when an existing one cannot hold our subjects. */
export async function ensureStream(jsm: JetStreamManager, t: Topology, log: Logger): Promise<void> {
  const wildcard = `${t.subject}.*`;
  try {
    const info = await jsm.streams.info(t.stream);
    const subjects = info.config.subjects ?? [];
    if (!subjects.includes(wildcard) && !subjects.includes(`${t.subject}.>`)) {
      throw new Error(`stream ${t.stream} exists with subjects [${subjects.join(', ')}], which do not cover ${wildcard}`);
    }
    if (info.config.retention !== t.retention) {
      log.warn({ stream: t.stream, has: info.config.retention, configured: t.retention }, 'nats: existing stream keeps its retention');
    }
    return;
  } catch (e) {
    if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
  }
  await jsm.streams.add({
    name: t.stream,
    subjects: [wildcard],
    retention: t.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(t.maxAgeMs),
  });
  log.info({ stream: t.stream, subjects: [wildcard], retention: t.retention }, 'nats: stream created');
}

function consumerConfig(t: Topology, p: number): Partial<ConsumerConfig> {
  return {
    durable_name: partitionDurable(t, p),
    filter_subject: partitionSubject(t, p),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(t.ackWaitMs),
    max_ack_pending: t.maxAckPending,
    // A workqueue keeps messages until acked, so "all" loses nothing; with limits retention
    // a new consumer must not replay the stream's history.
    deliver_policy: t.retention === 'workqueue' ? DeliverPolicy.All : DeliverPolicy.New,
    replay_policy: ReplayPolicy.Instant,
    max_deliver: -1,
  };
}

/** Creates the partition consumers when missing; brings ack_wait / max_ack_pending in line. */
export async function ensureConsumers(jsm: JetStreamManager, t: Topology, log: Logger): Promise<void> {
  for (let p = 0; p < t.partitions; p++) await ensureConsumer(jsm, t, p, log);
}

/** Creates partition p's consumer when missing; brings ack_wait / max_ack_pending in line. */
export async function ensureConsumer(jsm: JetStreamManager, t: Topology, p: number, log: Logger): Promise<void> {
  const cfg = consumerConfig(t, p);
  const name = partitionDurable(t, p);
  try {
    const info = await jsm.consumers.info(t.stream, name);
    if (info.config.ack_wait !== cfg.ack_wait || info.config.max_ack_pending !== cfg.max_ack_pending) {
      await jsm.consumers.update(t.stream, name, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending });
    }
    return;
  } catch (e) {
    if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  // Created concurrently by another instance with the same config: the server accepts both.
  await jsm.consumers.add(t.stream, cfg);
  log.debug({ stream: t.stream, consumer: name }, 'nats: consumer created');
}

/** Whether `e` says a consumer does not exist (it is being restarted, or was deleted). */
export function isConsumerNotFound(e: unknown): boolean {
  return isApiError(e, JetStreamApiCodes.ConsumerNotFound);
}

/**
 * Workqueue retention only: deletes partition p's consumer and creates it again, so that its
 * unacknowledged messages are delivered again at once, oldest first, instead of after
 * ack_wait. A workqueue stream keeps every message until it is acknowledged and deleting a
 * consumer removes none, so the new consumer starts at the oldest unacknowledged message of
 * the partition; acknowledged ones are gone and not delivered again. Only for a partition
 * nobody else holds messages of (see PartitionReader).
 */
export async function restartConsumer(jsm: JetStreamManager, t: Topology, p: number, log: Logger): Promise<void> {
  if (t.retention !== 'workqueue') throw new Error('restartConsumer: workqueue retention only');
  try {
    await jsm.consumers.delete(t.stream, partitionDurable(t, p));
  } catch (e) {
    if (!isConsumerNotFound(e)) throw e;
  }
  await ensureConsumer(jsm, t, p, log);
}
